from kedro.pipeline import Node, Pipeline

from .nodes import export_fast_model, package_served_model


def create_pipeline(**kwargs) -> Pipeline:
    return Pipeline([
        Node(export_fast_model,
             ["trained_model", "face_pixels", "image_index", "params:export", "params:seed", "params:training"],
             ["exported_model", "export_card"], name="export_fast_model"),
        Node(package_served_model,
             ["trained_model", "exported_model", "params:inference"],
             "served_model", name="package_served_model"),
    ])
