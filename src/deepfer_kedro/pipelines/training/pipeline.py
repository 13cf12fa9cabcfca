from kedro.pipeline import Node, Pipeline

from .nodes import history_metrics, plot_training_curves, train_model


def create_pipeline(**kwargs) -> Pipeline:
    return Pipeline([
        Node(train_model,
             ["face_pixels", "image_index", "class_weights", "params:model", "params:training",
              "params:augmentation", "params:seed"],
             ["trained_model", "training_history"], name="train_model"),
        Node(history_metrics, "training_history", "training_metrics_history",
             name="log_training_metrics"),
        Node(plot_training_curves, "training_history", "training_curves_plot",
             name="plot_training_curves"),
    ])
