"""MLflow hooks: tags that make a run reproducible, and the saved artifacts it produced."""

import subprocess
from typing import Any

import mlflow
from kedro.framework.hooks import hook_impl


def _git_commit() -> str:
    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True,
                                check=True, timeout=10).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return f"{commit}-dirty" if dirty else commit


class ReproducibilityTagsHook:
    """Runs after kedro-mlflow's hook has opened the run (plugins' hooks are called first)."""

    @hook_impl
    def before_pipeline_run(self, run_params: dict[str, Any]) -> None:
        if mlflow.active_run() is None:
            return
        import keras  # here, so that Kedro commands that train nothing skip the import

        mlflow.set_tags({
            "git_commit": _git_commit(),
            "keras_backend": keras.backend.backend(),
            "keras_version": keras.__version__,
            "kedro_env": run_params.get("env") or "base",
            "kedro_pipeline": ",".join(run_params.get("pipeline_names") or ["__default__"]),
        })

    @hook_impl
    def after_dataset_loaded(self, dataset_name: str, data: Any) -> None:
        if dataset_name == "fer2013_faces" and mlflow.active_run() is not None:
            mlflow.set_tags({"dataset_sha256": data["source_sha256"],
                             "dataset_layout": data["layout"]})


class MlflowArtifactsHook:
    """Logs each saved dataset whose catalog metadata names an ``mlflow_artifact_path``.

    kedro-mlflow's ``MlflowArtifactDataset`` gives a wrapped versioned dataset a save version of
    its own, which Kedro 1.x's catalog refuses; logging the saved file here keeps one version.
    """

    def __init__(self) -> None:
        self._catalog = None

    @hook_impl
    def after_catalog_created(self, catalog) -> None:
        self._catalog = catalog

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
