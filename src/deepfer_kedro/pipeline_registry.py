"""Project pipelines."""

from kedro.pipeline import Pipeline

from deepfer_kedro.pipelines import augmentation, class_analysis, data_processing, evaluate, training
from deepfer_kedro.pipelines.evaluate.pipeline import create_ensemble_pipeline


def register_pipelines() -> dict[str, Pipeline]:
    """``kedro run`` runs ``__default__``: raw data to a trained, evaluated, tracked model."""
    pipelines = {
        "data_processing": data_processing.create_pipeline(),
        "class_analysis": class_analysis.create_pipeline(),
        "augmentation": augmentation.create_pipeline(),
        "training": training.create_pipeline(),
        "evaluate": evaluate.create_pipeline(),
        "evaluate_ensemble": create_ensemble_pipeline(),
    }
    pipelines["__default__"] = (
        pipelines["data_processing"] + pipelines["class_analysis"] + pipelines["augmentation"]
        + pipelines["training"] + pipelines["evaluate"]
    )
    return pipelines
