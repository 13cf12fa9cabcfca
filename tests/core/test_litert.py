"""The LiteRT (.tflite) export for phones and edge boards, and its runtime: the exported file follows the
Keras model on real PrivateTest faces, refuses files that are not emotion models, runs through every
inference entry point without TensorFlow, and takes one call at a time from many threads."""

import json
import subprocess
import sys
import threading

import mlflow
import numpy as np
import pandas as pd
import pytest

from deepfer_kedro.core.errors import NotAModelError
from deepfer_kedro.core.evaluation import calibration, with_temperature
from deepfer_kedro.core.export import FLOAT32_TOLERANCE, INT8_TOLERANCE, compare, export_model, predict_all, sha256
from deepfer_kedro.core.litert import LiteRTEmotionModel, NotALiteRTModelError, to_litert
from deepfer_kedro.inference.cli import main
from deepfer_kedro.inference.loading import load_default_model, load_model
from deepfer_kedro.inference.serving import load_served_artifact, save_served_model
from deepfer_kedro.labels import EMOTIONS


@pytest.fixture(scope="module")
def privatetest_200(real_faces):
    """200 real PrivateTest faces drawn at random, with labels."""
    from deepfer_kedro.core.data import build_image_index

    index = build_image_index(real_faces, 0.1, 42)
    rows = np.random.default_rng(0).choice(np.flatnonzero(index["split"].to_numpy() == "test"), 200, replace=False)
    return real_faces.pixels[rows], index["label"].to_numpy()[rows]


@pytest.fixture(scope="module")
def shipped_keras():
    return load_default_model("keras")


@pytest.fixture(scope="module")
def shipped_litert(shipped_keras, tmp_path_factory):
    """The shipped model exported as users export it (int8)."""
    return to_litert(shipped_keras, tmp_path_factory.mktemp("litert") / "deepfer.tflite")


@pytest.mark.real_data
@pytest.mark.parametrize("precision", ["float32", "int8"])
def test_litert_export_follows_the_keras_model_on_200_real_privatetest_faces(precision, privatetest_200,
                                                                             shipped_keras, tmp_path):
    faces, labels = privatetest_200
    card = export_model(shipped_keras, tmp_path, faces[:32], faces, labels, precision, file_format="litert",
                        val_faces=faces[:50], val_labels=labels[:50])
    exported = LiteRTEmotionModel(tmp_path / "deepfer.tflite")
    probabilities = predict_all(exported, faces)
    agreement = compare(predict_all(shipped_keras, faces), probabilities)
    assert card["model_file"] == "deepfer.tflite" and card["format"].startswith("LiteRT")
    assert card["sha256"] == sha256(tmp_path / "deepfer.tflite") and card["precision"] == precision
    assert card["privatetest"]["agreement_with_keras"] == pytest.approx(agreement)
    temperature, private = card["publictest"]["temperature"], card["privatetest"]
    assert private["expected_calibration_error"] == pytest.approx(
        calibration(probabilities, labels)["expected_calibration_error"], abs=1e-4)
    assert private["expected_calibration_error_at_temperature"] == pytest.approx(
        calibration(with_temperature(probabilities, temperature), labels)["expected_calibration_error"], abs=1e-4)
    assert card["labels"] == list(EMOTIONS) and card["publictest"]["faces"] == 50
    assert card["signatures"] == {"serving_default": {"inputs": ["faces"], "outputs": ["output_0"]}}
    assert not (tmp_path / "deepfer.onnx").exists()
    if precision == "float32":
        assert agreement["max_abs_difference"] < FLOAT32_TOLERANCE and agreement["top1_agreement"] == 1
    else:  # int8 weights, a quarter of float32's bytes; the softmax stays float (no multiples of 1/256)
        assert agreement["top1_agreement"] >= 0.99 and agreement["max_abs_difference"] < INT8_TOLERANCE
        assert (tmp_path / "deepfer.tflite").stat().st_size < 1.25 * shipped_keras.count_params()
        assert card["quantization"].startswith("int8 weights") and card["calibration"] is None
        assert not np.allclose(probabilities * 256, np.round(probabilities * 256), atol=1e-3)
    exported_top1, keras_top1 = card["privatetest"]["exported"]["top1"], card["privatetest"]["keras"]["top1"]
    assert keras_top1 > 0.55 and abs(exported_top1 - keras_top1) <= 0.02
    # the file holds no temperature; deepfer loads the one fitted on it from the card beside it
    loaded = load_model(str(tmp_path / "deepfer.tflite"), runtime="onnx")
    assert loaded.calibration_temperature == card["publictest"]["temperature"]
    (tmp_path / "card.json").write_text(json.dumps({**card, "sha256": "0" * 64}))  # a card of another file
    assert not hasattr(load_model(str(tmp_path / "deepfer.tflite"), runtime="onnx"), "calibration_temperature")


def test_files_that_are_not_litert_emotion_models_are_refused_with_the_reason(tmp_path, monkeypatch,
                                                                             shipped_litert):
    import keras

    junk = tmp_path / "junk.tflite"
    junk.write_bytes(b"TFL3 but not a flatbuffer" * 10)
    with pytest.raises(NotALiteRTModelError, match="junk.tflite: cannot be loaded as a LiteRT model"):
        LiteRTEmotionModel(junk)
    three = keras.Sequential([keras.Input((48, 48, 1)), keras.layers.Flatten(), keras.layers.Dense(3)])
    with pytest.raises(NotALiteRTModelError, match=r"three.tflite: takes .* and gives \[\[-1, 3\]\]"):
        LiteRTEmotionModel(to_litert(three, tmp_path / "three.tflite"))
    monkeypatch.setattr("deepfer_kedro.core.litert.MAX_LITERT_BYTES", 100)
    with pytest.raises(NotALiteRTModelError, match="refused without reading it"):
        LiteRTEmotionModel(shipped_litert)
    assert issubclass(NotALiteRTModelError, NotAModelError)
    with pytest.raises(ValueError, match="precision must be int8 or float32"):
        to_litert(three, tmp_path / "x.tflite", "int4")


def test_a_tflite_file_runs_in_litert_whatever_the_runtime_and_never_in_keras(shipped_litert, shipped_keras):
    faces = np.random.default_rng(0).integers(0, 256, (5, 48, 48, 1), dtype=np.uint8)
    model = load_model(str(shipped_litert), runtime="onnx")
    assert isinstance(model, LiteRTEmotionModel)
    np.testing.assert_allclose(model.predict_on_batch(faces), shipped_keras.predict_on_batch(faces), atol=0.1)
    assert model.predict_on_batch(faces[:0]).shape == (0, 7)
    with pytest.raises(NotAModelError, match="is a LiteRT model; the keras runtime needs a .keras model"):
        load_model(str(shipped_litert), runtime="keras")


def test_many_threads_share_one_interpreter_one_call_at_a_time(shipped_litert):
    """A camera thread and server requests may share the model: without its lock, calls with different
    batch sizes resize the interpreter's tensors under each other."""
    model = LiteRTEmotionModel(shipped_litert)
    batches = [np.random.default_rng(n).integers(0, 256, (1 + n % 5, 48, 48, 1), dtype=np.uint8) for n in range(40)]
    expected = [model.predict_on_batch(batch) for batch in batches]
    got, errors = [None] * len(batches), []

    def classify(start: int) -> None:
        try:
            for n in range(start, len(batches), 4):
                for _ in range(5):
                    got[n] = model.predict_on_batch(batches[n])
        except Exception as err:  # noqa: BLE001 - reported below
            errors.append(err)

    threads = [threading.Thread(target=classify, args=(start,)) for start in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    for want, have in zip(expected, got, strict=True):
        np.testing.assert_array_equal(have, want)


def test_a_served_model_can_hold_a_tflite_file(shipped_litert, tmp_path, astronaut_rgb):
    import base64
    import io

    from PIL import Image

    save_served_model(LiteRTEmotionModel(shipped_litert), {}, tmp_path / "served")
    assert (tmp_path / "served" / "artifacts" / "model.tflite").read_bytes() == shipped_litert.read_bytes()
    assert isinstance(load_served_artifact(tmp_path / "served"), LiteRTEmotionModel)
    buffer = io.BytesIO()
    Image.fromarray(astronaut_rgb).save(buffer, "JPEG")
    rows = mlflow.pyfunc.load_model(str(tmp_path / "served")).predict(
        pd.DataFrame({"image": [base64.b64encode(buffer.getvalue()).decode()]}))
    assert rows["status"].tolist() == ["ok"] and rows["emotion"].tolist() == ["happy"]


def test_deepfer_predict_runs_a_tflite_file_without_tensorflow(shipped_litert, tmp_path, astronaut_rgb):
    """As on a small board with only the inference dependencies: LiteRT runs the file, TensorFlow and
    Keras are never imported."""
    from PIL import Image

    Image.fromarray(astronaut_rgb).save(tmp_path / "astronaut.jpg")
    script = ("import sys\n"
              "from deepfer_kedro.inference.cli import main\n"
              f"code = main(['predict', {str(tmp_path / 'astronaut.jpg')!r}, '--model', {str(shipped_litert)!r}, "
              f"'-o', {str(tmp_path / 'rows.csv')!r}])\n"
              "assert code == 0, code\n"
              "print(sorted(m for m in ('tensorflow', 'keras', 'jax', 'torch') if m in sys.modules))\n")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.strip().splitlines()[-1] == "[]"
    assert f"Using the model file {shipped_litert}" in done.stderr
    assert ",happy," in (tmp_path / "rows.csv").read_text()


def test_deepfer_export_format_litert_writes_the_file_and_its_card(tiny_model_file, kaggle_zip, tmp_path):
    assert main(["export", "--model", str(tiny_model_file), "--format", "litert", "--out", str(tmp_path / "out"),
                 "--data", str(kaggle_zip), "--calibration-faces", "8"]) == 0
    card = json.loads((tmp_path / "out" / "card.json").read_text())
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["card.json", "deepfer.tflite"]
    assert card["sha256"] == sha256(tmp_path / "out" / "deepfer.tflite")
    assert "--format litert" in card["command"] and "--recheck-margin" not in card["command"]
    assert "--calibration-faces" not in card["command"]
    assert card["source_model"]["sha256"] == sha256(tiny_model_file)
    faces = np.random.default_rng(0).integers(0, 256, (4, 48, 48, 1), dtype=np.uint8)
    assert LiteRTEmotionModel(tmp_path / "out" / "deepfer.tflite").predict_on_batch(faces).shape == (4, 7)


def test_the_readme_block_runs_the_tflite_file_with_litert_and_opencv_alone(shipped_litert, tmp_path,
                                                                            astronaut_rgb):
    import cv2

    from deepfer_kedro.core.config import PROJECT_ROOT

    readme = (PROJECT_ROOT / "README.md").read_text()
    block = readme.split("### The `.tflite` file on its own")[1].split("```python\n")[1].split("```")[0]
    (tmp_path / "deepfer.tflite").write_bytes(shipped_litert.read_bytes())
    cv2.imwrite(str(tmp_path / "photo.jpg"), cv2.cvtColor(astronaut_rgb, cv2.COLOR_RGB2BGR))
    script = block + ("import sys\nprint(sorted(m for m in ('deepfer_kedro', 'tensorflow', 'keras', 'onnxruntime') "
                      "if m in sys.modules))\n")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    face, imported = done.stdout.strip().splitlines()
    x, y, w, h, emotion, confidence = face.split()
    assert abs(int(x) - 177) < 10 and abs(int(y) - 67) < 10 and emotion == "happy" and float(confidence) > 0.5
    assert imported == "[]"
    # in poor light the block stretches the face as deepfer does: a dark photo's crop reaches FER2013's range
    (tmp_path / "dark").mkdir()
    (tmp_path / "dark" / "deepfer.tflite").write_bytes(shipped_litert.read_bytes())
    cv2.imwrite(str(tmp_path / "dark" / "photo.jpg"), cv2.cvtColor((astronaut_rgb * 0.2).astype("uint8"),
                                                                    cv2.COLOR_RGB2BGR))
    done = subprocess.run([sys.executable, "-c", block + "print(face.min(), face.max())\n"], capture_output=True,
                          text=True, timeout=120, cwd=tmp_path / "dark")
    assert done.returncode == 0, done.stderr[-3000:]
    face, darkest_brightest = done.stdout.strip().splitlines()
    assert face.split()[4] == "happy" and int(darkest_brightest.split()[1]) > 200


def test_the_export_under_another_keras_backend_stops_at_once_and_names_the_fix(tiny_model_file, tmp_path):
    """Training may run on JAX (conf/sota on a GPU); Keras exports LiteRT only from TensorFlow."""
    import os

    done = subprocess.run([sys.executable, "-m", "deepfer_kedro.inference.cli", "export", "--model",
                           str(tiny_model_file), "--format", "litert", "--out", str(tmp_path / "out"), "--data",
                           str(tmp_path / "no_data")], capture_output=True, text=True, timeout=180, cwd=tmp_path,
                          env={**os.environ, "KERAS_BACKEND": "jax"})
    assert done.returncode == 2, done.stderr[-3000:]
    assert "needs Keras' TensorFlow backend (this process uses jax)" in done.stderr
    assert "KERAS_BACKEND=tensorflow" in done.stderr and "no_data" not in done.stderr
    assert not (tmp_path / "out").exists()
