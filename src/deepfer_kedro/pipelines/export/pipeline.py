from kedro.pipeline import Node, Pipeline

from .nodes import export_card_metrics_for_mlflow, export_fast_model, export_litert_model, package_served_model


def create_pipeline(**kwargs) -> Pipeline:
    return Pipeline([
        Node(export_fast_model,
             ["trained_model", "face_pixels", "image_index", "params:export", "params:seed", "params:training"],
             ["exported_model", "export_card"], name="export_fast_model"),
        Node(export_card_metrics_for_mlflow, "export_card", "export_metrics_mlflow", name="log_export_metrics"),
        Node(package_served_model,
             ["trained_model", "exported_model", "params:inference"],
             "served_model", name="package_served_model"),
    ])


def create_litert_pipeline(**kwargs) -> Pipeline:
    """``kedro run --pipeline export_litert``: the latest trained model as a ``.tflite`` file (not part
    of ``kedro run``: phones and edge boards only, and LiteRT export needs Keras' TensorFlow backend)."""
    return Pipeline([
        Node(export_litert_model,
             ["trained_model", "face_pixels", "image_index", "params:export", "params:seed", "params:training"],
             ["litert_model", "litert_card"], name="export_litert_model"),
        Node(export_card_metrics_for_mlflow, "litert_card", "litert_metrics_mlflow", name="log_litert_metrics"),
    ])
