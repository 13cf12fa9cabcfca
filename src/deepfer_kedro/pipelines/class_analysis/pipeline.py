from kedro.pipeline import Node, Pipeline

from .nodes import compute_class_weights, count_classes, plot_class_counts


def create_pipeline(**kwargs) -> Pipeline:
    return Pipeline([
        Node(count_classes, "image_index", "class_counts", name="count_classes"),
        Node(plot_class_counts, "class_counts", "class_counts_plot", name="plot_class_counts"),
        Node(compute_class_weights, "image_index", "class_weights", name="compute_class_weights"),
    ])
