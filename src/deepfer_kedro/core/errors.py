"""Errors shared by the Keras and the ONNX loaders (kept apart so the ONNX path imports no Keras)."""


class NotAModelError(ValueError):
    """A file that is not an emotion model this project can use."""
