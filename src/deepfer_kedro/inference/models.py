"""Where the inference model comes from: a ``.keras`` file, an MLflow URI, the catalog's latest
``trained_model``, or, when there is none, the model that ships with DeepFER. Every path loads
in safe mode and says which model it uses."""

from __future__ import annotations

import logging
from pathlib import Path

import keras

from deepfer_kedro import default_model
from deepfer_kedro.core.saving import NotAModelError, load_keras_model

logger = logging.getLogger(__name__)

HOW_TO_GET_A_MODEL = (
    "Train one with `kedro run` (or `kedro run --env quick` for a small one on a CPU), or point "
    "--model at a .keras file or an MLflow URI such as runs:/<run id>/model/trained_model.keras "
    "or runs:/<run id>/served_model, or leave --model out to use the shipped default model."
)
TRAINED_MODELS = Path("data/06_models/trained_model.keras")


class ModelNotFoundError(FileNotFoundError):
    """No model where one was asked for."""


def load_keras(path: str | Path) -> keras.Model:
    return load_keras_model(path)


def load_default_model() -> keras.Model:
    """The model shipped inside the package (see ``deepfer_kedro/default_model/card.md``)."""
    if not default_model.MODEL_FILE.is_file():
        raise ModelNotFoundError(f"The shipped default model {default_model.MODEL_FILE} is missing from this "
                                 f"installation. {HOW_TO_GET_A_MODEL}")
    logger.info("Using %s", default_model.describe())
    return load_keras_model(default_model.MODEL_FILE)


def has_trained_model(project: Path) -> bool:
    """Whether the project's catalog has saved at least one ``trained_model`` version."""
    folder = project / TRAINED_MODELS
    return folder.is_dir() and any(p.is_dir() for p in folder.iterdir())


def load_from_catalog(project: Path) -> keras.Model:
    """The latest ``trained_model`` version of the Kedro project at ``project``."""
    from kedro.framework.session import KedroSession
    from kedro.framework.startup import bootstrap_project
    from kedro.io.core import DatasetError

    bootstrap_project(project)
    with KedroSession.create(project_path=project) as session:
        catalog = session.load_context().catalog
        try:
            model = catalog.load("trained_model")
        except DatasetError as err:
            raise ModelNotFoundError(f"The trained model in {project / TRAINED_MODELS} cannot be loaded ({err}). "
                                     f"{HOW_TO_GET_A_MODEL}") from err
    logger.info("Using the catalog's latest trained_model in %s", project / TRAINED_MODELS)
    return model


def load_model(spec: str | None, project: Path | None = None) -> keras.Model:
    """``spec``: a ``.keras`` path, an MLflow URI, ``default`` (the shipped model), or None: the
    catalog's latest trained model when the current folder is a project that has one, otherwise
    the shipped model."""
    if spec is None:
        project = project or Path.cwd()
        if (project / "pyproject.toml").exists() and has_trained_model(project):
            return load_from_catalog(project)
        return load_default_model()
    if spec == "default":
        return load_default_model()
    if "://" in spec or spec.startswith(("runs:/", "models:/")):
        return load_from_mlflow(spec)
    if Path(spec).is_dir():
        return load_from_mlflow(Path(spec).resolve().as_uri())
    if not Path(spec).is_file():
        raise ModelNotFoundError(f"{spec}: no such model file. {HOW_TO_GET_A_MODEL}")
    logger.info("Using the model file %s", spec)
    return load_keras_model(spec)


def load_from_mlflow(uri: str) -> keras.Model:
    """A ``.keras`` artifact, or the Keras model inside a served model, fetched from MLflow."""
    import mlflow

    try:
        local = Path(mlflow.artifacts.download_artifacts(uri))
    except Exception as err:  # MLflow raises several kinds for a bad URI or run
        raise ModelNotFoundError(f"{uri}: cannot be fetched from MLflow ({err}). {HOW_TO_GET_A_MODEL}") from err
    if local.is_dir():  # a served-model folder: only its .keras artifact is read, never its code or pickles
        from deepfer_kedro.inference.serving import NotOurServedModelError, read_served_keras

        try:
            model = load_keras_model(read_served_keras(local))
        except NotOurServedModelError as err:
            raise NotAModelError(str(err)) from err
    else:
        model = load_keras_model(local)
    logger.info("Using the model %s", uri)
    return model
