"""The export node: the card's PublicTest score, which the registry's champion is chosen on, is
left out for a model that trained on PublicTest."""

import keras
import numpy as np
import pandas as pd
import pytest

from deepfer_kedro.labels import EMOTIONS
from deepfer_kedro.pipelines.export.nodes import export_card_metrics_for_mlflow, export_fast_model


@pytest.mark.parametrize("final_fit", [False, True])
def test_a_model_trained_on_publictest_gets_no_publictest_score(tiny_model_file, final_fit):
    model = keras.saving.load_model(tiny_model_file, safe_mode=True)
    rng = np.random.default_rng(0)
    splits = np.repeat(["train", "val", "test"], 21)
    faces = rng.integers(0, 256, (len(splits), 48, 48)).astype(np.uint8)
    labels = np.tile(np.arange(len(EMOTIONS)), 9)
    index = pd.DataFrame({"label": labels, "split": splits, "emotion": [EMOTIONS[i] for i in labels]})
    exported, card = export_fast_model(model, faces, index, {"precision": "float32", "calibration_faces": 8}, 0,
                                       {"final_fit_on_val": final_fit})
    assert card["privatetest"]["faces"] == 21
    if final_fit:
        assert card["publictest"] is None and exported.publictest_accuracy is None
        assert not hasattr(exported, "calibration_temperature")  # none fitted on faces it trained on
    else:
        assert card["publictest"]["faces"] == 21 and exported.publictest_accuracy is not None
        # the temperature fitted on PublicTest, in the card and in the file itself
        assert exported.calibration_temperature == card["publictest"]["temperature"] > 0
    metrics = {name: value["value"] for name, value in export_card_metrics_for_mlflow(card).items()}
    assert metrics["exported_test_accuracy"] == card["privatetest"]["exported"]["top1"]
    assert metrics["exported_megabytes"] == card["bytes"] / 1e6
    # MLflow gets PublicTest numbers only for a model that was not trained on PublicTest
    assert ("exported_val_accuracy" in metrics) == ("exported_temperature" in metrics) == (not final_fit)
    assert 0 <= metrics["exported_test_expected_calibration_error"] <= 1
    assert ("exported_test_expected_calibration_error_at_temperature" in metrics) == (not final_fit)
    if not final_fit:
        assert metrics["exported_temperature"] == card["publictest"]["temperature"]
