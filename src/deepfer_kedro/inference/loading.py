"""Where the inference model comes from: a ``.keras``, ``.onnx`` or ``.tflite`` file, an MLflow URI, the catalog's
latest ``trained_model``, or, when there is none, the model that ships with DeepFER; and which runtime
runs it: ONNX Runtime (the default, the fast CPU path) or Keras. Every path loads in safe mode and
says which model it uses."""

from __future__ import annotations

import hashlib
import json
import logging
from pathlib import Path
from typing import Any

from deepfer_kedro import default_model
from deepfer_kedro.core.errors import NotAModelError
from deepfer_kedro.inference.predict import EmotionPredictor
from deepfer_kedro.inference.settings import inference_settings

logger = logging.getLogger(__name__)

HOW_TO_GET_A_MODEL = (
    "Train one with `kedro run` (or `kedro run --env quick` for a small one on a CPU), or point "
    "--model at a .keras file or an MLflow URI such as runs:/<run id>/model/trained_model.keras "
    "or runs:/<run id>/served_model, or leave --model out to use the shipped default model."
)
TRAINED_MODELS = Path("data/06_models/trained_model.keras")
EXPORT_CARDS = Path("data/08_reporting/export_card.json")  # as in conf/base/catalog.yml: one per run
RUNTIMES = ("onnx", "keras")
MAX_CARD_BYTES = 1_000_000  # an export card is about 3 kB


class ModelNotFoundError(FileNotFoundError):
    """No model where one was asked for."""


def load_keras_model(path: str | Path) -> Any:
    from deepfer_kedro.core.saving import load_keras_model as load

    return load(path)


def load_default_model(runtime: str = "keras") -> Any:
    """The model shipped inside the package (see ``deepfer_kedro/default_model/card.md``); with the
    ``onnx`` runtime its int8 export (``default_model/fast/card.json``)."""
    wanted = default_model.ONNX_FILE if runtime == "onnx" else default_model.MODEL_FILE
    if not wanted.is_file():
        raise ModelNotFoundError(f"The shipped default model {wanted} is missing from this "
                                 f"installation. {HOW_TO_GET_A_MODEL}")
    logger.info("Using %s", default_model.describe(runtime))
    if runtime == "onnx":
        from deepfer_kedro.core.export import OnnxEmotionModel

        model = OnnxEmotionModel(wanted)
        model.calibration_temperature = default_model.temperature("onnx")
        return model
    model = load_keras_model(wanted)
    model.shipped_onnx_file = str(default_model.ONNX_FILE)  # for_runtime uses the shipped int8 export
    model.calibration_temperature = default_model.temperature("keras")
    return model


def for_runtime(model: Any, runtime: str) -> Any:
    """``model`` made ready for ``runtime``: a Keras model is converted for ONNX Runtime (float32, a
    few seconds; `deepfer export` makes the faster int8 file); an ONNX model cannot go back to Keras."""
    from deepfer_kedro.core.export import OnnxEmotionModel
    from deepfer_kedro.core.litert import LiteRTEmotionModel

    if runtime not in RUNTIMES:
        raise ValueError(f"runtime must be one of {RUNTIMES}, not {runtime!r}")
    if isinstance(model, (OnnxEmotionModel, LiteRTEmotionModel)):  # an exported file runs in its own runtime
        if runtime == "keras":
            kind = "an ONNX" if isinstance(model, OnnxEmotionModel) else "a LiteRT"
            raise NotAModelError(f"{model.name} is {kind} model; the keras runtime needs a .keras model")
        return model
    if runtime == "onnx" and Path(getattr(model, "shipped_onnx_file", "") or "/nonexistent").is_file():
        return load_default_model("onnx")  # the shipped int8 export
    if runtime == "onnx":
        logger.info("Converting the Keras model to ONNX for the onnx runtime (use --runtime keras to skip this, or "
                    "`deepfer export` once for an int8 file that is about 4 times faster)")
        converted = OnnxEmotionModel.from_keras(model)
        if hasattr(model, "calibration_temperature"):
            converted.calibration_temperature = model.calibration_temperature
        return converted
    return model


def publictest_top1(card_file: Path) -> float | None:
    """PublicTest top-1 of an export card (measured on the exported file), None when unknown."""
    try:
        return float(json.loads(Path(card_file).read_text())["publictest"]["exported"]["top1"])
    except (OSError, KeyError, TypeError, ValueError):
        return None


def with_temperature_of_card_beside(model: Any, card_file: Path) -> Any:
    """A ``.tflite`` file holds no metadata of ours; the temperature fitted on it is in the ``card.json``
    that ``deepfer export`` writes beside it, used only when that card describes this very file (sha256)."""
    if not card_file.is_file() or card_file.stat().st_size > MAX_CARD_BYTES:
        return model
    try:
        card = json.loads(card_file.read_text())
        described, temperature = card["sha256"], card["publictest"]["temperature"]
    except (OSError, KeyError, TypeError, ValueError):
        return model  # not an export card, or one without a PublicTest fit (a final fit on PublicTest)
    if described != hashlib.sha256(model.model_bytes).hexdigest():
        logger.warning("%s describes another file than %s (its sha256 differs); the model's confidences are "
                       "not scaled by its temperature", card_file, model.name)
        return model
    model.calibration_temperature = float(temperature)
    logger.info("Confidences scaled by the temperature %s fitted on PublicTest (%s)", temperature, card_file)
    return model


def with_card_temperature(model: Any, card_file: Path) -> Any:
    """``model`` with the temperature its run's export card fitted on PublicTest, when the card has one."""
    try:
        model.calibration_temperature = float(json.loads(Path(card_file).read_text())["publictest"]["temperature"])
    except (OSError, KeyError, TypeError, ValueError):
        pass  # cards from before 2026-12-01, or a model trained on PublicTest: unscaled
    return model


def shipped_model_beats(card_file: Path) -> tuple[float, float] | None:
    """(trained, shipped) PublicTest top-1 when the shipped model scores higher than the model of
    ``card_file`` (a run's export card), so that a small model trained to try the pipeline (the quick
    run's scores 0.38) does not replace it unasked; None when the trained one is as good, or either
    score is unknown. PublicTest only, as for the registry's champion: PrivateTest is never used to
    choose."""
    trained, shipped = publictest_top1(card_file), publictest_top1(default_model.ONNX_CARD)
    return (trained, shipped) if trained is not None and shipped is not None and trained < shipped else None


def say_the_shipped_model_beats(model_file: str | Path, scores: tuple[float, float]) -> None:
    logger.warning("The latest trained model %s scores %.3f top-1 on PublicTest, below the shipped model's %.3f "
                   "(their export cards): using the shipped model. To use the trained one anyway: --model %s, or "
                   "--load-versions inference_model:<version> in kedro run", model_file, *scores, model_file)


def has_trained_model(project: Path) -> bool:
    """Whether the project's catalog has saved at least one ``trained_model`` version."""
    folder = project / TRAINED_MODELS
    return folder.is_dir() and any(p.is_dir() for p in folder.iterdir())


def load_from_catalog(project: Path) -> Any:
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


def load_model(spec: str | None, project: Path | None = None, runtime: str = "keras") -> Any:
    """``spec``: a ``.keras``, ``.onnx`` or ``.tflite`` path, an MLflow URI, ``default`` (the shipped model), or
    None: the catalog's latest trained model when the current folder is a project that has one and
    its run's export card does not score it below the shipped model on PublicTest, otherwise the
    shipped model. ``runtime``: ``onnx`` (ONNX Runtime) or ``keras``."""
    if runtime not in RUNTIMES:
        raise ValueError(f"runtime must be one of {RUNTIMES}, not {runtime!r}")
    if spec is None:
        project = project or Path.cwd()
        if (project / "pyproject.toml").exists() and has_trained_model(project):
            latest = max(p.name for p in (project / TRAINED_MODELS).iterdir() if p.is_dir())
            card = project / EXPORT_CARDS / latest / EXPORT_CARDS.name
            scores = shipped_model_beats(card)
            if scores is None:
                return for_runtime(with_card_temperature(load_from_catalog(project), card), runtime)
            say_the_shipped_model_beats(TRAINED_MODELS / latest / TRAINED_MODELS.name, scores)
        return load_default_model(runtime)
    if spec == "default":
        return load_default_model(runtime)
    if "://" in spec or spec.startswith(("runs:/", "models:/")):
        return for_runtime(load_from_mlflow(spec), runtime)
    if Path(spec).is_dir():
        return for_runtime(load_from_mlflow(Path(spec).resolve().as_uri()), runtime)
    if not Path(spec).is_file():
        raise ModelNotFoundError(f"{spec}: no such model file. {HOW_TO_GET_A_MODEL}")
    logger.info("Using the model file %s", spec)
    return for_runtime(load_exported_or_keras(spec), runtime)


def load_predictor(model: str | None = None, settings: dict[str, Any] | None = None,
                   project: Path | None = None) -> EmotionPredictor:
    """What ``deepfer predict`` classifies with, for use from Python: ``model`` as its ``--model``
    (None: the project's latest trained model, else the shipped one), ``settings`` (e.g.
    ``{"video_smoothing": 0.5}``) merged over the ``inference`` settings of ``conf/``."""
    settings = inference_settings(project, settings)
    return EmotionPredictor(load_model(model, project, runtime=settings.get("runtime", "onnx")), settings)


def load_from_mlflow(uri: str) -> Any:
    """A ``.keras`` artifact, or the Keras model inside a served model, fetched from MLflow."""
    import mlflow

    try:
        local = Path(mlflow.artifacts.download_artifacts(uri))
    except Exception as err:  # MLflow raises several kinds for a bad URI or run
        raise ModelNotFoundError(f"{uri}: cannot be fetched from MLflow ({err}). {HOW_TO_GET_A_MODEL}") from err
    if local.is_dir():  # a served-model folder: only its model artifact is read, never its code or pickles
        from deepfer_kedro.inference.serving import NotOurServedModelError, load_served_artifact

        try:
            model = load_served_artifact(local)
        except NotOurServedModelError as err:
            raise NotAModelError(str(err)) from err
    else:
        model = load_exported_or_keras(local, name=uri)
    logger.info("Using the model %s", uri)
    return model


def load_exported_or_keras(path: str | Path, name: str | None = None) -> Any:
    """An ``.onnx`` file for ONNX Runtime, a ``.tflite`` file for LiteRT, anything else as a Keras model."""
    suffix = Path(path).suffix.lower()
    if suffix == ".onnx":
        from deepfer_kedro.core.export import OnnxEmotionModel

        return OnnxEmotionModel(path, name=name)
    if suffix == ".tflite":
        from deepfer_kedro.core.litert import LiteRTEmotionModel

        return with_temperature_of_card_beside(LiteRTEmotionModel(path, name=name), Path(path).parent / "card.json")
    return load_keras_model(path)
