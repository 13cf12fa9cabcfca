"""benchmarks/gpu_train.py rehearsed on the CPU on a tiny subset, with the JAX backend and
without Kedro or MLflow on the path of its imports, so that it runs first time on a GPU."""

import json
import os
import subprocess
import sys

import pytest

from tests.conftest import PROJECT_ROOT

pytestmark = [pytest.mark.real_data, pytest.mark.slow]


def test_gpu_script_runs_end_to_end_on_a_tiny_subset(real_zip, tmp_path):
    pytest.importorskip("jax")
    command = [sys.executable, "-u", str(PROJECT_ROOT / "benchmarks" / "gpu_train.py"), "--data", str(real_zip),
               "--max-per-class", "6", "--test-per-class", "3", "--epochs", "2", "--baseline-epochs", "1",
               "--probe-steps", "1", "--out", str(tmp_path)]
    env = {**os.environ, "KERAS_BACKEND": "jax"}
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=1200)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    report = json.loads((tmp_path / "gpu_results.json").read_text())
    assert report["device"]["backend"] == "jax"
    assert [p["augmentation"] for p in report["probe"]] == ["inside the step", "none"]
    assert report["original_recipe"]["epochs_run"] == 1
    assert report["sota_training"]["epochs_run"] == 2
    for name in ("no TTA", "TTA"):
        result = report["sota_privatetest"][name]
        assert result["images"] == 21 and 0 <= result["accuracy"] <= 1
    assert report["sota_privatetest"]["TTA"]["tta"] == {"flip": True, "shift_pixels": 3}
    assert (tmp_path / "sota_model.keras").stat().st_size > 0
    assert "PrivateTest TTA top-1" in done.stdout and "| device |" in done.stdout
    assert report["frameworks_imported"] == []  # a GPU machine has no TensorFlow, Kedro or MLflow
