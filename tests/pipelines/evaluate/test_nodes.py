import keras
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import accuracy_score, f1_score, roc_auc_score

from deepfer_kedro.labels import EMOTIONS
from deepfer_kedro.pipelines.evaluate.nodes import (
    PROBABILITY_COLUMNS,
    compute_evaluation_metrics,
    evaluation_metrics_for_mlflow,
    format_metrics_table,
    plot_confusion_matrix,
    plot_reliability_diagram,
    predict_emotions,
    predict_emotions_ensemble,
    tta_views,
)

EVALUATION = {"split": "test", "max_images_per_class": None, "seed": 0, "batch_size": 8,
              "tta": {"flip": False, "shift_pixels": 0}}


def predictions_table(seed=0, n=70):
    rng = np.random.default_rng(seed)
    probabilities = rng.dirichlet(np.ones(7), size=n)
    true = np.arange(n) % 7
    probabilities[true == 3, 3] += 2  # make "happy" easy
    probabilities /= probabilities.sum(axis=1, keepdims=True)
    table = pd.DataFrame(probabilities, columns=PROBABILITY_COLUMNS)
    table.insert(0, "source", [f"s{i}" for i in range(n)])
    table.insert(1, "split", "test")
    table.insert(2, "true_emotion", [EMOTIONS[i] for i in true])
    table.insert(3, "predicted_emotion", [EMOTIONS[i] for i in probabilities.argmax(1)])
    return table, true, probabilities


def test_metrics_match_scikit_learn():
    table, true, probabilities = predictions_table()
    metrics = compute_evaluation_metrics(table)
    predicted = probabilities.argmax(1)
    assert metrics["accuracy"] == pytest.approx(accuracy_score(true, predicted))
    assert metrics["macro_f1"] == pytest.approx(f1_score(true, predicted, average="macro"))
    assert metrics["weighted_f1"] == pytest.approx(f1_score(true, predicted, average="weighted"))
    assert metrics["auc_ovr"] == pytest.approx(roc_auc_score(true, probabilities, multi_class="ovr"))
    assert metrics["loss"] == pytest.approx(-np.mean(np.log(probabilities[np.arange(70), true])))
    assert metrics["per_class"]["happy"]["recall"] == 1.0
    assert metrics["images"] == 70 and metrics["split"] == "test"


def test_mlflow_names_and_report():
    metrics = compute_evaluation_metrics(predictions_table()[0])
    flat = evaluation_metrics_for_mlflow(metrics)
    assert flat["test_accuracy"] == {"value": metrics["accuracy"], "step": 0}
    assert flat["test_recall_disgust"]["value"] == metrics["per_class"]["disgust"]["recall"]
    report = format_metrics_table(metrics)
    assert f"| accuracy | {metrics['accuracy']:.4f} |" in report and "| disgust |" in report


def test_tta_views():
    images = np.arange(2 * 48 * 48).reshape(2, 48, 48, 1)
    assert len(tta_views(images)) == 1
    flipped = tta_views(images, flip=True)
    np.testing.assert_array_equal(flipped[1], images[:, :, ::-1])
    ten = tta_views(images, flip=True, shift_pixels=2)
    assert len(ten) == 10 and all(v.shape == images.shape for v in ten)
    np.testing.assert_array_equal(ten[1][:, 2:, 2:], images[:, :-2, :-2])  # shifted down-right


def _tiny_model(seed):
    keras.utils.set_random_seed(seed)
    inputs = keras.Input((48, 48, 1))
    x = keras.layers.Flatten()(keras.layers.Rescaling(1 / 255)(inputs))
    return keras.Model(inputs, keras.layers.Dense(7, activation="softmax")(x))


def _faces():
    rng = np.random.default_rng(0)
    index = pd.DataFrame({"source": [f"s{i}" for i in range(28)], "label": np.arange(28) % 7,
                          "split": ["train"] * 14 + ["test"] * 14})
    index["emotion"] = [EMOTIONS[i] for i in index["label"]]
    return rng.integers(0, 256, (28, 48, 48), dtype=np.uint8), index


def test_predictions_table_is_one_row_per_test_face():
    faces, index = _faces()
    model = _tiny_model(0)
    table = predict_emotions(model, faces, index, EVALUATION)
    assert table["source"].tolist() == [f"s{i}" for i in range(14, 28)]
    expected = model.predict(faces[14:, ..., None], verbose=0)
    np.testing.assert_allclose(table[PROBABILITY_COLUMNS].to_numpy(), expected, rtol=1e-5)
    assert (table["predicted_emotion"] == [EMOTIONS[i] for i in expected.argmax(1)]).all()
    assert table["true_emotion"].tolist() == [EMOTIONS[i] for i in np.arange(14, 28) % 7]


def test_tta_and_ensemble_average_probabilities():
    faces, index = _faces()
    first, second = _tiny_model(0), _tiny_model(1)
    x = faces[14:, ..., None]
    flip = {**EVALUATION, "tta": {"flip": True, "shift_pixels": 0}}
    table = predict_emotions_ensemble({"a": first, "b": lambda: second}, faces, index, flip)
    expected = np.mean([m.predict(v, verbose=0) for m in (first, second) for v in (x, x[:, :, ::-1])], axis=0)
    np.testing.assert_allclose(table[PROBABILITY_COLUMNS].to_numpy(), expected, rtol=1e-5)
    only_a = predict_emotions_ensemble({"a": first, "b": second}, faces, index, {**EVALUATION, "ensemble": ["a"]})
    np.testing.assert_allclose(only_a[PROBABILITY_COLUMNS].to_numpy(), first.predict(x, verbose=0), rtol=1e-5)
    with pytest.raises(ValueError, match="'c'"):
        predict_emotions_ensemble({"a": first}, faces, index, {**EVALUATION, "ensemble": ["c"]})
    # names in one string, as `kedro run --params "evaluation.ensemble=a b"` passes them
    named = predict_emotions_ensemble({"a": first, "b": second, "c": _tiny_model(2)}, faces, index,
                                      {**flip, "ensemble": " a  b "})
    np.testing.assert_allclose(named[PROBABILITY_COLUMNS].to_numpy(), expected, rtol=1e-5)
    with pytest.raises(ValueError, match=r"\['ab'\]"):
        predict_emotions_ensemble({"a": first}, faces, index, {**EVALUATION, "ensemble": "ab"})


def test_confusion_matrix_counts_and_normalised():
    table, true, probabilities = predictions_table()
    fig = plot_confusion_matrix(table)
    counts, shares = (ax.images[0].get_array() for ax in fig.axes[:2])
    assert counts.sum() == 70
    assert counts[3, 3] == 10  # every happy face predicted happy
    np.testing.assert_allclose(np.asarray(shares).sum(axis=1), 1)
    assert np.trace(counts) / 70 == pytest.approx(compute_evaluation_metrics(table)["accuracy"])
    plt.close(fig)


def test_accuracy_without_test_images_duplicated_in_train():
    table, true, probabilities = predictions_table()
    predicted = probabilities.argmax(1)
    wrong = [i for i in range(70) if predicted[i] != true[i]][:3]
    report = {"duplicates": {"leakage_train_test": [["train/x.jpg", f"s{i}"] for i in wrong]}}
    metrics = compute_evaluation_metrics(table, report)
    keep = np.setdiff1d(np.arange(70), wrong)
    assert metrics["train_duplicates"]["images"] == 3
    expected = accuracy_score(true[keep], predicted[keep])
    assert metrics["train_duplicates"]["accuracy_without_them"] == pytest.approx(expected)
    assert "3 of these images have an exact duplicate" in format_metrics_table(metrics)
    assert "test_accuracy_without_train_duplicates" in evaluation_metrics_for_mlflow(metrics)
    # after a final fit on train + val, test images duplicated in val were trained on too
    report["duplicates"]["leakage_val_test"] = [["val/y.jpg", f"s{i}"] for i in wrong[:1] + [keep[0]]]
    assert compute_evaluation_metrics(table, report)["train_duplicates"]["images"] == 3
    final = compute_evaluation_metrics(table, report, {"final_fit_on_val": True})
    assert final["train_duplicates"]["images"] == 4 and final["train_duplicates"]["trained_on"] == ["train", "val"]
    assert "in the train and val split(s) trained on" in format_metrics_table(final)


def test_accuracy_without_test_images_near_duplicated_in_train():
    table, true, probabilities = predictions_table()
    predicted = probabilities.argmax(1)
    wrong = [i for i in range(70) if predicted[i] != true[i]][:2]
    right = [i for i in range(70) if predicted[i] == true[i]][:3]
    report = {"duplicates": {"leakage_train_test": [["train/x.jpg", f"s{wrong[0]}"]]},
              "near_duplicates": {"max_distance_bits": 6, "train_val": [],
                                  "train_test": [[f"s{i}", "train/x.jpg", 4] for i in wrong + right],
                                  "val_test": [[f"s{right[0]}", "val/y.jpg", 2], ["s69", "val/z.jpg", 0]]}}
    near = compute_evaluation_metrics(table, report)["train_near_duplicates"]
    keep = np.setdiff1d(np.arange(70), wrong + right)
    assert near == {"trained_on": ["train"], "max_distance_bits": 6, "images": 5,
                    "accuracy_without_them": pytest.approx(accuracy_score(true[keep], predicted[keep]))}
    metrics = compute_evaluation_metrics(table, report)
    assert "5 have a near duplicate there (perceptual hash within 6 bits" in format_metrics_table(metrics)
    assert "test_accuracy_without_train_near_duplicates" in evaluation_metrics_for_mlflow(metrics)
    final = compute_evaluation_metrics(table, report, {"final_fit_on_val": True})["train_near_duplicates"]
    assert final["images"] == 6 and final["trained_on"] == ["train", "val"]
    del report["near_duplicates"]  # a report saved before near duplicates were counted
    assert "train_near_duplicates" not in compute_evaluation_metrics(table, report)


def test_evaluate_ignores_the_ensemble_list_of_evaluate_ensemble():
    faces, index = _faces()
    model = _tiny_model(0)
    alone = predict_emotions(model, faces, index, EVALUATION)
    with_list = predict_emotions(model, faces, index, {**EVALUATION, "ensemble": ["2026-01-01/trained_model"]})
    np.testing.assert_allclose(with_list[PROBABILITY_COLUMNS].to_numpy(), alone[PROBABILITY_COLUMNS].to_numpy())


def test_calibration_error_is_the_gap_between_confidence_and_accuracy():
    from deepfer_kedro.core.evaluation import calibration

    labels = np.arange(100) % 7
    sure = np.full((100, 7), 0.1 / 6)
    sure[np.arange(100), labels] = 0.9  # 90% confident and right on every face
    assert calibration(sure, labels)["expected_calibration_error"] == pytest.approx(0.1)
    wrong = np.roll(sure, 1, axis=1)  # the same confidence, always wrong on the first 40
    mixed = np.concatenate([wrong[:40], sure[40:]])
    result = calibration(mixed, labels)
    assert result["bins"] == [{"low": 13 / 15, "high": 14 / 15, "faces": 100, "mean_confidence": pytest.approx(0.9),
                               "accuracy": 0.6}]
    assert result["expected_calibration_error"] == pytest.approx(0.3)
    # two bins: the error is each bin's gap weighted by its faces
    half = np.concatenate([sure[:50], np.full((50, 7), 1 / 7)])
    assert calibration(half, labels)["expected_calibration_error"] == pytest.approx(
        0.5 * 0.1 + 0.5 * abs(np.mean(labels[50:] == 0) - 1 / 7))


def test_metrics_and_reliability_diagram_carry_the_calibration():
    table, true, probabilities = predictions_table()
    metrics = compute_evaluation_metrics(table)
    confidence, correct = probabilities.max(1), probabilities.argmax(1) == true
    assert metrics["mean_confidence"] == pytest.approx(confidence.mean())
    assert sum(b["faces"] for b in metrics["calibration_bins"]) == 70  # each bin's numbers, kept with the metrics
    assert "| expected_calibration_error |" in format_metrics_table(metrics)
    assert "test_expected_calibration_error" in evaluation_metrics_for_mlflow(metrics)
    fig = plot_reliability_diagram(table)
    bars = fig.axes[0].patches
    for bar in bars:  # each bar: the accuracy of the faces whose confidence falls in it
        inside = (confidence >= bar.get_x()) & (confidence < bar.get_x() + bar.get_width())
        assert bar.get_height() == pytest.approx(correct[inside].mean())
    assert sum(bar.get_height() for bar in fig.axes[1].patches) == 70
    plt.close(fig)


def test_the_temperature_is_fitted_on_the_val_predictions_unless_the_model_was_trained_on_them():
    from deepfer_kedro.core.evaluation import calibration, fit_temperature, with_temperature

    table, true, probabilities = predictions_table(seed=1)
    overconfident = with_temperature(probabilities, 0.4)  # sharper than the accuracy warrants
    val = table.assign(split="val")
    val[PROBABILITY_COLUMNS] = overconfident
    test, test_true, test_probabilities = predictions_table(seed=2)
    test[PROBABILITY_COLUMNS] = with_temperature(test_probabilities, 0.4)
    metrics = compute_evaluation_metrics(test, val_predictions=val)
    fitted = fit_temperature(overconfident, true)
    assert fitted > 1.5 and metrics["temperature"] == pytest.approx(fitted)  # fitted on val, not on test
    assert metrics["temperature"] != pytest.approx(fit_temperature(test[PROBABILITY_COLUMNS].to_numpy(), test_true))
    assert metrics["expected_calibration_error_at_temperature"] == pytest.approx(
        calibration(with_temperature(test[PROBABILITY_COLUMNS].to_numpy(), fitted), test_true)
        ["expected_calibration_error"])
    assert metrics["expected_calibration_error_at_temperature"] < metrics["expected_calibration_error"]
    val_top1 = accuracy_score(true, overconfident.argmax(1))
    selection = metrics["selection"]
    assert {k: selection[k] for k in ("split", "images", "trained_on_it")} == {"split": "val", "images": 70,
                                                                               "trained_on_it": False}
    assert selection["top1"] == pytest.approx(val_top1, abs=1e-4)
    assert selection["macro_f1"] == pytest.approx(f1_score(true, overconfident.argmax(1), average="macro"), abs=1e-4)
    assert selection["recall"]["happy"] == 1.0
    flat = evaluation_metrics_for_mlflow(metrics)
    assert flat["test_temperature"]["value"] == metrics["temperature"]
    assert flat["selection_val_accuracy"]["value"] == pytest.approx(val_top1, abs=1e-4)
    assert "val_accuracy" not in flat  # training logs that name per epoch in the same MLflow run
    report = format_metrics_table(metrics)
    assert "| temperature |" in report and f"top-1 {val_top1:.4f}" in report
    # a final fit on train + val: val cannot calibrate it, nor choose by it
    final = compute_evaluation_metrics(test, training={"final_fit_on_val": True}, val_predictions=val)
    assert "temperature" not in final and "expected_calibration_error_at_temperature" not in final
    assert final["selection"]["trained_on_it"] and "selection_val_accuracy" not in evaluation_metrics_for_mlflow(final)
    assert "(trained on it: a final fit)" in format_metrics_table(final)
    assert final["accuracy"] == metrics["accuracy"]
