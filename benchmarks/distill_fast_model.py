"""A narrower copy of a trained vgg_fer network for the fast CPU path: prune, then distil.

Keeps the most important filters of every conv layer (L1 norm of the filter times its batch-norm
scale; ``--base-filters`` 48 keeps 48, 96, 192, 384 of 64, 128, 256, 512: 0.57 times the
multiply-adds), then fine-tunes the pruned network on the FER2013 training faces towards the
teacher's probabilities (mixed with the labels) with mirrored and shifted faces. The epoch best
on PublicTest is kept; PrivateTest is only measured. Runs on a CPU (about 5 minutes an epoch on 2
cores). The result goes through ``benchmarks/default_model.py`` like any trained model:

  python benchmarks/distill_fast_model.py --teacher-tta --targets-file data/06_models/teacher_tta_targets.npz \\
      --out data/06_models/deepfer_fast_tta_pruned.keras

``--teacher-tta`` makes the target the teacher's mean over the environment's test-time views (the
ten of ``evaluation.tta``), which scores higher than the teacher on one view, so the student learns
the TTA ensemble; ``--student`` goes on from a trained student instead of pruning.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import keras
import numpy as np

from deepfer_kedro.core.config import PROJECT_ROOT, load_parameters
from deepfer_kedro.core.data import build_image_index
from deepfer_kedro.core.evaluation import tta_views
from deepfer_kedro.core.export import predict_all, sha256
from deepfer_kedro.core.saving import load_keras_model
from deepfer_kedro.fer2013 import load_faces
from deepfer_kedro.labels import NUM_CLASSES
from deepfer_kedro.models import build_model


def prune(teacher: keras.Model, student: keras.Model) -> keras.Model:
    """``student`` (the same vgg_fer with fewer filters) given the teacher's most important filters."""
    pairs = list(zip([layer for layer in teacher.layers if layer.weights],
                     [layer for layer in student.layers if layer.weights], strict=True))
    kept = np.arange(1)  # the gray channel
    flattened = True
    for index, (source, target) in enumerate(pairs):
        if isinstance(source, keras.layers.Conv2D):
            kernel = source.get_weights()[0][:, :, kept, :]
            gamma, beta, mean, variance = pairs[index + 1][0].get_weights()
            importance = np.abs(kernel).sum((0, 1, 2)) * np.abs(gamma) / np.sqrt(variance + 1e-3)
            kept = np.sort(np.argsort(importance)[::-1][:target.filters])
            target.set_weights([kernel[..., kept]])
            pairs[index + 1][1].set_weights([w[kept] for w in (gamma, beta, mean, variance)])
        elif isinstance(source, keras.layers.BatchNormalization):
            continue  # set with its conv
        elif isinstance(source, keras.layers.Dense) and flattened:
            # the first dense layer reads the last conv's map flattened as (row, column, channel)
            kernel, bias = source.get_weights()
            channels = pairs[index - 1][0].get_weights()[0].shape[0]
            positions = kernel.shape[0] // channels
            rows = (np.arange(positions)[:, None] * channels + kept[None, :]).ravel()
            target.set_weights([kernel[rows], bias])
            flattened = False
        else:
            target.set_weights(source.get_weights())
    return student


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--teacher", default=str(PROJECT_ROOT.parent / "shared/models/deepfer_sota_seed42.keras"))
    parser.add_argument("--env", default="sota", help="the Kedro environment the teacher was trained with")
    parser.add_argument("--base-filters", type=int, default=48)
    parser.add_argument("--epochs", type=int, default=6)
    parser.add_argument("--learning-rate", type=float, default=0.01)
    parser.add_argument("--label-weight", type=float, default=0.3, help="share of the one-hot label in the target")
    parser.add_argument("--data", default=str(PROJECT_ROOT / "data/01_raw"))
    parser.add_argument("--out", default=str(PROJECT_ROOT / "data/06_models/deepfer_fast.keras"))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--student", help="a trained student to go on from (default: prune the teacher)")
    parser.add_argument("--teacher-tta", action="store_true",
                        help="target the teacher's mean over the environment's test-time views")
    parser.add_argument("--targets-file", help="an .npz of the teacher's targets on the training faces: "
                        "read if it exists (and is of this teacher and --teacher-tta), else written; the "
                        "ten-view targets take 20 to 30 minutes on 2 cores")
    args = parser.parse_args()
    keras.utils.set_random_seed(args.seed)

    teacher = load_keras_model(Path(args.teacher))
    parameters = load_parameters(args.env)
    if args.student:
        student = load_keras_model(Path(args.student))
    else:
        student = prune(teacher, build_model({**parameters["model"], "base_filters": args.base_filters}))
    faces = load_faces(Path(args.data))
    index = build_image_index(faces, 0.1, 0)
    split, labels = index["split"].to_numpy(), index["label"].to_numpy()
    train_faces, train_labels = faces.pixels[split == "train"], labels[split == "train"]
    val_faces, val_labels = faces.pixels[split == "val"], labels[split == "val"]

    def top1(model: keras.Model, rows: np.ndarray, wanted: np.ndarray) -> float:
        return float((predict_all(model, rows).argmax(1) == wanted).mean())

    print(f"PublicTest top-1: teacher {top1(teacher, val_faces, val_labels):.4f}, student before "
          f"distillation {top1(student, val_faces, val_labels):.4f}", flush=True)
    start = time.perf_counter()
    teacher_sha256 = sha256(args.teacher)
    if args.targets_file and Path(args.targets_file).exists():
        saved = np.load(args.targets_file)
        if str(saved["teacher_sha256"]) != teacher_sha256 or bool(saved["teacher_tta"]) != args.teacher_tta:
            sys.exit(f"{args.targets_file} holds the targets of another teacher or --teacher-tta setting "
                     f"(teacher sha256 {saved['teacher_sha256']}, tta {bool(saved['teacher_tta'])}): "
                     "delete it or name another --targets-file")
        targets = tuple(saved["targets"])
        print(f"teacher targets read from {args.targets_file}", flush=True)
    elif args.teacher_tta:
        tta = parameters["evaluation"]["tta"]
        views = tta_views(train_faces[..., None], bool(tta["flip"]), int(tta["shift_pixels"]))
        mean = sum(predict_all(teacher, view) for view in views) / len(views)
        # the views are symmetric under mirroring, so a mirrored face has the same target
        targets = mean, mean
        print(f"teacher mean over {len(views)} views of {len(train_faces)} training faces: "
              f"{time.perf_counter() - start:.0f} s", flush=True)
    else:
        targets = predict_all(teacher, train_faces), predict_all(teacher, train_faces[:, :, ::-1])
        print(f"teacher probabilities for {len(train_faces)} training faces and their mirrors: "
              f"{time.perf_counter() - start:.0f} s", flush=True)
    if args.targets_file and not Path(args.targets_file).exists():
        Path(args.targets_file).parent.mkdir(parents=True, exist_ok=True)
        with open(args.targets_file, "wb") as file:  # a file object: savez adds no ".npz" to the name
            np.savez(file, targets=np.stack(targets), teacher_sha256=teacher_sha256, teacher_tta=args.teacher_tta)

    shifted = keras.Input((*train_faces.shape[1:], 1))
    trainer = keras.Model(shifted, student(keras.layers.RandomTranslation(0.06, 0.06, fill_mode="constant",
                                                                          seed=args.seed)(shifted)))
    steps = args.epochs * int(np.ceil(len(train_faces) / 128))
    trainer.compile(keras.optimizers.SGD(keras.optimizers.schedules.CosineDecay(args.learning_rate, steps),
                                         momentum=0.9, nesterov=True), "categorical_crossentropy")
    one_hot = np.eye(NUM_CLASSES, dtype="float32")[train_labels]
    rng = np.random.default_rng(args.seed)
    best = -1.0
    for epoch in range(1, args.epochs + 1):
        mirrored = rng.random(len(train_faces)) < 0.5
        x = np.where(mirrored[:, None, None], train_faces[:, :, ::-1], train_faces)[..., None].astype("float32")
        y = args.label_weight * one_hot + (1 - args.label_weight) * np.where(mirrored[:, None], targets[1], targets[0])
        start = time.perf_counter()
        loss = trainer.fit(x, y, batch_size=128, epochs=1, shuffle=True, verbose=0).history["loss"][0]
        accuracy = top1(student, val_faces, val_labels)
        print(f"epoch {epoch}/{args.epochs}: loss {loss:.4f}, PublicTest top-1 {accuracy:.4f}, "
              f"{time.perf_counter() - start:.0f} s", flush=True)
        if accuracy > best:
            best = accuracy
            Path(args.out).parent.mkdir(parents=True, exist_ok=True)
            student.save(args.out)
    print(f"kept the epoch best on PublicTest ({best:.4f}): {args.out}", file=sys.stderr)


if __name__ == "__main__":
    main()
