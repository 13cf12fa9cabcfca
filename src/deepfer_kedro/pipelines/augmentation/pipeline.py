from kedro.pipeline import Node, Pipeline

from .nodes import plot_augmentation_preview


def create_pipeline(**kwargs) -> Pipeline:
    return Pipeline([
        Node(plot_augmentation_preview,
             ["face_pixels", "image_index", "params:augmentation",
              "params:augmentation_preview.faces_per_emotion", "params:seed"],
             "augmentation_preview", name="plot_augmentation_preview"),
    ])
