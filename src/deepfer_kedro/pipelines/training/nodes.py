"""Nodes of the training pipeline: the training core (``deepfer_kedro.core.training``) and the
training-curves plot."""

from __future__ import annotations

import math

import matplotlib.pyplot as plt
import pandas as pd

from deepfer_kedro.core.training import history_metrics, select_split, split_rows, train_model

__all__ = ["history_metrics", "plot_training_curves", "select_split", "split_rows", "train_model"]
CURVE_METRICS = ("loss", "accuracy", "f1", "precision", "recall", "auc")


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
