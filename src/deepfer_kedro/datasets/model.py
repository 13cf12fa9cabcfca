"""The catalog's trained model for inference, or the shipped default model when none is saved."""

import logging
from typing import Any

from kedro.io.core import VersionNotFoundError
from kedro_datasets.tensorflow import TensorFlowModelDataset

logger = logging.getLogger(__name__)


class TrainedOrDefaultModelDataset(TensorFlowModelDataset):
    """``tensorflow.TensorFlowModelDataset`` that, when no version has been saved yet, loads the
    model shipped with DeepFER instead (and says so), so inference works on a fresh clone.

    Example catalog entry::

        inference_model:
          type: deepfer_kedro.datasets.model.TrainedOrDefaultModelDataset
          filepath: data/06_models/trained_model.keras
          versioned: true
          load_args: {safe_mode: true, compile: false}
    """

    def load(self) -> Any:
        try:
            path = self._get_load_path()
        except VersionNotFoundError:
            from deepfer_kedro.inference.models import load_default_model

            logger.warning("No trained model saved in %s yet", self._filepath)
            return load_default_model()
        logger.info("Using the trained model %s", path)
        return super().load()
