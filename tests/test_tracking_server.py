"""A team's shared tracking server: scripts/tracking-server.sh starts PostgreSQL and `mlflow server`
on loopback, two clones of the project run `kedro run --env quick` against it at the same time,
then a sweep (scripts/sweep.sh) runs two seeds side by side in one clone, and every run is read
back through the MLflow client; then the script stops both servers."""

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
from mlflow import MlflowClient

from tests.conftest import PROJECT_ROOT
from tests.inference.test_serving import free_port

pytestmark = [pytest.mark.real_data, pytest.mark.slow]
SCRIPT = PROJECT_ROOT / "scripts" / "tracking-server.sh"


def postgres_installed() -> bool:
    return shutil.which("pg_ctl") is not None or any(Path("/usr/lib/postgresql").glob("*/bin/pg_ctl"))


@pytest.fixture
def server():
    if not postgres_installed():
        if os.environ.get("CI"):
            pytest.fail("PostgreSQL is missing; .ci/run installs it")
        pytest.skip("PostgreSQL is not installed (apt-get install postgresql)")
    folder = Path(tempfile.mkdtemp(prefix="deepfer-tracking-"))
    folder.chmod(0o755)  # PostgreSQL runs as its own user when we are root
    env = {**os.environ, "DEEPFER_TRACKING_DIR": str(folder / "store"), "PG_PORT": str(free_port()),
           "MLFLOW_PORT": str(free_port()), "MLFLOW": str(Path(sys.executable).parent / "mlflow")}
    started = subprocess.run(["bash", str(SCRIPT), "start"], env=env, capture_output=True, text=True, timeout=300)
    try:
        assert started.returncode == 0, started.stdout + started.stderr
        yield f"http://127.0.0.1:{env['MLFLOW_PORT']}", env
    finally:
        stopped = subprocess.run(["bash", str(SCRIPT), "stop"], env=env, capture_output=True, text=True, timeout=120)
        left = subprocess.run(["pgrep", "-af", str(folder)], capture_output=True, text=True).stdout
        shutil.rmtree(folder, ignore_errors=True)
    assert stopped.returncode == 0 and "PostgreSQL stopped" in stopped.stdout, stopped.stdout + stopped.stderr
    assert not left.strip(), f"still running after stop: {left}"  # mlflow's workers and PostgreSQL's backends


def clone(root: Path, real_zip: Path) -> Path:
    root.mkdir()
    shutil.copy(PROJECT_ROOT / "pyproject.toml", root)
    (root / "src").mkdir()
    shutil.copytree(PROJECT_ROOT / "conf", root / "conf", ignore=shutil.ignore_patterns("local"))
    (root / "conf" / "local").mkdir()
    (root / "data" / "01_raw").mkdir(parents=True)
    (root / "data" / "01_raw" / "fer2013.zip").symlink_to(real_zip)
    return root


def test_two_clones_log_to_one_postgres_backed_server_at_the_same_time(server, real_zip, tmp_path):
    uri, env = server
    runs = {}
    for seed in (1, 2):  # two people's clones, started together
        root = clone(tmp_path / f"clone{seed}", real_zip)
        runs[seed] = subprocess.Popen(
            [sys.executable, "-m", "kedro", "run", "--env", "quick", "--params", f"seed={seed},training.epochs=2"],
            cwd=root, env={**os.environ, "MLFLOW_TRACKING_URI": uri, "KEDRO_DISABLE_TELEMETRY": "true"},
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    for seed, process in runs.items():
        output, _ = process.communicate(timeout=1200)
        assert process.returncode == 0, f"seed {seed}: {output[-4000:]}"

    client = MlflowClient(uri)
    experiment = client.get_experiment_by_name("deepfer")
    logged = [r for r in client.search_runs([experiment.experiment_id]) if r.data.tags.get("kedro_pipeline")]
    assert sorted(r.data.params["seed"] for r in logged) == ["1", "2"]
    for run in logged:
        assert run.info.status == "FINISHED"
        assert {"test_accuracy", "test_recall_disgust"} <= set(run.data.metrics)
        assert len(client.get_metric_history(run.info.run_id, "val_accuracy")) == 2
        names = {a.path for a in client.list_artifacts(run.info.run_id)}
        assert {"model", "plots", "data"} <= names  # the served model is an MLflow logged model: see below
    assert len(client.search_model_versions("name='deepfer'")) == 2

    sweep = subprocess.run(["bash", str(SCRIPT.with_name("sweep.sh")), "quick", "training.epochs=1", "3", "4"],
                           cwd=tmp_path / "clone1", capture_output=True, text=True, timeout=1200,
                           env={**os.environ, "MLFLOW_TRACKING_URI": uri, "KEDRO_DISABLE_TELEMETRY": "true",
                                "KEDRO": str(Path(sys.executable).parent / "kedro")})
    assert sweep.returncode == 0 and "2 of 2 runs finished" in sweep.stdout, sweep.stdout + sweep.stderr
    names = sorted(r.info.run_name for r in client.search_runs([experiment.experiment_id]))
    assert names == [f"__default__ quick vgg_fer seed {seed}" for seed in (1, 2, 3, 4)]
    stored = subprocess.run(["psql", "-h", "127.0.0.1", "-p", env["PG_PORT"], "-U", "mlflow", "-d", "mlflow", "-tAc",
                             "SELECT count(*) FROM runs"], capture_output=True, text=True, timeout=60)
    assert stored.stdout.strip() == "4", stored.stderr  # the runs live in PostgreSQL
