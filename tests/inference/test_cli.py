import json

import cv2
import numpy as np
import pandas as pd
import pytest

from deepfer_kedro import default_model
from deepfer_kedro.inference.cli import main
from deepfer_kedro.labels import EMOTIONS


def test_batch_table_annotations_and_exit_status(tiny_model_file, astronaut_rgb, tmp_path, capsys):
    cv2.imwrite(str(tmp_path / "a.jpg"), cv2.cvtColor(astronaut_rgb, cv2.COLOR_RGB2BGR))
    cv2.imwrite(str(tmp_path / "blank.png"), np.full((64, 64), 90, np.uint8))
    out = tmp_path / "rows.csv"
    command = ["predict", str(tmp_path / "a.jpg"), str(tmp_path / "blank.png"), "--model", str(tiny_model_file),
               "-o", str(out), "--annotate", str(tmp_path / "ann"), "--tta"]
    assert main(command) == 0  # a batch with a face-less image still succeeds
    assert main(command) == 0  # run again: it overwrites its annotated copies
    table = pd.read_csv(out)
    assert table["status"].tolist() == ["ok", "no_face"]
    assert abs(table.filter(like="p_").iloc[0].sum() - 1) < 1e-5
    assert sorted(p.name for p in (tmp_path / "ann").iterdir()) == ["a_annotated.png", "blank_annotated.png"]
    err = capsys.readouterr().err
    assert "1 face(s) classified" in err
    assert "Classifying: 100%" in err and "2/2" in err  # a table going into a file: a progress bar


def test_single_image_without_a_face_is_an_error(tiny_model_file, tmp_path, capsys):
    cv2.imwrite(str(tmp_path / "blank.png"), np.full((64, 64), 90, np.uint8))
    assert main(["predict", str(tmp_path / "blank.png"), "--model", str(tiny_model_file)]) == 1
    err = capsys.readouterr().err
    assert "No face found in" in err and "--no-detect" in err  # the way out for a folder of face crops
    assert "Classifying" not in err  # the table on stdout is the progress
    assert main(["predict", str(tmp_path / "blank.png"), "--model", str(tiny_model_file), "--no-detect"]) == 0
    assert "--no-detect" not in capsys.readouterr().err


def test_unreadable_file_is_named_and_the_rest_still_runs(tiny_model_file, astronaut_rgb, tmp_path, capsys):
    cv2.imwrite(str(tmp_path / "a.jpg"), cv2.cvtColor(astronaut_rgb, cv2.COLOR_RGB2BGR))
    (tmp_path / "b.jpg").write_bytes(b"garbage")
    out = tmp_path / "rows.jsonl"
    assert main(["predict", str(tmp_path), "--model", str(tiny_model_file), "-o", str(out)]) == 1
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r["status"] for r in rows] == ["ok", "unreadable"]
    assert "b.jpg" in capsys.readouterr().err


def test_a_folder_run_again_leaves_out_its_own_annotated_copies(tiny_model_file, astronaut_rgb, tmp_path,
                                                                monkeypatch):
    """``deepfer predict . --annotate annotated/`` twice: the second run reads the photo, not the
    first run's annotated copy of it."""
    cv2.imwrite(str(tmp_path / "a.jpg"), cv2.cvtColor(astronaut_rgb, cv2.COLOR_RGB2BGR))
    monkeypatch.chdir(tmp_path)
    for _ in range(2):
        assert main(["predict", ".", "--model", str(tiny_model_file), "--annotate", "annotated", "-o", "rows.csv"]) == 0
        assert pd.read_csv("rows.csv")["file"].tolist() == ["a.jpg"]
    assert [p.name for p in (tmp_path / "annotated").iterdir()] == ["a_annotated.png"]


def test_json_lines_on_stdout_for_a_pipe(tiny_model_file, astronaut_rgb, tmp_path, capsys):
    """``--format jsonl`` without ``-o``: one JSON object a line on stdout (``| jq``), nothing else there."""
    cv2.imwrite(str(tmp_path / "a.jpg"), cv2.cvtColor(astronaut_rgb, cv2.COLOR_RGB2BGR))
    assert main(["predict", str(tmp_path / "a.jpg"), "--model", str(tiny_model_file), "--format", "jsonl"]) == 0
    [row] = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert row["file"] == str(tmp_path / "a.jpg") and row["status"] == "ok" and row["emotion"] in EMOTIONS
    assert sum(row[f"p_{emotion}"] for emotion in EMOTIONS) == pytest.approx(1, abs=1e-5)


def test_missing_model_exits_with_advice(tmp_path, capsys, astronaut_rgb):
    cv2.imwrite(str(tmp_path / "a.jpg"), astronaut_rgb)
    assert main(["predict", str(tmp_path / "a.jpg"), "--model", str(tmp_path / "no.keras")]) == 2
    assert "kedro run" in capsys.readouterr().err


def test_export_without_fer2013_names_where_to_put_it_and_writes_nothing(tiny_model_file, tmp_path, capsys):
    code = main(["export", "--model", str(tiny_model_file), "--out", str(tmp_path / "out"),
                 "--data", str(tmp_path / "no_data")])
    assert code == 2
    assert "no_data" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_export_of_a_model_that_is_not_one(tmp_path, capsys):
    (tmp_path / "junk.keras").write_bytes(b"not a zip")
    assert main(["export", "--model", str(tmp_path / "junk.keras"), "--out", str(tmp_path / "out")]) == 2
    assert "junk.keras: not a Keras model" in capsys.readouterr().err


def test_evaluate_averages_models_and_views_and_writes_each_split(tiny_model_file, kaggle_zip, tmp_path, capsys):
    import keras

    from deepfer_kedro.core.evaluation import average_probabilities

    keras.utils.set_random_seed(1)
    other = keras.Sequential([keras.Input((48, 48, 1)), keras.layers.Rescaling(1 / 255), keras.layers.Flatten(),
                              keras.layers.Dense(7, activation="softmax")])
    other.save(tmp_path / "other.keras")
    out = tmp_path / "scores"
    code = main(["evaluate", "--model", str(tiny_model_file), "--model", str(tmp_path / "other.keras"),
                 "--model", str(tiny_model_file), "--runtime", "keras", "--data", str(kaggle_zip),
                 "--tta", "--tta-shift", "2", "-o", str(out)])
    assert code == 0
    assert "# Evaluation on the val split (14 images)" in capsys.readouterr().out
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["tta"] == {"flip": True, "shift_pixels": 2} and len(metrics["models"]) == 3
    assert metrics["command"].startswith("deepfer evaluate --model ") and metrics["command"].endswith(f"-o {out}")
    for split, usage in (("val", "PublicTest"), ("test", "PrivateTest")):
        table = pd.read_csv(out / f"{split}_predictions.csv")
        assert (out / f"{split}_confusion_matrix.png").stat().st_size > 0
        assert (out / f"{split}_reliability_diagram.png").stat().st_size > 0
        assert table["source"].str.contains(usage).all() and len(table) == 14
        assert metrics[split]["accuracy"] == (table["true_emotion"] == table["predicted_emotion"]).mean()
    from deepfer_kedro.fer2013 import load_faces

    faces = load_faces(kaggle_zip, progress=False)
    order = {source: row for row, source in enumerate(faces.index["source"])}
    rows = [order[source] for source in table["source"]]  # the test split's faces, in the table's order
    tiny = keras.saving.load_model(tiny_model_file)
    expected = average_probabilities([tiny, other, tiny],  # given twice: weight 2
                                     faces.pixels[rows][..., None], flip=True, shift_pixels=2)
    np.testing.assert_allclose(table.filter(like="p_").to_numpy(), expected, atol=1e-6)


def test_evaluate_without_data_or_with_an_onnx_file_on_keras_says_why(tiny_model_file, kaggle_zip, tmp_path,
                                                                       capsys):
    code = main(["evaluate", "--model", str(tiny_model_file), "--data", str(tmp_path / "no_data"),
                 "-o", str(tmp_path / "out")])
    assert code == 2 and "no_data" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()
    (tmp_path / "model.onnx").write_bytes(default_model.ONNX_FILE.read_bytes())
    code = main(["evaluate", "--model", str(tmp_path / "model.onnx"), "--runtime", "keras", "--data", str(kaggle_zip)])
    assert code == 2 and "the keras runtime needs a .keras model" in capsys.readouterr().err


def test_evaluate_keeps_the_first_splits_files_when_the_second_fails(tiny_model_file, kaggle_zip, tmp_path,
                                                                      monkeypatch):
    from deepfer_kedro.pipelines.evaluate import nodes

    real = nodes.predict_emotions_ensemble

    def fails_on_privatetest(models, pixels, index, evaluation):
        if evaluation["split"] == "test":
            raise MemoryError("out of memory on PrivateTest")
        return real(models, pixels, index, evaluation)

    monkeypatch.setattr(nodes, "predict_emotions_ensemble", fails_on_privatetest)
    with pytest.raises(MemoryError):
        main(["evaluate", "--model", str(tiny_model_file), "--data", str(kaggle_zip), "-o", str(tmp_path)])
    assert set(json.loads((tmp_path / "metrics.json").read_text())) >= {"val", "models", "data_sha256"}
    assert len(pd.read_csv(tmp_path / "val_predictions.csv")) == 14 and (tmp_path / "val_confusion_matrix.png").exists()
    assert not (tmp_path / "test_predictions.csv").exists()


def test_evaluate_logs_a_run_beside_the_training_runs(tiny_model_file, kaggle_zip, tmp_path, monkeypatch):
    import mlflow

    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    out = tmp_path / "scores"
    assert main(["evaluate", "--model", str(tiny_model_file), "--data", str(kaggle_zip), "--mlflow",
                 "-o", str(out)]) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    client = mlflow.MlflowClient(uri)
    [run] = client.search_runs([client.get_experiment_by_name("deepfer").experiment_id])
    assert run.data.metrics["test_accuracy"] == pytest.approx(metrics["test"]["accuracy"])
    assert run.data.metrics["val_expected_calibration_error"] == pytest.approx(
        metrics["val"]["expected_calibration_error"])
    assert run.data.params["models"] == str(tiny_model_file)
    assert run.data.tags["dataset_sha256"] == metrics["data_sha256"]
    logged = {f.path for f in client.list_artifacts(run.info.run_id, "evaluation")}
    assert {"evaluation/metrics.json", "evaluation/test_reliability_diagram.png"} <= logged


def test_evaluate_to_an_unreachable_tracking_server_stops_before_scoring(tiny_model_file, kaggle_zip, tmp_path,
                                                                          monkeypatch):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://127.0.0.1:9")  # the discard port: nothing answers
    with pytest.raises(SystemExit, match="http://127.0.0.1:9 .* does not answer"):
        main(["evaluate", "--model", str(tiny_model_file), "--data", str(kaggle_zip), "--mlflow",
              "-o", str(tmp_path / "scores")])
    assert not (tmp_path / "scores").exists()


def test_evaluate_split_train_writes_the_teacher_that_training_distils_from(tiny_model_file, kaggle_zip, tmp_path,
                                                                            monkeypatch):
    """`deepfer evaluate --split train -o DIR` is what `training.teacher_predictions` reads: every face trained
    on finds its probabilities by source, whatever the order of the two tables."""
    import keras

    from deepfer_kedro.core.data import build_image_index
    from deepfer_kedro.fer2013 import load_faces
    from deepfer_kedro.pipelines.training.nodes import train_model

    out = tmp_path / "teacher"
    assert main(["evaluate", "--model", str(tiny_model_file), "--runtime", "keras", "--data", str(kaggle_zip),
                 "--split", "train", "-o", str(out)]) == 0
    assert sorted(p.name for p in out.glob("*.csv")) == ["train_predictions.csv"]
    teacher = pd.read_csv(out / "train_predictions.csv")
    assert teacher["source"].str.contains("Training").all()
    assert json.loads((out / "metrics.json").read_text())["train"]["images"] == len(teacher)
    faces = load_faces(kaggle_zip, progress=False)
    index = build_image_index(faces, 0.1, 42)
    seen = {}
    fit = keras.Model.fit

    def spy(self, batches, **kwargs):
        seen["batches"] = batches
        return fit(self, batches, **kwargs)

    monkeypatch.setattr(keras.Model, "fit", spy)
    net = {"architecture": "vgg_fer", "base_filters": 4, "stages": 1, "convs_per_stage": 1, "dense_units": [8],
           "dropout": 0.0, "l2": 0.0}
    training = {"optimizer": "adam", "learning_rate": 0.001, "batch_size": 8, "epochs": 1, "verbose": 0,
                "checkpoint": {"monitor": "val_accuracy", "mode": "max"}, "teacher_predictions": str(out),
                "teacher_weight": 0.6}
    train_model(faces.pixels, index, {}, net, training, {}, seed=0)
    batches = seen["batches"]
    by_source = teacher.set_index("source").filter(like="p_")
    expected = (0.6 * by_source.loc[index["source"].to_numpy()[batches.rows]].to_numpy()
                + 0.4 * np.eye(7)[batches.labels])
    np.testing.assert_allclose(batches.targets, expected, atol=1e-6)


def test_no_align_classifies_a_tilted_face_as_boxed(astronaut_rgb, tmp_path):
    """The same box either way; only the crop differs, turned upright by default, and as boxed when
    the face is tilted less than ``align_min_roll``."""
    from deepfer_kedro.inference.loading import load_predictor

    gray = cv2.cvtColor(astronaut_rgb, cv2.COLOR_RGB2GRAY)
    tilted = cv2.warpAffine(gray, cv2.getRotationMatrix2D((256, 256), 30, 1.0), gray.shape[::-1],
                            borderMode=cv2.BORDER_REPLICATE)
    cv2.imwrite(str(tmp_path / "tilted.png"), tilted)
    tables = []
    for extra in ([], ["--no-align"]):
        out = tmp_path / f"rows{len(extra)}.csv"
        assert main(["predict", str(tmp_path / "tilted.png"), "--model", "default", "-o", str(out), *extra]) == 0
        tables.append(pd.read_csv(out))
    aligned, as_boxed = tables
    assert aligned[["x", "y", "w", "h"]].equals(as_boxed[["x", "y", "w", "h"]])
    assert np.abs(aligned.filter(like="p_").to_numpy() - as_boxed.filter(like="p_").to_numpy()).max() > 0.01
    [upright_from_45] = load_predictor("default", {"align_min_roll": 45}).predict_frame(tilted)
    assert np.allclose(upright_from_45.probabilities, as_boxed.filter(like="p_").to_numpy()[0], atol=1e-6)


def test_the_help_shows_examples_that_parse(capsys):
    import shlex

    from deepfer_kedro.inference.cli import EXAMPLES, parser

    with pytest.raises(SystemExit):
        main(["--help"])
    shown = capsys.readouterr().out
    assert "``" not in shown and "examples:" in shown and "deepfer predict photo.jpg" in shown
    commands = [line.strip().split("  ")[0] for line in EXAMPLES.splitlines()[1:] if "<command>" not in line]
    assert len(commands) == 4
    for command in commands:  # each example is a command the parser takes
        assert parser().parse_args(shlex.split(command)[1:]).command == shlex.split(command)[1]
