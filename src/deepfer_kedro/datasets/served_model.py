"""Logs the served model to the active MLflow run (models from code, the model file as an artifact),
registers it and moves the registry's ``champion`` alias when it is the best on PublicTest."""

from typing import Any

import mlflow
from kedro.io import AbstractDataset, DatasetError


class MlflowServedModelDataset(AbstractDataset[Any, Any]):
    """Saves a ``deepfer_kedro.inference.serving.ServedModel`` as the MLflow model ``name`` of the
    active run, served by ``mlflow models serve -m runs:/<run id>/<name>``. kedro-mlflow's model
    dataset pickles a ``PythonModel``; this one pickles nothing. With ``registered_model_name`` it
    also becomes a new version of that registered model, and its ``champion`` when it beats the
    champion's PublicTest top-1.

    Example catalog entry::

        served_model:
          type: deepfer_kedro.datasets.served_model.MlflowServedModelDataset
          name: served_model
          registered_model_name: deepfer
    """

    def __init__(self, *, name: str = "served_model", registered_model_name: str | None = None,
                 metadata: dict[str, Any] | None = None) -> None:
        self._name = name
        self._registered_model_name = registered_model_name
        self.metadata = metadata

    def _describe(self) -> dict[str, Any]:
        return {"name": self._name, "registered_model_name": self._registered_model_name}

    def load(self) -> Any:
        raise DatasetError(f"{self._name} is logged to MLflow, not loaded back; use "
                           f"`deepfer predict --model runs:/<run id>/{self._name}`")

    def save(self, data: Any) -> None:
        from deepfer_kedro.inference.serving import log_served_model

        if mlflow.active_run() is None:
            return  # tracking disabled for this pipeline: nothing to log to
        info = log_served_model(data.model, data.settings, self._name, self._registered_model_name)
        if self._registered_model_name:
            from deepfer_kedro.inference.registry import promote_if_better

            promote_if_better(self._registered_model_name, info.registered_model_version, data.publictest_accuracy)
