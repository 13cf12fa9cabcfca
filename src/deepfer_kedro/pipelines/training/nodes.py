"""Nodes of the training pipeline: the training core (``deepfer_kedro.core.training``), the history as
MLflow metrics and the training-curves plot."""

from __future__ import annotations

import math
from typing import Any

import matplotlib.pyplot as plt
import pandas as pd

CURVE_METRICS = ("loss", "accuracy", "f1", "precision", "recall", "auc")


def train_model(face_pixels: Any, image_index: pd.DataFrame, class_weights: dict[str, float],
                model: dict[str, Any], training: dict[str, Any], augmentation: dict[str, Any],
                seed: int) -> tuple[Any, pd.DataFrame]:
    """``deepfer_kedro.core.training.train_model``: the trained Keras model (without optimizer state)
    and its per-epoch history."""
    # Imported here: `kedro viz` and `kedro registry` import every node module, and Keras takes 8 s.
    from deepfer_kedro.core import training as core

    return core.train_model(face_pixels, image_index, class_weights, model, training, augmentation, seed)


def history_metrics(training_history: pd.DataFrame) -> dict[str, list[dict[str, float]]]:
    """The per-epoch history in the shape of kedro-mlflow's ``MlflowMetricsHistoryDataset``."""
    return {
        column: [{"step": int(step), "value": float(value)}
                 for step, value in zip(training_history["epoch"], training_history[column], strict=True)]
        for column in training_history.columns if column != "epoch"
    }


def plot_training_curves(training_history: pd.DataFrame) -> plt.Figure:
    """Loss and each metric per epoch, train against val."""
    names = [m for m in CURVE_METRICS if m in training_history]
    fig, axes = plt.subplots(2, math.ceil(len(names) / 2), figsize=(12, 6.5), squeeze=False,
                             layout="constrained")
    for ax, name in zip(axes.flat, names, strict=False):
        ax.plot(training_history["epoch"], training_history[name], marker=".", label="train")
        if f"val_{name}" in training_history:
            ax.plot(training_history["epoch"], training_history[f"val_{name}"], marker=".",
                    label="val (PublicTest)")
        ax.set_title(name)
        ax.set_xlabel("epoch")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    for ax in list(axes.flat)[len(names):]:
        ax.axis("off")
    fig.suptitle("Training curves")
    return fig
