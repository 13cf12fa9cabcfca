"""The training core runs on Keras' JAX backend and imports neither Kedro nor MLflow, as on a
bare GPU machine."""

import json
import os
import subprocess
import sys

import pytest

SCRIPT = r"""
import json, sys
import numpy as np, pandas as pd
from deepfer_kedro.labels import EMOTIONS
from deepfer_kedro.pipelines.training.nodes import train_model
from deepfer_kedro.pipelines.evaluate.nodes import average_probabilities
import keras
rng = np.random.default_rng(0)
labels = np.tile(np.repeat(np.arange(7), 4), 2)
pixels = rng.integers(0, 60, (len(labels), 48, 48)).astype(np.uint8)
for i, label in enumerate(labels):
    pixels[i, 6 * label:6 * label + 6] += 190
index = pd.DataFrame({"source": [f"s{i}" for i in range(len(labels))], "label": labels,
                      "emotion": [EMOTIONS[i] for i in labels], "split": ["train"] * 28 + ["val"] * 28})
net = {"architecture": "vgg_fer", "base_filters": 8, "stages": 1, "convs_per_stage": 1, "dense_units": [8],
       "dropout": 0.0, "l2": 0.0}
training = {"learning_rate": 0.003, "batch_size": 8, "epochs": 2, "verbose": 0,
            "checkpoint": {"monitor": "val_accuracy", "mode": "max"}}
model, history = train_model(pixels, index, {e: 1.0 for e in EMOTIONS}, net, training,
                             {"horizontal_flip": True, "rotation_degrees": 10}, seed=0)
probabilities = average_probabilities([model], pixels[:4, ..., None], flip=True)
resnet = {"architecture": "resnet_fer", "base_filters": 8, "stages": 2, "convs_per_stage": 2, "dense_units": [8],
          "dropout": 0.0, "l2": 0.0}
_, mixed_history = train_model(pixels, index, {e: 1.0 for e in EMOTIONS}, resnet,
                               {**training, "epochs": 1, "steps_per_execution": 2, "jit_compile": True},
                               {"horizontal_flip": True, "mixup_alpha": 0.4, "cutmix_alpha": 1.0}, seed=0)
from deepfer_kedro.models import build_augmentation, build_model
compiled = build_model(net, build_augmentation({"horizontal_flip": True, "rotation_degrees": 10, "zoom": 0.1,
                                                "width_shift": 0.1, "random_erasing": 0.5}, seed=0))
compiled.compile(optimizer="sgd", loss="categorical_crossentropy", jit_compile="auto")
print(json.dumps({"backend": keras.backend.backend(), "epochs": len(history),
                  "has_val_f1": "val_f1" in history,
                  "mixed_resnet_loss": float(mixed_history["loss"].iloc[0]), "sums": probabilities.sum(1).tolist(),
                  "jit": compiled.jit_compile,
                  "kedro_or_mlflow": sorted(m for m in sys.modules if m.split(".")[0] in ("kedro", "mlflow"))}))
"""


@pytest.mark.slow
def test_training_core_runs_on_jax_without_kedro_or_mlflow():
    pytest.importorskip("jax")
    env = {**os.environ, "KERAS_BACKEND": "jax"}
    done = subprocess.run([sys.executable, "-c", SCRIPT], env=env, capture_output=True, text=True,
                          timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["backend"] == "jax"
    assert result["epochs"] == 2 and result["has_val_f1"]
    assert result["mixed_resnet_loss"] > 0  # resnet_fer with MixUp and CutMix trains compiled on JAX too
    assert result["sums"] == pytest.approx([1.0] * 4, abs=1e-5)
    assert result["kedro_or_mlflow"] == []
    assert result["jit"] is True  # augmentation inside the model does not stop XLA compilation
