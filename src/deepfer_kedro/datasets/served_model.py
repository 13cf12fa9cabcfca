"""Logs the served model to the active MLflow run (models from code, the Keras model as an artifact)."""

from typing import Any

import mlflow
from kedro.io import AbstractDataset, DatasetError


class MlflowServedModelDataset(AbstractDataset[Any, Any]):
    """Saves a ``deepfer_kedro.inference.serving.ServedModel`` as the MLflow model ``name`` of the
    active run, served by ``mlflow models serve -m runs:/<run id>/<name>``. kedro-mlflow's model
    dataset pickles a ``PythonModel``; this one pickles nothing.

    Example catalog entry::

        served_model:
          type: deepfer_kedro.datasets.served_model.MlflowServedModelDataset
          name: served_model
    """

    def __init__(self, *, name: str = "served_model", metadata: dict[str, Any] | None = None) -> None:
        self._name = name
        self.metadata = metadata

    def _describe(self) -> dict[str, Any]:
        return {"name": self._name}

    def load(self) -> Any:
        raise DatasetError(f"{self._name} is logged to MLflow, not loaded back; use "
                           f"`deepfer predict --model runs:/<run id>/{self._name}`")

    def save(self, data: Any) -> None:
        from deepfer_kedro.inference.serving import log_served_model

        if mlflow.active_run() is None:
            return  # tracking disabled for this pipeline: nothing to log to
        log_served_model(data.model, data.settings, self._name)
