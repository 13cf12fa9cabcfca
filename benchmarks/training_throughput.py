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

from deepfer_kedro.fer2013 import load_faces  # noqa: E402
from deepfer_kedro.models import build_augmentation, build_model  # noqa: E402
from deepfer_kedro.pipelines.training.nodes import compile_metrics  # noqa: E402

ZIP = Path(__file__).resolve().parents[2] / "shared" / "datasets" / "fer2013.zip"
RECIPE = {"rotation_degrees": 10, "width_shift": 0.1, "height_shift": 0.1, "zoom": 0.1, "horizontal_flip": True}
NETWORKS = {"vgg16": {"architecture": "vgg16", "weights": None},
            "vgg_fer": {"architecture": "vgg_fer"}}
BATCH = 64


def compiled(network: str, augmentation) -> keras.Model:
    keras.utils.set_random_seed(0)
    model = build_model(NETWORKS[network], augmentation)
    model.compile(keras.optimizers.Adam(1e-4), "categorical_crossentropy", metrics=compile_metrics())
    return model


def images_per_second(fit, steps: int) -> float:
    fit(3)  # compile and warm up
    start = time.perf_counter()
    fit(steps)
    return steps * BATCH / (time.perf_counter() - start)


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
        baseline_model = compiled(args.model, None)
        baseline = images_per_second(
            lambda n: baseline_model.fit(flow, steps_per_epoch=n, epochs=1, verbose=0), args.steps)

    faces = load_faces(ZIP, progress=False)
    train = (faces["index"]["usage"] == "Training").to_numpy()
    x = faces["pixels"][train][..., None]
    y = keras.utils.to_categorical(faces["index"]["emotion"][train].astype("category").cat.codes, 7)
    ours_model = compiled(args.model, build_augmentation(RECIPE, seed=0))
    ours = images_per_second(lambda n: ours_model.fit(x[:n * BATCH], y[:n * BATCH], batch_size=BATCH, epochs=1,
                                                      verbose=0, shuffle=True), args.steps)
    rows = [
        {"pipeline": "baseline: ImageDataGenerator.flow_from_directory (JPEG folders, augmentation in Python)",
         "images/s": f"{baseline:.1f}", "epoch of 28,709 images": f"{28709 / baseline / 60:.1f} min", "ratio": "1.00x"},
        {"pipeline": "ours: uint8 arrays in memory, augmentation layers in the compiled step",
         "images/s": f"{ours:.1f}", "epoch of 28,709 images": f"{28709 / ours / 60:.1f} min",
         "ratio": f"{ours / baseline:.2f}x"},
    ]
    body = table(rows, ["pipeline", "images/s", "epoch of 28,709 images", "ratio"])
    body += (f"\n\nNetwork: `{args.model}` ({NETWORKS[args.model]}), from scratch, Adam, batch {BATCH}, "
             f"{args.steps} timed steps each after 3 warm-up steps, TensorFlow backend on the CPU. "
             "The epoch column is 28,709 / images per second.")
    print(body)
    write_section(f"Training throughput ({args.model}, CPU)",
                  f"python benchmarks/training_throughput.py --steps {args.steps} --model {args.model}", body)


if __name__ == "__main__":
    main()
