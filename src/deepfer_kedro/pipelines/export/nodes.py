"""The trained model as an ONNX file for the fast CPU path, and as the served MLflow model."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from deepfer_kedro.core.export import RECHECK_MARGIN, OnnxEmotionModel, calibration_rows, export_model
from deepfer_kedro.inference.serving import ServedModel, served_settings


def export_fast_model(trained_model: Any, face_pixels: np.ndarray, image_index: pd.DataFrame,
                      export: dict[str, Any], seed: int,
                      training: dict[str, Any] | None = None) -> tuple[OnnxEmotionModel, dict[str, Any]]:
    """The model as ONNX (``export.precision``: int8, calibrated on ``export.calibration_faces``
    training faces, near ties closer than ``export.recheck_margin`` re-run in float; or float32)
    and its card, measured on the exported file over all of PublicTest (stored in the file: the
    registry's champion is chosen on it) and PrivateTest. A model trained on PublicTest
    (``training.final_fit_on_val``) gets no PublicTest score, so it never becomes champion on it."""
    split = image_index["split"].to_numpy()
    calibration = calibration_rows(split, int(export["calibration_faces"]), seed)
    test = split == "test"
    val = (split == "val") & (not (training or {}).get("final_fit_on_val"))
    labels = image_index["label"].to_numpy()
    with tempfile.TemporaryDirectory() as tmp:
        card = export_model(trained_model, tmp, face_pixels[calibration], face_pixels[test], labels[test],
                            export["precision"], val_faces=face_pixels[val], val_labels=labels[val],
                            recheck_margin=float(export.get("recheck_margin", RECHECK_MARGIN)))
        return OnnxEmotionModel(Path(tmp) / card["model_file"], name="exported_model"), card


def package_served_model(trained_model: Any, exported_model: OnnxEmotionModel,
                          inference: dict[str, Any]) -> ServedModel:
    """The model that ``inference.runtime`` runs (the ONNX export, or the Keras model) with the
    inference settings, and the export's PublicTest top-1 (the registry's champion is chosen on it)."""
    model = exported_model if inference.get("runtime", "onnx") == "onnx" else trained_model
    return ServedModel(model, served_settings(inference), publictest_accuracy=exported_model.publictest_accuracy)
