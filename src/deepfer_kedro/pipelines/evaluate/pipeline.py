from kedro.pipeline import Node, Pipeline

from .nodes import (
    compute_evaluation_metrics,
    evaluation_metrics_for_mlflow,
    format_metrics_table,
    plot_confusion_matrix,
    plot_reliability_diagram,
    predict_emotions,
    predict_emotions_ensemble,
)


def _report_nodes() -> list[Node]:
    return [
        Node(compute_evaluation_metrics, ["test_predictions", "data_quality_report", "params:training"],
             "evaluation_metrics", name="compute_evaluation_metrics"),
        Node(evaluation_metrics_for_mlflow, "evaluation_metrics", "evaluation_metrics_mlflow",
             name="log_evaluation_metrics"),
        Node(format_metrics_table, "evaluation_metrics", "evaluation_report",
             name="format_metrics_table"),
        Node(plot_confusion_matrix, "test_predictions", "confusion_matrix_plot",
             name="plot_confusion_matrix"),
        Node(plot_reliability_diagram, "test_predictions", "reliability_diagram_plot",
             name="plot_reliability_diagram"),
    ]


def create_pipeline(**kwargs) -> Pipeline:
    return Pipeline([
        Node(predict_emotions, ["trained_model", "face_pixels", "image_index", "params:evaluation"],
             "test_predictions", name="predict_emotions"),
        *_report_nodes(),
    ])


def create_ensemble_pipeline(**kwargs) -> Pipeline:
    """The same report for several saved models with averaged probabilities."""
    return Pipeline([
        Node(predict_emotions_ensemble,
             ["saved_models", "face_pixels", "image_index", "params:evaluation"],
             "test_predictions", name="predict_emotions_ensemble"),
        *_report_nodes(),
    ])
