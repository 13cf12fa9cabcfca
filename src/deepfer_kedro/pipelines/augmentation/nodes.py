"""A preview of the training augmentation on real faces."""

from __future__ import annotations

from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from deepfer_kedro.labels import EMOTIONS


def plot_augmentation_preview(face_pixels: np.ndarray, image_index: pd.DataFrame,
                              augmentation: dict[str, Any], faces_per_emotion: int,
                              seed: int) -> plt.Figure:
    """A grid with, per emotion, ``faces_per_emotion`` train faces each beside an augmented copy."""
    from deepfer_kedro.models import build_augmentation  # Keras: here, not at the top, for `kedro viz`

    rng = np.random.default_rng(seed)
    augment = build_augmentation(augmentation, seed=seed)
    fig, axes = plt.subplots(len(EMOTIONS), 2 * faces_per_emotion,
                             figsize=(1.3 * 2 * faces_per_emotion, 1.4 * len(EMOTIONS)),
                             squeeze=False, layout="constrained")
    train = image_index[image_index["split"] == "train"]
    for row, emotion in enumerate(EMOTIONS):
        rows = train.index[train["emotion"] == emotion].to_numpy()
        picked = rng.choice(rows, size=min(faces_per_emotion, len(rows)), replace=False)
        originals = face_pixels[picked][..., None].astype("float32") / 255.0
        augmented = np.asarray(augment(originals, training=True))
        for i in range(faces_per_emotion):
            for j, images in enumerate((originals, augmented)):
                ax = axes[row, 2 * i + j]
                ax.axis("off")
                if i < len(picked):
                    ax.imshow(images[i, ..., 0], cmap="gray", vmin=0, vmax=1)
                if row == 0:
                    ax.set_title("original" if j == 0 else "augmented", fontsize=8)
        axes[row, 0].text(-8, 24, emotion, ha="right", va="center", fontsize=9)
    fig.suptitle("Training augmentation: real FER2013 faces, original beside augmented")
    return fig
