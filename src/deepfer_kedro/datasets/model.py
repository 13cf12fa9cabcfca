"""Trained models in the catalog: a damaged file is named with the fix, and inference falls back to
the shipped model when nothing has been trained yet."""

import logging
import zipfile
from pathlib import Path
from typing import Any

from kedro.io.core import DatasetError, VersionNotFoundError, get_filepath_str
from kedro_datasets.tensorflow import TensorFlowModelDataset

logger = logging.getLogger(__name__)


class KerasModelDataset(TensorFlowModelDataset):
    """``tensorflow.TensorFlowModelDataset`` that checks the ``.keras`` archive before loading, so
    that a truncated file (a run killed while saving) is named, with the versions to load instead.

    Example catalog entry::

        trained_model:
          type: deepfer_kedro.datasets.model.KerasModelDataset
          filepath: data/06_models/trained_model.keras
          versioned: true
          load_args: {safe_mode: true}
    """

    def load(self) -> Any:
        path = get_filepath_str(self._get_load_path(), self._protocol)
        if self._protocol == "file":
            problem = _archive_problem(Path(path))
            if problem:
                folder = Path(str(self._filepath))
                versions = sorted(p.name for p in folder.iterdir() if p.is_dir()) if folder.is_dir() else []
                raise DatasetError(
                    f"{path}: {problem}, so it cannot be loaded. Load another version with "
                    f"`kedro run --load-versions {folder.stem}:<version>` (saved versions: {versions}), "
                    "or delete this version's folder.")
        return super().load()


def _archive_problem(path: Path) -> str | None:
    if not zipfile.is_zipfile(path):
        return "not a complete .keras archive (truncated or not a model)"
    try:
        with zipfile.ZipFile(path) as archive:
            bad = archive.testzip()
    except (zipfile.BadZipFile, OSError) as err:
        return f"a damaged .keras archive ({err})"
    return f"a damaged .keras archive ({bad} fails its CRC check)" if bad else None


class TrainedOrDefaultModelDataset(KerasModelDataset):
    """``KerasModelDataset`` that, when no version has been saved yet, loads the model shipped
    with DeepFER instead (and says so), so inference works on a fresh clone.

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
            from deepfer_kedro.inference.loading import load_default_model

            logger.warning("No trained model saved in %s yet", self._filepath)
            return load_default_model()
        logger.info("Using the trained model %s", path)
        return super().load()
