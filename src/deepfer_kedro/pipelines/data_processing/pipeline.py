from kedro.pipeline import Node, Pipeline

from .nodes import build_image_index, build_quality_report, extract_pixels, plot_near_duplicates


def create_pipeline(**kwargs) -> Pipeline:
    return Pipeline([
        Node(build_image_index,
             ["fer2013_faces", "params:data_processing.val_fraction", "params:seed"],
             "image_index", name="build_image_index"),
        Node(extract_pixels, "fer2013_faces", "face_pixels", name="extract_pixels"),
        Node(build_quality_report,
             ["fer2013_faces", "image_index", "params:data_processing.near_duplicate_max_distance"],
             "data_quality_report", name="build_quality_report"),
        Node(plot_near_duplicates, ["face_pixels", "image_index", "data_quality_report"], "near_duplicates_plot",
             name="plot_near_duplicates"),
    ])
