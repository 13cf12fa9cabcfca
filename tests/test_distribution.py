"""Data-parallel training (``training.distribution: data_parallel``) on four virtual CPU devices
(JAX, ``--xla_force_host_platform_device_count=4``), through the same ``train_model`` as every run:
the global batch is split across the devices, an epoch of the quick recipe trains, and its loss
matches a one-device run of the same seed."""

import json
import os
import subprocess
import sys

import pytest

from tests.conftest import PROJECT_ROOT

pytestmark = [pytest.mark.real_data, pytest.mark.slow]

SCRIPT = """
import json, sys, time
from pathlib import Path
import keras
from deepfer_kedro.core.config import load_parameters
from deepfer_kedro.core.data import build_image_index
from deepfer_kedro.core.training import train_model
from deepfer_kedro.fer2013 import load_faces

faces = load_faces(Path(sys.argv[1]), progress=False)
index = build_image_index(faces, 0.1, 42)
params = load_parameters("quick", "training.epochs=1,training.max_images_per_class=64,training.batch_size=32,"
                                  "training.verbose=0,training.resume_dir=null")
result = {"devices": [str(d) for d in keras.distribution.list_devices()]}
for kind in ("none", "data_parallel"):
    training = {**params["training"], "distribution": kind}
    start = time.perf_counter()
    model, history = train_model(faces.pixels, index, {}, params["model"], training, params["augmentation"], 42)
    result[kind] = {"loss": float(history["loss"].iloc[0]), "val_loss": float(history["val_loss"].iloc[0]),
                    "seconds": time.perf_counter() - start,
                    "sharding": str(getattr(model.weights[0].value, "sharding", None))}
    result[kind + "_layout"] = str(keras.distribution.distribution())
print("RESULT " + json.dumps(result))
"""


def test_data_parallel_on_four_virtual_devices_matches_one_device(real_zip):
    env = {**os.environ, "KERAS_BACKEND": "jax", "JAX_PLATFORMS": "cpu",
           "XLA_FLAGS": "--xla_force_host_platform_device_count=4"}
    done = subprocess.run([sys.executable, "-c", SCRIPT, str(real_zip)], env=env, cwd=PROJECT_ROOT,
                          capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    result = json.loads(next(line for line in done.stdout.splitlines() if line.startswith("RESULT "))[7:])
    assert len(result["devices"]) == 4
    assert "DataParallel" in result["data_parallel_layout"] and "device_mesh" in result["data_parallel_layout"]
    assert result["none_layout"] == "None"
    # the same seed, batches and augmentation; only the order of the reductions differs
    assert result["data_parallel"]["loss"] == pytest.approx(result["none"]["loss"], rel=1e-3)
    assert result["data_parallel"]["val_loss"] == pytest.approx(result["none"]["val_loss"], rel=1e-3)


def test_data_parallel_needs_jax_and_a_batch_that_splits_evenly():
    from deepfer_kedro.core.training import configure_distribution

    if os.environ.get("KERAS_BACKEND", "tensorflow") != "jax":
        with pytest.raises(ValueError, match="needs the JAX backend"):
            configure_distribution("data_parallel", 64)
    with pytest.raises(ValueError, match="none or data_parallel"):
        configure_distribution("model_parallel", 64)
    assert configure_distribution("none", 64) == 1
