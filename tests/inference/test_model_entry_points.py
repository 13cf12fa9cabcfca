"""The shipped default model, and recipe-trained models (with the project's RandomAffine layer in
their graph) loaded in a fresh process through every entry point: the CLI, the Kedro inference
pipeline and the served model. A fresh process matters: pytest has already imported everything."""

import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import pytest

from deepfer_kedro import default_model
from tests.conftest import PROJECT_ROOT

BIN = Path(sys.executable).parent
ENV = {**os.environ, "KEDRO_DISABLE_TELEMETRY": "true"}


@pytest.fixture(scope="module")
def recipe_model(tmp_path_factory) -> Path:
    """A small network built by the recipe's builder with the sota augmentation inside, saved."""
    from deepfer_kedro.core.config import load_parameters
    from deepfer_kedro.models import build_augmentation, build_model

    params = load_parameters("sota", "model.base_filters=4,model.stages=2,model.dense_units=[16]")
    model = build_model(params["model"], build_augmentation(params["augmentation"], seed=0))
    assert any(layer.name.startswith("random_affine") for layer in model.get_layer("augmentation").layers)
    path = tmp_path_factory.mktemp("recipe") / "recipe.keras"
    model.save(path)
    return path


@pytest.fixture(scope="module")
def photo(tmp_path_factory, astronaut_rgb) -> Path:
    path = tmp_path_factory.mktemp("photo") / "astronaut.jpg"
    cv2.imwrite(str(path), cv2.cvtColor(astronaut_rgb, cv2.COLOR_RGB2BGR))
    return path


def run(*command, cwd=None) -> subprocess.CompletedProcess:
    return subprocess.run(command, cwd=cwd, env=ENV, capture_output=True, text=True, timeout=600)


def test_shipped_model_file_matches_its_card():
    card = json.loads(default_model.CARD_JSON.read_text())
    data = default_model.MODEL_FILE.read_bytes()
    assert hashlib.sha256(data).hexdigest() == card["model_sha256"]
    shipped = [path for path in default_model.FOLDER.rglob("*") if path.is_file() and "__pycache__" not in path.parts]
    assert default_model.ONNX_FILE in shipped
    assert sum(path.stat().st_size for path in shipped) <= 25 * 10**6  # the repository's limit, both formats
    assert card["labels"] == ["angry", "disgust", "fear", "happy", "neutral", "sad", "surprise"]
    for key in ("test TTA", "test no TTA"):
        assert set(card["results"][key]) == {"images", "top1", "macro_f1", "recall"}
    assert card["results"]["test TTA"]["images"] == 3589 and card["cpu_ms_per_face"]["batch 1"] > 0


@pytest.mark.real_data
def test_shipped_model_cards_reproduce_with_deepfer_evaluate(real_zip, tmp_path, capsys):
    """Each number on the shipped model's cards without TTA, measured again on all 3,589 faces of each
    split by the one command a user runs: the int8 file users run, then the Keras file."""
    from deepfer_kedro.inference.cli import main

    assert main(["evaluate", "--model", "default", "--data", str(real_zip), "-o", str(tmp_path / "onnx")]) == 0
    assert main(["evaluate", "--model", "default", "--runtime", "keras", "--split", "test", "--data", str(real_zip),
                 "-o", str(tmp_path / "keras")]) == 0
    onnx_card = json.loads((default_model.ONNX_FILE.parent / "card.json").read_text())
    keras_card = json.loads(default_model.CARD_JSON.read_text())
    printed = capsys.readouterr().out  # the evaluate pipeline's report, each split once per run
    assert printed.count("# Evaluation on the test split (3589 images)") == 2
    assert f"| accuracy | {onnx_card['privatetest']['exported']['top1']:.4f} |" in printed
    measured = json.loads((tmp_path / "onnx" / "metrics.json").read_text())
    for split, name in (("val", "publictest"), ("test", "privatetest")):
        card = onnx_card[name]["exported"]
        assert measured[split]["images"] == onnx_card[name]["faces"] == 3589
        assert round(measured[split]["accuracy"], 4) == card["top1"]
        assert round(measured[split]["macro_f1"], 4) == card["macro_f1"]
        assert {e: round(s["recall"], 4) for e, s in measured[split]["per_class"].items()} == card["recall"]
    # the temperature the shipped int8 file's confidences are scaled by: fitted on PublicTest, it also
    # calibrates PrivateTest
    shipped = json.loads(default_model.TEMPERATURE_JSON.read_text())["onnx"]
    assert round(measured["temperature"], 4) == shipped["temperature"] == default_model.temperature("onnx")
    assert round(measured["val"]["expected_calibration_error_at_temperature"], 4) == (
        shipped["publictest_expected_calibration_error"]["scaled"])
    assert measured["test"]["expected_calibration_error_at_temperature"] < measured["test"][
        "expected_calibration_error"] - 0.005
    assert "| temperature | 1.1139 |" in printed
    measured = json.loads((tmp_path / "keras" / "metrics.json").read_text())["test"]
    assert round(measured["accuracy"], 4) == keras_card["results"]["test no TTA"]["top1"] > 0.7
    assert round(measured["macro_f1"], 4) == keras_card["results"]["test no TTA"]["macro_f1"]


def test_cli_uses_the_shipped_model_outside_a_project(photo, tmp_path):
    done = run(str(BIN / "deepfer"), "predict", str(photo), "-o", str(tmp_path / "rows.csv"), cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "Using the shipped default model's int8 ONNX export deepfer.onnx" in done.stderr
    rows = pd.read_csv(tmp_path / "rows.csv")
    assert rows["status"].tolist() == ["ok"]
    done = run(str(BIN / "deepfer"), "predict", str(photo), "--runtime", "keras", "--detector", "haar", "-o",
               str(tmp_path / "keras.csv"), cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "Using the shipped default model deepfer_default.keras" in done.stderr
    keras_rows = pd.read_csv(tmp_path / "keras.csv")
    assert keras_rows["emotion"].tolist() == rows["emotion"].tolist() == ["happy"]


def test_readme_python_camera_loop_runs_in_a_fresh_process(astronaut_rgb, tmp_path):
    readme = (PROJECT_ROOT / "README.md").read_text()
    block = readme.split("### From Python")[1].split("```python\n")[1].split("```")[0]
    video = tmp_path / "clip.avi"
    frame = cv2.resize(cv2.cvtColor(astronaut_rgb, cv2.COLOR_RGB2BGR), (640, 480))
    writer = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*"MJPG"), 10, (640, 480))
    for shift in range(6):  # the face drifts sideways, as in front of a camera
        writer.write(np.roll(frame, 6 * shift, axis=1))
    writer.release()
    assert block.count("cv2.VideoCapture(0)") == 1
    script = tmp_path / "loop.py"
    script.write_text(block.replace("cv2.VideoCapture(0)", f"cv2.VideoCapture({str(video)!r})"))
    done = run(sys.executable, str(script), cwd=tmp_path)  # outside a project: the shipped model
    assert done.returncode == 0, done.stderr[-3000:]
    lines = done.stdout.splitlines()
    assert len(lines) == 6, done.stdout
    for line in lines:  # one face, the same number on every frame, the astronaut's smile
        assert line.startswith("0 Box(") and line.endswith(") happy"), line


def test_cli_loads_a_recipe_trained_model_in_a_fresh_process(photo, recipe_model, tmp_path):
    done = run(str(BIN / "deepfer"), "predict", "--model", str(recipe_model), str(photo), "-o",
               str(tmp_path / "rows.csv"), cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    assert f"Using the model file {recipe_model}" in done.stderr
    assert pd.read_csv(tmp_path / "rows.csv")["status"].tolist() == ["ok"]


def test_cli_loads_the_gpu_trained_model_from_shared(shared_model, photo, tmp_path):
    done = run(str(BIN / "deepfer"), "predict", "--model", str(shared_model), str(photo), cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "Could not locate class" not in done.stderr and ",ok," in done.stdout


@pytest.fixture
def project(tmp_path, photo) -> Path:
    """The project's configuration with one photo to classify and no trained model yet."""
    root = tmp_path / "project"
    root.mkdir()
    shutil.copy(PROJECT_ROOT / "pyproject.toml", root)
    (root / "src").mkdir()
    shutil.copytree(PROJECT_ROOT / "conf", root / "conf", ignore=shutil.ignore_patterns("local"))
    (root / "conf" / "local").mkdir()
    (root / "data" / "05_model_input" / "inference").mkdir(parents=True)
    shutil.copy(photo, root / "data" / "05_model_input" / "inference")
    return root


def kedro_inference(project: Path) -> tuple[subprocess.CompletedProcess, pd.DataFrame]:
    done = subprocess.run([sys.executable, "-m", "kedro", "run", "--pipeline", "inference"], cwd=project,
                          env={**ENV, "MLFLOW_TRACKING_URI": f"sqlite:///{project / 'mlflow.db'}"},
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    folder = project / "data/07_model_output/inference_predictions.csv"
    latest = sorted(folder.iterdir())[-1] / folder.name
    return done, pd.read_csv(latest)


def test_kedro_inference_pipeline_uses_the_shipped_model_then_a_trained_one(project, recipe_model):
    done, rows = kedro_inference(project)
    output = " ".join((done.stdout + done.stderr).split())
    assert "shipped default model" in output and rows["status"].tolist() == ["ok"]

    version = project / "data/06_models/trained_model.keras/2026-01-01T00.00.00.000Z"
    version.mkdir(parents=True)
    shutil.copy(recipe_model, version / "trained_model.keras")
    done, rows = kedro_inference(project)
    output = " ".join((done.stdout + done.stderr).split())
    assert "Using the trained model" in output and "shipped default model" not in output
    assert rows["status"].tolist() == ["ok"]


@pytest.mark.parametrize("which", ["recipe", "default"])
def test_served_model_of_a_recipe_model_and_of_the_shipped_one_loads_in_a_fresh_process(which, recipe_model, photo,
                                                                                           tmp_path):
    served = tmp_path / "served"
    model = ["--model", str(recipe_model)] if which == "recipe" else []
    done = run(str(BIN / "deepfer"), "save-served-model", str(served), *model, cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    script = ("import base64, sys, mlflow, pandas as pd\n"
              "model = mlflow.pyfunc.load_model(sys.argv[1])\n"
              "image = base64.b64encode(open(sys.argv[2], 'rb').read()).decode()\n"
              "print(model.predict(pd.DataFrame({'image': [image]}))['status'].tolist())\n")
    done = run(sys.executable, "-c", script, str(served), str(photo), cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.strip().endswith("['ok']")


def test_an_installed_wheel_predicts_and_evaluates_outside_any_project(photo, kaggle_zip, tmp_path):
    """`pip install` of the wheel (no conf/, no data/), run from a folder that is no project: the shipped
    model and the code's own settings. A fresh clone's editable install would hide a missing file."""
    source = tmp_path / "source"
    shutil.copytree(PROJECT_ROOT / "src", source / "src", ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(PROJECT_ROOT / name, source)
    built = run(sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", "-w",
                str(tmp_path / "wheel"), str(source))
    assert built.returncode == 0, built.stderr[-3000:]
    site = tmp_path / "site"
    installed = run(sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target", str(site),
                    *map(str, (tmp_path / "wheel").glob("deepfer_kedro-*.whl")))
    assert installed.returncode == 0, installed.stderr[-3000:]
    shipped = PROJECT_ROOT / "src/deepfer_kedro/default_model"
    assert {p.relative_to(shipped) for p in shipped.rglob("*") if p.is_file() and p.suffix not in {".py", ".pyc"}} <= {
        p.relative_to(site / "deepfer_kedro/default_model")
        for p in (site / "deepfer_kedro/default_model").rglob("*")}  # every shipped file installed
    outside = tmp_path / "outside"
    outside.mkdir()

    def deepfer(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "deepfer_kedro.inference.cli", *args], cwd=outside,
                              env={**ENV, "PYTHONPATH": str(site)}, capture_output=True, text=True, timeout=600)

    done = deepfer("predict", str(photo), "-o", "rows.csv")
    assert done.returncode == 0, done.stderr[-3000:]
    assert f"card: {site}/deepfer_kedro/default_model/fast/card.json" in done.stderr  # the installed copy
    assert pd.read_csv(outside / "rows.csv")["emotion"].tolist() == ["happy"]
    done = deepfer("evaluate", "--data", str(kaggle_zip), "-o", "scores")
    assert done.returncode == 0, done.stderr[-3000:]
    assert "No conf/base/parameters_inference.yml here" in done.stderr
    assert json.loads((outside / "scores" / "metrics.json").read_text())["test"]["images"] == 14
