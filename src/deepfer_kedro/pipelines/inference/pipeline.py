from kedro.pipeline import Node, Pipeline

from .nodes import predict_folder


def create_pipeline(**kwargs) -> Pipeline:
    return Pipeline([
        Node(predict_folder, ["inference_model", "inference_images", "inference_videos", "params:inference"],
             ["inference_predictions", "annotated_images", "inference_face_summary", "video_timelines"],
             name="predict_folder"),
    ])
