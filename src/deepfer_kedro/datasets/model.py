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
        # registers the project's layers (RandomAffine, ...) with Keras's loader: no node module imports them
        # before a run starts, so that `kedro viz` lists the pipelines without loading Keras
        import deepfer_kedro.models  # noqa: F401

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
    with DeepFER instead (and says so), so inference works on a fresh clone. With
    ``export_cards`` (the catalog's versioned ``export_card`` path), the latest version is also
    passed over for the shipped model when its run's card scores it lower on PublicTest (a model
    trained by the quick run to try the pipeline); a version asked for (``--load-versions``) is
    always loaded.

    Example catalog entry::

        inference_model:
          type: deepfer_kedro.datasets.model.TrainedOrDefaultModelDataset
          filepath: data/06_models/trained_model.keras
          versioned: true
          export_cards: data/08_reporting/export_card.json
          load_args: {safe_mode: true, compile: false}
    """

    def __init__(self, *, export_cards: str | None = None, **kwargs: Any) -> None:
        self._export_cards = export_cards
        super().__init__(**kwargs)

    def _exists(self) -> bool:
        return True  # the shipped model stands in for a version not saved yet

    def load(self) -> Any:
        from deepfer_kedro.inference.loading import (
            load_default_model,
            say_the_shipped_model_beats,
            shipped_model_beats,
            with_card_temperature,
        )

        try:
            path = self._get_load_path()
        except VersionNotFoundError:
            logger.warning("No trained model saved in %s yet", self._filepath)
            return load_default_model()
        card = (Path(self._export_cards) / Path(str(path)).parent.name / Path(self._export_cards).name
                if self._export_cards else None)
        if card and self._version.load is None:  # the latest, not a version asked for
            scores = shipped_model_beats(card)
            if scores is not None:
                say_the_shipped_model_beats(path, scores)
                return load_default_model()
        logger.info("Using the trained model %s", path)
        model = super().load()
        return with_card_temperature(model, card) if card else model
