"""Data-parallel training against one device, in the same run: one epoch of the quick recipe on
real FER2013 faces with ``training.distribution: none`` and ``data_parallel``, on the devices JAX
finds (here four virtual CPU devices on the 2-core CPU; on a machine with several GPUs, all of
them). Usage:

  KERAS_BACKEND=jax XLA_FLAGS=--xla_force_host_platform_device_count=4 python benchmarks/data_parallel.py
"""

import sys
import time
from pathlib import Path

import keras

sys.path.insert(0, str(Path(__file__).parent))
from _report import table, write_section  # noqa: E402

from deepfer_kedro.core.config import PROJECT_ROOT, load_parameters  # noqa: E402
from deepfer_kedro.core.data import build_image_index  # noqa: E402
from deepfer_kedro.core.training import train_model  # noqa: E402
from deepfer_kedro.fer2013 import load_faces  # noqa: E402

OVERRIDES = "training.epochs=2,training.batch_size=64,training.verbose=0,training.resume_dir=null"


def main() -> None:
    faces = load_faces(PROJECT_ROOT / "data/01_raw", progress=False)
    index = build_image_index(faces, 0.1, 42)
    params = load_parameters("quick", OVERRIDES)
    devices = keras.distribution.list_devices()
    rows, base = [], None
    for kind in ("none", "data_parallel"):
        start = time.perf_counter()
        _, history = train_model(faces.pixels, index, {}, params["model"], {**params["training"], "distribution": kind},
                                 params["augmentation"], 42)
        seconds = history["epoch_seconds"].iloc[-1]  # the second epoch: compiled
        base = base or seconds
        rows.append({"training.distribution": kind, "devices": 1 if kind == "none" else len(devices),
                     "epoch 1 loss": f"{history['loss'].iloc[0]:.5f}", "epoch 2 val_accuracy":
                     f"{history['val_accuracy'].iloc[-1]:.4f}", "seconds per epoch (2nd)": f"{seconds:.1f}",
                     "vs one device": f"{base / seconds:.2f}x", "total s": f"{time.perf_counter() - start:.0f}"})
        print(rows[-1], flush=True)
    body = (table(rows, list(rows[0])) + f"\n\nThe quick recipe (`conf/quick`, {OVERRIDES}): 5,600 training faces "
            f"(800 per emotion), backend {keras.backend.backend()}, devices {', '.join(devices)}. The same seed gives "
            "the same first-epoch loss up to the order of the reductions. Virtual devices share the same 2 CPU "
            "cores: the gain here comes from XLA running the four shards on both cores at once, not from more "
            "hardware; the real speed-up needs several devices (GPUs), where the same parameter uses all of them.")
    print(body)
    write_section("Data-parallel training", "KERAS_BACKEND=jax XLA_FLAGS=--xla_force_host_platform_device_count=4 "
                  "python benchmarks/data_parallel.py", body)


if __name__ == "__main__":
    main()
