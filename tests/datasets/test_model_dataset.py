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


def test_inference_passes_over_a_latest_model_that_scores_below_the_shipped_one(tiny_model_file, tmp_path, caplog):
    import json

    models, cards = tmp_path / "models", tmp_path / "export_card.json"
    models.mkdir()
    versioned(models, save="2026-01-01T00.00.00.000Z").save(keras.saving.load_model(tiny_model_file))

    def card(top1):  # the run's export card, as the export pipeline writes it
        (cards / "2026-01-01T00.00.00.000Z").mkdir(parents=True, exist_ok=True)
        (cards / "2026-01-01T00.00.00.000Z" / "export_card.json").write_text(
            json.dumps({"publictest": {"exported": {"top1": top1}}}))

    def inference_model(load_version=None):
        return TrainedOrDefaultModelDataset(filepath=str(models / "trained_model.keras"), export_cards=str(cards),
                                            version=Version(load_version, None), load_args={"compile": False})

    card(0.38)  # a quick run's model, to try the pipeline
    assert inference_model().load().count_params() > 1_000_000  # the shipped network
    assert "scores 0.380 top-1 on PublicTest, below the shipped model's 0.696" in caplog.text
    assert inference_model("2026-01-01T00.00.00.000Z").load().count_params() < 100_000  # asked for: loaded
    card(0.75)
    assert inference_model().load().count_params() < 100_000
    assert not hasattr(inference_model().load(), "calibration_temperature")  # a card without one: unscaled
    (cards / "2026-01-01T00.00.00.000Z" / "export_card.json").write_text(
        json.dumps({"publictest": {"exported": {"top1": 0.75}, "temperature": 1.3}}))
    assert inference_model().load().calibration_temperature == 1.3  # the run's own, fitted on PublicTest
    assert inference_model("2026-01-01T00.00.00.000Z").load().calibration_temperature == 1.3


def test_predict_in_a_project_passes_over_a_weaker_trained_model(tiny_model_file, tmp_path, caplog, monkeypatch):
    import json

    from deepfer_kedro import default_model
    from deepfer_kedro.inference.loading import EXPORT_CARDS, TRAINED_MODELS, load_model

    (tmp_path / "pyproject.toml").write_text("")
    (tmp_path / TRAINED_MODELS / "v1").mkdir(parents=True)
    shutil.copy(tiny_model_file, tmp_path / TRAINED_MODELS / "v1" / TRAINED_MODELS.name)
    (tmp_path / EXPORT_CARDS / "v1").mkdir(parents=True)
    (tmp_path / EXPORT_CARDS / "v1" / EXPORT_CARDS.name).write_text(
        json.dumps({"publictest": {"exported": {"top1": 0.4}}}))
    model = load_model(None, tmp_path, runtime="onnx")
    assert model.name == str(default_model.ONNX_FILE) and "--model data/06_models/trained_model.keras/v1" in caplog.text
    assert model.calibration_temperature == default_model.temperature("onnx")
    (tmp_path / EXPORT_CARDS / "v1" / EXPORT_CARDS.name).write_text(
        json.dumps({"publictest": {"exported": {"top1": 0.75}, "temperature": 1.3}}))
    from deepfer_kedro.inference import loading

    trained = keras.saving.load_model(tiny_model_file)
    monkeypatch.setattr(loading, "load_from_catalog", lambda project: trained)  # no Kedro project here
    for runtime in ("onnx", "keras"):  # the trained model, with its run's temperature, converted or not
        model = load_model(None, tmp_path, runtime=runtime)
        assert model.count_params() < 100_000 if runtime == "keras" else model.name.endswith("as float32 ONNX")
        assert model.calibration_temperature == 1.3
