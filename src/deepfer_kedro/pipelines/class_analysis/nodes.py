"""Class counts per split, their bar chart, and class weights for ``model.fit``."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from sklearn.utils.class_weight import compute_class_weight

from deepfer_kedro.labels import EMOTIONS, SPLITS


def count_classes(image_index: pd.DataFrame) -> pd.DataFrame:
    """Images per emotion (rows) and split (columns), with totals."""
    counts = pd.crosstab(image_index["emotion"], image_index["split"])
    counts = counts.reindex(index=list(EMOTIONS), columns=list(SPLITS), fill_value=0)
    counts["total"] = counts.sum(axis=1)
    counts.loc["total"] = counts.sum(axis=0)
    counts.index.name = "emotion"
    return counts.reset_index()


def plot_class_counts(class_counts: pd.DataFrame) -> plt.Figure:
    """Grouped bars: images per emotion for each split."""
    table = class_counts.set_index("emotion").drop(index="total")[list(SPLITS)]
    fig, ax = plt.subplots(figsize=(9, 4.5), layout="constrained")
    table.plot.bar(ax=ax, width=0.8)
    for container in ax.containers:
        ax.bar_label(container, fontsize=7)
    ax.set_xlabel("emotion")
    ax.set_ylabel("images")
    ax.set_title("FER2013 images per emotion and split")
    ax.tick_params(axis="x", rotation=0)
    return fig


def compute_class_weights(image_index: pd.DataFrame) -> dict[str, float]:
    """``n_samples / (n_classes * n_samples_j)`` on the train split, keyed by emotion."""
    labels = image_index.loc[image_index["split"] == "train", "emotion"].to_numpy()
    present = [e for e in EMOTIONS if e in set(labels)]
    missing = sorted(set(EMOTIONS) - set(present))
    if missing:
        raise ValueError(f"The train split has no images of {missing}; cannot weight those classes")
    weights = compute_class_weight("balanced", classes=np.array(present), y=labels)
    return {emotion: round(float(w), 6) for emotion, w in zip(present, weights, strict=True)}
