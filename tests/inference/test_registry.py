"""The MLflow Model Registry on the embedded store: each logged model is a version of ``deepfer``,
and ``champion`` follows the best PublicTest score; ``models:/deepfer@champion`` loads and serves."""


import mlflow
import numpy as np
import pytest
from mlflow import MlflowClient

from deepfer_kedro.core.export import OnnxEmotionModel
from deepfer_kedro.datasets.served_model import MlflowServedModelDataset
from deepfer_kedro.inference.loading import load_keras_model, load_model
from deepfer_kedro.inference.registry import CHAMPION, SCORE_TAG
from deepfer_kedro.inference.serving import ServedModel
from tests.conftest import stop_group
from tests.inference.test_serving import _image_b64, mlflow_models_serve, post


@pytest.fixture(scope="module")
def store(tmp_path_factory, tiny_model_file):
    """An embedded SQLite store where three training runs registered their models, with PublicTest
    scores 0.50, 0.40 and 0.60, in that order; the champion after each run is recorded."""
    folder = tmp_path_factory.mktemp("registry")
    uri = f"sqlite:///{folder / 'mlflow.db'}"
    mlflow.set_tracking_uri(uri)
    mlflow.set_experiment("registry-test")
    onnx = OnnxEmotionModel.from_keras(load_keras_model(tiny_model_file))
    dataset = MlflowServedModelDataset(name="served_model", registered_model_name="deepfer")
    champions = []
    for score in (0.50, 0.40, 0.60):
        with mlflow.start_run():
            dataset.save(ServedModel(onnx, {}, publictest_accuracy=score))
        champions.append(str(MlflowClient().get_model_version_by_alias("deepfer", CHAMPION).version))
    yield uri, champions
    mlflow.set_tracking_uri(None)


def test_champion_moves_only_to_a_better_publictest_score(store):
    uri, champions = store
    assert champions == ["1", "1", "3"]
    client = MlflowClient(uri)
    scores = {str(v.version): v.tags[SCORE_TAG] for v in client.search_model_versions("name='deepfer'")}
    assert scores == {"1": "0.500000", "2": "0.400000", "3": "0.600000"}


def test_deepfer_loads_the_champion(store):
    model = load_model("models:/deepfer@champion", runtime="onnx")
    faces = np.random.default_rng(0).integers(0, 256, (3, 48, 48, 1), dtype=np.uint8)
    assert isinstance(model, OnnxEmotionModel) and model.predict_on_batch(faces).shape == (3, 7)


@pytest.mark.slow
def test_mlflow_models_serve_serves_the_champion(store, astronaut_rgb):
    uri, _ = store
    server, port = mlflow_models_serve("models:/deepfer@champion", MLFLOW_TRACKING_URI=uri)
    try:
        status, text = post(port, {"dataframe_split": {"columns": ["image"], "data": [[_image_b64(astronaut_rgb)]]}})
    finally:
        stop_group(server)
    assert status == 200 and '"status": "ok"' in text


def test_two_runs_finishing_together_leave_the_champion_on_the_better(tmp_path, tiny_model_file):
    # on a shared server: run A (0.70) tags its version and reads, then run B (0.65) tags and reads;
    # comparing with the champion alone, B saw A's alias not yet set and took it last
    from deepfer_kedro.inference import registry

    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    client = MlflowClient(uri)
    client.create_registered_model("deepfer")
    for _ in range(3):
        client.create_model_version("deepfer", source=str(tmp_path))
    registry.promote_if_better("deepfer", 1, 0.60, client)
    client.set_model_version_tag("deepfer", "2", SCORE_TAG, "0.700000")  # A has tagged, not yet moved the alias
    assert registry.promote_if_better("deepfer", 3, 0.65, client) is False  # B finishes meanwhile
    assert str(client.get_model_version_by_alias("deepfer", CHAMPION).version) == "2"
    assert registry.promote_if_better("deepfer", 2, 0.70, client) is True  # A goes on
    assert str(client.get_model_version_by_alias("deepfer", CHAMPION).version) == "2"
