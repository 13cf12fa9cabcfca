"""The served model: `mlflow models serve` on localhost answers real images."""

import base64
import io
import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import cv2
import mlflow
import numpy as np
import pandas as pd
import pytest
from PIL import Image

from deepfer_kedro import default_model
from deepfer_kedro.inference.loading import load_keras_model
from deepfer_kedro.inference.serving import save_served_model
from deepfer_kedro.labels import EMOTIONS
from tests.conftest import stop_group


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def served_model_dir(tiny_model_file, tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("served") / "served_model"
    save_served_model(load_keras_model(tiny_model_file), {}, path)
    return path


def _image_b64(array, fmt="JPEG") -> str:
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, fmt)
    return base64.b64encode(buffer.getvalue()).decode()


def test_pyfunc_model_loads_and_predicts_in_process(served_model_dir, astronaut_rgb):
    model = mlflow.pyfunc.load_model(str(served_model_dir))
    import pandas as pd

    rows = model.predict(pd.DataFrame({"image": [_image_b64(astronaut_rgb)]}))
    assert rows["status"].tolist() == ["ok"]
    assert abs(rows[[f"p_{e}" for e in EMOTIONS]].sum(axis=1).iloc[0] - 1) < 1e-5


def post(port: int, body: dict) -> tuple[int, str]:
    request = urllib.request.Request(f"http://127.0.0.1:{port}/invocations", data=json.dumps(body).encode(),
                                     headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=60) as answer:
            return answer.status, answer.read().decode()
    except urllib.error.HTTPError as err:
        return err.code, err.read().decode()


def mlflow_models_serve(model_uri: str, **env: str) -> tuple[subprocess.Popen, int]:
    """`mlflow models serve -m model_uri` on a free loopback port, once it answers /ping; stop it
    with ``stop_group``."""
    port = free_port()
    env = {**os.environ, **env, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    server = subprocess.Popen([sys.executable, "-m", "mlflow", "models", "serve", "-m", model_uri,
                               "--env-manager", "local", "--host", "127.0.0.1", "-p", str(port)],
                              env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                              start_new_session=True)
    deadline = time.monotonic() + 120
    while True:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/ping", timeout=2)
            return server, port
        except OSError:
            if server.poll() is not None or time.monotonic() > deadline:
                stop_group(server)
                raise AssertionError(f"the server did not start in 120 s: {server.stdout.read()[-3000:]}") from None
            time.sleep(1)


def reject_constant(name: str):
    raise ValueError(f"{name} is not JSON")


@pytest.mark.slow
def test_mlflow_models_serve_answers_over_rest(served_model_dir, astronaut_rgb):
    server, port = mlflow_models_serve(str(served_model_dir))
    try:
        blank = _image_b64(astronaut_rgb[:60, :60] * 0 + 128, "PNG")
        bomb = _image_b64(np.zeros((12_000, 12_000), np.uint8), "PNG")  # ~450 KB, 144 megapixels
        body = {"dataframe_split": {"columns": ["image", "name"],
                                    "data": [[_image_b64(astronaut_rgb), "astronaut.jpg"], [blank, "blank.png"],
                                             ["bm90IGFuIGltYWdl", "broken"], [bomb, "bomb.png"],
                                             [_image_b64(astronaut_rgb, "HEIF"), "IMG_0001.HEIC"]]}}
        status, text = post(port, body)
        wrong_status, wrong_text = post(port, {"dataframe_split": {"columns": ["img"], "data": [[blank]]}})
        one_face = {"dataframe_split": {"columns": ["image"], "data": [[_image_b64(astronaut_rgb)]]}}
        with ThreadPoolExecutor(50) as pool:  # MLflow calls the model from several threads at once
            together = list(pool.map(lambda _: post(port, one_face), range(50)))
    finally:
        stop_group(server)
    assert status == 200
    answer = json.loads(text, parse_constant=reject_constant)["predictions"]  # strict JSON: no NaN
    assert [row["status"] for row in answer] == ["ok", "no_face", "unreadable", "unreadable", "ok"]  # HEIC: an iPhone's
    assert answer[0]["message"] is None
    assert "bomb.png: 12000x12000 pixels, over the limit" in answer[3]["message"]
    assert all(code == 200 and json.loads(text)["predictions"][0]["status"] == "ok" for code, text in together)
    assert 400 <= wrong_status < 500 and "needs an 'image' column" in wrong_text
    assert "Traceback" not in wrong_text and "stack_trace" not in wrong_text and ".py" not in wrong_text, wrong_text
    face = answer[0]
    assert face["emotion"] in EMOTIONS and 170 < face["x"] + face["w"] / 2 < 280
    assert abs(sum(face[f"p_{e}"] for e in EMOTIONS) - 1) < 1e-5


def test_frames_of_one_stream_are_followed_and_smoothed(tiny_model_file, astronaut_rgb):
    """A camera page posts its frames with one stream id: each face keeps its number and its emotion is
    averaged over the frames, as in `deepfer predict` on a video; other posts are left alone."""
    import pandas as pd

    from deepfer_kedro.inference.serving import MAX_STREAMS, EmotionModel

    served = EmotionModel().use(load_keras_model(tiny_model_file), {"video_smoothing": 0.7})
    columns = [f"p_{e}" for e in EMOTIONS]
    first, second = _image_b64(astronaut_rgb), _image_b64(astronaut_rgb[:, :, ::-1].copy())  # colours swapped

    def probabilities(image, **extra):
        rows = served.predict(None, pd.DataFrame({"image": [image], **{k: [v] for k, v in extra.items()}}))
        assert rows["status"].tolist() == ["ok"]
        return rows[columns].to_numpy(float)[0], rows["face"].item()

    (raw_first, _), (raw_second, _) = probabilities(first), probabilities(second)
    assert np.abs(raw_first - raw_second).max() > 1e-3  # two different frames
    probabilities(first, stream="camera-1")
    smoothed, face = probabilities(second, stream="camera-1")
    np.testing.assert_allclose(smoothed, 0.7 * raw_first + 0.3 * raw_second, atol=1e-5)
    assert face == 0
    np.testing.assert_allclose(probabilities(second, stream="camera-2")[0], raw_second, atol=1e-6)  # a new stream
    for n in range(MAX_STREAMS + 5):  # ids from outside cannot grow the memory without bound
        probabilities(first, stream=f"flood-{n}")
    assert len(served._streams) == MAX_STREAMS and "camera-1" not in served._streams


def test_the_served_model_keeps_the_settings_that_shape_its_answers():
    """What the conf says about cropping and turning faces reaches the served model; the pipeline's own
    settings (annotated copies) do not."""
    from deepfer_kedro.inference.serving import served_settings

    kept = served_settings({"align_faces": False, "align_min_roll": 7, "margin": 0.05, "annotate": True})
    assert kept["align_faces"] is False and kept["align_min_roll"] == 7 and kept["margin"] == 0.05
    assert "annotate" not in kept and "temperature" not in kept  # a model of one's own: unscaled
    assert served_settings({"temperature": 1.3})["temperature"] == 1.3


def test_a_served_shipped_model_keeps_its_temperature(astronaut_rgb, tmp_path):
    """The shipped model's temperature is not in its file: saving it as a served model writes it into
    the model's settings, and the served answers are the predictor's, scaled by it."""
    from deepfer_kedro.inference.loading import load_default_model
    from deepfer_kedro.inference.predict import EmotionPredictor

    shipped = load_default_model("onnx")
    path = save_served_model(shipped, {"temperature": None}, tmp_path / "served")
    served = mlflow.pyfunc.load_model(str(path))
    assert served.model_config["temperature"] == default_model.temperature("onnx") > 1.05
    [row] = served.predict(pd.DataFrame({"image": [_image_b64(astronaut_rgb, "PNG")]})).to_dict("records")
    [face] = EmotionPredictor(shipped).predict_frame(cv2.cvtColor(astronaut_rgb, cv2.COLOR_RGB2BGR))
    assert row["emotion"] == face.emotion and row["confidence"] == pytest.approx(face.probabilities.max(), abs=1e-3)
    [unscaled] = EmotionPredictor(shipped, {"temperature": 1}).predict_frame(
        cv2.cvtColor(astronaut_rgb, cv2.COLOR_RGB2BGR))
    assert unscaled.probabilities.max() > row["confidence"] + 1e-4
