"""One GPU measurement in one call: check the device, probe step time (compile vs step, augmentation
inside vs outside the step), time the original recipe (`weights: null`) for a few epochs, train the
`sota` recipe, select on PublicTest, report PrivateTest with and without test-time augmentation,
and print one table. Needs only Keras 3, a backend (jax or torch), numpy, pandas, scikit-learn,
OpenCV and PyYAML: no TensorFlow, Kedro or MLflow.

  KERAS_BACKEND=jax python -u benchmarks/gpu_train.py --data /tmp/fer2013 --out "$OUT"

Tiny CPU rehearsal (what tests/test_gpu_script.py runs):

  KERAS_BACKEND=jax python -u benchmarks/gpu_train.py --data ../shared/datasets/fer2013.zip \
      --max-per-class 8 --test-per-class 4 --epochs 1 --baseline-epochs 1 --probe-steps 2 --out /tmp/gpu
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import keras
import numpy as np
import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from deepfer_kedro.fer2013 import load_faces  # noqa: E402
from deepfer_kedro.labels import EMOTIONS, NUM_CLASSES  # noqa: E402
from deepfer_kedro.models import build_augmentation, build_model  # noqa: E402
from deepfer_kedro.pipelines.class_analysis.nodes import compute_class_weights  # noqa: E402
from deepfer_kedro.pipelines.data_processing.nodes import build_image_index  # noqa: E402
from deepfer_kedro.pipelines.evaluate.nodes import compute_evaluation_metrics, predict_emotions  # noqa: E402
from deepfer_kedro.pipelines.training.nodes import compile_metrics, select_split, train_model  # noqa: E402


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


def merge(base: dict, override: dict) -> dict:
    merged = dict(base)
    for key, value in override.items():
        merged[key] = merge(base[key], value) if isinstance(value, dict) and isinstance(base.get(key), dict) else value
    return merged


def parameters(env: str) -> dict:
    """conf/base/parameters*.yml with conf/<env>/parameters*.yml merged over it, as Kedro does."""
    params: dict = {}
    for folder in ("base", env):
        for path in sorted((ROOT / "conf" / folder).glob("parameters*.yml")):
            params = merge(params, yaml.safe_load(path.read_text()) or {})
    return params


def device_report() -> dict:
    backend = keras.backend.backend()
    info = {"backend": backend, "keras": keras.__version__}
    if backend == "jax":
        import jax
        import jax.numpy as jnp

        info["devices"] = [str(d) for d in jax.devices()]
        a = jnp.ones((4096, 4096), jnp.bfloat16)
        (a @ a).block_until_ready()
        start = time.perf_counter()
        for _ in range(10):
            out = a @ a
        out.block_until_ready()
        info["matmul_tflops"] = round(10 * 2 * 4096**3 / (time.perf_counter() - start) / 1e12, 1)
    elif backend == "torch":
        import torch

        info["devices"] = [torch.cuda.get_device_name(0)] if torch.cuda.is_available() else ["cpu"]
    return info


def probe_steps(x: np.ndarray, y: np.ndarray, params: dict, steps: int) -> list[dict]:
    """ms per train step, with the augmentation inside the compiled step and without it."""
    rows = []
    for inside in (True, False):
        keras.utils.set_random_seed(0)
        augmentation = build_augmentation(params["augmentation"], seed=0) if inside else None
        model = build_model(params["model"], augmentation)
        model.compile(keras.optimizers.SGD(0.01), "categorical_crossentropy", metrics=compile_metrics(),
                      jit_compile=params["training"].get("jit_compile", "auto"))
        batch = int(params["training"]["batch_size"])
        xb, yb = x[:batch], keras.utils.to_categorical(y[:batch], NUM_CLASSES)
        start = time.perf_counter()
        model.train_on_batch(xb, yb)
        compile_s = time.perf_counter() - start
        start = time.perf_counter()
        for _ in range(steps):
            loss = model.train_on_batch(xb, yb)
        float(np.asarray(loss[0] if isinstance(loss, list) else loss))  # wait for the device
        rows.append({"augmentation": "inside the step" if inside else "none", "first_step_s": round(compile_s, 2),
                     "ms_per_step": round(1000 * (time.perf_counter() - start) / steps, 2),
                     "jit_compile": bool(model.jit_compile)})
        log(f"probe: augmentation {rows[-1]['augmentation']}: first step {compile_s:.1f} s (compile), "
            f"then {rows[-1]['ms_per_step']} ms/step at batch {batch}, jit_compile={model.jit_compile}")
    return rows


class EpochClock(keras.callbacks.Callback):
    """Seconds per epoch and when val accuracy first reached each level."""

    def __init__(self, budget_s: float | None) -> None:
        super().__init__()
        self.budget_s = budget_s
        self.epoch_s: list[float] = []
        self.val_accuracy: list[float] = []
        self.stopped_for_time = False

    def on_train_begin(self, logs=None):
        self.started = time.perf_counter()

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch_started = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        self.epoch_s.append(time.perf_counter() - self.epoch_started)
        self.val_accuracy.append(float((logs or {}).get("val_accuracy", float("nan"))))
        elapsed = time.perf_counter() - self.started
        if self.budget_s and elapsed + self.epoch_s[-1] > self.budget_s:
            self.stopped_for_time = True
            self.model.stop_training = True
            log(f"stopping after epoch {epoch + 1}: another epoch would pass the {self.budget_s:.0f} s budget")


def train(faces: dict, index, params: dict, budget_s: float | None) -> tuple[keras.Model, dict]:
    clock = EpochClock(budget_s)
    start = time.perf_counter()
    model, history = train_model(faces, index, compute_class_weights(index), params["model"], params["training"],
                                 params["augmentation"], int(params.get("seed", 42)), extra_callbacks=[clock])
    total = time.perf_counter() - start
    epochs = clock.epoch_s
    timing = {"epochs_run": len(epochs), "train_s": round(total, 1),
              "first_epoch_s": round(epochs[0], 2) if epochs else None,
              "median_later_epoch_s": round(float(np.median(epochs[1:])), 2) if len(epochs) > 1 else None,
              "best_val_accuracy": round(float(history["val_accuracy"].max()), 4),
              "best_epoch": int(history["epoch"][history["val_accuracy"].idxmax()]),
              "stopped_for_time": clock.stopped_for_time,
              "val_accuracy_per_epoch": [round(v, 4) for v in clock.val_accuracy],
              "seconds_per_epoch": [round(s, 2) for s in epochs]}
    return model, timing


def evaluate(model, faces, index, params: dict, test_per_class: int | None) -> dict:
    results = {}
    for name, tta in (("no TTA", {"flip": False, "shift_pixels": 0}),
                      ("TTA", params["evaluation"].get("tta") or {"flip": True, "shift_pixels": 0})):
        evaluation = {**params["evaluation"], "tta": tta, "max_images_per_class": test_per_class}
        metrics = compute_evaluation_metrics(predict_emotions(model, faces, index, evaluation))
        results[name] = {"accuracy": round(metrics["accuracy"], 4), "macro_f1": round(metrics["macro_f1"], 4),
                         "recall": {e: round(metrics["per_class"][e]["recall"], 3) for e in EMOTIONS},
                         "images": metrics["images"], "tta": tta}
        log(f"PrivateTest {name}: top-1 {metrics['accuracy']:.4f}, macro-F1 {metrics['macro_f1']:.4f}, "
            f"disgust recall {metrics['per_class']['disgust']['recall']:.3f} ({metrics['images']} images)")
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", required=True, help="FER2013: a folder with train/ and test/, or the zip")
    parser.add_argument("--env", default="sota", help="conf/<env> recipe to train (default sota)")
    parser.add_argument("--epochs", type=int, help="override the recipe's epochs; default: as many as the "
                        "probe's step time says fit in --budget-s, at most the recipe's")
    parser.add_argument("--budget-s", type=float, default=360, help="stop the sota training before this")
    parser.add_argument("--baseline-epochs", type=int, default=2, help="epochs of the original recipe to time")
    parser.add_argument("--probe-steps", type=int, default=20)
    parser.add_argument("--max-per-class", type=int, help="train/val subset per emotion (CPU rehearsal)")
    parser.add_argument("--test-per-class", type=int, help="PrivateTest subset per emotion (CPU rehearsal)")
    parser.add_argument("--out", default=os.environ.get("OUT", "gpu_results"))
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    report: dict = {"command": " ".join(sys.argv), "device": device_report()}
    log(f"device: {report['device']}")

    start = time.perf_counter()
    faces = load_faces(Path(args.data), progress=False)
    index = build_image_index(faces, 0.1, 0)
    log(f"data: {len(faces['pixels'])} faces decoded in {time.perf_counter() - start:.1f} s")

    sota = parameters(args.env)
    sota["training"] |= {"max_images_per_class": args.max_per_class, "verbose": 2}
    x, y = select_split(faces, index, "train", args.max_per_class or 64, 0)
    report["probe"] = probe_steps(x, y, sota, args.probe_steps)
    if args.epochs:
        sota["training"]["epochs"] = args.epochs
    else:  # a cosine schedule must end inside the budget, so size it before training
        train_images = len(select_split(faces, index, "train", args.max_per_class, 0)[1])
        steps = -(-train_images // int(sota["training"]["batch_size"]))
        epoch_s = 1.2 * steps * report["probe"][0]["ms_per_step"] / 1000  # +20% for validation
        fitting = int((args.budget_s - 60) / max(epoch_s, 1e-3))
        sota["training"]["epochs"] = max(1, min(int(sota["training"]["epochs"]), fitting))
        log(f"about {epoch_s:.1f} s per epoch expected: {sota['training']['epochs']} epochs fit in the budget")

    if args.baseline_epochs:
        original = parameters("base")
        original["model"]["weights"] = None  # ImageNet weights cannot be downloaded there
        original["training"] |= {"epochs": args.baseline_epochs, "max_images_per_class": args.max_per_class,
                                 "verbose": 2, "early_stopping": None}
        log(f"original recipe, weights: null, {args.baseline_epochs} epoch(s)")
        _, report["original_recipe"] = train(faces, index, original, None)
        log(f"original recipe: {report['original_recipe']['seconds_per_epoch']} s per epoch")

    log(f"{args.env} recipe: {sota['training']['epochs']} epochs at most, {args.budget_s:.0f} s budget")
    model, report["sota_training"] = train(faces, index, sota, args.budget_s)
    report["sota_privatetest"] = evaluate(model, faces, index, sota, args.test_per_class)
    model.save(out / "sota_model.keras")

    report["frameworks_imported"] = sorted({m.split(".")[0] for m in sys.modules} & {"kedro", "mlflow", "tensorflow"})
    (out / "gpu_results.json").write_text(json.dumps(report, indent=2))
    t, e = report["sota_training"], report["sota_privatetest"]
    lines = ["| measure | value |", "|---|---|",
             f"| device | {report['device']} |",
             *(f"| probe, augmentation {p['augmentation']} | first step {p['first_step_s']} s, "
               f"{p['ms_per_step']} ms/step, jit_compile={p['jit_compile']} |" for p in report["probe"]),
             *([f"| original recipe (weights null), s per epoch | {report['original_recipe']['seconds_per_epoch']} |"]
               if "original_recipe" in report else []),
             f"| {args.env}: epochs run, train time | {t['epochs_run']}, {t['train_s']} s "
             f"(first epoch {t['first_epoch_s']} s, later median {t['median_later_epoch_s']} s) |",
             f"| {args.env}: best val (PublicTest) accuracy, epoch | {t['best_val_accuracy']}, {t['best_epoch']} |",
             *(f"| {args.env}: PrivateTest {k} top-1 / macro-F1 / disgust recall | {v['accuracy']} / "
               f"{v['macro_f1']} / {v['recall']['disgust']} ({v['images']} images) |" for k, v in e.items())]
    (out / "gpu_results.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines), flush=True)


if __name__ == "__main__":
    main()
