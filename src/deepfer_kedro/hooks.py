"""Project hooks: a reachable tracking server, tags that make a run reproducible, the saved
artifacts it produced, and one clear sentence for an expected failure."""

import logging
import os
import re
import socket
import subprocess
import time
import urllib.error
import urllib.request
import warnings
from pathlib import Path
from typing import Any

import mlflow
import mlflow.data
from kedro.framework.hooks import hook_impl
from kedro.io import DatasetError, Version
from kedro.io.core import generate_timestamp
from mlflow.exceptions import MlflowException

from deepfer_kedro.core.config import (
    load_parameters,
    merge,
    mistyped_overrides,
    parameter_kinds,
    parse_overrides,
    unknown_overrides,
    unknown_overrides_sentence,
)
from deepfer_kedro.core.errors import WeightsUnavailableError
from deepfer_kedro.core.parameter_ranges import out_of_range
from deepfer_kedro.fer2013 import FER2013Error

logger = logging.getLogger(__name__)
RUNTIME_PARAMS_NAME = re.compile(r"\$\{runtime_params:\s*([^,}\s]+)")


def _git_commit() -> str:
    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True,
                                check=True, timeout=10).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return f"{commit}-dirty" if dirty else commit


class StartupChecksHook:
    """Before kedro-mlflow starts: work from the project root (the catalog's paths and the embedded
    store are relative to it), check that a tracking server answers within seconds
    (unchecked, MLflow retries an unreachable one for about four minutes), and that every
    `--params` key names a parameter (Kedro adds a misspelt one unread) and gets a value of its kind,
    and that the recipe's numbers and choices are in range (`core.parameter_ranges`)."""

    def __init__(self, timeout_s: float = 5.0) -> None:
        self.timeout_s = timeout_s
        self.conf_dir: Path | None = None

    @hook_impl(tryfirst=True)
    def before_pipeline_run(self, run_params: dict[str, Any], catalog) -> None:
        if self.conf_dir is None:
            return
        overrides = run_params.get("runtime_params") or {}
        env = run_params.get("env") or "local"
        env = env if (self.conf_dir / env).is_dir() else "base"
        params = load_parameters(env, conf_dir=self.conf_dir)
        # names the catalog reads with ${runtime_params:NAME} (face_storage) are not parameters
        for path in self.conf_dir.rglob("*.yml"):
            for name in RUNTIME_PARAMS_NAME.findall(path.read_text()):
                params = merge(params, parse_overrides({name: None}))
        unknown = unknown_overrides(overrides, params)
        if unknown:
            raise SystemExit(f"kedro run stopped: {unknown_overrides_sentence(unknown, params, env)}")
        mistyped = mistyped_overrides(overrides, parameter_kinds(self.conf_dir)) if overrides else []
        if mistyped:
            raise SystemExit(f"kedro run stopped: --params {', '.join(mistyped)}: the run would fail on it "
                             "or misread it. The parameters are in conf/base/parameters*.yml (README: the recipe).")
        wrong = out_of_range(catalog.load("parameters"))  # as Kedro resolved them, interpolations and all
        if wrong:
            where = f"conf/base, conf/{env}" + (" or --params" if overrides else "")
            raise SystemExit(f"kedro run stopped: {', '.join(wrong)} in {where}. The parameters are "
                             "in conf/base/parameters*.yml (README: the recipe).")

    @hook_impl
    def after_context_created(self, context) -> None:
        if context is not None:
            conf_source = getattr(context.config_loader, "conf_source", None)
            self.conf_dir = Path(conf_source) if conf_source else Path(context.project_path) / "conf"
            if context.env and not (self.conf_dir / context.env).is_dir():
                known = sorted(p.name for p in self.conf_dir.iterdir() if p.is_dir())
                raise SystemExit(f"--env {context.env}: no such Kedro environment in {self.conf_dir} "
                                 f"(there are {', '.join(known)})")
        if context is not None and Path.cwd().resolve() != Path(context.project_path).resolve():
            # the decoded-data cache and the embedded MLflow store are relative paths: resolve them
            # from the project root, not from src/ or notebooks/, so nothing lands in a second copy
            logger.warning("Working from the project root %s (started in %s)", context.project_path, Path.cwd())
            os.chdir(context.project_path)
        if context is not None:
            set_aside_killed_runs(Path(context.project_path) / "data")
        self.check_tracking_server()
        if context is not None:
            create_experiment(context.config_loader["mlflow"])

    def check_tracking_server(self) -> None:
        uri = os.environ.get("MLFLOW_TRACKING_URI") or ""
        if not uri.startswith(("http://", "https://")):
            return  # the embedded SQLite store, or a database URI: nothing to reach
        try:
            urllib.request.urlopen(f"{uri.rstrip('/')}/health", timeout=self.timeout_s).close()
        except (urllib.error.URLError, OSError) as err:
            raise SystemExit(
                f"The MLflow tracking server {uri} (MLFLOW_TRACKING_URI) does not answer "
                f"({getattr(err, 'reason', err)}). Start it (for example `mlflow server --host 127.0.0.1 "
                f"--port 5000`), or unset MLFLOW_TRACKING_URI to track in the embedded store mlflow.db."
            ) from None


def create_experiment(mlflow_conf: dict[str, Any]) -> None:
    """Create the experiment before kedro-mlflow looks it up: runs started together against a fresh
    server would otherwise race to create it, and all but one stop with RESOURCE_ALREADY_EXISTS."""
    experiment = mlflow_conf["tracking"]["experiment"]
    kwargs = experiment.get("create_experiment_kwargs") or {}
    if kwargs.get("artifact_location"):
        return  # kedro-mlflow resolves a relative location against the project; leave it to it
    client = mlflow.MlflowClient(mlflow_conf["server"]["mlflow_tracking_uri"])
    if client.get_experiment_by_name(experiment["name"]) is not None:
        return
    try:
        client.create_experiment(experiment["name"], tags=kwargs.get("tags"))
    except MlflowException as err:
        if err.error_code != "RESOURCE_ALREADY_EXISTS":
            raise


class ReproducibilityTagsHook:
    """Runs after kedro-mlflow's hook has opened the run (plugins' hooks are called first)."""

    @hook_impl
    def before_pipeline_run(self, run_params: dict[str, Any], catalog) -> None:
        if mlflow.active_run() is None:
            return
        import keras  # here, so that Kedro commands that train nothing skip the import

        mlflow.set_tag("mlflow.runName", run_name(run_params, catalog))
        mlflow.set_tags({
            "git_commit": _git_commit(),
            "keras_backend": keras.backend.backend(),
            "keras_version": keras.__version__,
            "kedro_env": run_params.get("env") or "local",  # Kedro's default run environment
            "kedro_pipeline": ",".join(run_params.get("pipeline_names") or ["__default__"]),
            "host": socket.gethostname(),
            "pid": str(os.getpid()),
        })
        mark_orphaned_runs_killed(mlflow.active_run().info.run_id)

    @hook_impl
    def after_dataset_loaded(self, dataset_name: str, data: Any) -> None:
        if dataset_name == "fer2013_faces" and mlflow.active_run() is not None:
            mlflow.set_tags({"dataset_sha256": data.source_sha256,
                             "dataset_layout": data.layout})
            # the run's dataset input, shown in the runs list: one row per image, digest = archive sha256
            with warnings.catch_warnings():  # a local path: MLflow registers the same source for "" and "file://"
                warnings.filterwarnings("ignore", message="The specified dataset source can be interpreted")
                dataset = mlflow.data.from_pandas(data.index, source=data.location, name="FER2013",
                                                  digest=data.source_sha256[:36])
            log_input_once_stored(dataset, context="training")


def log_input_once_stored(dataset, context: str, attempts: int = 3) -> None:
    """mlflow.log_input, again when another run stored the same dataset row at the same moment:
    MLflow's store looks the (experiment, name, digest) row up, then inserts it, so two runs that
    load FER2013 together on a fresh server both insert and one stops with a unique-key error
    (PostgreSQL: "duplicate key ... dataset_pk"). Asked again, the store finds the row."""
    for attempt in range(1, attempts + 1):
        try:
            mlflow.log_input(dataset, context=context)
            return
        except MlflowException as err:
            text = str(err).lower()
            if attempt == attempts or not ("duplicate key" in text or "unique constraint" in text):
                raise
            logger.info("Dataset %s was being stored by another run at the same time; asking again", dataset.name)
            time.sleep(0.2 * attempt)


def run_name(run_params: dict[str, Any], catalog) -> str:
    """What tells runs apart in the MLflow UI: pipeline, environment, architecture, seed."""
    pipelines = "+".join(run_params.get("pipeline_names") or ["__default__"])
    env = run_params.get("env") or "local"
    try:
        architecture = catalog.load("params:model").get("architecture", "vgg16")
        seed = catalog.load("params:seed")
    except Exception:  # a catalog without these parameters
        return f"{pipelines} {env}"
    return f"{pipelines} {env} {architecture} seed {seed}"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def mark_orphaned_runs_killed(current_run_id: str) -> list[str]:
    """Runs left RUNNING by a process of this machine that no longer exists (``kill -9``, a
    crash) are marked KILLED, so that the MLflow UI does not show them running forever."""
    client = mlflow.MlflowClient()
    current = client.get_run(current_run_id)
    host = socket.gethostname()
    runs = client.search_runs([current.info.experiment_id], filter_string="attributes.status = 'RUNNING'",
                              max_results=500)
    killed = []
    for run in runs:
        pid = run.data.tags.get("pid", "")
        if run.info.run_id != current_run_id and run.data.tags.get("host") == host and pid.isdigit() \
                and not _alive(int(pid)):
            client.set_terminated(run.info.run_id, status="KILLED")
            killed.append(run.info.run_id)
    return killed


class _CatalogHook:
    """A hook that looks datasets up in the run's catalog."""

    _catalog = None

    @hook_impl
    def after_catalog_created(self, catalog) -> None:
        self._catalog = catalog


class MlflowArtifactsHook(_CatalogHook):
    """Logs each saved dataset whose catalog metadata names an ``mlflow_artifact_path``.

    kedro-mlflow's ``MlflowArtifactDataset`` gives a wrapped versioned dataset a save version of
    its own, which Kedro 1.x's catalog refuses; logging the saved file here keeps one version.
    """

    @hook_impl
    def after_dataset_saved(self, dataset_name: str, data: Any) -> None:
        if self._catalog is None or mlflow.active_run() is None:
            return
        dataset = self._catalog.get(dataset_name)
        artifact_path = (getattr(dataset, "metadata", None) or {}).get("mlflow_artifact_path")
        if not artifact_path:
            return
        version = dataset.resolve_save_version() if getattr(dataset, "_version", None) else None
        path = dataset._get_versioned_path(version) if version else dataset._filepath
        mlflow.log_artifact(str(path), artifact_path=artifact_path)


class ThisRunsVersionsHook(_CatalogHook):
    """A versioned dataset that this run saved is loaded back at this run's version.

    Kedro loads the latest version unless told otherwise. With two runs at once in one project
    (``scripts/sweep.sh``), the latest can be the other run's file: made with another seed, or
    still being written ("File is not a zip file", seen in CI). ``--load-versions`` still wins.
    """

    @hook_impl
    def after_dataset_saved(self, dataset_name: str) -> None:
        dataset = self._catalog.get(dataset_name) if self._catalog is not None else None
        version = getattr(dataset, "_version", None)
        if not isinstance(version, Version) or version.load is not None:
            return  # not versioned, or pinned by --load-versions
        saved = version.save or dataset.resolve_save_version()
        dataset._version = Version(load=saved, save=saved)


RUNNING_MARKERS = ".running"
SET_ASIDE = "99_incomplete"


class RunMarkerHook:
    """Claims a run's save version, marking it running (``data/.running/<version>`` holding the pid)
    until it ends. A run that ends, even by an error, leaves complete files; one killed leaves the
    marker, and the next start sets its versions aside (``set_aside_killed_runs``).

    Kedro's save version is the session's start to the millisecond, and two ``kedro run``s started
    together in one project can get the same one (``scripts/sweep.sh``; 3 pairs of 5 in one trial
    here), and the second stopped on "Save path ... must not exist". The run that finds its version
    taken saves everything under the next free millisecond instead."""

    def __init__(self, data: Path | None = None) -> None:
        self.data = data
        self.marker: Path | None = None

    @hook_impl
    def before_pipeline_run(self, run_params: dict[str, Any], catalog) -> None:
        data = self.data or Path(run_params.get("project_path") or ".") / "data"
        taken = str(run_params["run_id"])  # = Kedro's save version
        self.marker = claim_save_version(data, taken)
        if self.marker.name != taken:
            logger.warning("Save version %s is another run's in this project; this run saves as %s",
                           taken, self.marker.name)
            save_all_as(catalog, self.marker.name)

    @hook_impl
    def after_pipeline_run(self) -> None:
        if self.marker is not None:
            self.marker.unlink(missing_ok=True)

    @hook_impl
    def on_pipeline_error(self) -> None:
        self.after_pipeline_run()


def claim_save_version(data: Path, version: str, attempts: int = 1000) -> Path:
    """Creates the running marker of ``version``, or of the next millisecond free of markers and of
    saved version folders; returns the marker."""
    markers = data / RUNNING_MARKERS
    markers.mkdir(parents=True, exist_ok=True)
    for _ in range(attempts):
        marker = markers / version
        try:
            with marker.open("x") as claimed:  # exclusive: one run wins a version
                claimed.write(f"{socket.gethostname()} {os.getpid()}\n")
        except FileExistsError:
            pass  # a run started in the same millisecond is running
        else:
            if not saved_folders(data, version):
                return marker
            marker.unlink()  # a run of that millisecond has saved and ended
        time.sleep(0.001)
        version = generate_timestamp()
    raise RuntimeError(f"No free save version in {data} after {attempts} tries (is the clock stopped?)")


def saved_folders(data: Path, version: str) -> list[Path]:
    """The version folders of ``version`` under ``data`` (``<layer>/<dataset>/<version>``), set-aside
    ones apart."""
    return sorted(folder for folder in data.glob(f"*/**/{version}")
                  if folder.is_dir() and SET_ASIDE not in folder.relative_to(data).parts)


def save_all_as(catalog, version: str) -> None:
    """Sets the save version of every dataset of ``catalog``, made or still to be made. Kedro has no
    public setter: the catalog takes its save version when it is created, from the session."""
    catalog._save_version = version
    for lazy in catalog._lazy_datasets.values():
        lazy.save_version = version
    for dataset in catalog._datasets.values():
        dataset = getattr(dataset, "_dataset", dataset)  # a CachedDataset's inner dataset
        if isinstance(getattr(dataset, "_version", None), Version):
            dataset._version = Version(load=dataset._version.load, save=version)
            dataset._clear_version_cache()


def set_aside_killed_runs(data: Path) -> list[Path]:
    """Moves every version folder of a run killed on this machine (its marker's pid is gone) to
    ``data/99_incomplete/<version>/``, so that no later run loads a killed run's output as the
    latest. Returns the folders moved."""
    moved: list[Path] = []
    markers = data / RUNNING_MARKERS
    if not markers.is_dir():
        return moved
    for marker in markers.iterdir():
        try:
            host, _, pid = marker.read_text().strip().partition(" ")
        except FileNotFoundError:
            continue  # its run has just ended
        if host != socket.gethostname() or not pid.isdigit() or _alive(int(pid)):
            continue
        version = marker.name
        for folder in saved_folders(data, version):
            target = data / SET_ASIDE / version / folder.parent.relative_to(data)
            target.parent.mkdir(parents=True, exist_ok=True)
            try:
                folder.rename(target)
            except FileNotFoundError:
                continue  # another run starting now set it aside first
            moved.append(target)
        marker.unlink(missing_ok=True)
        if moved:
            logger.warning("A killed run (%s) left %d version folder(s); set aside in %s",
                                                version, len(moved), data / SET_ASIDE / version)
    return moved


EXPECTED_ERRORS = (FER2013Error, WeightsUnavailableError)


class ExpectedErrorHook:
    """Ends a run that failed for an expected reason (missing or malformed data, unavailable
    weights, an input nothing has saved yet) with the one sentence that says what to do, instead
    of a page of traceback. Runs after kedro-mlflow has marked the MLflow run failed; saved
    versions are untouched."""

    @hook_impl
    def on_pipeline_error(self, error: Exception, run_params: dict[str, Any], pipeline, catalog) -> None:
        cause: BaseException | None = error
        while cause is not None and not isinstance(cause, EXPECTED_ERRORS):
            cause = cause.__cause__ or (cause.__context__ if isinstance(cause, DatasetError) else None)
        if cause is not None:
            raise SystemExit(f"kedro run stopped: {cause}") from None
        missing = missing_inputs(error, pipeline, catalog)
        asked = {name: version for name, version in (run_params.get("load_versions") or {}).items()
                 if name in missing}
        if asked:
            raise SystemExit(f"kedro run stopped: {missing_versions_sentence(asked, catalog)}") from None
        if missing:
            raise SystemExit(f"kedro run stopped: {missing_inputs_sentence(missing, catalog)}") from None


def missing_inputs(error: Exception, pipeline, catalog) -> list[str]:
    """The pipeline's inputs with nothing saved or put there yet, if the run failed loading one of
    them (Kedro's catalog names the dataset first: "trained_model: Did not find any versions ...")."""
    failed = str(error).split(":", 1)[0] if isinstance(error, DatasetError) else None
    inputs = sorted(name for name in pipeline.inputs() if not name.startswith("param"))
    if failed not in inputs:
        return []

    def present(name: str) -> bool:
        try:
            return catalog.exists(name)
        except DatasetError:
            return True  # cannot tell: not reported as missing
    missing = [name for name in inputs if not present(name)]
    return missing if failed in missing else []


def missing_versions_sentence(asked: dict[str, str], catalog) -> str:
    """For `--load-versions NAME:VERSION` where no such version was saved: the ones that were."""
    sentences = []
    for name, version in asked.items():
        folder = Path(str(catalog.get(name)._describe()["filepath"]))
        saved = sorted(p.name for p in folder.iterdir() if p.is_dir()) if folder.is_dir() else []
        sentences.append(f"--load-versions {name}:{version}: no such version in {folder} "
                         f"(saved: {', '.join(saved) if saved else 'none yet'}).")
    return " ".join(sentences)


def missing_inputs_sentence(missing: list[str], catalog) -> str:
    """What to run for the inputs the project's pipelines make, where to put the ones a user gives."""
    from kedro.framework.project import pipelines

    default = pipelines.get("__default__")
    made = [name for name in missing if default is None or name in default.all_outputs()]
    given = [name for name in missing if name not in made]
    sentences = []
    if made:
        shipped = (" (`deepfer evaluate --model default` scores the shipped model without training)"
                   if {"trained_model", "saved_models"} & set(made) else "")
        sentences.append(
            f"nothing has been saved yet for {', '.join(made)}, which this run reads. Run `kedro run` "
            f"first (the whole recipe, or `kedro run --env quick` on a CPU): it saves them{shipped}.")
    folders: dict[str, list[str]] = {}
    for name in given:
        where = catalog.get(name)._describe()
        folders.setdefault(str(where.get("path") or where.get("filepath")), []).append(name)
    sentences += [f"nothing found in {folder} ({', '.join(names)}): put the files this run reads there."
                  for folder, names in folders.items()]
    return " Also ".join(sentences)
