"""The project's hooks, called directly, and the tracking-server check in a real `kedro run`."""

import os
import shutil
import socket
import subprocess
import sys

import numpy as np
import pytest
from kedro.io import DataCatalog, DatasetError, Version
from kedro.pipeline import Pipeline, node
from kedro_datasets.pandas import CSVDataset
from kedro_datasets.partitions import PartitionedDataset

from deepfer_kedro.fer2013 import FER2013Error
from deepfer_kedro.hooks import ExpectedErrorHook, StartupChecksHook, create_experiment, missing_inputs
from tests.conftest import PROJECT_ROOT


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_an_expected_error_ends_the_run_with_its_sentence():
    try:
        try:
            raise FER2013Error("data/01_raw/fer2013.csv row 1 (line 2): 3 pixel values, expected 2304")
        except FER2013Error as err:
            raise DatasetError("Failed while loading data from dataset fer2013_faces") from err
    except DatasetError as wrapped:
        with pytest.raises(SystemExit, match=r"^kedro run stopped: data/01_raw/fer2013.csv row 1"):
            ExpectedErrorHook().on_pipeline_error(wrapped, {}, Pipeline([]), DataCatalog())
    # bugs keep their traceback
    assert ExpectedErrorHook().on_pipeline_error(ValueError("a bug"), {}, Pipeline([]), DataCatalog()) is None


def test_inputs_with_nothing_saved_are_named_only_when_loading_one_of_them_failed(tmp_path):
    (tmp_path / "photos").mkdir()
    (tmp_path / "saved.csv").write_text("a\n1\n")
    catalog = DataCatalog({
        "report": CSVDataset(filepath=str(tmp_path / "report.csv"), version=Version(None, None)),
        "photos": PartitionedDataset(path=str(tmp_path / "photos"), dataset="pandas.CSVDataset"),
        "saved": CSVDataset(filepath=str(tmp_path / "saved.csv")),
    })
    pipeline = Pipeline([node(lambda *a: None, ["report", "photos", "saved", "params:x"], None)])
    for name in ("report", "photos"):
        with pytest.raises(DatasetError) as failed:
            catalog.load(name)
        assert missing_inputs(failed.value, pipeline, catalog) == ["photos", "report"]
    # another failure keeps its own message, even while inputs are missing
    assert missing_inputs(DatasetError("saved: Failed while loading data"), pipeline, catalog) == []
    assert missing_inputs(ValueError("report: a bug"), pipeline, catalog) == []
    assert missing_inputs(DatasetError("report: nope"), Pipeline([]), catalog) == []


def test_server_check_passes_the_embedded_store_and_names_an_unreachable_server(monkeypatch):
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    StartupChecksHook().after_context_created(None)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "sqlite:///mlflow.db")
    StartupChecksHook().after_context_created(None)
    uri = f"http://127.0.0.1:{free_port()}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    with pytest.raises(SystemExit, match=f"{uri} .*does not answer.*unset MLFLOW_TRACKING_URI"):
        StartupChecksHook(timeout_s=2).after_context_created(None)


def test_an_experiment_created_by_another_run_meanwhile_is_no_error(tmp_path, monkeypatch):
    # two runs started together against a fresh server: both see no experiment, one creates it first
    from mlflow import MlflowClient

    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    conf = {"server": {"mlflow_tracking_uri": uri},
            "tracking": {"experiment": {"name": "deepfer", "create_experiment_kwargs": {}}}}
    create_experiment(conf)
    first = MlflowClient(uri).get_experiment_by_name("deepfer").experiment_id
    monkeypatch.setattr(MlflowClient, "get_experiment_by_name", lambda self, name: None)  # the other run's view
    create_experiment(conf)
    monkeypatch.undo()
    assert [e.experiment_id for e in MlflowClient(uri).search_experiments() if e.name == "deepfer"] == [first]


def test_kedro_run_with_an_unreachable_server_stops_at_once_with_advice(tmp_path):
    shutil.copy(PROJECT_ROOT / "pyproject.toml", tmp_path)
    shutil.copytree(PROJECT_ROOT / "conf", tmp_path / "conf", ignore=shutil.ignore_patterns("local"))
    (tmp_path / "conf" / "local").mkdir()
    (tmp_path / "src").mkdir()
    env = {**os.environ, "KEDRO_DISABLE_TELEMETRY": "true",
           "MLFLOW_TRACKING_URI": f"http://127.0.0.1:{free_port()}"}
    done = subprocess.run([sys.executable, "-m", "kedro", "run", "--env", "quick", "--pipeline", "data_processing"],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)  # not 4 minutes
    assert done.returncode != 0
    assert "does not answer" in done.stderr and "Traceback" not in done.stderr + done.stdout


def test_runs_left_running_by_a_dead_process_are_marked_killed(tmp_path):
    import mlflow

    from deepfer_kedro.hooks import mark_orphaned_runs_killed

    mlflow.set_tracking_uri(f"sqlite:///{tmp_path / 'mlflow.db'}")
    try:
        dead = subprocess.Popen([sys.executable, "-c", "pass"])
        dead.wait()
        client = mlflow.MlflowClient()
        experiment = client.create_experiment("deepfer")
        host = socket.gethostname()
        orphan = client.create_run(experiment, tags={"host": host, "pid": str(dead.pid)}).info.run_id
        alive = client.create_run(experiment, tags={"host": host, "pid": str(os.getpid())}).info.run_id
        elsewhere = client.create_run(experiment, tags={"host": "another-machine", "pid": str(dead.pid)}).info.run_id
        current = client.create_run(experiment, tags={"host": host, "pid": str(os.getpid())}).info.run_id
        assert mark_orphaned_runs_killed(current) == [orphan]
        assert client.get_run(orphan).info.status == "KILLED"
        assert {client.get_run(r).info.status for r in (alive, elsewhere, current)} == {"RUNNING"}
    finally:
        mlflow.set_tracking_uri(None)


def test_kedro_run_from_a_subfolder_works_from_the_project_root_and_writes_nothing_there(tmp_path):
    shutil.copy(PROJECT_ROOT / "pyproject.toml", tmp_path)
    shutil.copytree(PROJECT_ROOT / "conf", tmp_path / "conf", ignore=shutil.ignore_patterns("local"))
    (tmp_path / "conf" / "local").mkdir()
    (tmp_path / "src").mkdir()
    env = {**os.environ, "KEDRO_DISABLE_TELEMETRY": "true"}
    env.pop("MLFLOW_TRACKING_URI", None)
    done = subprocess.run([sys.executable, "-m", "kedro", "run", "--env", "quick", "--pipeline", "data_processing"],
                          cwd=tmp_path / "src", env=env, capture_output=True, text=True, timeout=120)
    output = " ".join((done.stdout + done.stderr).split())
    assert "Working from the project root" in output, output[-2000:]
    # no data here: the run stops on that, having looked in the project's data/01_raw, not src/data/01_raw
    assert done.returncode != 0 and "No FER2013 data" in output and "src/data" not in output
    assert sorted(p.name for p in (tmp_path / "src").iterdir()) == []
    assert (tmp_path / "mlflow.db").exists()  # the embedded store of the project, not a second one in src/


def test_the_versions_of_a_killed_run_are_set_aside_and_never_loaded_as_latest(tmp_path):
    from kedro.io import DataCatalog

    from deepfer_kedro.hooks import RunMarkerHook, set_aside_killed_runs

    data = tmp_path / "data"
    killed, finished, running = "2026-01-02T00.00.00.000Z", "2026-01-01T00.00.00.000Z", "2026-01-03T00.00.00.000Z"
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    RunMarkerHook(data).before_pipeline_run({"run_id": killed}, DataCatalog())
    (data / ".running" / killed).write_text(f"{socket.gethostname()} {dead.pid}\n")  # as if killed
    hook = RunMarkerHook(data)
    hook.before_pipeline_run({"run_id": running}, DataCatalog())  # this process: still alive
    for version in (finished, killed, running):
        (data / "03_primary" / "image_index.csv" / version).mkdir(parents=True)
        (data / "03_primary" / "image_index.csv" / version / "image_index.csv").write_text("x")
    moved = set_aside_killed_runs(data)
    assert moved == [data / "99_incomplete" / killed / "03_primary" / "image_index.csv"]
    assert (moved[0] / "image_index.csv").read_text() == "x"
    assert sorted(p.name for p in (data / "03_primary" / "image_index.csv").iterdir()) == [finished, running]
    hook.after_pipeline_run()
    assert not list((data / ".running").iterdir())


def test_runs_started_in_the_same_millisecond_save_under_different_versions(tmp_path):
    """Kedro's save version is the session's start to the millisecond: two runs started together in
    one project (scripts/sweep.sh) can both get it. The second to claim it saves under another."""
    import pandas as pd
    from kedro.io import DataCatalog

    from deepfer_kedro.hooks import RunMarkerHook, ThisRunsVersionsHook

    data = tmp_path / "data"
    config = {name: {"type": "pandas.CSVDataset", "filepath": str(data / "03_primary" / f"{name}.csv"),
                     "versioned": True} for name in ("image_index", "class_counts")}
    same = "2026-11-29T09.00.00.000Z"
    runs = []
    for seed in (3, 4):
        catalog = DataCatalog.from_config(config, save_version=same)
        catalog.get("image_index")  # one dataset already made, the other still lazy
        marker, loads_back = RunMarkerHook(data), ThisRunsVersionsHook()
        marker.before_pipeline_run({"run_id": same}, catalog)
        loads_back.after_catalog_created(catalog)
        runs.append((seed, catalog, marker, loads_back))
    assert runs[0][2].marker.name == same and runs[1][2].marker.name > same
    for seed, catalog, _, loads_back in runs:
        for name in ("image_index", "class_counts"):
            catalog.save(name, pd.DataFrame({"seed": [seed]}))  # no "Save path ... must not exist"
            loads_back.after_dataset_saved(name)
    for seed, catalog, marker, _ in runs:
        assert [catalog.load(name)["seed"].tolist() for name in ("image_index", "class_counts")] == [[seed], [seed]]
        assert (data / "03_primary" / "class_counts.csv" / marker.marker.name).is_dir()
        marker.after_pipeline_run()
    assert not list((data / ".running").iterdir())

    later = DataCatalog.from_config(config, save_version=same)  # the same millisecond, once both have ended
    marker = RunMarkerHook(data)
    marker.before_pipeline_run({"run_id": same}, later)
    assert marker.marker.name not in {same, runs[1][2].marker.name}
    later.save("image_index", pd.DataFrame({"seed": [5]}))


def test_a_run_loads_back_its_own_version_even_when_a_concurrent_run_saved_later(tmp_path):
    """Two runs at once in one project (scripts/sweep.sh): the first must read back what it saved
    (its seed's split), not the other run's newer, possibly half-written, version."""
    import pandas as pd
    from kedro.io import DataCatalog

    from deepfer_kedro.hooks import ThisRunsVersionsHook

    config = {"image_index": {"type": "pandas.CSVDataset", "filepath": str(tmp_path / "index.csv"),
                              "versioned": True},
              "face_pixels": {"type": "deepfer_kedro.datasets.NpzDataset", "filepath": str(tmp_path / "p.npz"),
                              "key": "pixels", "versioned": True}}
    first = DataCatalog.from_config(config, save_version="2026-11-29T09.00.00.000Z")
    second = DataCatalog.from_config(config, save_version="2026-11-29T09.00.01.000Z")
    hook = ThisRunsVersionsHook()
    hook.after_catalog_created(first)
    first.save("image_index", pd.DataFrame({"seed": [3]}))
    hook.after_dataset_saved("image_index")
    second.save("image_index", pd.DataFrame({"seed": [4]}))  # later, so the "latest" version
    (tmp_path / "p.npz" / "2026-11-29T09.00.01.000Z").mkdir(parents=True)
    (tmp_path / "p.npz" / "2026-11-29T09.00.01.000Z" / "p.npz").write_bytes(b"PK half-written")
    first.save("face_pixels", np.zeros((2, 48, 48), "uint8"))
    hook.after_dataset_saved("face_pixels")
    assert first.load("image_index")["seed"].tolist() == [3]
    assert first.load("face_pixels").shape == (2, 48, 48)
    assert second.load("image_index")["seed"].tolist() == [4]  # the other run reads its own too (latest)
    pinned = DataCatalog.from_config(config, load_versions={"image_index": "2026-11-29T09.00.01.000Z"},
                                     save_version="2026-11-29T09.00.02.000Z")
    hook.after_catalog_created(pinned)
    hook.after_dataset_saved("image_index")  # --load-versions is left as given
    assert pinned.load("image_index")["seed"].tolist() == [4]


def test_a_dataset_row_stored_by_another_run_meanwhile_is_asked_for_again(tmp_path, monkeypatch):
    # CI: two clones loaded FER2013 together on a fresh PostgreSQL-backed server; both looked the
    # dataset row up, both inserted it, and one run stopped on the unique key
    import mlflow

    mlflow.set_tracking_uri(f"sqlite:///{tmp_path / 'mlflow.db'}")
    try:
        check_the_race_is_asked_again(mlflow.MlflowClient().create_experiment("race"), tmp_path, monkeypatch)
    finally:
        mlflow.set_tracking_uri(None)


def check_the_race_is_asked_again(experiment: str, tmp_path, monkeypatch) -> None:
    # an explicit experiment: the one an earlier test's run left active is not in this store
    import mlflow
    import pandas as pd
    from mlflow.exceptions import MlflowException

    from deepfer_kedro import hooks

    dataset = mlflow.data.from_pandas(pd.DataFrame({"source": ["a.png"]}), source=str(tmp_path), name="FER2013",
                                      digest="0" * 36)
    real_log_input, calls = mlflow.log_input, []

    def lost_the_race_once(*args, **kwargs):
        calls.append(1)
        if len(calls) == 1:
            raise MlflowException('(psycopg2.errors.UniqueViolation) duplicate key value violates unique '
                                  'constraint "dataset_pk"', error_code="BAD_REQUEST")
        return real_log_input(*args, **kwargs)

    monkeypatch.setattr(mlflow, "log_input", lost_the_race_once)
    with mlflow.start_run(experiment_id=experiment) as run:
        hooks.log_input_once_stored(dataset, context="training")
    assert len(calls) == 2
    inputs = mlflow.get_run(run.info.run_id).inputs.dataset_inputs
    assert [(i.dataset.name, i.dataset.digest) for i in inputs] == [("FER2013", "0" * 36)]

    monkeypatch.setattr(mlflow, "log_input", lambda *a, **k: (_ for _ in ()).throw(MlflowException("disk full")))
    with mlflow.start_run(experiment_id=experiment), pytest.raises(MlflowException, match="disk full"):
        hooks.log_input_once_stored(dataset, context="training")  # other errors are not asked again


def test_the_fer2013_input_is_logged_without_mlflows_two_sources_warning(tmp_path, recwarn):
    """MLflow registers the same local-file dataset source twice (for "" and "file://"), and warned on
    every run that FER2013's path "can be interpreted in multiple ways"."""
    import types

    import mlflow
    import pandas as pd

    from deepfer_kedro.hooks import ReproducibilityTagsHook

    mlflow.set_tracking_uri(f"sqlite:///{tmp_path / 'mlflow.db'}")
    try:
        faces = types.SimpleNamespace(index=pd.DataFrame({"source": ["train/happy/1.png"]}), layout="folders",
                                      location=str(tmp_path / "fer2013.zip"), source_sha256="ab" * 32)
        with mlflow.start_run(experiment_id=mlflow.MlflowClient().create_experiment("inputs")) as run:
            ReproducibilityTagsHook().after_dataset_loaded("fer2013_faces", faces)
        [logged] = mlflow.get_run(run.info.run_id).inputs.dataset_inputs
        assert logged.dataset.name == "FER2013" and logged.dataset.digest == ("ab" * 32)[:36]
        assert str(tmp_path / "fer2013.zip") in logged.dataset.source
    finally:
        mlflow.set_tracking_uri(None)
    assert not [w for w in recwarn if "interpreted in multiple ways" in str(w.message)]


def test_kedro_commands_start_without_keras_or_tensorflow():
    """Every `kedro` command imports the project's settings and hooks first; with Keras among their imports
    `kedro --help` took 11.7 s instead of 3.9 s, and printed TensorFlow's CUDA notices."""
    script = ("import sys\nimport deepfer_kedro.settings\n"
              "print(sorted(m for m in ('keras', 'tensorflow', 'jax') if m in sys.modules))\n")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120,
                          cwd=PROJECT_ROOT)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.strip().splitlines()[-1] == "[]"
