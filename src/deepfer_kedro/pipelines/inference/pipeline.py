from kedro.pipeline import Node, Pipeline

from .nodes import predict_folder


def create_pipeline(**kwargs) -> Pipeline:
    return Pipeline([
        Node(predict_folder, ["inference_model", "inference_images", "params:inference"],
             ["inference_predictions", "annotated_images"], name="predict_folder"),
    ])
