"""The trained model plus its preprocessing as an MLflow pyfunc model, for `mlflow models serve`.

Input: a frame with an ``image`` column of base64-encoded image files (JPEG, PNG, ...).
Output: one row per face (or per image without a face) with the box, emotion, confidence and
the 7 probabilities."""

from __future__ import annotations

import base64
import io
import tempfile
from pathlib import Path
from typing import Any

import mlflow.pyfunc
import pandas as pd
from PIL import Image, ImageOps

from deepfer_kedro.inference.faces import to_gray
from deepfer_kedro.inference.predict import ROW_COLUMNS, EmotionPredictor, result_rows


class EmotionModel(mlflow.pyfunc.PythonModel):
    """Holds the Keras model as ``.keras`` bytes, loaded with ``safe_mode`` when served."""

    def __init__(self, keras_bytes: bytes, settings: dict[str, Any]) -> None:
        self.keras_bytes = keras_bytes
        self.settings = settings
        self.model = None
        self._predictor = None

    def load_context(self, context) -> None:
        from deepfer_kedro.core.saving import load_keras_model

        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "model.keras"
            path.write_bytes(self.keras_bytes)
            self.model = load_keras_model(path)
        self._predictor = EmotionPredictor(self.model, self.settings)

    def predict(self, context, model_input: pd.DataFrame, params: dict[str, Any] | None = None) -> pd.DataFrame:
        if self._predictor is None:
            self.load_context(context)
        rows = []
        for i, encoded in enumerate(model_input["image"]):
            name = str(model_input["name"].iloc[i]) if "name" in model_input else f"image{i}"
            try:
                with Image.open(io.BytesIO(base64.b64decode(encoded))) as image:
                    gray = to_gray(ImageOps.exif_transpose(image))
            except Exception as err:  # any undecodable input becomes a row naming it
                rows.append({"file": name, "status": "unreadable", "message": f"not a readable image ({err})"})
                continue
            rows += result_rows(name, None, self._predictor.predict_frame(gray))
        return pd.DataFrame(rows).reindex(columns=ROW_COLUMNS)


def package_served_model(trained_model: Any, inference: dict[str, Any]) -> EmotionModel:
    """Wraps the trained Keras model and the inference settings for MLflow."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "model.keras"
        trained_model.save(path)
        return EmotionModel(path.read_bytes(), inference)
