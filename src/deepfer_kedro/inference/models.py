"""Where the inference model comes from: the catalog's latest version, a .keras file, or MLflow."""

from __future__ import annotations

from pathlib import Path

import keras

HOW_TO_GET_A_MODEL = (
    "Train one with `kedro run` (or `kedro run --env quick` for a small one on a CPU), or point "
    "--model at a .keras file or an MLflow URI such as runs:/<run id>/model/trained_model.keras "
    "or runs:/<run id>/served_model."
)


class ModelNotFoundError(FileNotFoundError):
    """No model where one was asked for."""


def load_keras(path: str | Path) -> keras.Model:
    return keras.saving.load_model(str(path), compile=False, safe_mode=True)


def load_from_catalog(project: Path) -> keras.Model:
    """The latest ``trained_model`` version of the Kedro project at ``project``."""
    from kedro.framework.session import KedroSession
    from kedro.framework.startup import bootstrap_project
    from kedro.io.core import DatasetError

    bootstrap_project(project)
    with KedroSession.create(project_path=project) as session:
        catalog = session.load_context().catalog
        try:
            return catalog.load("trained_model")
        except DatasetError as err:
            raise ModelNotFoundError(f"No trained model in {project}/data/06_models ({err}). "
                                     f"{HOW_TO_GET_A_MODEL}") from err


def load_model(spec: str | None, project: Path | None = None) -> keras.Model:
    """``spec``: None (the catalog's latest), a ``.keras`` path, or an MLflow URI."""
    if spec is None:
        project = project or Path.cwd()
        if not (project / "pyproject.toml").exists():
            raise ModelNotFoundError(f"{project} is not the DeepFER project, so there is no catalog to "
                                     f"take the latest model from. {HOW_TO_GET_A_MODEL}")
        return load_from_catalog(project)
    if "://" in spec or spec.startswith(("runs:/", "models:/")):
        import mlflow

        try:
            local = Path(mlflow.artifacts.download_artifacts(spec))
        except Exception as err:  # MLflow raises several kinds for a bad URI or run
            raise ModelNotFoundError(f"{spec}: cannot be fetched from MLflow ({err}). {HOW_TO_GET_A_MODEL}") from err
        if local.is_dir():  # an MLflow model folder: the served pyfunc model holds the Keras model
            return mlflow.pyfunc.load_model(str(local)).unwrap_python_model().model
        return load_keras(local)
    if not Path(spec).is_file():
        raise ModelNotFoundError(f"{spec}: no such model file. {HOW_TO_GET_A_MODEL}")
    return load_keras(spec)
