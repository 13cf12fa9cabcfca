"""Saving and loading models: safe mode always, no optimizer state, an inference-only copy,
and half precision for files that must be small (the shipped model, weights sent back from a GPU)."""

from __future__ import annotations

import shutil
import tempfile
import zipfile
from pathlib import Path
from typing import Any

import h5py
import keras
import numpy as np

# Registers the project's layers (RandomAffine) with Keras, so that a recipe-trained model loads
# whatever was imported before this module.
import deepfer_kedro.models as _project_layers  # noqa: F401
from deepfer_kedro.core.errors import NotAModelError
from deepfer_kedro.labels import IMAGE_SIZE, NUM_CLASSES

__all__ = ["NotAModelError", "load_keras_model"]

WEIGHTS_MEMBER = "model.weights.h5"


def load_keras_model(path: str | Path) -> keras.Model:
    """A ``.keras`` file in safe mode (no code in the file runs), checked to take 48x48 gray faces
    and to give 7 emotion probabilities."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such model file")
    if not zipfile.is_zipfile(path):
        raise NotAModelError(f"{path}: not a Keras model (a .keras file is a zip archive; this is not one)")
    try:
        model = keras.saving.load_model(path, compile=False, safe_mode=True)
    except Exception as err:  # Keras raises many kinds for a damaged or foreign file
        raise NotAModelError(f"{path}: cannot be loaded as a Keras model ({type(err).__name__}: {err})") from err
    check_model_shapes(model, str(path))
    return model


def check_model_shapes(model: keras.Model, name: str) -> None:
    """Raises ``NotAModelError`` unless ``model`` maps (N, 48, 48, 1) faces to 7 probabilities."""
    inputs, outputs = tuple(model.inputs[0].shape[1:]), tuple(model.outputs[0].shape[1:])
    if inputs != (IMAGE_SIZE, IMAGE_SIZE, 1) or outputs != (NUM_CLASSES,):
        raise NotAModelError(f"{name}: takes {inputs} and gives {outputs}; an emotion model takes "
                             f"({IMAGE_SIZE}, {IMAGE_SIZE}, 1) gray faces and gives {NUM_CLASSES} probabilities")


def without_optimizer(model: keras.Model) -> keras.Model:
    """An uncompiled copy with the same weights. ``clone_model`` keeps the compiled optimizer (and
    saving then writes Adam's two moments per weight); a copy rebuilt from the config does not."""
    copy = model.__class__.from_config(model.get_config())
    copy.set_weights(model.get_weights())
    return copy


def inference_copy(model: keras.Model, model_params: dict[str, Any]) -> keras.Model:
    """The same network rebuilt without its training-only augmentation layers, same weights."""
    from deepfer_kedro.models import build_model

    params = dict(model_params)
    if "weights" in params:
        params["weights"] = None  # the weights come from ``model``; nothing is downloaded
    copy = build_model(params)
    copy.set_weights(model.get_weights())
    return copy


def without_augmentation(model: keras.Model) -> keras.Model:
    """The same layers and weights with the training-only ``augmentation`` block (its random ops
    cannot be exported to ONNX) skipped, in any functional graph (a chain like
    ``vgg_fer`` or the residual ``resnet_fer``). Checked to give the same probabilities."""
    if "augmentation" not in [layer.name for layer in model.layers]:
        return model
    stripped = keras.models.clone_model(  # the other layers are reused as they are, weights and all
        model, clone_function=lambda layer: layer,
        call_function=lambda layer, *args, **kwargs: args[0] if layer.name == "augmentation"
        else layer(*args, **kwargs))
    faces = np.random.default_rng(0).integers(0, 256, (4, IMAGE_SIZE, IMAGE_SIZE, 1)).astype("float32")
    if not np.allclose(stripped.predict_on_batch(faces), model.predict_on_batch(faces), atol=1e-5):
        raise NotAModelError(f"{model.name}: removing its augmentation block changed its outputs; rebuild it "
                             "with deepfer_kedro.core.saving.inference_copy")
    return stripped


def save_half_precision(model: keras.Model, path: str | Path) -> Path:
    """Saves ``model`` as a standard ``.keras`` file whose float32 weights are stored as float16
    (half the size). Keras casts them back to the layers' float32 on load."""
    path = Path(path)
    with tempfile.TemporaryDirectory() as tmp:
        full = Path(tmp) / "model.keras"
        model.save(full)
        with zipfile.ZipFile(full) as source, zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as target:
            for member in source.namelist():
                data = source.read(member)
                if member == WEIGHTS_MEMBER:
                    data = _weights_as_float16(data, Path(tmp))
                target.writestr(member, data)
    return path


def _weights_as_float16(h5_bytes: bytes, tmp: Path) -> bytes:
    original, halved = tmp / "full.h5", tmp / "half.h5"
    original.write_bytes(h5_bytes)
    with h5py.File(original, "r") as source, h5py.File(halved, "w") as target:
        def copy(name: str, item: Any) -> None:
            if isinstance(item, h5py.Dataset):
                data = item[()]
                if isinstance(data, np.ndarray) and data.dtype == np.float32:
                    data = data.astype(np.float16)
                target.create_dataset(name, data=data)
            else:
                target.require_group(name)
            for key, value in item.attrs.items():
                target[name].attrs[key] = value
        for key, value in source.attrs.items():
            target.attrs[key] = value
        source.visititems(copy)
    return halved.read_bytes()


def split_file(path: Path, part_bytes: int) -> list[Path]:
    """``path`` cut into ``path.part0``, ``path.part1``, ... of at most ``part_bytes`` each (for a
    transfer that caps file sizes); ``join_parts`` puts them back."""
    parts = []
    with path.open("rb") as source:
        while chunk := source.read(part_bytes):
            parts.append(path.with_name(f"{path.name}.part{len(parts)}"))
            parts[-1].write_bytes(chunk)
    path.unlink()
    return parts


def join_parts(first_part: Path, target: Path) -> Path:
    """Rejoins ``NAME.part0``, ``NAME.part1``, ... into ``target``."""
    stem = first_part.name.rsplit(".part", 1)[0]
    parts = sorted(first_part.parent.glob(f"{stem}.part*"), key=lambda p: int(p.name.rsplit(".part", 1)[1]))
    with target.open("wb") as out:
        for part in parts:
            with part.open("rb") as chunk:
                shutil.copyfileobj(chunk, out)
    return target
