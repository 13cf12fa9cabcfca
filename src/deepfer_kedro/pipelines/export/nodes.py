"""The trained model as an ONNX file for the fast CPU path, as the served MLflow model, and as a LiteRT
file for phones and edge boards."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from deepfer_kedro.core.export import RECHECK_MARGIN, OnnxEmotionModel, calibration_rows, export_model
from deepfer_kedro.core.litert import LiteRTEmotionModel
from deepfer_kedro.inference.serving import ServedModel, served_settings


def export_fast_model(trained_model: Any, face_pixels: np.ndarray, image_index: pd.DataFrame,
                      export: dict[str, Any], seed: int,
                      training: dict[str, Any] | None = None) -> tuple[OnnxEmotionModel, dict[str, Any]]:
    """The model as ONNX (``export.precision``: int8, calibrated on ``export.calibration_faces``
    training faces, near ties closer than ``export.recheck_margin`` re-run in float; or float32)
    and its card, measured on the exported file over all of PublicTest (stored in the file: the
    registry's champion is chosen on it) and PrivateTest. A model trained on PublicTest
    (``training.final_fit_on_val``) gets no PublicTest score, so it never becomes champion on it."""
    return _exported(trained_model, face_pixels, image_index, export, seed, training, "onnx")


def export_litert_model(trained_model: Any, face_pixels: np.ndarray, image_index: pd.DataFrame,
                        export: dict[str, Any], seed: int,
                        training: dict[str, Any] | None = None) -> tuple[LiteRTEmotionModel, dict[str, Any]]:
    """The model as a LiteRT ``.tflite`` file for phones and edge boards (``export.precision``: int8
    weights, activations quantized on the fly; or float32) and its card, measured on the file as the
    ONNX export's is. Needs Keras' TensorFlow backend."""
    return _exported(trained_model, face_pixels, image_index, export, seed, training, "litert")


def _exported(trained_model: Any, face_pixels: np.ndarray, image_index: pd.DataFrame, export: dict[str, Any],
              seed: int, training: dict[str, Any] | None, file_format: str) -> tuple[Any, dict[str, Any]]:
    split = image_index["split"].to_numpy()
    calibration = calibration_rows(split, int(export["calibration_faces"]), seed)
    test = split == "test"
    val = (split == "val") & (not (training or {}).get("final_fit_on_val"))
    labels = image_index["label"].to_numpy()
    with tempfile.TemporaryDirectory() as tmp:
        card = export_model(trained_model, tmp, face_pixels[calibration], face_pixels[test], labels[test],
                            export["precision"], val_faces=face_pixels[val], val_labels=labels[val],
                            recheck_margin=float(export.get("recheck_margin", RECHECK_MARGIN)),
                            file_format=file_format)
        model_class = LiteRTEmotionModel if file_format == "litert" else OnnxEmotionModel
        name = "litert_model" if file_format == "litert" else "exported_model"
        return model_class(Path(tmp) / card["model_file"], name=name), card


def export_card_metrics_for_mlflow(export_card: dict[str, Any]) -> dict[str, dict[str, float]]:
    """The exported file's own numbers for MLflow, prefixed ``exported_`` (ONNX) or ``litert_``: PrivateTest
    ``test_accuracy``, ``test_macro_f1``, ``test_top1_agreement`` with the Keras model and
    ``test_expected_calibration_error`` (and ``..._at_temperature``, scaled by the temperature), PublicTest
    ``val_accuracy`` and ``temperature`` (when scored), and ``megabytes``: what a deployment gets,
    beside the Keras model's ``test_accuracy``."""
    prefix = "litert" if export_card["model_file"].endswith(".tflite") else "exported"
    private = export_card["privatetest"]
    flat = {"test_accuracy": private["exported"]["top1"], "test_macro_f1": private["exported"]["macro_f1"],
            "test_top1_agreement": private["agreement_with_keras"]["top1_agreement"],
            "megabytes": export_card["bytes"] / 1e6}
    for name in ("expected_calibration_error", "expected_calibration_error_at_temperature"):
        if name in private:  # cards from before 2026-12-01 have neither
            flat[f"test_{name}"] = private[name]
    if export_card.get("publictest"):
        flat["val_accuracy"] = export_card["publictest"]["exported"]["top1"]
        flat["temperature"] = export_card["publictest"]["temperature"]
    return {f"{prefix}_{name}": {"value": float(value), "step": 0} for name, value in flat.items()}


def package_served_model(trained_model: Any, exported_model: OnnxEmotionModel,
                          inference: dict[str, Any]) -> ServedModel:
    """The model that ``inference.runtime`` runs (the ONNX export, or the Keras model) with the
    inference settings, and the export's PublicTest top-1 (the registry's champion is chosen on it)."""
    model = exported_model if inference.get("runtime", "onnx") == "onnx" else trained_model
    # the temperature fitted on the export serves the Keras model too (the shipped one's: the same to 4 decimals)
    return ServedModel(model, served_settings(inference, exported_model),
                       publictest_accuracy=exported_model.publictest_accuracy)
