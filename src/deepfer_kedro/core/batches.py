"""Training batches read by row from any array-like store of faces: the decoded array in memory,
or ``FaceShards`` streaming from disk. The order is a function of the seed and the epoch only,
so both stores give the same batches, on every backend, and a resumed run the same order.

MixUp and CutMix mix whole batches here, on the host, because they mix the labels too, which
augmentation inside the model cannot reach. NumPy and a generator drawn from (seed, epoch,
batch) keep them reproducible and backend-independent; Keras' ``MixUp`` and ``CutMix`` layers
draw from a stateful generator instead, so a resumed run would see other batches."""

from __future__ import annotations

import math

import keras
import numpy as np

from deepfer_kedro.labels import NUM_CLASSES

MIXING_KEYS = ("mixup_alpha", "cutmix_alpha", "mix_probability")


def mix_batch(faces: np.ndarray, one_hot: np.ndarray, weights: np.ndarray | None, rng: np.random.Generator,
              mixup_alpha: float = 0.0, cutmix_alpha: float = 0.0, mix_probability: float = 1.0):
    """MixUp (Zhang et al. 2018) or CutMix (Yun et al. 2019) of a batch with a shuffled copy of
    itself, one mixing ratio for the batch as in timm. With both alphas set, each mixed batch is
    one or the other at even odds; ``mix_probability`` of the batches are mixed at all.

    Returns faces (float32 for MixUp, the input dtype for CutMix), labels and class weights, each
    the same blend of the two faces they come from."""
    kinds = [k for k, alpha in (("mixup", mixup_alpha), ("cutmix", cutmix_alpha)) if alpha and alpha > 0]
    if not kinds or len(faces) < 2 or rng.random() >= mix_probability:
        return faces, one_hot, weights
    kind = kinds[int(rng.integers(len(kinds)))]
    partner = rng.permutation(len(faces))
    share = float(rng.beta(*(2 * [mixup_alpha if kind == "mixup" else cutmix_alpha])))  # of the face itself
    if kind == "mixup":
        faces = share * faces.astype("float32") + (1 - share) * faces[partner].astype("float32")
    else:  # a box of about (1 - share) of the face, from the partner; the share is then the box's true area
        height, width = faces.shape[1:3]
        cut_h, cut_w = int(height * np.sqrt(1 - share)), int(width * np.sqrt(1 - share))
        cy, cx = int(rng.integers(height)), int(rng.integers(width))
        top, bottom = np.clip([cy - cut_h // 2, cy + cut_h // 2], 0, height)
        left, right = np.clip([cx - cut_w // 2, cx + cut_w // 2], 0, width)
        faces = faces.copy()
        faces[:, top:bottom, left:right] = faces[partner, top:bottom, left:right]
        share = 1 - (bottom - top) * (right - left) / (height * width)
    one_hot = share * one_hot + (1 - share) * one_hot[partner]
    if weights is not None:
        weights = share * weights + (1 - share) * weights[partner]
    return faces, one_hot.astype("float32"), weights


class FaceBatches(keras.utils.PyDataset):
    """``(faces, targets[, class weights])`` batches of ``rows`` of ``faces``, shaped
    ``(batch, H, W, 1)`` uint8 for 48x48 grayscale. With ``shuffle``, each epoch's order is a
    permutation drawn from ``(seed, epoch)``; ``EpochOrder`` tells it the epoch ``fit`` is in.
    ``mixing``: ``mix_batch``'s ``mixup_alpha``, ``cutmix_alpha`` and ``mix_probability``.
    ``targets`` (one row of 7 per row, summing to 1) replaces the one-hot labels: distillation's
    soft targets; the class weights still follow ``labels``."""

    def __init__(self, faces, rows: np.ndarray, labels: np.ndarray, batch_size: int, seed: int = 0,
                 class_weights: np.ndarray | None = None, shuffle: bool = True,
                 mixing: dict[str, float] | None = None, targets: np.ndarray | None = None) -> None:
        super().__init__()  # read on the training thread: fast enough (docs/benchmarks.md, Streaming input)
        self.faces = faces
        self.rows = np.asarray(rows, dtype=np.int64)
        self.labels = np.asarray(labels, dtype=np.int64)
        if len(self.rows) != len(self.labels):
            raise ValueError(f"{len(self.rows)} rows but {len(self.labels)} labels")
        self.targets = (np.eye(NUM_CLASSES, dtype="float32")[self.labels] if targets is None
                        else np.asarray(targets, dtype="float32"))
        if self.targets.shape != (len(self.rows), NUM_CLASSES):
            raise ValueError(f"{len(self.rows)} rows but targets of shape {self.targets.shape}")
        self.batch_size = int(batch_size)
        self.seed = int(seed)
        self.class_weights = None if class_weights is None else np.asarray(class_weights, dtype="float32")
        self.shuffle = shuffle
        mixing = {k: float(v) for k, v in (mixing or {}).items() if v is not None}
        unknown = set(mixing) - set(MIXING_KEYS)
        if unknown:
            raise ValueError(f"Unknown batch mixing settings {sorted(unknown)}; known: {list(MIXING_KEYS)}")
        self.mixing = mixing if mixing.get("mixup_alpha") or mixing.get("cutmix_alpha") else {}
        self.set_epoch(0)

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)
        self.order = (np.random.default_rng([self.seed, self.epoch]).permutation(len(self.rows)) if self.shuffle
                      else np.arange(len(self.rows)))

    def __len__(self) -> int:
        return math.ceil(len(self.rows) / self.batch_size)

    def __getitem__(self, index: int):
        if not 0 <= index < len(self):
            raise IndexError(f"batch {index} of {len(self)}")
        picked = self.order[index * self.batch_size:(index + 1) * self.batch_size]
        faces = np.asarray(self.faces[self.rows[picked]])
        if faces.ndim == 3:
            faces = faces[..., None]
        targets = self.targets[picked]
        weights = None if self.class_weights is None else self.class_weights[self.labels[picked]]
        if self.mixing:  # float32 for every batch, so a compiled step never sees two input types
            faces = faces.astype("float32")
            rng = np.random.default_rng([self.seed, self.epoch, index, 1])
            faces, targets, weights = mix_batch(faces, targets, weights, rng, **self.mixing)
        return (faces, targets) if weights is None else (faces, targets, weights)


class EpochOrder(keras.callbacks.Callback):
    """Gives ``FaceBatches`` the epoch ``fit`` starts (after a resume too), before it reads a batch."""

    def __init__(self, batches: FaceBatches) -> None:
        super().__init__()
        self.batches = batches

    def on_epoch_begin(self, epoch, logs=None):
        self.batches.set_epoch(epoch)
