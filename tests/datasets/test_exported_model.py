"""The catalog's exported model files: an ONNX or a LiteRT model saved as a versioned file and loaded
back as the same model; anything else is refused at save."""

import numpy as np
import pytest
from kedro.io.core import DatasetError, Version

from deepfer_kedro import default_model
from deepfer_kedro.core.export import OnnxEmotionModel
from deepfer_kedro.core.litert import LiteRTEmotionModel, to_litert
from deepfer_kedro.datasets.exported_model import LiteRTModelDataset, OnnxModelDataset
from deepfer_kedro.inference.loading import load_keras_model


@pytest.fixture(scope="module")
def tiny_litert(tiny_model_file, tmp_path_factory):
    return LiteRTEmotionModel(to_litert(load_keras_model(tiny_model_file),
                                        tmp_path_factory.mktemp("litert") / "tiny.tflite"))


@pytest.mark.parametrize("kind", ["onnx", "litert"])
def test_an_exported_model_round_trips_through_a_versioned_file(kind, tiny_litert, tmp_path):
    model = OnnxEmotionModel(default_model.ONNX_FILE) if kind == "onnx" else tiny_litert
    dataset_class = OnnxModelDataset if kind == "onnx" else LiteRTModelDataset
    dataset = dataset_class(filepath=str(tmp_path / f"model.{kind}"), version=Version(None, None))
    dataset.save(model)
    loaded = dataset.load()
    assert type(loaded) is type(model) and loaded.model_bytes == model.model_bytes
    faces = np.random.default_rng(0).integers(0, 256, (3, 48, 48), dtype=np.uint8)
    np.testing.assert_array_equal(loaded.predict_on_batch(faces), model.predict_on_batch(faces))
    assert len(list((tmp_path / f"model.{kind}").iterdir())) == 1  # one timestamped version
    with pytest.raises(DatasetError, match=f"{dataset_class.__name__} .* saves an exported model, got dict"):
        dataset_class(filepath=str(tmp_path / "other"), version=Version(None, None)).save({"not": "a model"})
