"""The training core: plain functions on arrays and dicts.

Imports neither Kedro nor MLflow, and uses only the ``keras`` API, so it runs on a bare GPU
machine with ``KERAS_BACKEND=jax`` or ``torch`` as well as with TensorFlow.
"""

from __future__ import annotations

import logging
import math
import tempfile
import time
from pathlib import Path
from typing import Any

import keras
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from deepfer_kedro.labels import EMOTIONS, NUM_CLASSES  # noqa: E402
from deepfer_kedro.models import build_augmentation, build_model  # noqa: E402

logger = logging.getLogger(__name__)
CURVE_METRICS = ("loss", "accuracy", "f1", "precision", "recall", "auc")


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


def select_split(face_pixels: dict[str, np.ndarray], image_index: pd.DataFrame, split: str,
                 max_per_class: int | None = None, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Faces (N, 48, 48, 1) uint8 and integer labels of one split (see ``split_rows``)."""
    rows = split_rows(image_index, split, max_per_class, seed)
    return face_pixels["pixels"][rows][..., None], image_index["label"].to_numpy("int64")[rows]


class EpochLog(keras.callbacks.Callback):
    """One log line per epoch with its time and an ETA for the remaining epochs."""

    def __init__(self, epochs: int) -> None:
        super().__init__()
        self.epochs = epochs
        self.started = 0.0

    def on_train_begin(self, logs=None):
        self.started = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        elapsed = time.perf_counter() - self.started
        eta = elapsed / (epoch + 1) * (self.epochs - epoch - 1)
        shown = ", ".join(f"{k}={v:.4f}" for k, v in (logs or {}).items()
                          if k.replace("val_", "") in ("loss", "accuracy", "f1"))
        logger.info("epoch %d/%d done in %.0f s total (%s); at most %.0f s to go",
                    epoch + 1, self.epochs, elapsed, shown, eta)


def _optimizer(training: dict[str, Any], steps_per_epoch: int) -> keras.optimizers.Optimizer:
    rate: Any = float(training["learning_rate"])
    if training.get("lr_schedule") == "cosine":
        total = steps_per_epoch * int(training["epochs"])
        warmup = steps_per_epoch * int(training.get("warmup_epochs", 0))
        rate = keras.optimizers.schedules.CosineDecay(
            0.0 if warmup else rate, decay_steps=max(total - warmup, 1), alpha=0.0,
            warmup_target=rate if warmup else None, warmup_steps=warmup)
    name = training.get("optimizer", "adam")
    if name == "adam":
        return keras.optimizers.Adam(rate)
    if name == "adamw":
        return keras.optimizers.AdamW(rate, weight_decay=float(training.get("weight_decay", 1e-4)))
    if name == "sgd":
        return keras.optimizers.SGD(rate, momentum=float(training.get("momentum", 0.9)), nesterov=True)
    raise ValueError(f"training.optimizer {name!r} is not one of adam, adamw, sgd")


def resolve_jit_compile(setting: bool | str = "auto") -> bool | str:
    """``auto`` compiles the step with XLA on JAX (without it JAX runs op by op) but not on
    TensorFlow, whose own CPU kernels train VGG16 faster than XLA's (docs/benchmarks.md)."""
    if setting == "auto" and keras.backend.backend() == "tensorflow":
        return False
    return setting


def compile_metrics() -> list[keras.metrics.Metric]:
    """Top-1 accuracy, precision, recall, AUC and macro-F1, every epoch on train and val."""
    return [
        keras.metrics.CategoricalAccuracy(name="accuracy"),
        keras.metrics.Precision(name="precision"),
        keras.metrics.Recall(name="recall"),
        keras.metrics.AUC(name="auc"),
        keras.metrics.F1Score(average="macro", name="f1"),
    ]


def train_model(face_pixels: dict[str, np.ndarray], image_index: pd.DataFrame,
                class_weights: dict[str, float], model: dict[str, Any], training: dict[str, Any],
                augmentation: dict[str, Any], seed: int,
                extra_callbacks: list[keras.callbacks.Callback] | None = None) -> tuple[keras.Model, pd.DataFrame]:
    """Trains on the train split, keeps the checkpoint that is best on the val split
    (PublicTest) and returns it with the per-epoch history. ``extra_callbacks`` lets a script
    watch the training (benchmarks/gpu_train.py times the epochs)."""
    keras.utils.set_random_seed(seed)
    keras.config.set_dtype_policy("mixed_bfloat16" if training.get("mixed_precision") else "float32")
    limit = training.get("max_images_per_class")
    x_train, y_train = select_split(face_pixels, image_index, "train", limit, seed)
    x_val, y_val = select_split(face_pixels, image_index, "val", limit, seed)
    classifier = build_model(model, build_augmentation(augmentation, seed=seed))
    epochs = int(training["epochs"])
    steps = math.ceil(len(x_train) / int(training["batch_size"]))
    classifier.compile(
        optimizer=_optimizer(training, steps),
        loss=keras.losses.CategoricalCrossentropy(label_smoothing=float(training.get("label_smoothing", 0))),
        metrics=compile_metrics(),
        steps_per_execution=int(training.get("steps_per_execution", 1)),
        jit_compile=resolve_jit_compile(training.get("jit_compile", "auto")),
    )
    monitor = training["checkpoint"]["monitor"]
    mode = training["checkpoint"].get("mode", "max")
    with tempfile.TemporaryDirectory(prefix="deepfer-") as tmp:
        best = Path(tmp) / "best.weights.h5"
        callbacks = [
            keras.callbacks.ModelCheckpoint(best, monitor=monitor, mode=mode, save_best_only=True,
                                            save_weights_only=True),
            EpochLog(epochs),
            *(extra_callbacks or []),
        ]
        if training.get("early_stopping"):
            callbacks.append(keras.callbacks.EarlyStopping(**training["early_stopping"],
                                                           restore_best_weights=False))
        if training.get("reduce_lr") and training.get("lr_schedule", "plateau") == "plateau":
            callbacks.append(keras.callbacks.ReduceLROnPlateau(**training["reduce_lr"]))
        weights = ({EMOTIONS.index(e): float(w) for e, w in class_weights.items()}
                   if training.get("use_class_weights", True) else None)
        if weights and limit:
            logger.warning("Class weights come from the whole train split but training uses at most %d images "
                           "per emotion; consider training.use_class_weights: false", limit)
        logger.info("Training %s on %d images, selecting on %d val images, %d epochs at most",
                    classifier.name, len(x_train), len(x_val), epochs)
        history = classifier.fit(
            x_train, keras.utils.to_categorical(y_train, NUM_CLASSES),
            validation_data=(x_val, keras.utils.to_categorical(y_val, NUM_CLASSES)),
            batch_size=int(training["batch_size"]), epochs=epochs, class_weight=weights,
            callbacks=callbacks, shuffle=True, verbose=training.get("verbose", "auto"),
        )
        classifier.load_weights(best)
    table = pd.DataFrame(history.history)
    table.insert(0, "epoch", np.arange(1, len(table) + 1))
    return without_optimizer(classifier), table


def without_optimizer(model: keras.Model) -> keras.Model:
    """An uncompiled copy with the same weights: a third of the size on disk, as Adam's two
    moment estimates per weight are not kept (nothing resumes training from it)."""
    copy = keras.models.clone_model(model)
    copy.set_weights(model.get_weights())
    return copy


def history_metrics(training_history: pd.DataFrame) -> dict[str, list[dict[str, float]]]:
    """The per-epoch history in the shape of kedro-mlflow's ``MlflowMetricsHistoryDataset``."""
    return {
        column: [{"step": int(step), "value": float(value)}
                 for step, value in zip(training_history["epoch"], training_history[column], strict=True)]
        for column in training_history.columns if column != "epoch"
    }


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
