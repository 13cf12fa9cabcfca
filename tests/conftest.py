"""Shared fixtures: the real FER2013 archive, and small files of each layout the tests write."""

from __future__ import annotations

import os
import zipfile
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import pytest

os.environ.setdefault("KEDRO_DISABLE_TELEMETRY", "true")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from deepfer_kedro.labels import CSV_EMOTION_CODES, EMOTIONS  # noqa: E402

PROJECT_ROOT = Path(__file__).resolve().parents[1]
REAL_ZIP = PROJECT_ROOT.parent / "shared" / "datasets" / "fer2013.zip"
REAL_ZIP_SHA256 = "bf9ce1bbfb4d404e07c2b124f940304c2b64f861a3c8a4c0b8eb48328508a64d"
SHARED_MODEL = PROJECT_ROOT.parent / "shared" / "models" / "deepfer_sota_seed42.keras"


def shared_file(path: Path, what: str) -> Path:
    """``path`` under ../shared: a failure in CI when missing, a skip elsewhere."""
    if not path.is_file():
        message = f"{what} is missing at {path}"
        if os.environ.get("CI"):
            pytest.fail(f"{message}; CI must provide ../shared/{path.relative_to(PROJECT_ROOT.parent / 'shared')}")
        pytest.skip(message)
    return path


@pytest.fixture(scope="session")
def real_zip() -> Path:
    """The real FER2013 zip."""
    return shared_file(REAL_ZIP, "the real FER2013 archive")


@pytest.fixture(scope="session")
def shared_model() -> Path:
    """The model trained by this project's code on a GPU (../shared/models)."""
    return shared_file(SHARED_MODEL, "the GPU-trained sota model")


@pytest.fixture(scope="session")
def real_faces(real_zip):
    """The whole archive decoded once per test session."""
    from deepfer_kedro.fer2013 import load_faces

    return load_faces(real_zip, progress=False)


def face(seed: int) -> np.ndarray:
    """A 48x48 uint8 image that differs for every seed."""
    return np.random.default_rng(seed).integers(0, 256, (48, 48), dtype=np.uint8)


def jpeg(image: np.ndarray) -> bytes:
    ok, encoded = cv2.imencode(".jpg", image)
    assert ok
    return encoded.tobytes()


def kaggle_entries(per_class: int = 2) -> dict[str, bytes]:
    """``train/<emotion>/Training_<id>.jpg`` and ``test/<emotion>/{Public,Private}Test_<id>.jpg``."""
    entries, seed = {}, 0
    for emotion in EMOTIONS:
        for folder, usage in (("train", "Training"), ("test", "PublicTest"), ("test", "PrivateTest")):
            for _ in range(per_class):
                seed += 1
                entries[f"{folder}/{emotion}/{usage}_{seed}.jpg"] = jpeg(face(seed))
    return entries


def write_zip(path: Path, entries: dict[str, bytes]) -> Path:
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in entries.items():
            archive.writestr(name, data)
    return path


def write_folder(root: Path, entries: dict[str, bytes]) -> Path:
    for name, data in entries.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes(data)
    return root


def write_csv(path: Path, rows_per_usage: int = 2) -> Path:
    rows, seed = [], 0
    for code in CSV_EMOTION_CODES:
        for usage in ("Training", "PublicTest", "PrivateTest"):
            for _ in range(rows_per_usage):
                seed += 1
                rows.append({"emotion": code, "pixels": " ".join(map(str, face(seed).ravel())),
                             "Usage": usage})
    pd.DataFrame(rows).to_csv(path, index=False)
    return path


@pytest.fixture
def kaggle_zip(tmp_path) -> Path:
    return write_zip(tmp_path / "fer2013.zip", kaggle_entries())


@pytest.fixture(scope="session")
def tiny_model_file(tmp_path_factory) -> Path:
    """A small untrained classifier with the project's input and output, saved as .keras."""
    import keras

    keras.utils.set_random_seed(0)
    inputs = keras.Input((48, 48, 1), name="face")
    x = keras.layers.Rescaling(1 / 255)(inputs)
    x = keras.layers.Conv2D(4, 3, strides=4, activation="relu")(x)
    x = keras.layers.Flatten()(x)
    model = keras.Model(inputs, keras.layers.Dense(7, activation="softmax")(x))
    path = tmp_path_factory.mktemp("model") / "tiny.keras"
    model.save(path)
    return path


@pytest.fixture(scope="session")
def astronaut_rgb() -> np.ndarray:
    """A real photo shipped with scikit-image: one face at about x=177, y=67, 93x93 px."""
    from skimage import data

    return data.astronaut()


def stop_group(process) -> None:
    """Ends a server started with ``start_new_session=True`` and every worker it spawned (MLflow's
    and uvicorn's workers outlive a plain ``terminate()`` of their parent)."""
    import signal
    import subprocess

    try:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=30)
    except ProcessLookupError:
        return
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
