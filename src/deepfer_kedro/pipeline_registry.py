"""Project pipelines."""

import difflib

from kedro.pipeline import Pipeline

from deepfer_kedro.pipelines.augmentation import pipeline as augmentation
from deepfer_kedro.pipelines.class_analysis import pipeline as class_analysis
from deepfer_kedro.pipelines.data_processing import pipeline as data_processing
from deepfer_kedro.pipelines.evaluate import pipeline as evaluate
from deepfer_kedro.pipelines.export import pipeline as export
from deepfer_kedro.pipelines.inference import pipeline as inference
from deepfer_kedro.pipelines.training import pipeline as training


class Pipelines(dict):
    """The registry; a name it lacks (``kedro run --pipeline evalute``) stops with the names there
    are, where Kedro would print its suggestion at the end of 100 lines of traceback."""

    def __missing__(self, name: str):
        known = sorted(key for key in self if not key.startswith("__"))
        close = difflib.get_close_matches(name, known, n=1)
        raise SystemExit(f"No pipeline named {name!r}{f' (did you mean {close[0]}?)' if close else ''}: "
                         f"the pipelines are {', '.join(known)}, and __default__ (all of `kedro run`)")


def register_pipelines() -> dict[str, Pipeline]:
    """``kedro run`` runs ``__default__``: raw data to a trained, evaluated, exported, tracked model."""
    pipelines = Pipelines({
        "data_processing": data_processing.create_pipeline(),
        "class_analysis": class_analysis.create_pipeline(),
        "augmentation": augmentation.create_pipeline(),
        "training": training.create_pipeline(),
        "evaluate": evaluate.create_pipeline(),
        "export": export.create_pipeline(),
        "export_litert": export.create_litert_pipeline(),
        "evaluate_ensemble": evaluate.create_ensemble_pipeline(),
        "inference": inference.create_pipeline(),
    })
    pipelines["__default__"] = (
        pipelines["data_processing"] + pipelines["class_analysis"] + pipelines["augmentation"]
        + pipelines["training"] + pipelines["evaluate"] + pipelines["export"]
    )
    return pipelines
