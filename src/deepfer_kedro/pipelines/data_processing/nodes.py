"""Nodes of the data_processing pipeline: plain functions on frames and arrays."""

from __future__ import annotations

import hashlib
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from scipy.fft import dctn

from deepfer_kedro.core.data import build_image_index
from deepfer_kedro.fer2013 import FER2013Faces
from deepfer_kedro.labels import SPLITS

__all__ = ["build_image_index", "build_quality_report", "extract_pixels", "plot_near_duplicates"]


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


def perceptual_hashes(pixels: np.ndarray) -> np.ndarray:
    """A 64-bit perceptual hash per face (pHash's steps: the 8x8 lowest frequencies of the 2-D DCT,
    each bit set where a coefficient is above their median). On FER2013 a face re-encoded, brightened
    or with more contrast keeps nearly every bit, one shifted or cropped by a pixel moves about 6, and
    different faces differ in about 30 (benchmarks/near_duplicates.py)."""
    lowest = np.concatenate([  # 4,096 faces at a time, keeping only their 8x8 corner: bounded memory
        dctn(pixels[start:start + 4096].astype(np.float32), axes=(1, 2), norm="ortho")[:, :8, :8].copy()
        for start in range(0, len(pixels), 4096)]).reshape(len(pixels), 64)
    return np.packbits(lowest > np.median(lowest, axis=1, keepdims=True), axis=1).view(">u8").ravel()


def find_near_duplicates(pixels: np.ndarray, index: pd.DataFrame,
                         max_distance: int) -> dict[str, list[list[Any]]]:
    """For each pair of splits (train_val, train_test, val_test), every image of the later split whose
    nearest image in the earlier one is within ``max_distance`` bits of its perceptual hash, as
    ``[image, nearest, bits]``. Exact duplicates are among them (0 bits)."""
    hashes = perceptual_hashes(pixels)
    sources = index["source"].to_numpy()
    rows = {split: np.flatnonzero(index["split"].to_numpy() == split) for split in SPLITS}
    pairs: dict[str, list[list[Any]]] = {}
    for i, earlier in enumerate(SPLITS):
        for later in SPLITS[i + 1:]:
            found = pairs[f"{earlier}_{later}"] = []
            if not len(rows[earlier]):
                continue
            reference = hashes[rows[earlier]]
            step = max(1, 2**23 // len(reference))  # 8 M distances (64 MB) at a time, whatever the size
            for start in range(0, len(rows[later]), step):
                chunk = rows[later][start:start + step]
                bits = np.bitwise_count(hashes[chunk, None] ^ reference[None, :])
                nearest = bits.argmin(axis=1)
                distance = bits[np.arange(len(chunk)), nearest]
                found += [[sources[row], sources[rows[earlier][k]], int(d)]
                          for row, k, d in zip(chunk, nearest, distance, strict=True) if d <= max_distance]
            found.sort()
    return pairs


def build_quality_report(faces: FER2013Faces, image_index: pd.DataFrame,
                         near_duplicate_max_distance: int = 6) -> dict[str, Any]:
    """Undecodable, resized and constant images, exact duplicates within and across splits, and near
    duplicates across splits (perceptual hashes within ``near_duplicate_max_distance`` bits).

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
        "near_duplicates": {
            "method": "64-bit DCT perceptual hash, nearest image of the earlier split",
            "max_distance_bits": near_duplicate_max_distance,
            **find_near_duplicates(pixels, image_index, near_duplicate_max_distance),
        },
    }


def plot_near_duplicates(face_pixels: np.ndarray, image_index: pd.DataFrame,
                         data_quality_report: dict[str, Any], pairs_per_distance: int = 4) -> plt.Figure:
    """Test images beside their nearest train image, a few at each distance counted as a near duplicate
    (exact copies left out, drawn in a fixed random order across emotions), so that the threshold can be
    judged by eye."""
    near = data_quality_report["near_duplicates"]
    row_of = {source: i for i, source in enumerate(image_index["source"])}
    emotion_of = dict(zip(image_index["source"], image_index["emotion"], strict=True))
    shown: dict[int, list[list[Any]]] = {}
    order = np.random.default_rng(0).permutation(len(near["train_test"]))
    for test, train, bits in (near["train_test"][i] for i in order):
        row = shown.setdefault(bits, [])
        if len(row) < pairs_per_distance and not np.array_equal(face_pixels[row_of[test]], face_pixels[row_of[train]]):
            row.append([test, train, bits])
    rows = [row for _, row in sorted(shown.items()) if row] or [[]]
    columns = max(1, max(len(row) for row in rows))
    fig, axes = plt.subplots(len(rows), 2 * columns, figsize=(2.2 * columns, 1.6 * len(rows) + 0.6),
                             squeeze=False, layout="constrained")
    for ax in axes.ravel():
        ax.axis("off")
    for r, row in enumerate(rows):
        for c, (test, train, bits) in enumerate(row):
            for k, (source, title) in enumerate(((test, f"test, {bits} bits"), (train, "nearest train"))):
                axes[r, 2 * c + k].imshow(face_pixels[row_of[source]], cmap="gray", vmin=0, vmax=255)
                axes[r, 2 * c + k].set_title(f"{title}\n{emotion_of[source]}", fontsize=7)
    fig.suptitle(f"{len(near['train_test'])} test images have a train image within {near['max_distance_bits']} bits "
                 "of their perceptual hash; some that are not exact copies", fontsize=9)
    return fig
