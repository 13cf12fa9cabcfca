"""Evaluation on one split (PrivateTest by default): predictions, metrics, plots.

Nothing here selects anything: the model arrives already chosen on the val split. The val split
(PublicTest) is predicted too, to fit the temperature that calibrates the confidences and to
report the numbers that models and ensembles are chosen by.
"""

from __future__ import annotations

import logging
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from sklearn.metrics import (
    ConfusionMatrixDisplay,
    accuracy_score,
    f1_score,
    log_loss,
    precision_recall_fscore_support,
    roc_auc_score,
)

from deepfer_kedro.core.data import split_rows
from deepfer_kedro.core.evaluation import (
    average_probabilities,
    calibration,
    calibration_at_temperature,
    fit_temperature,
    scores,
    tta_views,
)
from deepfer_kedro.labels import EMOTIONS, NUM_CLASSES, PROBABILITY_COLUMNS

logger = logging.getLogger(__name__)
__all__ = ["average_probabilities", "tta_views"]  # re-exported for notebooks


def _prediction_table(image_index: pd.DataFrame, rows: np.ndarray, labels: np.ndarray,
                      probabilities: np.ndarray) -> pd.DataFrame:
    table = image_index.iloc[rows][["source", "split"]].reset_index(drop=True)
    table["true_emotion"] = [EMOTIONS[i] for i in labels]
    table["predicted_emotion"] = [EMOTIONS[i] for i in probabilities.argmax(axis=1)]
    table["confidence"] = probabilities.max(axis=1)
    table[PROBABILITY_COLUMNS] = probabilities
    return table


def predict_emotions(trained_model: Any, face_pixels: np.ndarray,
                     image_index: pd.DataFrame, evaluation: dict[str, Any]) -> pd.DataFrame:
    """One row per face of ``evaluation['split']`` for ``trained_model`` (a Keras model): true and
    predicted emotion, confidence and the 7 probabilities, with optional test-time augmentation
    (``tta.flip``, ``tta.shift_pixels``).
    ``evaluation.ensemble`` is for ``evaluate_ensemble`` and plays no part here."""
    return predict_emotions_ensemble({"model": trained_model}, face_pixels, image_index,
                                     {**evaluation, "ensemble": []})


def predict_emotions_ensemble(trained_models: dict[str, Any], face_pixels: np.ndarray,
                              image_index: pd.DataFrame, evaluation: dict[str, Any]) -> pd.DataFrame:
    """Like ``predict_emotions`` with the probabilities averaged over several models.

    ``trained_models`` maps names to models or to functions that load one (a Kedro
    ``PartitionedDataset``); ``evaluation['ensemble']`` may list the names to use (a list, or one
    string of names separated by spaces: Kedro's ``--params`` splits a list's commas), otherwise
    all are used."""
    wanted = evaluation.get("ensemble") or sorted(trained_models)
    if isinstance(wanted, str):
        wanted = wanted.split()
    unknown = sorted(set(wanted) - set(trained_models))
    if unknown:
        raise ValueError(f"Models {unknown} are not among the saved ones: {sorted(trained_models)}")
    import keras  # here, not at the top: `kedro viz` imports every node module

    models = [m() if callable(m) and not isinstance(m, keras.Model) else m
              for m in (trained_models[name] for name in wanted)]
    rows = split_rows(image_index, evaluation["split"], evaluation.get("max_images_per_class"),
                      evaluation["seed"])
    images = face_pixels[rows][..., None]
    labels = image_index["label"].to_numpy()[rows]
    tta = evaluation.get("tta") or {}
    probabilities = average_probabilities(models, images, bool(tta.get("flip")),
                                          int(tta.get("shift_pixels", 0)),
                                          int(evaluation.get("batch_size", 256)))
    return _prediction_table(image_index, rows, labels, probabilities)


def on_val_split(evaluation: dict[str, Any]) -> dict[str, Any]:
    """The evaluation settings (TTA, batch size, subset) with the split set to val (PublicTest)."""
    return {**evaluation, "split": "val"}


def probabilities_and_labels(predictions: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """A prediction table's probabilities (each row summing to 1 again after CSV rounding) and its
    true emotions as label numbers."""
    probabilities = predictions[PROBABILITY_COLUMNS].to_numpy()
    return (probabilities / probabilities.sum(axis=1, keepdims=True),
            predictions["true_emotion"].map(EMOTIONS.index).to_numpy())


def compute_evaluation_metrics(predictions: pd.DataFrame, data_quality_report: dict[str, Any] | None = None,
                               training: dict[str, Any] | None = None,
                               temperature: float | None = None,
                               val_predictions: pd.DataFrame | None = None) -> dict[str, Any]:
    """Loss, top-1 accuracy, macro and weighted F1, macro precision and recall, one-vs-rest AUC,
    per-class precision, recall and F1 (scikit-learn), and the calibration of the top-1 confidence
    (expected calibration error, mean confidence). With the data-quality report, also the
    accuracy on the evaluated images that have no exact duplicate, and on those that have no near
    duplicate, in the splits trained on: train, and val too after a final fit
    (``training.final_fit_on_val``). With a ``temperature`` (``fit_temperature`` on PublicTest), also
    the calibration error of the probabilities scaled by it; with ``val_predictions`` instead, the
    temperature is fitted on them, unless the model was trained on that split too, and their top-1,
    macro-F1 and recall per emotion are kept under ``selection`` (what to choose models and ensembles by)."""
    probabilities, y_true = probabilities_and_labels(predictions)
    trained_on_val = bool((training or {}).get("final_fit_on_val"))
    selection = {}
    if val_predictions is not None:
        val_probabilities, val_true = probabilities_and_labels(val_predictions)
        selection = {"split": "val", "images": int(len(val_true)), "trained_on_it": trained_on_val,
                     **scores(val_probabilities, val_true)}
        if trained_on_val:
            logger.info("No temperature: the model was trained on the val split too, so none is fitted on it")
        elif temperature is None:
            temperature = fit_temperature(val_probabilities, val_true)
    y_pred = probabilities.argmax(axis=1)
    labels = list(range(NUM_CLASSES))
    precision, recall, f1, support = precision_recall_fscore_support(
        y_true, y_pred, labels=labels, zero_division=0)
    present = sorted(set(y_true))
    auc = (roc_auc_score(y_true, probabilities[:, present] / probabilities[:, present].sum(1, keepdims=True),
                         multi_class="ovr", labels=present) if len(present) > 2 else float("nan"))
    metrics = {
        "split": str(predictions["split"].iloc[0]),
        "images": int(len(predictions)),
        "loss": float(log_loss(y_true, probabilities, labels=labels)),
        "accuracy": float(accuracy_score(y_true, y_pred)),
        "macro_f1": float(f1_score(y_true, y_pred, labels=labels, average="macro", zero_division=0)),
        "weighted_f1": float(f1_score(y_true, y_pred, labels=labels, average="weighted", zero_division=0)),
        "macro_precision": float(precision.mean()),
        "macro_recall": float(recall.mean()),
        "auc_ovr": float(auc),
        **{("calibration_bins" if k == "bins" else k): v for k, v in calibration(probabilities, y_true).items()},
        **calibration_at_temperature(probabilities, y_true, temperature),
        "per_class": {
            emotion: {"precision": float(p), "recall": float(r), "f1": float(f), "support": int(s)}
            for emotion, p, r, f, s in zip(EMOTIONS, precision, recall, f1, support, strict=True)
        },
    }
    if selection:
        metrics["selection"] = selection
    if data_quality_report is not None:
        split = metrics["split"]
        trained = ["train", "val"] if trained_on_val else ["train"]
        order = ["train", "val", "test"]  # the report's keys: leakage_train_test, leakage_val_test, ...
        split_pairs = ["_".join(sorted([t, split], key=order.index)) for t in trained if t != split]
        groups = [group for pair in split_pairs
                  for group in data_quality_report["duplicates"].get(f"leakage_{pair}", [])]
        leaked = predictions["source"].isin({source for group in groups for source in group}).to_numpy()
        metrics["train_duplicates"] = {
            "trained_on": trained,
            "images": int(leaked.sum()),
            "accuracy_without_them": float(accuracy_score(y_true[~leaked], y_pred[~leaked])),
        }
        near = data_quality_report.get("near_duplicates")  # reports from before 2026-12-01 have none
        if near is not None:
            near_sources = {image for pair in split_pairs for image, _, _ in near.get(pair, [])}
            close = predictions["source"].isin(near_sources).to_numpy()
            metrics["train_near_duplicates"] = {
                "trained_on": trained,
                "max_distance_bits": near["max_distance_bits"],
                "images": int(close.sum()),
                "accuracy_without_them": float(accuracy_score(y_true[~close], y_pred[~close])),
            }
    return metrics


def evaluation_metrics_for_mlflow(evaluation_metrics: dict[str, Any]) -> dict[str, dict[str, float]]:
    """Flat ``{split}_{metric}`` values (per-class recall and F1 too) for MLflow."""
    split = evaluation_metrics["split"]
    flat = {f"{split}_{k}": v for k, v in evaluation_metrics.items()
            if isinstance(v, float) and np.isfinite(v)}
    for kind in ("train_duplicates", "train_near_duplicates"):
        if kind in evaluation_metrics:
            flat[f"{split}_accuracy_without_{kind}"] = evaluation_metrics[kind]["accuracy_without_them"]
    selection = evaluation_metrics.get("selection")
    if selection and not selection["trained_on_it"]:  # not "val_accuracy": training logs that name per epoch
        flat["selection_val_accuracy"] = selection["top1"]
        flat["selection_val_macro_f1"] = selection["macro_f1"]
    for emotion, per_class in evaluation_metrics["per_class"].items():
        flat[f"{split}_recall_{emotion}"] = per_class["recall"]
        flat[f"{split}_f1_{emotion}"] = per_class["f1"]
    return {name: {"value": float(value), "step": 0} for name, value in flat.items()}


def format_metrics_table(evaluation_metrics: dict[str, Any]) -> str:
    """The metrics as a Markdown report."""
    m = evaluation_metrics
    lines = [
        f"# Evaluation on the {m['split']} split ({m['images']} images)", "",
        "| metric | value |", "|---|---|",
        *(f"| {name} | {m[name]:.4f} |" for name in
          ("accuracy", "macro_f1", "weighted_f1", "macro_precision", "macro_recall", "auc_ovr", "loss",
           "mean_confidence", "expected_calibration_error", "temperature",
           "expected_calibration_error_at_temperature") if name in m),
        "", "| emotion | precision | recall | F1 | images |", "|---|---|---|---|---|",
        *(f"| {e} | {s['precision']:.4f} | {s['recall']:.4f} | {s['f1']:.4f} | {s['support']} |"
          for e, s in m["per_class"].items()),
        "",
    ]
    if "selection" in m:
        v = m["selection"]
        lines += [f"On the val split, which chooses models and fits the temperature ({v['images']} images): top-1 "
                  f"{v['top1']:.4f}, macro-F1 {v['macro_f1']:.4f}"
                  + (" (trained on it: a final fit)." if v["trained_on_it"] else "."), ""]
    if "train_duplicates" in m:
        d = m["train_duplicates"]
        where = " and ".join(d.get("trained_on", ["train"]))
        lines += [f"{d['images']} of these images have an exact duplicate in the {where} split(s) trained on; "
                  f"without them top-1 accuracy is {d['accuracy_without_them']:.4f}."]
        if "train_near_duplicates" in m:
            n = m["train_near_duplicates"]
            lines += [f"{n['images']} have a near duplicate there (perceptual hash within {n['max_distance_bits']} "
                      f"bits, exact copies included); without them top-1 accuracy is {n['accuracy_without_them']:.4f}."]
        lines += [""]
    return "\n".join(lines)


def plot_confusion_matrix(predictions: pd.DataFrame) -> plt.Figure:
    """Confusion matrix as counts and row-normalised (recall per true emotion)."""
    fig, axes = plt.subplots(1, 2, figsize=(15, 6.5), layout="constrained")
    split = predictions["split"].iloc[0]
    for ax, normalize, title in ((axes[0], None, "counts"), (axes[1], "true", "share of each true emotion")):
        ConfusionMatrixDisplay.from_predictions(
            predictions["true_emotion"], predictions["predicted_emotion"], labels=list(EMOTIONS),
            normalize=normalize, ax=ax, colorbar=False, cmap="Blues",
            values_format="d" if normalize is None else ".2f")
        ax.set_title(f"{split}: {title}")
        ax.tick_params(axis="x", rotation=45)
    return fig


def plot_reliability_diagram(predictions: pd.DataFrame) -> plt.Figure:
    """Top-1 accuracy against top-1 confidence, in 15 bins: bars on the diagonal mean that a
    confidence of 80% is right 80% of the time; below it, the model is overconfident."""
    split = predictions["split"].iloc[0]
    result = calibration(*probabilities_and_labels(predictions))
    bins = pd.DataFrame(result["bins"])
    fig, (reliability, counts) = plt.subplots(2, 1, figsize=(6.5, 7.5), height_ratios=(3, 1), sharex=True,
                                              layout="constrained")
    width = bins["high"] - bins["low"]
    reliability.bar(bins["low"], bins["accuracy"], width=width, align="edge", edgecolor="black", label="accuracy")
    reliability.plot([0, 1], [0, 1], "--", color="gray", label="calibrated")
    reliability.plot(bins["mean_confidence"], bins["accuracy"], "o", color="tab:red", markersize=4,
                     label="at the bin's mean confidence")
    reliability.set(ylabel="top-1 accuracy", ylim=(0, 1), title=f"{split}: reliability\nexpected calibration error "
                    f"{result['expected_calibration_error']:.3f}, mean confidence {result['mean_confidence']:.3f}")
    reliability.legend(fontsize=8, loc="upper left")
    counts.bar(bins["low"], bins["faces"], width=width, align="edge", edgecolor="black", color="tab:gray")
    counts.set(xlabel="top-1 confidence", ylabel="faces", xlim=(0, 1))
    return fig
