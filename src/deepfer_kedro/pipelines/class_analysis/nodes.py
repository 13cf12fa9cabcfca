"""Class counts per split, their bar chart, and class weights for ``model.fit``."""

from __future__ import annotations

import matplotlib.pyplot as plt
import pandas as pd

from deepfer_kedro.core.data import compute_class_weights
from deepfer_kedro.labels import EMOTIONS, SPLITS

__all__ = ["compute_class_weights", "count_classes", "plot_class_counts"]


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
