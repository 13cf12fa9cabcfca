"""Nodes of the data_processing pipeline: plain functions on frames and arrays."""

from __future__ import annotations

import hashlib
from typing import Any

import numpy as np
import pandas as pd

from deepfer_kedro.core.data import build_image_index
from deepfer_kedro.fer2013 import FER2013Faces
from deepfer_kedro.labels import SPLITS

__all__ = ["build_image_index", "build_quality_report", "extract_pixels"]


def extract_pixels(faces: FER2013Faces) -> np.ndarray:
    """The decoded faces as uint8 (N, 48, 48), row-aligned with the image index."""
    return faces.pixels


def _split_of(index: pd.DataFrame) -> dict[str, str]:
    return dict(zip(index["source"], index["split"], strict=True))


def find_duplicates(pixels: np.ndarray, index: pd.DataFrame) -> list[list[str]]:
    """Groups of sources whose pixel arrays are byte-for-byte identical."""
    digests = [hashlib.blake2b(image.tobytes(), digest_size=16).digest() for image in pixels]
    groups = pd.Series(index["source"].to_numpy()).groupby(digests).agg(list)
    return sorted(sorted(group) for group in groups if len(group) > 1)


def build_quality_report(faces: FER2013Faces, image_index: pd.DataFrame) -> dict[str, Any]:
    """Undecodable, resized and constant images, and exact duplicates within and across splits.

    Duplicates that span train and test (or train and val) are leakage and listed as such.
    """
    pixels = faces.pixels
    split_of = _split_of(image_index)
    problems = faces.problems
    constant = np.ptp(pixels.reshape(len(pixels), -1), axis=1) == 0
    groups = find_duplicates(pixels, image_index)
    within = {split: 0 for split in SPLITS}
    across: dict[str, list[list[str]]] = {}
    for group in groups:
        splits = sorted({split_of[source] for source in group}, key=SPLITS.index)
        if len(splits) == 1:
            within[splits[0]] += len(group) - 1
        for i, first in enumerate(splits):
            for second in splits[i + 1:]:
                across.setdefault(f"{first}-{second}", []).append(group)
    return {
        "source": {k: getattr(faces, k) for k in ("layout", "location", "source_sha256")},
        "images_examined": int(faces.examined),
        "images_kept": int(len(pixels)),
        "images_per_split": {s: int((image_index["split"] == s).sum()) for s in SPLITS},
        "undecodable": [p for p in problems if p["kind"] == "undecodable"],
        "resized": {"count": sum(p["kind"] == "resized" for p in problems),
                    "images": [p for p in problems if p["kind"] == "resized"]},
        "constant_images": {
            "count": int(constant.sum()),
            "images": [{"source": s, "split": split_of[s], "value": int(pixels[i].flat[0])}
                       for i, s in zip(np.flatnonzero(constant), image_index["source"].to_numpy()[constant],
                                       strict=True)],
        },
        "duplicates": {
            "groups": len(groups),
            "extra_copies_within_split": within,
            "groups_across_splits": {pair: len(g) for pair, g in sorted(across.items())},
            "leakage_train_test": across.get("train-test", []),
            "leakage_train_val": across.get("train-val", []),
            "leakage_val_test": across.get("val-test", []),
        },
    }
