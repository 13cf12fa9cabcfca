"""Errors raised by Keras code but caught where Keras is not imported (the ONNX path, the Kedro hooks), so
they live apart from it."""


class NotAModelError(ValueError):
    """A file that is not an emotion model this project can use."""


class WeightsUnavailableError(RuntimeError):
    """ImageNet weights cannot be loaded (offline, or a bad local file)."""
