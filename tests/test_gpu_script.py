"""benchmarks/gpu_train.py rehearsed on the CPU on a tiny subset, with the JAX backend and with
TensorFlow, Kedro and MLflow made unimportable, as on the GPU machine, so that it runs first time
there."""

import json
import os
import subprocess
import sys

import pytest

from tests.conftest import PROJECT_ROOT

pytestmark = [pytest.mark.real_data, pytest.mark.slow]
BLOCK_AND_RUN = """
import runpy, sys
class Missing:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in ("tensorflow", "kedro", "mlflow", "kedro_datasets", "kedro_mlflow"):
            raise ModuleNotFoundError(f"No module named {name!r} (blocked: the GPU machine has none)")
sys.meta_path.insert(0, Missing())
sys.argv = sys.argv[1:]
runpy.run_path(sys.argv[0], run_name="__main__")
"""


def test_gpu_script_runs_end_to_end_on_a_tiny_subset(real_zip, tmp_path):
    pytest.importorskip("jax")
    arguments = ["--data", str(real_zip), "--max-per-class", "6", "--test-per-class", "3", "--epochs", "2",
                 "--baseline-epochs", "1", "--probe-steps", "1", "--out", str(tmp_path)]
    script = PROJECT_ROOT / "benchmarks" / "gpu_train.py"
    command = [sys.executable, "-u", "-c", BLOCK_AND_RUN, str(script), *arguments]
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
    assert report["frameworks_imported"] == []
    assert all(p["jit_compile"] for p in report["probe"]), report["probe"]  # the step is compiled
