"""Test-time augmentation, averaged probabilities over models and views, and the headline scores.
(No Keras import: the ONNX inference path uses this module too.)"""

from __future__ import annotations

import logging
import time
from typing import Any

import numpy as np

from deepfer_kedro.labels import EMOTIONS, NUM_CLASSES

logger = logging.getLogger(__name__)


def tta_views(images: np.ndarray, flip: bool = False, shift_pixels: int = 0) -> list[np.ndarray]:
    """Test-time views of (N, 48, 48, 1) faces: the faces, their mirror images if ``flip``, and
    if ``shift_pixels`` the four diagonal shifts by that many pixels (edges repeated) of each."""
    views = [images]
    if shift_pixels:
        s = int(shift_pixels)
        padded = np.pad(images, ((0, 0), (s, s), (s, s), (0, 0)), mode="edge")
        size = images.shape[1]
        views += [padded[:, dy:dy + size, dx:dx + size] for dy in (0, 2 * s) for dx in (0, 2 * s)]
    if flip:
        views += [view[:, :, ::-1] for view in views]
    return views


def average_probabilities(models: list[Any], images: np.ndarray, flip: bool = False,
                          shift_pixels: int = 0, batch_size: int = 256) -> np.ndarray:
    """Mean softmax over models and test-time views."""
    total = np.zeros((len(images), NUM_CLASSES))
    views = tta_views(images, flip, shift_pixels)
    started = time.perf_counter()
    for m, model in enumerate(models):
        for v, view in enumerate(views):
            total += model.predict(view, batch_size=batch_size, verbose=0)
            logger.info("predicted %d faces: model %d/%d, view %d/%d (%.0f s)", len(images), m + 1, len(models),
                        v + 1, len(views), time.perf_counter() - started)
    return total / (len(models) * len(views))


def scores(probabilities: np.ndarray, labels: np.ndarray) -> dict[str, Any]:
    """Top-1, macro-F1 and per-emotion recall of ``probabilities`` against integer ``labels``."""
    from sklearn.metrics import f1_score, recall_score

    predicted = probabilities.argmax(1)
    recall = recall_score(labels, predicted, labels=range(NUM_CLASSES), average=None, zero_division=0)
    macro_f1 = f1_score(labels, predicted, labels=range(NUM_CLASSES), average="macro", zero_division=0)
    return {"top1": round(float((predicted == labels).mean()), 4), "macro_f1": round(float(macro_f1), 4),
            "recall": {e: round(float(r), 4) for e, r in zip(EMOTIONS, recall, strict=True)}}


def calibration(probabilities: np.ndarray, labels: np.ndarray, bins: int = 15) -> dict[str, Any]:
    """How far the top-1 confidence is from the top-1 accuracy: faces grouped in ``bins`` equal-width
    bins of confidence; the expected calibration error is the face-weighted mean of each bin's
    |accuracy - mean confidence| (Guo et al., ICML 2017). 0.05 means a "90%" is right about 85%
    (or 95%) of the time."""
    confidence = probabilities.max(axis=1)
    correct = probabilities.argmax(axis=1) == labels
    which = np.minimum((confidence * bins).astype(int), bins - 1)
    rows = []
    for b in range(bins):
        inside = which == b
        if inside.any():
            rows.append({"low": b / bins, "high": (b + 1) / bins, "faces": int(inside.sum()),
                         "mean_confidence": float(confidence[inside].mean()),
                         "accuracy": float(correct[inside].mean())})
    ece = sum(r["faces"] * abs(r["accuracy"] - r["mean_confidence"]) for r in rows) / len(labels)
    return {"expected_calibration_error": float(ece), "mean_confidence": float(confidence.mean()), "bins": rows}


def with_temperature(probabilities: np.ndarray, temperature: float) -> np.ndarray:
    """``probabilities`` with their logits divided by ``temperature`` (Guo et al. 2017): above 1 less
    confident, below 1 more; the top-1 emotion never changes. The logits are the log-probabilities
    (a softmax's logits up to a constant per face), so any model's output can be scaled."""
    if temperature == 1:
        return probabilities
    logits = np.log(np.clip(probabilities, 1e-12, None)) / temperature
    scaled = np.exp(logits - logits.max(axis=-1, keepdims=True))
    return scaled / scaled.sum(axis=-1, keepdims=True)


def calibration_at_temperature(probabilities: np.ndarray, labels: np.ndarray,
                               temperature: float | None) -> dict[str, float]:
    """``temperature`` and the expected calibration error of ``probabilities`` scaled by it; empty without one."""
    if temperature is None:
        return {}
    return {"temperature": float(temperature), "expected_calibration_error_at_temperature":
            calibration(with_temperature(probabilities, temperature), labels)["expected_calibration_error"]}


def fit_temperature(probabilities: np.ndarray, labels: np.ndarray) -> float:
    """The temperature that minimises the log loss of ``probabilities`` against integer ``labels``
    (fit it on the selection split, PublicTest, and report the calibration on PrivateTest)."""
    from scipy.optimize import minimize_scalar

    rows = np.arange(len(labels))

    def log_loss(temperature: float) -> float:
        return float(-np.log(with_temperature(probabilities, temperature)[rows, labels] + 1e-12).mean())

    return float(minimize_scalar(log_loss, bounds=(0.05, 20.0), method="bounded", options={"xatol": 1e-4}).x)
