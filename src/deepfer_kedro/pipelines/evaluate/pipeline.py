from kedro.pipeline import Node, Pipeline

from .nodes import (
    compute_evaluation_metrics,
    evaluation_metrics_for_mlflow,
    format_metrics_table,
    on_val_split,
    plot_confusion_matrix,
    plot_reliability_diagram,
    predict_emotions,
    predict_emotions_ensemble,
)


def _report_nodes() -> list[Node]:
    return [
        Node(compute_evaluation_metrics,
             {"predictions": "test_predictions", "data_quality_report": "data_quality_report",
              "training": "params:training", "val_predictions": "val_predictions"},
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


def _val_settings_node() -> Node:
    # PublicTest's predictions fit the temperature that the metrics report the calibration at
    return Node(on_val_split, "params:evaluation", "val_evaluation", name="val_evaluation_settings")


def create_pipeline(**kwargs) -> Pipeline:
    return Pipeline([
        Node(predict_emotions, ["trained_model", "face_pixels", "image_index", "params:evaluation"],
             "test_predictions", name="predict_emotions"),
        _val_settings_node(),
        Node(predict_emotions, ["trained_model", "face_pixels", "image_index", "val_evaluation"],
             "val_predictions", name="predict_emotions_on_val"),
        *_report_nodes(),
    ])


def create_ensemble_pipeline(**kwargs) -> Pipeline:
    """The same report for several saved models with averaged probabilities."""
    return Pipeline([
        Node(predict_emotions_ensemble,
             ["saved_models", "face_pixels", "image_index", "params:evaluation"],
             "test_predictions", name="predict_emotions_ensemble"),
        _val_settings_node(),
        Node(predict_emotions_ensemble,
             ["saved_models", "face_pixels", "image_index", "val_evaluation"],
             "val_predictions", name="predict_emotions_ensemble_on_val"),
        *_report_nodes(),
    ])
