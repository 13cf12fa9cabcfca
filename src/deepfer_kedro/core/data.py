"""The image index (split of every face) and the class weights: the data steps that training,
evaluation and the scripts in ``benchmarks/`` share."""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.model_selection import train_test_split
from sklearn.utils.class_weight import compute_class_weight

from deepfer_kedro.fer2013 import FER2013Faces
from deepfer_kedro.labels import EMOTIONS, USAGE_TO_SPLIT


def build_image_index(faces: FER2013Faces, val_fraction: float, seed: int) -> pd.DataFrame:
    """One row per decoded image: ``source``, ``emotion``, ``label`` (its position in
    ``EMOTIONS``), ``usage`` and ``split``.

    Official usages map to train / val / test (Training / PublicTest / PrivateTest). The
    ``images/train|validation`` layout has no official test split: ``validation`` becomes the
    test split and a stratified, seeded ``val_fraction`` of ``train`` the val split.
    """
    index = faces.index[["source", "emotion", "usage"]].copy()
    index.insert(2, "label", index["emotion"].map(EMOTIONS.index).astype("int64"))
    if faces.layout == "images":
        split = pd.Series("test", index=index.index)
        train_rows = index.index[index["usage"] == "train"]
        fit_rows, val_rows = train_test_split(
            train_rows, test_size=val_fraction, random_state=seed,
            stratify=index.loc[train_rows, "emotion"],
        )
        split[fit_rows] = "train"
        split[val_rows] = "val"
        index["split"] = split
    else:
        index["split"] = index["usage"].map(USAGE_TO_SPLIT)
    return index


def compute_class_weights(image_index: pd.DataFrame) -> dict[str, float]:
    """``n_samples / (n_classes * n_samples_j)`` on the train split, keyed by emotion."""
    labels = image_index.loc[image_index["split"] == "train", "emotion"].to_numpy()
    present = [e for e in EMOTIONS if e in set(labels)]
    missing = sorted(set(EMOTIONS) - set(present))
    if missing:
        raise ValueError(f"The train split has no images of {missing}; cannot weight those classes")
    weights = compute_class_weight("balanced", classes=np.array(present), y=labels)
    return {emotion: round(float(w), 6) for emotion, w in zip(present, weights, strict=True)}
