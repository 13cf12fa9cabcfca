"""The trained model plus its face detection as an MLflow pyfunc model, for `mlflow models serve`.

Saved as "models from code" (``served_model_code.py``) with the model as an artifact (an ``.onnx``
file, run by ONNX Runtime: the fast path; a ``.tflite`` file, run by LiteRT; or a ``.keras`` file)
and the inference settings as the model config: nothing is pickled, and DeepFER itself loads only
the artifact, in safe mode (``load_served_artifact``), never the folder's code.

Input: a frame with an ``image`` column of base64-encoded image files (JPEG, PNG, ...), an
optional ``name`` column, and an optional ``stream`` column: images posted with the same stream id
(a camera's frames, one after another) have their faces followed from image to image and their
emotions smoothed, as ``deepfer predict`` does in a video. Output: one row per face (or per image
without a face, or per image that cannot be read or is too large) with the box, emotion,
confidence and the 7 probabilities; JSON ``null`` where a value is missing."""

from __future__ import annotations

import base64
import binascii
import io
import logging
import tempfile
import threading
from collections import OrderedDict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import mlflow.pyfunc
import pandas as pd
import yaml
from mlflow.exceptions import MlflowException
from mlflow.protos.databricks_pb2 import INVALID_PARAMETER_VALUE

from deepfer_kedro.inference.faces import MAX_IMAGE_PIXELS, UnreadableImageError, read_image
from deepfer_kedro.inference.predict import EmotionPredictor, FaceTracks, result_rows, unreadable_row
from deepfer_kedro.labels import ROW_COLUMNS

CODE_FILE = Path(__file__).with_name("served_model_code.py")
KERAS_ARTIFACT = "keras_model"
ONNX_ARTIFACT = "onnx_model"
LITERT_ARTIFACT = "litert_model"
FILE_OF_ARTIFACT = {ONNX_ARTIFACT: "model.onnx", LITERT_ARTIFACT: "model.tflite", KERAS_ARTIFACT: "model.keras"}
# per image, base64-decoded; larger ones get an "unreadable" row. A 48 MP phone JPEG is 10-20 MB, and
# 20 MB in base64 still fits `deepfer serve`'s 32 MB request limit.
MAX_IMAGE_BYTES = 20 * 2**20
MAX_STREAMS = 64  # the faces of this many streams are followed at once; the longest unheard is dropped
MAX_STREAM_ID = 64  # characters; a longer stream id is cut


class NotOurServedModelError(ValueError):
    """An MLflow model folder that is not a DeepFER served model (DeepFER will not run its code)."""


class EmotionModel(mlflow.pyfunc.PythonModel):
    """Finds and classifies the faces in each posted image."""

    def __init__(self) -> None:
        self._predictor: EmotionPredictor | None = None
        self.max_image_bytes = MAX_IMAGE_BYTES
        # MLflow's server calls predict from several threads at once, and OpenCV's cascade classifier
        # is not thread-safe: one benchmark run of 50 concurrent requests lost 16 answers without this.
        self._lock = threading.Lock()
        self._streams: OrderedDict[str, FaceTracks] = OrderedDict()

    def load_context(self, context) -> None:
        self.use(_load_artifact(context.artifacts), context.model_config or {})

    def use(self, model: Any, settings: dict[str, Any]) -> EmotionModel:
        """Classify with ``model`` (Keras or ONNX) and the inference ``settings`` (also ``deepfer serve``'s
        way in)."""
        settings = dict(settings)
        self.max_image_bytes = int(settings.pop("max_image_bytes", MAX_IMAGE_BYTES))
        self._predictor = EmotionPredictor(model, settings)
        return self

    def predict(self, context, model_input: pd.DataFrame, params: dict[str, Any] | None = None) -> pd.DataFrame:
        if "image" not in model_input:
            raise MlflowException(f"The input needs an 'image' column of base64-encoded image files; it has "
                                  f"{list(model_input.columns)}", error_code=INVALID_PARAMETER_VALUE)
        with self._lock:
            return self._predict_rows(model_input)

    def _predict_rows(self, model_input: pd.DataFrame) -> pd.DataFrame:
        rows = []
        for i, encoded in enumerate(model_input["image"]):
            name = str(model_input["name"].iloc[i]) if "name" in model_input else f"image{i}"
            try:
                gray = read_image(io.BytesIO(self._decode(encoded, name)), self._predictor.max_image_pixels, name)
            except UnreadableImageError as err:
                rows.append(unreadable_row(name, err))
                continue
            results = self._predictor.predict_frame(gray)
            stream = model_input["stream"].iloc[i] if "stream" in model_input else None
            numbers = self._tracks(str(stream)).follow(results) if stream is not None and pd.notna(stream) else None
            rows += result_rows(name, None, results, numbers)
        table = pd.DataFrame(rows).reindex(columns=ROW_COLUMNS).astype(object)
        return table.where(table.notna(), None)  # JSON null, not NaN

    def _tracks(self, stream: str) -> FaceTracks:
        """The faces followed in ``stream``; memory stays bounded whatever ids clients send."""
        stream = stream[:MAX_STREAM_ID]
        tracks = self._streams.pop(stream, None) or FaceTracks(self._predictor.video_smoothing)
        self._streams[stream] = tracks
        while len(self._streams) > MAX_STREAMS:
            self._streams.popitem(last=False)
        return tracks

    def _decode(self, encoded: Any, name: str) -> bytes:
        if not isinstance(encoded, str):
            raise UnreadableImageError(f"{name}: expected a base64 string, got {type(encoded).__name__}")
        if len(encoded) > self.max_image_bytes * 4 // 3 + 4:
            raise UnreadableImageError(f"{name}: {len(encoded) * 3 // 4:,} bytes, over the limit of "
                                       f"{self.max_image_bytes:,} per image")
        try:
            return base64.b64decode(encoded, validate=True)
        except (binascii.Error, ValueError) as err:
            raise UnreadableImageError(f"{name}: not valid base64 ({err})") from err


def _load_artifact(artifacts: dict[str, str]) -> Any:
    from deepfer_kedro.inference.loading import load_exported_or_keras

    key = next(k for k in FILE_OF_ARTIFACT if k in artifacts)
    return load_exported_or_keras(artifacts[key])


def _write_artifact(model: Any, folder: Path) -> dict[str, str]:
    """The model as a file in ``folder``: ``.onnx`` for an ONNX model, ``.tflite`` for a LiteRT one,
    ``.keras`` otherwise."""
    from deepfer_kedro.core.export import OnnxEmotionModel
    from deepfer_kedro.core.litert import LiteRTEmotionModel

    key = (ONNX_ARTIFACT if isinstance(model, OnnxEmotionModel)
           else LITERT_ARTIFACT if isinstance(model, LiteRTEmotionModel) else KERAS_ARTIFACT)
    model.save(folder / FILE_OF_ARTIFACT[key])
    return {key: str(folder / FILE_OF_ARTIFACT[key])}


@dataclass(frozen=True)
class ServedModel:
    """What a served model is made of: the model (ONNX, LiteRT or Keras), the inference settings, and the
    PublicTest top-1 it was selected on (the registry's champion is the best of these)."""

    model: Any
    settings: dict[str, Any]
    publictest_accuracy: float | None = None


def save_served_model(model: Any, inference: dict[str, Any], path: str | Path) -> Path:
    """Writes the MLflow model folder at ``path``."""
    with tempfile.TemporaryDirectory() as tmp, _no_signature_notice():
        mlflow.pyfunc.save_model(str(path), python_model=str(CODE_FILE), artifacts=_write_artifact(model, Path(tmp)),
                                 model_config=served_settings(inference, model))
    return Path(path)


def log_served_model(model: Any, inference: dict[str, Any], name: str = "served_model",
                     registered_model_name: str | None = None) -> Any:
    """Logs the same folder to the active MLflow run under ``name`` (and registers it as a new version
    of ``registered_model_name`` when given); returns MLflow's ``ModelInfo``."""
    with tempfile.TemporaryDirectory() as tmp, _no_signature_notice():
        return mlflow.pyfunc.log_model(name=name, python_model=str(CODE_FILE),
                                       artifacts=_write_artifact(model, Path(tmp)),
                                       model_config=served_settings(inference, model),
                                       registered_model_name=registered_model_name)


@contextmanager
def _no_signature_notice() -> Iterator[None]:
    """Drops MLflow's warning that no signature could be inferred: there is none on purpose, since
    ``EmotionModel.predict`` checks its input itself, with messages that name the image and the fault."""

    def keep(record: logging.LogRecord) -> bool:
        return not record.getMessage().startswith("Failed to infer model signature: Type hint")

    logger = logging.getLogger("mlflow.pyfunc")
    logger.addFilter(keep)
    try:
        yield
    finally:
        logger.removeFilter(keep)


def served_settings(inference: dict[str, Any], model: Any = None) -> dict[str, Any]:
    """The inference settings the served model keeps (not the pipeline's own, like ``annotate``), with
    ``temperature`` null replaced by ``model``'s own (the shipped model's), which its file does not keep."""
    keep = ("min_face_size", "margin", "align_faces", "align_min_roll", "tta_flip", "stretch_contrast_below",
            "detector", "detect_faces", "temperature",
            "max_image_pixels", "max_image_bytes", "video_smoothing")
    settings = {k: v for k, v in (inference or {}).items() if k in keep}
    settings.setdefault("max_image_pixels", MAX_IMAGE_PIXELS)
    if settings.get("temperature") is None:
        settings.pop("temperature", None)
        if hasattr(model, "calibration_temperature"):
            settings["temperature"] = float(model.calibration_temperature)
    return settings


def load_served_artifact(folder: Path) -> Any:
    """The model (ONNX, LiteRT or Keras) inside a DeepFER served-model folder, found from its MLmodel file
    (YAML, read safely) without running or unpickling anything in the folder."""
    mlmodel = folder / "MLmodel"
    if not mlmodel.is_file():
        raise NotOurServedModelError(f"{folder}: not an MLflow model folder (no MLmodel file)")
    flavor = (yaml.safe_load(mlmodel.read_text()) or {}).get("flavors", {}).get("python_function", {})
    artifacts = flavor.get("artifacts") or {}
    key = next((k for k in FILE_OF_ARTIFACT if (artifacts.get(k) or {}).get("path")), None)
    if key is None or Path(flavor.get("model_code_path") or "").name != CODE_FILE.name:
        raise NotOurServedModelError(
            f"{folder}: not a DeepFER served model (no {', '.join(map(repr, FILE_OF_ARTIFACT))} artifact from "
            f"{CODE_FILE.name}). DeepFER does not unpickle or run code from other MLflow models; give it a .keras, "
            ".onnx or .tflite file instead.")
    path = (folder / artifacts[key]["path"]).resolve()
    if folder.resolve() not in path.parents:
        raise NotOurServedModelError(f"{folder}: its MLmodel points outside the folder ({artifacts[key]['path']})")
    return _load_artifact({key: str(path)})
