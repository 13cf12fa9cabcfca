"""Training batches read by row from any array-like store of faces: the decoded array in memory,
or ``FaceShards`` streaming from disk. The order is a function of the seed and the epoch only,
so both stores give the same batches, on every backend, and a resumed run the same order."""

from __future__ import annotations

import math

import keras
import numpy as np

from deepfer_kedro.labels import NUM_CLASSES


class FaceBatches(keras.utils.PyDataset):
    """``(faces, one-hot labels[, class weights])`` batches of ``rows`` of ``faces``, shaped
    ``(batch, H, W, 1)`` uint8 for 48x48 grayscale. With ``shuffle``, each epoch's order is a
    permutation drawn from ``(seed, epoch)``; ``EpochOrder`` tells it the epoch ``fit`` is in."""

    def __init__(self, faces, rows: np.ndarray, labels: np.ndarray, batch_size: int, seed: int = 0,
                 class_weights: np.ndarray | None = None, shuffle: bool = True) -> None:
        super().__init__()  # read on the training thread: fast enough (docs/benchmarks.md, Streaming input)
        self.faces = faces
        self.rows = np.asarray(rows, dtype=np.int64)
        self.labels = np.asarray(labels, dtype=np.int64)
        if len(self.rows) != len(self.labels):
            raise ValueError(f"{len(self.rows)} rows but {len(self.labels)} labels")
        self.batch_size = int(batch_size)
        self.seed = int(seed)
        self.class_weights = None if class_weights is None else np.asarray(class_weights, dtype="float32")
        self.shuffle = shuffle
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
        labels = self.labels[picked]
        one_hot = np.eye(NUM_CLASSES, dtype="float32")[labels]
        if self.class_weights is None:
            return faces, one_hot
        return faces, one_hot, self.class_weights[labels]


class EpochOrder(keras.callbacks.Callback):
    """Gives ``FaceBatches`` the epoch ``fit`` starts (after a resume too), before it reads a batch."""

    def __init__(self, batches: FaceBatches) -> None:
        super().__init__()
        self.batches = batches

    def on_epoch_begin(self, epoch, logs=None):
        self.batches.set_epoch(epoch)
