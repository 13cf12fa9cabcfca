"""The image index (split of every face), the rows of one split and the class weights: the data
steps that training, evaluation and the scripts in ``benchmarks/`` share. No Keras here: the
pipelines that import it are listed by `kedro viz` without loading TensorFlow."""

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


def split_rows(image_index: pd.DataFrame, split: str, max_per_class: int | None = None,
               seed: int = 0) -> np.ndarray:
    """Positions of one split's images in the index; optionally a stratified, seeded sample of
    at most ``max_per_class`` images per emotion (quick runs)."""
    rows = np.flatnonzero(image_index["split"].to_numpy() == split)
    if len(rows) == 0:
        raise ValueError(f"The image index has no {split!r} images")
    if max_per_class:
        rng = np.random.default_rng(seed)
        labels = image_index["label"].to_numpy()[rows]
        rows = np.sort(np.concatenate([
            rng.choice(rows[labels == c], size=min(max_per_class, int((labels == c).sum())),
                       replace=False)
            for c in np.unique(labels)
        ]))
    return rows


def select_split(face_pixels: np.ndarray, image_index: pd.DataFrame, split: str,
                 max_per_class: int | None = None, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Faces (N, 48, 48, 1) uint8 and integer labels of one split (see ``split_rows``)."""
    rows = split_rows(image_index, split, max_per_class, seed)
    return face_pixels[rows][..., None], image_index["label"].to_numpy("int64")[rows]
