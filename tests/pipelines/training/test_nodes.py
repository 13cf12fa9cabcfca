"""The training core: model wiring, weights options, class weights, checkpointing, seeds."""

import urllib.error

import keras
import numpy as np
import pandas as pd
import pytest

from deepfer_kedro import models
from deepfer_kedro.core.data import select_split, split_rows
from deepfer_kedro.core.training import accelerators
from deepfer_kedro.labels import EMOTIONS
from deepfer_kedro.pipelines.training.nodes import (
    history_metrics,
    plot_training_curves,
    train_model,
)

SMALL_NET = {"architecture": "vgg_fer", "base_filters": 8, "stages": 2, "convs_per_stage": 1,
             "dense_units": [16], "dropout": 0.1, "l2": 0.0}
TRAINING = {"optimizer": "adam", "learning_rate": 0.003, "batch_size": 16, "epochs": 4,
            "checkpoint": {"monitor": "val_accuracy", "mode": "max"},
            "reduce_lr": {"monitor": "val_loss", "factor": 0.5, "patience": 1},
            "early_stopping": {"monitor": "val_accuracy", "mode": "max", "patience": 10},
            "verbose": 0}
WEIGHTS = {e: 1.0 for e in EMOTIONS}


def learnable_faces(per_class=12, seed=0):
    """Each emotion is a bright horizontal band at its own height, plus noise."""
    rng = np.random.default_rng(seed)
    images, labels, splits = [], [], []
    for split in ("train", "val"):
        for label in range(7):
            for _ in range(per_class):
                image = rng.integers(0, 60, (48, 48))
                image[6 * label:6 * label + 6] += 190
                images.append(image.astype(np.uint8))
                labels.append(label)
                splits.append(split)
    index = pd.DataFrame({"source": [f"s{i}" for i in range(len(labels))],
                          "emotion": [EMOTIONS[i] for i in labels], "label": labels, "split": splits})
    return np.stack(images), index


def test_vgg16_recipe_shapes_and_head():
    model = models.build_vgg16_classifier(weights=None, dense_units=[64, 32], dropout=0.3, l2=0.01)
    assert model.input_shape == (None, 48, 48, 1)
    assert model.output_shape == (None, 7)
    dense = [layer for layer in model.layers if isinstance(layer, keras.layers.Dense)]
    assert [d.units for d in dense] == [64, 32, 7]
    assert all(isinstance(d.kernel_regularizer, keras.regularizers.L2) for d in dense[:2])
    assert pytest.approx(float(dense[0].kernel_regularizer.l2)) == 0.01
    assert [d.rate for d in model.layers if isinstance(d, keras.layers.Dropout)] == [0.3, 0.3]
    kinds = [type(layer).__name__ for layer in model.layers]
    assert kinds.index("Functional") < kinds.index("BatchNormalization") < kinds.index("MaxPooling2D") \
        < kinds.index("Flatten")
    probabilities = model.predict(np.zeros((2, 48, 48, 1), np.uint8), verbose=0)
    np.testing.assert_allclose(probabilities.sum(axis=1), 1, rtol=1e-5)


@pytest.mark.parametrize("blocks, trained", [(0, set()), (2, {4, 5}), (5, {1, 2, 3, 4, 5})])
def test_fine_tune_blocks_sets_which_vgg_blocks_train(blocks, trained):
    model = models.build_vgg16_classifier(weights=None, fine_tune_blocks=blocks)
    base = next(layer for layer in model.layers if layer.name == "vgg16")
    convs = [layer for layer in base.layers if "conv" in layer.name]
    assert {int(c.name[5]) for c in convs if c.trainable} == trained


def test_input_size_resizes_faces_for_the_base():
    model = models.build_vgg16_classifier(weights=None, input_size=64)
    assert model.get_layer("vgg16").input_shape == (None, 64, 64, 3)
    assert model.input_shape == (None, 48, 48, 1)


def test_resnet_fer_has_residual_stages_learns_and_exports(tmp_path):
    from deepfer_kedro.core.export import export_model

    # 16: TensorFlow's oneDNN CPU kernels segfault in training below 16 filters here (TF_ENABLE_ONEDNN_OPTS=0 runs)
    net = {"architecture": "resnet_fer", "base_filters": 16, "stages": 3, "convs_per_stage": 2,
           "dense_units": [16], "dropout": 0.1, "l2": 0.0}
    from deepfer_kedro.core.config import load_parameters

    sota = load_parameters("sota", "model.architecture=resnet_fer,model.convs_per_stage=4")["model"]
    full = models.build_model(sota)  # swapped into the sota environment by --params alone
    assert sum(isinstance(layer, keras.layers.Add) for layer in full.layers) == 8  # ResNet-18's basic blocks
    with pytest.raises(ValueError, match="must be even"):
        models.build_model({**sota, "convs_per_stage": 3})
    pooling = next(layer for layer in full.layers if isinstance(layer, keras.layers.GlobalAveragePooling2D))
    assert pooling.input.shape[1:] == (6, 6, 512)  # 48, 24, 12, 6
    faces, index = learnable_faces()
    model, history = train_model(faces, index, WEIGHTS, net, TRAINING, {"horizontal_flip": True, "zoom": 0.05},
                                 seed=0)
    assert history["loss"].iloc[-1] < history["loss"].iloc[0]  # (the bands' height is lost to global pooling)
    assert "augmentation" in [layer.name for layer in model.layers]  # export must take it out of a graph
    model.save(tmp_path / "resnet.keras")
    loaded = keras.saving.load_model(tmp_path / "resnet.keras", safe_mode=True)
    x_val, y_val = select_split(faces, index, "val")
    card = export_model(loaded, tmp_path / "onnx", x_val[..., 0], x_val[..., 0], y_val, precision="float32")
    assert card["privatetest"]["agreement_with_keras"]["max_abs_difference"] < 1e-4


def test_unknown_architecture_is_named():
    with pytest.raises(ValueError, match="'resnet'"):
        models.build_model({"architecture": "resnet"})


def test_offline_imagenet_stops_before_training_and_names_both_fixes(monkeypatch, tmp_path):
    monkeypatch.setattr("keras.src.backend.config._KERAS_DIR", str(tmp_path))  # no cached weights

    def offline(*args, **kwargs):
        raise urllib.error.URLError("[Errno -3] Temporary failure in name resolution")

    monkeypatch.setattr("keras.src.utils.file_utils.urlretrieve", offline)
    monkeypatch.setattr(keras.Model, "fit", lambda *a, **k: pytest.fail("training started"))
    faces, index = learnable_faces(2)
    with pytest.raises(models.WeightsUnavailableError) as error:
        train_model(faces, index, WEIGHTS, {"architecture": "vgg16", "weights": "imagenet"},
                    TRAINING, {}, seed=0)
    message = str(error.value)
    assert "ImageNet" in message and "model.weights: null" in message
    assert "model.weights: <path" in message and "notop.h5" in message


def test_local_weights_file_is_loaded(tmp_path):
    source = keras.applications.VGG16(include_top=False, weights=None, input_shape=(48, 48, 3))
    path = tmp_path / "vgg16_notop.weights.h5"
    source.save_weights(path)
    model = models.build_vgg16_classifier(weights=str(path))
    loaded = model.get_layer("vgg16").get_layer("block5_conv3").get_weights()[0]
    np.testing.assert_array_equal(loaded, source.get_layer("block5_conv3").get_weights()[0])


def test_missing_local_weights_file_names_it(tmp_path):
    with pytest.raises(models.WeightsUnavailableError, match="nope.h5"):
        models.build_vgg16_classifier(weights=str(tmp_path / "nope.h5"))


def test_split_rows_samples_per_class_with_a_seed():
    _, index = learnable_faces(12)
    rows = split_rows(index, "train", max_per_class=5, seed=1)
    assert index.iloc[rows]["label"].value_counts().eq(5).all()
    np.testing.assert_array_equal(rows, split_rows(index, "train", 5, 1))
    assert not np.array_equal(rows, split_rows(index, "train", 5, 2))
    with pytest.raises(ValueError, match="'test'"):
        split_rows(index, "test")
    images, labels = select_split(*learnable_faces(2), "val")
    assert images.shape == (14, 48, 48, 1) and images.dtype == np.uint8 and labels.tolist()[:2] == [0, 0]


def test_class_weights_reach_fit_by_label_position(monkeypatch):
    seen = {}
    fit = keras.Model.fit

    def spy(self, batches, **kwargs):
        seen["batch"], seen["kwargs"] = batches[0], kwargs
        return fit(self, batches, **kwargs)

    monkeypatch.setattr(keras.Model, "fit", spy)
    weights = {e: float(i + 1) for i, e in enumerate(EMOTIONS)}
    train_model(*learnable_faces(2), weights, SMALL_NET, {**TRAINING, "epochs": 1}, {}, seed=0)
    faces, one_hot, sample_weights = seen["batch"]
    np.testing.assert_array_equal(sample_weights, one_hot.argmax(axis=1) + 1.0)
    assert "class_weight" not in seen["kwargs"] and seen["kwargs"]["shuffle"] is False  # the batches carry both
    train_model(*learnable_faces(2), weights, SMALL_NET,
                {**TRAINING, "epochs": 1, "use_class_weights": False}, {}, seed=0)
    assert len(seen["batch"]) == 2  # faces and labels, no weights


def test_mixup_and_cutmix_settings_reach_the_training_batches(monkeypatch):
    seen = {}
    fit = keras.Model.fit

    def spy(self, batches, **kwargs):
        seen["train"], seen["val"] = batches[0], kwargs["validation_data"][0]
        return fit(self, batches, **kwargs)

    monkeypatch.setattr(keras.Model, "fit", spy)
    train_model(*learnable_faces(4), WEIGHTS, SMALL_NET, {**TRAINING, "epochs": 1},
                {"mixup_alpha": 0.4, "cutmix_alpha": 1.0}, seed=0)
    faces, one_hot, _ = seen["train"]
    assert faces.dtype == np.float32 and (one_hot.max(axis=1) < 1).any()  # soft labels: mixed
    assert seen["val"][1].max(axis=1).min() == 1  # validation is never mixed


def test_training_learns_logs_every_metric_and_keeps_the_best_val_epoch(caplog):
    faces, index = learnable_faces()
    with caplog.at_level("INFO", logger="deepfer_kedro.core.training"):
        model, history = train_model(faces, index, WEIGHTS, SMALL_NET, TRAINING,
                                     {"horizontal_flip": False, "width_shift": 0.02}, seed=0)
    # where it trains (a GPU the backend cannot load is "no GPU found" too)
    where = ", ".join(accelerators()) or "the CPU (no GPU found)"
    assert f"Training vgg_fer on 84 images, selecting on 84 val images, 4 epochs at most, on {where}" in caplog.text
    for name in ("loss", "accuracy", "precision", "recall", "auc", "f1"):
        assert name in history and f"val_{name}" in history
    assert history["epoch"].tolist() == [1, 2, 3, 4]
    assert history["val_accuracy"].max() > 0.5  # the bands are easy to learn
    x_val, y_val = select_split(faces, index, "val")
    predicted = model.predict(x_val, verbose=0).argmax(axis=1)
    assert np.mean(predicted == y_val) == pytest.approx(history["val_accuracy"].max(), abs=1e-6)


def test_same_seed_same_history():
    faces, index = learnable_faces(4)
    first = train_model(faces, index, WEIGHTS, SMALL_NET, {**TRAINING, "epochs": 2}, {"zoom": 0.1}, 7)[1]
    second = train_model(faces, index, WEIGHTS, SMALL_NET, {**TRAINING, "epochs": 2}, {"zoom": 0.1}, 7)[1]
    timing = ["epoch_seconds"]
    assert (first[timing] > 0).all().all()
    pd.testing.assert_frame_equal(first.drop(columns=timing), second.drop(columns=timing), rtol=1e-4)


def test_saved_model_holds_no_optimizer_state(tmp_path):
    """Adam keeps two moments per weight; a saved model without them is about 4 bytes a parameter."""
    faces, index = learnable_faces(4)
    net = {**SMALL_NET, "dense_units": [256]}  # enough weights for the optimizer state to show in the size
    model, _ = train_model(faces, index, WEIGHTS, net, {**TRAINING, "epochs": 1}, {"zoom": 0.1}, 0)
    model.save(tmp_path / "m.keras")
    size, weights_bytes = (tmp_path / "m.keras").stat().st_size, 4 * model.count_params()
    assert size < 1.2 * weights_bytes + 100_000, (size, weights_bytes)
    loaded = keras.saving.load_model(tmp_path / "m.keras", safe_mode=True)
    assert getattr(loaded, "optimizer", None) is None


def test_time_budget_sizes_the_epochs_from_a_measured_epoch_time():
    from deepfer_kedro.core.training import plan_epochs

    assert plan_epochs(80, epoch_seconds=2.0, budget_s=100) == 50
    assert plan_epochs(80, epoch_seconds=1.0, budget_s=500) == 80
    assert plan_epochs(80, epoch_seconds=50.0, budget_s=10) == 1
    faces, index = learnable_faces(4)
    model, history = train_model(faces, index, WEIGHTS, SMALL_NET, {**TRAINING, "epochs": 3, "time_budget_s": 600},
                                 {"zoom": 0.1}, 0)
    assert len(history) == 3  # ample budget: every epoch, and the estimate is recorded beside the measure
    assert history["estimated_epoch_seconds"].iloc[0] > 0 and (history["epoch_seconds"] > 0).all()


def test_the_epoch_estimate_tells_a_calls_fixed_cost_from_each_faces(monkeypatch):
    """On a GPU, fit's own set-up outweighs a few steps; a probe that divided a whole call by its
    faces was about 5 times too pessimistic there. A clock that advances only inside fake steps
    (0.3 s a call, 5 ms a training face, 2 ms a val face) must give the epoch those costs imply."""
    from deepfer_kedro.core import training as core

    class Clock:
        now = 0.0

        def __call__(self):
            return self.now

    clock = Clock()

    class Optimizer:
        variables = []

        def build(self, variables):
            pass

    class GpuLike:
        steps_per_execution, optimizer, trainable_variables = 1, Optimizer(), []

        def get_weights(self):
            return []

        def set_weights(self, weights):
            pass

        def fit(self, x, y, **kwargs):
            clock.now += 0.3 + 0.005 * len(x)

        def evaluate(self, x, y, **kwargs):
            clock.now += 0.3 + 0.002 * len(x)

    monkeypatch.setattr(core.time, "perf_counter", clock)
    faces = np.zeros((1500, 48, 48), np.uint8)
    labels = np.zeros(1500, np.int64)
    train = core.FaceBatches(faces, np.arange(1000), labels[:1000], 16)
    val = core.FaceBatches(faces, np.arange(1000, 1500), labels[1000:], 16, shuffle=False)
    assert core.measure_epoch_seconds(GpuLike(), train, val) == pytest.approx(0.3 + 5.0 + 0.3 + 1.0)
    assert core.measure_epoch_seconds(GpuLike(), train, None) == pytest.approx(0.3 + 5.0)  # a final fit


def test_weight_averaging_trains_validates_and_keeps_the_averaged_weights():
    faces, index = learnable_faces()
    model, history = train_model(faces, index, WEIGHTS, SMALL_NET, {**TRAINING, "ema_momentum": 0.5},
                                 {"horizontal_flip": False}, seed=0)
    x_val, y_val = select_split(faces, index, "val")
    predicted = model.predict(x_val, verbose=0).argmax(axis=1)
    assert np.mean(predicted == y_val) == pytest.approx(history["val_accuracy"].max(), abs=1e-6)


def test_final_fit_trains_on_train_and_val_for_every_epoch_and_keeps_the_last(monkeypatch):
    faces, index = learnable_faces(4)
    fixed = {**TRAINING, "epochs": 3, "lr_schedule": "cosine", "early_stopping": None, "final_fit_on_val": True}
    with pytest.raises(ValueError, match="early_stopping and reduce_lr cannot watch it"):
        train_model(faces, index, WEIGHTS, SMALL_NET, {**TRAINING, "final_fit_on_val": True}, {}, seed=0)
    seen = {}
    fit = keras.Model.fit

    def spy(self, batches, **kwargs):
        seen["rows"], seen["validation"] = len(batches.rows), kwargs.get("validation_data")
        result = fit(self, batches, **kwargs)
        seen["last_epoch_weights"] = [w.copy() for w in self.get_weights()]
        return result

    monkeypatch.setattr(keras.Model, "fit", spy)
    model, history = train_model(faces, index, WEIGHTS, SMALL_NET, fixed, {}, seed=0)
    assert seen["rows"] == len(index) and seen["validation"] is None  # train and val, nothing held out
    assert len(history) == 3 and not any(c.startswith("val_") for c in history)
    for kept, last in zip(model.get_weights(), seen["last_epoch_weights"], strict=True):
        np.testing.assert_array_equal(kept, last)


def test_history_for_mlflow_and_curves():
    history = pd.DataFrame({"epoch": [1, 2], "loss": [2.0, 1.5], "val_loss": [2.1, 1.9],
                            "accuracy": [0.2, 0.4], "val_accuracy": [0.25, 0.3]})
    metrics = history_metrics(history)
    assert metrics["val_accuracy"] == [{"step": 1, "value": 0.25}, {"step": 2, "value": 0.3}]
    assert "epoch" not in metrics
    fig = plot_training_curves(history)
    shown = [ax for ax in fig.axes if ax.get_title()]
    assert [ax.get_title() for ax in shown] == ["loss", "accuracy"]
    assert [line.get_label() for line in shown[0].lines] == ["train", "val (PublicTest)"]


def test_mixed_precision_is_the_networks_own_and_the_global_policy_is_put_back():
    from deepfer_kedro.core.config import load_parameters
    from deepfer_kedro.core.training import build_compiled_model

    params = load_parameters("quick", "model.base_filters=4,model.stages=1,model.dense_units=[8]")
    before = keras.config.dtype_policy().name
    model = build_compiled_model(params["model"], {**params["training"], "mixed_precision": True},
                                 params["augmentation"], 0, 64, 1)
    assert keras.config.dtype_policy().name == before == "float32"
    conv = next(layer for layer in model.layers if isinstance(layer, keras.layers.Conv2D))
    assert conv.dtype_policy.name == "mixed_bfloat16" and model.outputs[0].dtype == "float32"


def write_teacher(path, index, classes_of, share_right=0.9):
    """A teacher's predictions table: ``share_right`` on the class ``classes_of(label)``, the rest spread."""
    probabilities = np.full((len(index), 7), (1 - share_right) / 6)
    probabilities[np.arange(len(index)), classes_of(index["label"].to_numpy())] = share_right
    table = pd.DataFrame(probabilities, columns=[f"p_{e}" for e in EMOTIONS])
    table.insert(0, "source", index["source"].to_numpy())
    table.iloc[::-1].to_csv(path, index=False)  # another order than the index: matched by source
    return path


def test_distillation_trains_towards_the_teachers_probabilities(tmp_path):
    """A teacher that always says the next emotion, with all the weight: the network learns the teacher's
    answer, not the label (and validation still scores the true labels)."""
    faces, index = learnable_faces()
    teacher = write_teacher(tmp_path / "train_predictions.csv", index, lambda labels: (labels + 1) % 7)
    training = {**TRAINING, "epochs": 6, "teacher_predictions": str(teacher), "teacher_weight": 1.0,
                "checkpoint": {"monitor": "val_loss", "mode": "min"}, "early_stopping": None}
    model, history = train_model(faces, index, WEIGHTS, SMALL_NET, training, {}, seed=0)
    x_val, y_val = select_split(faces, index, "val")
    predicted = model.predict(x_val, verbose=0).argmax(axis=1)
    assert np.mean(predicted == (y_val + 1) % 7) > 0.5 and np.mean(predicted == y_val) < 0.2
    assert history["val_accuracy"].max() < 0.2


def test_teacher_predictions_that_do_not_fit_are_named(tmp_path):
    faces, index = learnable_faces(2)
    train = index[index["split"] == "train"]
    run = {**TRAINING, "epochs": 1}
    with pytest.raises(FileNotFoundError, match="no_such_dir.*deepfer evaluate"):
        train_model(faces, index, WEIGHTS, SMALL_NET, {**run, "teacher_predictions": str(tmp_path / "no_such_dir")},
                    {}, seed=0)
    partial = write_teacher(tmp_path / "partial.csv", train.iloc[1:], lambda labels: labels)
    with pytest.raises(ValueError, match=r"partial.csv has no probabilities for 1 of the 14 faces .*\(e.g. s0\)"):
        train_model(faces, index, WEIGHTS, SMALL_NET, {**run, "teacher_predictions": str(partial)}, {}, seed=0)
    pd.read_csv(partial).drop(columns="p_sad").to_csv(tmp_path / "columns.csv", index=False)
    with pytest.raises(ValueError, match=r"columns.csv has no column\(s\) \['p_sad'\]"):
        train_model(faces, index, WEIGHTS, SMALL_NET, {**run, "teacher_predictions": str(tmp_path / "columns.csv")},
                    {}, seed=0)
    table = pd.read_csv(write_teacher(tmp_path / "bad.csv", train, lambda labels: labels))
    table.loc[3, "p_angry"] = float("nan")
    table.to_csv(tmp_path / "bad.csv", index=False)
    with pytest.raises(ValueError, match=rf"bad.csv row 5 \({table.loc[3, 'source']}\) does not hold 7 probabilities"):
        train_model(faces, index, WEIGHTS, SMALL_NET, {**run, "teacher_predictions": str(tmp_path / "bad.csv")},
                    {}, seed=0)
