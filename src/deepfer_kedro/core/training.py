"""Training: the optimizer, the compiled model, the epoch budget and the fit.

Imports neither Kedro nor MLflow and uses only the ``keras`` API, so it runs on a bare GPU machine
with ``KERAS_BACKEND=jax`` or ``torch`` as well as with TensorFlow.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import shutil
import tempfile
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import keras
import numpy as np
import pandas as pd

from deepfer_kedro.core.batches import MIXING_KEYS, EpochOrder, FaceBatches
from deepfer_kedro.core.data import split_rows
from deepfer_kedro.core.saving import without_optimizer
from deepfer_kedro.labels import EMOTIONS, NUM_CLASSES, PROBABILITY_COLUMNS
from deepfer_kedro.models import build_augmentation, build_model

logger = logging.getLogger(__name__)


class EpochLog(keras.callbacks.Callback):
    """One log line per epoch with an ETA, and each epoch's seconds as ``epoch_seconds`` in the
    history (the measured side of the epoch-time estimate)."""

    def __init__(self, epochs: int) -> None:
        super().__init__()
        self.epochs = epochs
        self.started = self.epoch_started = 0.0

    def on_train_begin(self, logs=None):
        self.started = time.perf_counter()

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch_started = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        now = time.perf_counter()
        if logs is not None:
            logs["epoch_seconds"] = now - self.epoch_started
        elapsed = now - self.started
        eta = elapsed / (epoch + 1) * (self.epochs - epoch - 1)
        shown = ", ".join(f"{k}={v:.4f}" for k, v in (logs or {}).items()
                          if k.replace("val_", "") in ("loss", "accuracy", "f1"))
        logger.info("epoch %d/%d done in %.0f s total (%s); at most %.0f s to go",
                    epoch + 1, self.epochs, elapsed, shown, eta)


class TimeBudget(keras.callbacks.Callback):
    """Stops before an epoch that would end after ``deadline`` (a ``time.monotonic`` value); the
    checkpoint best on val so far is kept."""

    def __init__(self, deadline: float) -> None:
        super().__init__()
        self.deadline = deadline
        self.stopped = False
        self.epoch_started = 0.0

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch_started = time.monotonic()

    def on_epoch_end(self, epoch, logs=None):
        now = time.monotonic()
        if now + (now - self.epoch_started) > self.deadline:
            self.stopped = self.model.stop_training = True
            logger.warning("Stopping after epoch %d: another would pass training.time_budget_s", epoch + 1)


def make_optimizer(training: dict[str, Any], steps_per_epoch: int, epochs: int) -> keras.optimizers.Optimizer:
    """Adam, AdamW or SGD with Nesterov momentum; a constant rate or a cosine schedule with warm-up
    over ``epochs``; optionally an exponential moving average of the weights (``ema_momentum``)."""
    rate: Any = float(training["learning_rate"])
    if training.get("lr_schedule") == "cosine":
        total = steps_per_epoch * epochs
        warmup = steps_per_epoch * int(training.get("warmup_epochs", 0))
        rate = keras.optimizers.schedules.CosineDecay(
            0.0 if warmup else rate, decay_steps=max(total - warmup, 1), alpha=0.0,
            warmup_target=rate if warmup else None, warmup_steps=warmup)
    ema = training.get("ema_momentum")
    common = {"use_ema": bool(ema), "ema_momentum": float(ema or 0.99)}
    name = training.get("optimizer", "adam")
    if name == "adam":
        return keras.optimizers.Adam(rate, **common)
    if name == "adamw":
        return keras.optimizers.AdamW(rate, weight_decay=float(training.get("weight_decay", 1e-4)), **common)
    if name == "sgd":
        return keras.optimizers.SGD(rate, momentum=float(training.get("momentum", 0.9)), nesterov=True, **common)
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


def build_compiled_model(model: dict[str, Any], training: dict[str, Any], augmentation: dict[str, Any],
                         seed: int, train_images: int, epochs: int) -> keras.Model:
    """The network with its augmentation, compiled for ``epochs`` epochs of ``train_images``."""
    keras.utils.set_random_seed(seed)
    previous = keras.config.dtype_policy()
    # the layers keep the policy they are built with; the global one is put back for other code
    keras.config.set_dtype_policy("mixed_bfloat16" if training.get("mixed_precision") else "float32")
    try:
        classifier = build_model(model, build_augmentation(augmentation, seed=seed))
    finally:
        keras.config.set_dtype_policy(previous)
    steps = math.ceil(train_images / int(training["batch_size"]))
    classifier.compile(
        optimizer=make_optimizer(training, steps, epochs),
        loss=keras.losses.CategoricalCrossentropy(label_smoothing=float(training.get("label_smoothing", 0))),
        metrics=compile_metrics(),
        steps_per_execution=int(training.get("steps_per_execution", 1)),
        jit_compile=resolve_jit_compile(training.get("jit_compile", "auto")),
    )
    return classifier


def measure_epoch_seconds(classifier: keras.Model, train_batches: FaceBatches, val_batches: FaceBatches | None,
                          before_timing: Callable[[], None] | None = None) -> float:
    """Seconds one epoch will take, measured the way ``fit`` runs it: the real compiled train and
    val steps, each timed on one and on four executions' worth of faces (after a call that
    compiles). The difference gives the cost of a face apart from the cost of a call whatever
    its size (``fit``'s own set-up, which on a GPU outweighs a few steps and made a one-size probe
    about 5 times too pessimistic there); the epoch is one call plus the split's faces. The
    weights and the optimizer state are put back afterwards, so training starts as if unprobed.
    ``before_timing`` runs once the train step is compiled and before any timing (the GPU search
    waits there for the runs beside it to compile, so that all time their steps as they will train:
    sharing the device)."""
    batch_size = train_batches.batch_size
    per_call = batch_size * max(1, int(classifier.steps_per_execution or 1))
    small, large = per_call, 4 * per_call
    x_train = train_batches[0][0]
    x = np.resize(x_train, (large, *x_train.shape[1:]))
    y = keras.utils.to_categorical(np.arange(large) % NUM_CLASSES, NUM_CLASSES)
    x_val = val_batches[0][0] if val_batches is not None else x_train
    xv = np.resize(x_val, (large, *x_val.shape[1:]))
    classifier.optimizer.build(classifier.trainable_variables)
    weights = classifier.get_weights()
    optimizer_state = [keras.ops.convert_to_numpy(v) for v in classifier.optimizer.variables]

    def timed(call, faces: int) -> float:
        # a fit with EMA ends by assigning the averages to the weights, and on JAX they then share
        # buffers that the next fit may not donate twice: give the weights buffers of their own
        classifier.set_weights(classifier.get_weights())
        start = time.perf_counter()
        call(faces)
        return time.perf_counter() - start

    total = 0.0
    for faces_in_split, call in (
            (len(train_batches.rows), lambda n: classifier.fit(x[:n], y[:n], batch_size=batch_size, epochs=1,
                                                               verbose=0, shuffle=False)),
            (len(val_batches.rows) if val_batches is not None else 0,
             lambda n: classifier.evaluate(xv[:n], y[:n], batch_size=batch_size, verbose=0))):
        if not faces_in_split:
            continue
        timed(call, large)  # compiles
        if before_timing is not None:
            before_timing()
            before_timing = None
        t_small, t_large = timed(call, small), timed(call, large)
        per_face = (t_large - t_small) / (large - small)
        if per_face <= 0:  # timing noise: fall back to the whole call's cost per face (pessimistic)
            per_face = t_large / large
        total += max(t_small - per_face * small, 0.0) + per_face * faces_in_split
    classifier.set_weights(weights)
    for variable, value in zip(classifier.optimizer.variables, optimizer_state, strict=True):
        variable.assign(value)
    return total


def accelerators() -> list[str]:
    """The GPUs (or TPUs) the Keras backend sees, [] where it sees none: a GPU machine whose CUDA
    libraries the backend cannot load trains on the CPU without another word."""
    backend = keras.backend.backend()
    if backend == "jax":
        import jax

        return [str(device) for device in jax.devices() if device.platform != "cpu"]
    if backend == "tensorflow":
        import tensorflow as tf

        return [device.name for device in tf.config.list_physical_devices() if device.device_type in ("GPU", "TPU")]
    if backend == "torch":
        import torch

        return [f"cuda:{i}" for i in range(torch.cuda.device_count())]
    return []


def configure_distribution(kind: str | None, batch_size: int) -> int:
    """``none``: one device. ``data_parallel``: every device found at run time, through Keras'
    distribution API (``DataParallel``: weights replicated, each batch split across the devices;
    on JAX, several hosts too). Returns the number of devices used."""
    current = keras.distribution.distribution()
    if kind in (None, "none"):
        if current is not None:
            keras.distribution.set_distribution(None)
        return 1
    if kind != "data_parallel":
        raise ValueError(f"training.distribution must be none or data_parallel, not {kind!r}")
    if keras.backend.backend() != "jax":
        raise ValueError("training.distribution: data_parallel needs the JAX backend (Keras' distribution API): "
                         f"run with KERAS_BACKEND=jax (this run uses {keras.backend.backend()})")
    devices = keras.distribution.list_devices()
    if batch_size % len(devices):
        raise ValueError(f"training.batch_size {batch_size} must be a multiple of the {len(devices)} devices found "
                         f"({', '.join(devices)}) for data_parallel")
    keras.distribution.set_distribution(keras.distribution.DataParallel(devices=devices))
    logger.info("Data-parallel training on %d devices (%s), %d faces per device per step", len(devices),
                ", ".join(devices), batch_size // len(devices))
    return len(devices)


def teacher_probabilities(location: str | Path, sources: np.ndarray) -> np.ndarray:
    """A teacher's probabilities (N, 7) for each of ``sources`` (the image index's ``source``), read from
    the predictions that ``deepfer evaluate --split train -o DIR`` writes: ``DIR/train_predictions.csv``
    (gzipped too, as benchmarks/teachers/ keeps them), or a folder of ``*_predictions.csv`` (every one
    is read, so that a final fit finds its val faces)."""
    location = Path(location)
    files = sorted(location.glob("*_predictions.csv")) if location.is_dir() else [location]
    if not files or not files[0].is_file():
        raise FileNotFoundError(f"training.teacher_predictions: {location} is not a predictions CSV or a folder "
                                "holding one; write it with `deepfer evaluate --model TEACHER --split train -o DIR`")
    tables = []
    for file in files:
        table = pd.read_csv(file)
        missing = [c for c in ("source", *PROBABILITY_COLUMNS) if c not in table]
        if missing:
            raise ValueError(f"training.teacher_predictions: {file} has no column(s) {missing}; it must be a "
                             "`deepfer evaluate` predictions table (source, p_angry ... p_surprise)")
        probabilities = table[PROBABILITY_COLUMNS].to_numpy("float64")
        bad = ~np.isfinite(probabilities).all(axis=1) | (np.abs(probabilities.sum(axis=1) - 1) > 1e-3)
        if bad.any():
            raise ValueError(f"training.teacher_predictions: {file} row {int(np.argmax(bad)) + 2} "
                             f"({table['source'].iloc[int(np.argmax(bad))]}) does not hold 7 probabilities summing "
                             f"to 1 ({bad.sum()} such rows)")
        tables.append(table[["source", *PROBABILITY_COLUMNS]])
    by_source = pd.concat(tables).drop_duplicates("source", keep="last").set_index("source")
    found = pd.Index(by_source.index).get_indexer(sources)
    if (found < 0).any():
        absent = np.asarray(sources)[found < 0]
        raise ValueError(f"training.teacher_predictions: {location} has no probabilities for {len(absent)} of the "
                         f"{len(sources)} faces trained on (e.g. {absent[0]}); it must come from the same data, "
                         "and from --split all for a final fit on val")
    return by_source.to_numpy("float32")[found]


def plan_epochs(epochs: int, epoch_seconds: float, budget_s: float) -> int:
    """The recipe's epochs, or fewer if they would not end within ``budget_s`` seconds."""
    return max(1, min(epochs, int(budget_s / max(epoch_seconds, 1e-6))))


def train_model(face_pixels, image_index: pd.DataFrame,
                class_weights: dict[str, float], model: dict[str, Any], training: dict[str, Any],
                augmentation: dict[str, Any], seed: int,
                before_timing: Callable[[], None] | None = None) -> tuple[keras.Model, pd.DataFrame]:
    """Trains on the train split, keeps the checkpoint that is best on the val split (PublicTest)
    and returns it without optimizer state, with the per-epoch history. With
    ``training.final_fit_on_val`` it trains on both splits for every epoch and keeps the last.

    ``face_pixels`` is the decoded array, or any array-like that reads rows on demand (the
    ``FaceShards`` of the streaming input path): batches are read by row either way, in the
    same order for the same seed (``FaceBatches``).

    With ``training.time_budget_s`` the epochs are first sized to the budget from a measured
    epoch time (``measure_epoch_seconds``, which calls ``before_timing``), and training stops
    before the budget runs out."""
    started = time.monotonic()
    limit = training.get("max_images_per_class")
    train_rows = split_rows(image_index, "train", limit, seed)
    val_rows = split_rows(image_index, "val", limit, seed)
    batch_size = int(training["batch_size"])
    epochs = int(training["epochs"])
    final_fit = bool(training.get("final_fit_on_val"))
    if final_fit:
        check_final_fit(training)
        train_rows = np.sort(np.concatenate([train_rows, val_rows]))
        logger.warning("training.final_fit_on_val: training on train and val (PublicTest) together for all %d epochs "
                       "and keeping the last; PublicTest no longer measures or selects this model", epochs)
    devices = configure_distribution(training.get("distribution"), batch_size)
    if devices > 1:  # every batch, the last one too, must split evenly across the devices
        keep_train, keep_val = len(train_rows) // devices * devices, len(val_rows) // devices * devices
        if (len(train_rows), len(val_rows)) != (keep_train, keep_val):
            logger.info("Data parallel: the last %d train and %d val faces are left out so that every batch splits "
                        "over %d devices", len(train_rows) - keep_train, len(val_rows) - keep_val, devices)
        train_rows, val_rows = train_rows[:keep_train], val_rows[:keep_val]
    labels = image_index["label"].to_numpy("int64")
    weights = None
    if training.get("use_class_weights", True) and class_weights:  # {}: none computed, train unweighted
        weights = np.array([float(class_weights[e]) for e in EMOTIONS], dtype="float32")
        if limit:
            logger.warning("Class weights come from the whole train split but training uses at most %d images "
                           "per emotion; consider training.use_class_weights: false", limit)
    mixing = {k: augmentation[k] for k in MIXING_KEYS if augmentation.get(k) is not None}
    targets = None
    if training.get("teacher_predictions"):  # knowledge distillation: part label, part teacher
        share = float(training.get("teacher_weight", 0.7))
        teacher = teacher_probabilities(training["teacher_predictions"],
                                        image_index["source"].to_numpy()[train_rows])
        targets = share * teacher + (1 - share) * np.eye(NUM_CLASSES, dtype="float32")[labels[train_rows]]
        logger.info("Distilling from %s: targets are %.2f the teacher's probabilities and %.2f the label",
                    training["teacher_predictions"], share, 1 - share)
    train_batches = FaceBatches(face_pixels, train_rows, labels[train_rows], batch_size, seed, weights,
                                mixing=mixing, targets=targets)
    val_batches = None if final_fit else FaceBatches(face_pixels, val_rows, labels[val_rows], batch_size,
                                                     shuffle=False)
    classifier = build_compiled_model(model, training, augmentation, seed, len(train_rows), epochs)
    budget = training.get("time_budget_s")
    estimate = None
    if budget:
        estimate = measure_epoch_seconds(classifier, train_batches, val_batches, before_timing)
        planned = plan_epochs(epochs, estimate, float(budget) - (time.monotonic() - started))
        logger.info("An epoch should take %.2f s: %d of the recipe's %d epochs fit in training.time_budget_s=%s",
                    estimate, planned, epochs, budget)
        if planned < epochs:  # the schedule must end with the training, so rebuild for fewer epochs
            epochs = planned
            classifier = build_compiled_model(model, training, augmentation, seed, len(train_rows), epochs)
    resume = resume_folder(training, {"model": model, "augmentation": augmentation, "seed": seed, "epochs": epochs,
                                      "images": [len(train_rows), 0 if final_fit else len(val_rows)],
                                      "labels": int(labels[train_rows].sum())})
    history = fit_with_checkpoint(classifier, train_batches, val_batches, training, epochs, seed,
                                  started + float(budget) if budget else None, resume)
    if estimate is not None:
        history["estimated_epoch_seconds"] = estimate
    return without_optimizer(classifier), history


def check_final_fit(training: dict[str, Any]) -> None:
    """A final fit on train + val runs a fixed schedule: nothing may watch the val split."""
    watching = [name for name in ("early_stopping", "reduce_lr") if training.get(name)
                and (name == "early_stopping" or training.get("lr_schedule", "plateau") == "plateau")]
    if watching:
        raise ValueError(f"training.final_fit_on_val trains on the val split, so {' and '.join(watching)} cannot "
                         "watch it: set training.lr_schedule: cosine and training.early_stopping: null, and "
                         "training.epochs to the number chosen on PublicTest by a run without final_fit_on_val")


def resume_folder(training: dict[str, Any], key_parts: dict[str, Any]) -> Path | None:
    """Where an interrupted training of exactly this recipe, data and seed keeps its state
    (``training.resume_dir``/<hash>), or None when resuming is off."""
    if not training.get("resume_dir"):
        return None
    ignored = {"verbose", "time_budget_s", "resume_dir"}
    recipe = {**key_parts, "training": {k: v for k, v in training.items() if k not in ignored}}
    digest = hashlib.sha256(json.dumps(recipe, sort_keys=True, default=str).encode()).hexdigest()[:16]
    return Path(training["resume_dir"]) / digest


def _loads_into(classifier: keras.Model, weights: Path) -> bool:
    """Whether ``weights`` load whole into ``classifier`` (its optimizer too). A file cut short by a
    kill may still open: reading it then fails with a RuntimeError or ValueError (CI saw this), or
    Keras skips the missing optimizer state with only a warning."""
    if not weights.is_file():
        return False
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            classifier.load_weights(weights)
        except (OSError, RuntimeError, ValueError, KeyError):
            return False
    return not any("Skipping variable loading" in str(w.message) for w in caught)


def _restored_epoch(backup: Path, classifier: keras.Model) -> int:
    """The epoch of the newest state in ``backup`` that loads whole into ``classifier``, made the one
    Keras' BackupAndRestore loads (it itself falls back to the previous one only for weights h5py
    cannot open); 0, with ``classifier`` as it was, when none does."""
    latest, metadata = backup / "latest.weights.h5", backup / "training_metadata.json"
    if classifier.optimizer is not None and not classifier.optimizer.built:
        classifier.optimizer.build(classifier.trainable_variables)  # as BackupAndRestore does before loading
    variables = [*classifier.weights, *(classifier.optimizer.variables if classifier.optimizer else [])]
    initial = [variable.numpy() for variable in variables]  # a failed load may have changed some
    previous = (backup / "latest.weights.h5.bkp", backup / "training_metadata.json.bkp")
    for weights, state in ((latest, metadata), previous):
        try:
            epoch = int(json.loads(state.read_text())["epoch"])
        except (OSError, ValueError, KeyError):
            continue
        if weights != latest:  # the newest pair is unusable: the previous one takes its place
            logger.warning("The newest training state in %s was being written when training stopped; "
                           "resuming from the one before", backup)
            shutil.copy(weights, latest)  # Keras loads only files named *.weights.h5
            shutil.copy(state, metadata)
        if _loads_into(classifier, latest):
            return epoch
    for variable, value in zip(variables, initial, strict=True):
        variable.assign(value)
    return 0


def _finished_epochs(folder: Path, classifier: keras.Model) -> pd.DataFrame | None:
    """The history of the epochs an interrupted run finished and backed up, or None to start
    afresh. A kill can land between two writes or in the middle of one: the newest backed-up
    state that loads whole into ``classifier`` is the one resumed from, rows past its epoch are
    dropped (they are trained again), and a best checkpoint that does not load is discarded."""
    log, best, backup = folder / "history.csv", folder / "best.weights.h5", folder / "backup"
    # no backup folder: the usual first run, with no model state to check
    epochs = _restored_epoch(backup, classifier) if backup.is_dir() and log.is_file() else 0
    if not epochs:
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir(parents=True)
        return None
    history = pd.read_csv(log).iloc[:epochs]
    history.to_csv(log, index=False)
    if best.is_file() and not _loads_into(classifier, best):
        logger.warning("Discarding %s: it was being written when training stopped", best)
        best.unlink()
    return history


def fit_with_checkpoint(classifier: keras.Model, train_batches: FaceBatches, val_batches: FaceBatches | None,
                        training: dict[str, Any], epochs: int, seed: int, deadline: float | None = None,
                        resume: Path | None = None) -> pd.DataFrame:
    """``fit`` with the recipe's callbacks; leaves ``classifier`` holding the epoch best on val.

    With ``resume`` (a folder), the state after each epoch is kept there (Keras'
    ``BackupAndRestore``, the best checkpoint and the history), so the same command after an
    interruption, even ``kill -9``, continues from the last finished epoch, with the same batch
    order; the folder is removed once training ends.

    Without ``val_batches`` (a final fit on train + val) nothing is selected: the last epoch's
    weights are kept (the averaged ones with ``ema_momentum``)."""
    keras.utils.set_random_seed(seed)
    monitor = training["checkpoint"]["monitor"]
    mode = training["checkpoint"].get("mode", "max")
    with tempfile.TemporaryDirectory(prefix="deepfer-") as tmp:
        folder = resume or Path(tmp)
        folder.mkdir(parents=True, exist_ok=True)
        best, log = folder / "best.weights.h5", folder / "history.csv"
        done = _finished_epochs(folder, classifier) if resume else None
        if done is not None:
            logger.info("Resuming an interrupted training from %s after epoch %d", folder, len(done))
        callbacks: list[keras.callbacks.Callback] = [EpochOrder(train_batches), EpochLog(epochs)]
        if training.get("ema_momentum"):  # validate and checkpoint the averaged weights
            callbacks.append(keras.callbacks.SwapEMAWeights(swap_on_epoch=True))
        best_so_far = None if done is None or monitor not in done or not best.is_file() else float(
            done[monitor].max() if mode == "max" else done[monitor].min())
        # with no val, every epoch's weights: the last (averaged with EMA, even after an early stop)
        callbacks.append(keras.callbacks.ModelCheckpoint(best, monitor=monitor, mode=mode,
                                                         save_best_only=val_batches is not None,
                                                         save_weights_only=True,
                                                         initial_value_threshold=best_so_far))
        callbacks.append(keras.callbacks.CSVLogger(str(log), append=done is not None))
        if resume:
            # two copies, so that a kill while one is written leaves the other to restore from
            callbacks.append(keras.callbacks.BackupAndRestore(str(folder / "backup"), double_checkpoint=True))
        if deadline is not None:
            callbacks.append(TimeBudget(deadline))
        if training.get("early_stopping"):
            callbacks.append(keras.callbacks.EarlyStopping(**training["early_stopping"], restore_best_weights=False))
        if training.get("reduce_lr") and training.get("lr_schedule", "plateau") == "plateau":
            callbacks.append(keras.callbacks.ReduceLROnPlateau(**training["reduce_lr"]))
        logger.info("Training %s on %d images, %s, %d epochs at most, on %s", classifier.name,
                    len(train_batches.rows),
                    f"selecting on {len(val_batches.rows)} val images" if val_batches else "keeping the last epoch",
                    epochs, ", ".join(accelerators()) or "the CPU (no GPU found)")
        # the batches carry their order and class weights: fit must not shuffle or weight again
        classifier.fit(train_batches, validation_data=val_batches, epochs=epochs, callbacks=callbacks,
                       shuffle=False, verbose=training.get("verbose", "auto"))
        classifier.load_weights(best)
        table = pd.read_csv(log)  # every epoch, those before an interruption too
        if val_batches is None:  # CSVLogger adds empty val_ columns when there is no validation
            table = table.drop(columns=[c for c in table if c.startswith("val_")])
        if resume:
            shutil.rmtree(folder)
    table["epoch"] = np.arange(1, len(table) + 1)
    return table[["epoch", *(c for c in table.columns if c != "epoch")]]
