"""Catalog model datasets: a truncated newest version is named with the fix; nothing trained yet
means the shipped model for inference."""

import shutil

import keras
import pytest
from kedro.io import DatasetError
from kedro.io.core import Version

from deepfer_kedro.datasets.model import KerasModelDataset, TrainedOrDefaultModelDataset


def versioned(folder, cls=KerasModelDataset, save=None):
    return cls(filepath=str(folder / "trained_model.keras"), version=Version(None, save),
               load_args={"safe_mode": True, "compile": False})


def test_a_truncated_newest_version_is_named_with_the_versions_to_load_instead(tiny_model_file, tmp_path):
    folder = tmp_path / "data" / "06_models"
    folder.mkdir(parents=True)
    versioned(folder, save="2026-01-01T00.00.00.000Z").save(keras.saving.load_model(tiny_model_file))
    broken = folder / "trained_model.keras" / "2026-01-02T00.00.00.000Z" / "trained_model.keras"
    broken.parent.mkdir()
    broken.write_bytes(tiny_model_file.read_bytes()[:2000])
    with pytest.raises(DatasetError, match=r"2026-01-02T00.00.00.000Z/trained_model.keras: not a complete \.keras "
                                           r"archive .*--load-versions trained_model:<version>.*2026-01-01"):
        versioned(folder).load()
    older = KerasModelDataset(filepath=str(folder / "trained_model.keras"),
                              version=Version("2026-01-01T00.00.00.000Z", None), load_args={"compile": False})
    assert older.load().output_shape == (None, 7)


def test_inference_falls_back_to_the_shipped_model_only_when_nothing_is_saved(tiny_model_file, tmp_path, caplog):
    folder = tmp_path / "models"
    folder.mkdir()
    model = versioned(folder, TrainedOrDefaultModelDataset).load()
    assert model.count_params() > 1_000_000 and "No trained model saved" in caplog.text  # the shipped network
    versioned(folder, save="2026-01-01T00.00.00.000Z").save(keras.saving.load_model(tiny_model_file))
    assert versioned(folder, TrainedOrDefaultModelDataset).load().count_params() < 100_000
    shutil.rmtree(folder)
