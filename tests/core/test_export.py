"""The ONNX export and its runtime: the exported file follows the Keras model on real PrivateTest
faces, refuses files that are not emotion models, and is what the inference paths run by default."""

import json

import keras
import numpy as np
import pytest

from deepfer_kedro import default_model
from deepfer_kedro.core.errors import NotAModelError
from deepfer_kedro.core.export import (
    FLOAT32_TOLERANCE,
    INT8_MIN_TOP1_AGREEMENT,
    NotAnOnnxModelError,
    OnnxEmotionModel,
    compare,
    export_model,
    predict_all,
    sha256,
    weights_sha256,
)
from deepfer_kedro.inference.loading import for_runtime, load_default_model, load_model


@pytest.fixture(scope="module")
def privatetest_200(real_faces):
    """200 real PrivateTest faces drawn at random (the index is sorted by emotion), with labels."""
    from deepfer_kedro.core.data import build_image_index

    index = build_image_index(real_faces, 0.1, 42)
    rows = np.random.default_rng(0).choice(np.flatnonzero(index["split"].to_numpy() == "test"), 200, replace=False)
    train = np.random.default_rng(1).choice(np.flatnonzero(index["split"].to_numpy() == "train"), 256, replace=False)
    return real_faces.pixels[rows], index["label"].to_numpy()[rows], real_faces.pixels[train]


@pytest.fixture(scope="module")
def shipped_keras():
    return load_default_model("keras")


@pytest.mark.real_data
@pytest.mark.parametrize("precision", ["float32", "int8"])
def test_export_follows_the_keras_model_on_200_real_privatetest_faces(precision, privatetest_200, shipped_keras,
                                                                       tmp_path):
    faces, labels, calibration = privatetest_200
    card = export_model(shipped_keras, tmp_path, calibration, faces, labels, precision)
    exported = OnnxEmotionModel(tmp_path / "deepfer.onnx")
    agreement = compare(predict_all(shipped_keras, faces), predict_all(exported, faces))
    assert card["privatetest"]["agreement_with_keras"] == pytest.approx(agreement)
    assert card["sha256"] == sha256(tmp_path / "deepfer.onnx") and card["precision"] == precision
    assert card["labels"] == ["angry", "disgust", "fear", "happy", "neutral", "sad", "surprise"]
    if precision == "float32":
        assert agreement["max_abs_difference"] < FLOAT32_TOLERANCE and agreement["top1_agreement"] >= 0.995
    else:  # int8 rounding flips near-ties; the accuracy stays
        assert agreement["top1_agreement"] >= INT8_MIN_TOP1_AGREEMENT
        assert (tmp_path / "deepfer.onnx").stat().st_size < 0.3 * 4 * shipped_keras.count_params()
    exported_top1, keras_top1 = card["privatetest"]["exported"]["top1"], card["privatetest"]["keras"]["top1"]
    assert keras_top1 > 0.55 and abs(exported_top1 - keras_top1) <= 0.02


def test_the_shipped_int8_export_matches_its_card_and_source():
    card = json.loads(default_model.ONNX_CARD.read_text())
    assert card["sha256"] == sha256(default_model.ONNX_FILE) and card["precision"] == "int8"
    assert card["source_model"]["sha256"] == sha256(default_model.MODEL_FILE)
    assert card["source_model"]["weights_sha256"] == weights_sha256(load_default_model("keras"))
    measured = card["privatetest"]
    assert measured["faces"] == 3589 and measured["exported"]["top1"] >= measured["keras"]["top1"] - 0.01
    assert measured["agreement_with_keras"]["top1_agreement"] >= INT8_MIN_TOP1_AGREEMENT


def test_files_that_are_not_emotion_models_are_refused_with_the_reason(tmp_path, tiny_model_file, monkeypatch):
    junk = tmp_path / "junk.onnx"
    junk.write_bytes(b"\x08\x07not an onnx graph" * 10)
    with pytest.raises(NotAnOnnxModelError, match="junk.onnx: cannot be loaded as an ONNX model"):
        OnnxEmotionModel(junk)
    three = keras.Sequential([keras.Input((48, 48, 1)), keras.layers.Flatten(), keras.layers.Dense(3)])
    with pytest.raises(NotAnOnnxModelError, match="gives \\(3,\\)"):
        OnnxEmotionModel.from_keras(three)
    monkeypatch.setattr("deepfer_kedro.core.export.MAX_ONNX_BYTES", 100)
    with pytest.raises(NotAnOnnxModelError, match="refused without reading it"):
        OnnxEmotionModel(default_model.ONNX_FILE)
    assert issubclass(NotAnOnnxModelError, NotAModelError)


def test_runtime_selection(tiny_model_file, tmp_path):
    """onnx is the fast default path; keras stays available; an ONNX file cannot run on keras."""
    assert isinstance(load_model("default", runtime="onnx"), OnnxEmotionModel)
    assert isinstance(load_model("default", runtime="keras"), keras.Model)
    converted = load_model(str(tiny_model_file), runtime="onnx")
    original = load_model(str(tiny_model_file), runtime="keras")
    faces = np.random.default_rng(0).integers(0, 256, (8, 48, 48, 1), dtype=np.uint8)
    assert isinstance(converted, OnnxEmotionModel)
    np.testing.assert_allclose(converted.predict_on_batch(faces), original.predict_on_batch(faces), atol=1e-5)
    converted.save(tmp_path / "tiny.onnx")
    assert isinstance(load_model(str(tmp_path / "tiny.onnx"), runtime="onnx"), OnnxEmotionModel)
    with pytest.raises(NotAModelError, match="the keras runtime needs a .keras model"):
        load_model(str(tmp_path / "tiny.onnx"), runtime="keras")
    with pytest.raises(ValueError, match="runtime must be one of"):
        load_model("default", runtime="tensorrt")
    assert for_runtime(load_default_model("keras"), "onnx").name == str(default_model.ONNX_FILE)


def test_the_onnx_path_runs_without_importing_tensorflow(tmp_path, astronaut_rgb):
    """`deepfer predict` on the default runtime starts in a fraction of a second: no TensorFlow, no Keras."""
    import subprocess
    import sys

    from PIL import Image

    Image.fromarray(astronaut_rgb).save(tmp_path / "astronaut.jpg")
    script = ("import sys\n"
              "from deepfer_kedro.inference.cli import main\n"
              f"code = main(['predict', {str(tmp_path / 'astronaut.jpg')!r}, '-o', {str(tmp_path / 'rows.csv')!r}])\n"
              "assert code == 0, code\n"
              "print(sorted(m for m in ('tensorflow', 'keras', 'jax', 'torch') if m in sys.modules))\n")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.strip().splitlines()[-1] == "[]"
    assert ",happy," in (tmp_path / "rows.csv").read_text()
