"""Training throughput on this CPU, images per second: the original write-up's input pipeline
(`ImageDataGenerator.flow_from_directory` over the JPEG folders, augmenting in Python) against
ours (uint8 faces in memory, augmentation layers inside the compiled step), same network, same
batch size, same run. Usage: python benchmarks/training_throughput.py [--steps 30] [--model vgg16|vgg_fer]"""

import argparse
import sys
import tempfile
import time
import zipfile
from pathlib import Path

import keras
import tensorflow as tf

sys.path.insert(0, str(Path(__file__).parent))
from _report import table, write_section  # noqa: E402

from deepfer_kedro.core.training import compile_metrics, resolve_jit_compile  # noqa: E402
from deepfer_kedro.fer2013 import load_faces  # noqa: E402
from deepfer_kedro.models import build_augmentation, build_model  # noqa: E402

ZIP = Path(__file__).resolve().parents[2] / "shared" / "datasets" / "fer2013.zip"
RECIPE = {"rotation_degrees": 10, "width_shift": 0.1, "height_shift": 0.1, "zoom": 0.1, "horizontal_flip": True}
NETWORKS = {"vgg16": {"architecture": "vgg16", "weights": None},
            "vgg_fer": {"architecture": "vgg_fer"}}
BATCH = 64


def compiled(network: str, augmentation, jit_compile) -> keras.Model:
    keras.utils.set_random_seed(0)
    model = build_model(NETWORKS[network], augmentation)
    model.compile(keras.optimizers.Adam(1e-4), "categorical_crossentropy", metrics=compile_metrics(),
                  jit_compile=jit_compile)
    return model


def images_per_second(fit, steps: int, repeats: int = 2) -> float:
    """Best of ``repeats`` timed fits after a warm-up fit (this shared machine's speed varies)."""
    fit(3)  # compile and warm up
    best = 0.0
    for _ in range(repeats):
        start = time.perf_counter()
        fit(steps)
        best = max(best, steps * BATCH / (time.perf_counter() - start))
    return best


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--model", choices=sorted(NETWORKS), default="vgg16")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        with zipfile.ZipFile(ZIP) as archive:
            archive.extractall(tmp, [n for n in archive.namelist() if n.startswith("train/")])
        generator = tf.keras.preprocessing.image.ImageDataGenerator(
            rotation_range=10, width_shift_range=0.1, height_shift_range=0.1, zoom_range=0.1,
            horizontal_flip=True)  # scaling to [0, 1] happens in the model, as in ours
        flow = generator.flow_from_directory(Path(tmp) / "train", target_size=(48, 48), color_mode="grayscale",
                                             batch_size=BATCH, class_mode="categorical", seed=0)
        start = time.perf_counter()
        for _ in range(30):
            next(flow)
        feed_baseline = 30 * BATCH / (time.perf_counter() - start)
        baseline_model = compiled(args.model, None, False)
        baseline = images_per_second(
            lambda n: baseline_model.fit(flow, steps_per_epoch=n, epochs=1, verbose=0), args.steps)

    faces = load_faces(ZIP, progress=False)
    train = (faces.index["usage"] == "Training").to_numpy()
    x = faces.pixels[train][..., None]
    y = keras.utils.to_categorical(faces.index["emotion"][train].astype("category").cat.codes, 7)
    augment = build_augmentation(RECIPE, seed=0)
    step = keras.Sequential([keras.Input((48, 48, 1)), keras.layers.Rescaling(1 / 255), augment])
    step.compile(jit_compile=resolve_jit_compile("auto"))
    step.predict_on_batch(x[:BATCH])  # trace once; predict runs layers in inference mode, so call directly
    feed = tf.function(lambda batch: step(batch, training=True))
    feed(x[:BATCH])
    start = time.perf_counter()
    for i in range(30):
        feed(x[(i % 100) * BATCH:(i % 100 + 1) * BATCH])
    feed_ours = 30 * BATCH / (time.perf_counter() - start)
    rows_ours = []
    for jit in (resolve_jit_compile("auto"),):
        ours_model = compiled(args.model, build_augmentation(RECIPE, seed=0), jit)
        rows_ours.append((jit, images_per_second(
            lambda n, m=ours_model: m.fit(x[:n * BATCH], y[:n * BATCH], batch_size=BATCH, epochs=1, verbose=0,
                                          shuffle=True), args.steps)))
    rows = [
        {"pipeline": "baseline: ImageDataGenerator.flow_from_directory (JPEG folders, augmentation in Python)",
         "images/s": f"{baseline:.1f}", "epoch of 28,709 images": f"{28709 / baseline / 60:.1f} min", "ratio": "1.00x"},
        *({"pipeline": f"ours: uint8 arrays in memory, augmentation inside the step (jit_compile={jit})",
           "images/s": f"{ours:.1f}", "epoch of 28,709 images": f"{28709 / ours / 60:.1f} min",
           "ratio": f"{ours / baseline:.2f}x"} for jit, ours in rows_ours),
    ]
    body = table(rows, ["pipeline", "images/s", "epoch of 28,709 images", "ratio"])
    feeds = [{"input pipeline alone (no network)": "baseline: ImageDataGenerator.flow_from_directory batches",
              "images/s": f"{feed_baseline:.0f}", "ratio": "1.00x"},
             {"input pipeline alone (no network)": "ours: scaling + RandomAffine on uint8 batches in memory",
              "images/s": f"{feed_ours:.0f}", "ratio": f"{feed_ours / feed_baseline:.1f}x"}]
    body += "\n\n" + table(feeds, ["input pipeline alone (no network)", "images/s", "ratio"])
    body += (f"\n\nNetwork: `{args.model}` ({NETWORKS[args.model]}), from scratch, Adam, batch {BATCH}, "
             f"best of 2 timings of {args.steps} steps each after 3 warm-up steps, TensorFlow backend on the CPU. "
             "The epoch column is 28,709 / images per second. On 2 CPU cores the network's own compute "
             "sets the pace, so both pipelines train at about the same speed; the second table is how many "
             "augmented images per second each input pipeline can deliver, the ceiling a GPU would meet.")
    print(body)
    write_section(f"Training throughput ({args.model}, CPU)",
                  f"python benchmarks/training_throughput.py --steps {args.steps} --model {args.model}", body)


if __name__ == "__main__":
    main()
