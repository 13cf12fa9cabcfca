"""End to end on the real archive: `kedro run --env quick`, then `kedro run --pipeline evaluate`."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
import pytest

from tests.conftest import PROJECT_ROOT, REAL_ZIP_SHA256

pytestmark = [pytest.mark.real_data, pytest.mark.slow]
KEDRO = [sys.executable, "-m", "kedro"]


def kedro(project: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "MLFLOW_TRACKING_URI": f"sqlite:///{project / 'mlflow.db'}",
           "KEDRO_DISABLE_TELEMETRY": "true"}
    return subprocess.run([*KEDRO, *args], cwd=project, env=env, capture_output=True, text=True,
                          timeout=1200)


def versions(project: Path, path: str) -> list[str]:
    return sorted(p.name for p in (project / path).iterdir())


def latest(project: Path, path: str) -> Path:
    folder = project / path
    return folder / versions(project, path)[-1] / folder.name


def project_copy(root: Path, real_zip: Path) -> Path:
    """A copy of the project's configuration around the real archive."""
    root.mkdir(parents=True, exist_ok=True)
    shutil.copy(PROJECT_ROOT / "pyproject.toml", root)
    (root / "src").mkdir()  # the package itself is installed (pip install -e .)
    shutil.copytree(PROJECT_ROOT / "conf", root / "conf", ignore=shutil.ignore_patterns("local"))
    (root / "conf" / "local").mkdir()
    (root / "data" / "01_raw").mkdir(parents=True)
    (root / "data" / "01_raw" / "fer2013.zip").symlink_to(real_zip)
    return root


@pytest.fixture(scope="module")
def project(tmp_path_factory, real_zip):
    """The quick run, once."""
    root = project_copy(tmp_path_factory.mktemp("project"), real_zip)
    done = kedro(root, "run", "--env", "quick")
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-4000:]
    (root / "quick_run.log").write_text(done.stdout + done.stderr)
    return root


def test_the_run_log_holds_no_library_notices_a_user_cannot_act_on(project):
    log = " ".join((project / "quick_run.log").read_text().split())
    from deepfer_kedro.pipeline_registry import register_pipelines

    nodes = len(register_pipelines()["__default__"].nodes)
    assert f"Completed {nodes} out of {nodes} tasks" in log
    for notice in ("register_new_resolver() is deprecated", "Add type hints to the `predict` method",
                   "Failed to infer model signature", "In the future `np.object`"):
        assert notice not in log


def test_every_artifact_is_saved_once(project):
    for path in ("data/03_primary/image_index.csv", "data/03_primary/face_pixels.npz",
                 "data/04_feature/class_weights.json", "data/06_models/trained_model.keras",
                 "data/07_model_output/training_history.csv", "data/07_model_output/test_predictions.csv",
                 "data/07_model_output/val_predictions.csv", "data/08_reporting/data_quality_report.json",
                 "data/08_reporting/class_counts.csv",
                 "data/08_reporting/class_counts.png", "data/08_reporting/augmentation_preview.png",
                 "data/08_reporting/training_curves.png", "data/08_reporting/confusion_matrix.png",
                 "data/08_reporting/reliability_diagram.png",
                 "data/08_reporting/evaluation_metrics.json", "data/08_reporting/evaluation_report.md",
                 "data/06_models/exported_model.onnx", "data/08_reporting/export_card.json"):
        assert len(versions(project, path)) == 1, path
        assert latest(project, path).stat().st_size > 0, path
    assert list((project / "data/02_intermediate/decoded").glob("*.npz")), "decoded cache"
    assert not list((project / "data/.running").iterdir()), "a finished run leaves no running marker"
    assert not (project / "data/06_models/interrupted").exists() or not list(
        (project / "data/06_models/interrupted").iterdir()), "a finished training leaves no resume state"


def test_data_artifacts_hold_the_real_numbers(project):
    weights = json.loads(latest(project, "data/04_feature/class_weights.json").read_text())
    assert weights["disgust"] == pytest.approx(9.4066, abs=1e-4)
    counts = pd.read_csv(latest(project, "data/08_reporting/class_counts.csv")).set_index("emotion")
    assert counts.loc["total", "train"] == 28709 and counts.loc["disgust", "test"] == 55
    report = json.loads(latest(project, "data/08_reporting/data_quality_report.json").read_text())
    assert report["source"]["source_sha256"] == REAL_ZIP_SHA256
    assert report["duplicates"]["leakage_train_test"]
    assert len(report["near_duplicates"]["train_test"]) > len(report["duplicates"]["leakage_train_test"])
    assert latest(project, "data/08_reporting/near_duplicates.png").stat().st_size > 10_000
    metrics = json.loads(latest(project, "data/08_reporting/evaluation_metrics.json").read_text())
    assert metrics["train_near_duplicates"]["images"] >= metrics["train_duplicates"]["images"]


def test_metrics_agree_with_the_saved_predictions(project):
    metrics = json.loads(latest(project, "data/08_reporting/evaluation_metrics.json").read_text())
    predictions = pd.read_csv(latest(project, "data/07_model_output/test_predictions.csv"))
    assert metrics["split"] == "test" and metrics["images"] == len(predictions) == 7 * 40
    assert set(predictions["source"].str.split("/").str[-1].str.split("_").str[0]) == {"PrivateTest"}
    recomputed = np.mean(predictions["true_emotion"] == predictions["predicted_emotion"])
    assert metrics["accuracy"] == pytest.approx(recomputed)
    for name in ("accuracy", "macro_f1", "weighted_f1", "macro_precision", "macro_recall", "auc_ovr"):
        assert 0 <= metrics[name] <= 1, name
    history = pd.read_csv(latest(project, "data/07_model_output/training_history.csv"))
    assert history["epoch"].tolist() == [1, 2, 3, 4, 5, 6]


def test_the_temperature_is_fitted_on_the_saved_publictest_predictions(project):
    from deepfer_kedro.core.evaluation import fit_temperature
    from deepfer_kedro.pipelines.evaluate.nodes import probabilities_and_labels

    metrics = json.loads(latest(project, "data/08_reporting/evaluation_metrics.json").read_text())
    val = pd.read_csv(latest(project, "data/07_model_output/val_predictions.csv"))
    assert set(val["split"]) == {"val"} and len(val) == 7 * 40
    assert set(val["source"].str.split("/").str[-1].str.split("_").str[0]) == {"PublicTest"}
    assert metrics["temperature"] == pytest.approx(fit_temperature(*probabilities_and_labels(val)), abs=1e-3)
    assert metrics["selection"]["top1"] == pytest.approx(np.mean(val["true_emotion"] == val["predicted_emotion"]),
                                                         abs=1e-4)
    assert 0 <= metrics["expected_calibration_error_at_temperature"] <= 1


def test_streaming_from_shards_trains_and_scores_exactly_as_in_memory(project, tmp_path, real_zip):
    streamed = project_copy(tmp_path / "streamed", real_zip)
    done = kedro(streamed, "run", "--env", "quick", "--params", "face_storage=shards")
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-4000:]
    assert not (streamed / "data/03_primary/face_pixels.npz").exists()
    manifest = json.loads(latest(streamed, "data/05_model_input/face_shards.json").read_text())
    assert manifest["count"] == 35887 and manifest["face_shape"] == [48, 48] and len(manifest["shards"]) == 9
    timing = ["epoch_seconds"]
    history = [pd.read_csv(latest(p, "data/07_model_output/training_history.csv")).drop(columns=timing)
               for p in (project, streamed)]
    pd.testing.assert_frame_equal(*history, rtol=1e-5)  # the same batches, so the same training
    metrics = [json.loads(latest(p, "data/08_reporting/evaluation_metrics.json").read_text())
               for p in (project, streamed)]
    assert metrics[0]["accuracy"] == metrics[1]["accuracy"] and metrics[0]["macro_f1"] == metrics[1]["macro_f1"]


def test_the_quick_model_learns_something_real(project):
    """Chance is 1/7 = 0.143 top-1 on the balanced test subset, and a model that puts every face in
    one class has macro-F1 0.036; a broken training step cannot pass this."""
    metrics = json.loads(latest(project, "data/08_reporting/evaluation_metrics.json").read_text())
    assert metrics["accuracy"] > 0.2 and metrics["macro_f1"] > 0.12, metrics
    predictions = pd.read_csv(latest(project, "data/07_model_output/test_predictions.csv"))
    assert predictions["predicted_emotion"].nunique() >= 3


def test_mlflow_holds_the_run_with_params_histories_tags_and_artifacts(project):
    mlflow.set_tracking_uri(f"sqlite:///{project / 'mlflow.db'}")
    client = mlflow.MlflowClient()
    runs = mlflow.search_runs(experiment_names=["deepfer"], output_format="list")
    run = next(r for r in runs if r.data.tags.get("kedro_pipeline") == "__default__")
    assert run.data.params["training.epochs"] == "6"
    assert run.data.params["model.architecture"] == "vgg_fer"
    assert run.data.params["model.weights"] == "None"
    assert run.data.tags["dataset_sha256"] == REAL_ZIP_SHA256
    assert run.data.tags["keras_backend"] == "tensorflow"
    assert run.data.tags["git_commit"]
    assert run.info.run_name == "__default__ quick vgg_fer seed 42"  # tells runs apart in the UI
    (dataset,) = [d.dataset for d in run.inputs.dataset_inputs]
    assert dataset.name == "FER2013" and dataset.digest == REAL_ZIP_SHA256[:36]
    steps = [m.step for m in client.get_metric_history(run.info.run_id, "val_accuracy")]
    assert steps == [1, 2, 3, 4, 5, 6]
    metrics = json.loads(latest(project, "data/08_reporting/evaluation_metrics.json").read_text())
    assert run.data.metrics["test_accuracy"] == pytest.approx(metrics["accuracy"])
    assert "test_recall_disgust" in run.data.metrics
    logged = {f.path for folder in ("plots", "model", "data", "evaluation")
              for f in client.list_artifacts(run.info.run_id, folder)}
    assert "test_expected_calibration_error" in run.data.metrics
    assert run.data.metrics["test_temperature"] == pytest.approx(metrics["temperature"])
    assert run.data.metrics["selection_val_accuracy"] == pytest.approx(metrics["selection"]["top1"])
    card = json.loads(latest(project, "data/08_reporting/export_card.json").read_text())
    assert run.data.metrics["exported_test_accuracy"] == pytest.approx(card["privatetest"]["exported"]["top1"])
    assert run.data.metrics["exported_temperature"] == pytest.approx(card["publictest"]["temperature"])
    assert run.data.metrics["exported_test_expected_calibration_error_at_temperature"] == pytest.approx(
        card["privatetest"]["expected_calibration_error_at_temperature"])
    assert {"plots/confusion_matrix.png", "plots/reliability_diagram.png", "plots/training_curves.png",
            "model/trained_model.keras",
            "data/data_quality_report.json", "data/class_weights.json",
            "evaluation/evaluation_metrics.json"} <= logged


def test_evaluate_pipeline_reevaluates_a_chosen_model_version(project):
    model_version = versions(project, "data/06_models/trained_model.keras")[0]
    first = json.loads(latest(project, "data/08_reporting/evaluation_metrics.json").read_text())
    done = kedro(project, "run", "--env", "quick", "--pipeline", "evaluate",
                 "--load-versions", f"trained_model:{model_version}")
    assert done.returncode == 0, done.stderr[-4000:]
    assert len(versions(project, "data/08_reporting/evaluation_metrics.json")) == 2
    again = json.loads(latest(project, "data/08_reporting/evaluation_metrics.json").read_text())
    assert again["accuracy"] == pytest.approx(first["accuracy"])
    assert again["macro_f1"] == pytest.approx(first["macro_f1"])
    wrong = kedro(project, "run", "--env", "quick", "--pipeline", "evaluate",
                  "--load-versions", "trained_model:2020-01-01T00.00.00.000Z")
    output = " ".join((wrong.stdout + wrong.stderr).split())
    assert wrong.returncode != 0 and "Traceback" not in output
    assert ("kedro run stopped: --load-versions trained_model:2020-01-01T00.00.00.000Z: no such version in "
            f"{project / 'data/06_models/trained_model.keras'} (saved: {model_version}") in output


def test_a_failed_run_names_the_problem_and_keeps_saved_results(project):
    before = versions(project, "data/03_primary/image_index.csv")
    raw = project / "data" / "01_raw"
    (raw / "fer2013.zip").rename(raw / "kept.zip.bak")  # the .bak is not a source
    try:
        (raw / "fer2013.csv").write_text("emotion,pixels,Usage\n0,1 2 3,Training\n")
        done = kedro(project, "run", "--env", "quick", "--pipeline", "data_processing")
        assert done.returncode != 0
        output = " ".join((done.stdout + done.stderr).split())
        assert "kedro run stopped: fer2013.csv row 1 (line 2): 3 pixel values, expected 2304" in output
        assert "Traceback" not in output  # the sentence, not a page of traceback around it
    finally:
        (raw / "fer2013.csv").unlink()
        (raw / "kept.zip.bak").rename(raw / "fer2013.zip")
    assert versions(project, "data/03_primary/image_index.csv") == before


def test_a_pipeline_run_before_its_inputs_exist_says_what_to_do(tmp_path, real_zip):
    fresh = project_copy(tmp_path / "fresh", real_zip)
    done = kedro(fresh, "run", "--pipelines", "evaluate")
    output = " ".join((done.stdout + done.stderr).split())
    assert done.returncode != 0
    assert ("kedro run stopped: nothing has been saved yet for data_quality_report, face_pixels, image_index, "
            "trained_model, which this run reads. Run `kedro run` first") in output
    assert "`deepfer evaluate --model default` scores the shipped model" in output
    assert "Traceback" not in output

    done = kedro(fresh, "run", "--pipelines", "inference")
    output = " ".join((done.stdout + done.stderr).split())
    assert done.returncode != 0
    # the trained model is not missing: the shipped one stands in for it
    assert (f"kedro run stopped: nothing found in {fresh / 'data' / '05_model_input' / 'inference'} "
            "(inference_images, inference_videos): put the files this run reads there.") in output
    assert "Traceback" not in output


def test_a_misspelt_params_key_value_env_or_pipeline_stops_the_run_before_it_starts(tmp_path, real_zip):
    fresh = project_copy(tmp_path / "fresh", real_zip)
    done = kedro(fresh, "run", "--env", "quick", "--params", "training.epoch=1,seed=3")
    output = " ".join((done.stdout + done.stderr).split())
    assert done.returncode != 0
    assert ("kedro run stopped: --params training.epoch (did you mean training.epochs?): no such parameter "
            "in conf/base or conf/quick") in output
    assert "Traceback" not in output and "Running node" not in output
    assert not (fresh / "data" / "03_primary").exists()  # nothing ran, nothing saved
    done = kedro(fresh, "run", "--env", "quick", "--params", "training.epochs=abc,inference.align_faces=0")
    output = " ".join((done.stdout + done.stderr).split())
    assert done.returncode != 0 and "Traceback" not in output and "Running node" not in output
    assert ("kedro run stopped: --params training.epochs=abc (takes a number, not text), "
            "inference.align_faces=0 (takes true or false, not a number): the run would fail on it") in output
    assert not (fresh / "data" / "03_primary").exists()
    quick_training = fresh / "conf" / "quick" / "parameters_training.yml"
    quick_training.write_text(quick_training.read_text().replace("dropout: 0.1", "dropout: 1.5"))
    done = kedro(fresh, "run", "--env", "quick", "--params", "training.epochs=0")
    output = " ".join((done.stdout + done.stderr).split())
    assert done.returncode != 0 and "Traceback" not in output and "Running node" not in output
    assert ("kedro run stopped: model.dropout=1.5 (should be less than 1), training.epochs=0 (should be greater "
            "than or equal to 1) in conf/base, conf/quick or --params") in output
    assert not (fresh / "data" / "03_primary").exists()
    done = kedro(fresh, "run", "--env", "quick", "--pipeline", "evalute")
    output = " ".join((done.stdout + done.stderr).split())
    assert done.returncode != 0 and "Traceback" not in output
    assert ("No pipeline named 'evalute' (did you mean evaluate?): the pipelines are augmentation, class_analysis, "
            "data_processing, evaluate, evaluate_ensemble") in output
    done = kedro(fresh, "run", "--env", "qiuck")
    output = " ".join((done.stdout + done.stderr).split())
    assert done.returncode != 0 and "Traceback" not in output
    assert f"--env qiuck: no such Kedro environment in {fresh / 'conf'} (there are base, local, quick, sota)" in output


def test_the_run_logs_a_served_model_that_predicts(project, astronaut_rgb):
    import base64
    import io

    from PIL import Image

    mlflow.set_tracking_uri(f"sqlite:///{project / 'mlflow.db'}")
    run = next(r for r in mlflow.search_runs(experiment_names=["deepfer"], output_format="list")
               if r.data.tags.get("kedro_pipeline") == "__default__")
    model = mlflow.pyfunc.load_model(f"runs:/{run.info.run_id}/served_model")
    buffer = io.BytesIO()
    Image.fromarray(astronaut_rgb).save(buffer, "JPEG")
    rows = model.predict(pd.DataFrame({"image": [base64.b64encode(buffer.getvalue()).decode()]}))
    assert rows["status"].tolist() == ["ok"]


def test_inference_pipeline_over_a_folder_of_photos_and_videos(project, astronaut_rgb):
    import cv2

    folder = project / "data" / "05_model_input" / "inference"
    folder.mkdir(parents=True)
    Image = __import__("PIL.Image", fromlist=["Image"])
    Image.fromarray(astronaut_rgb).save(folder / "astronaut.jpg")
    Image.fromarray(astronaut_rgb[:80, :80]).save(folder / "no_face.png")
    (folder / "broken.jpg").write_bytes(b"not a jpeg")
    (folder / "videos").mkdir()
    writer = cv2.VideoWriter(str(folder / "videos" / "clip.avi"), cv2.VideoWriter_fourcc(*"MJPG"), 10, (512, 512))
    for _ in range(5):
        writer.write(cv2.cvtColor(astronaut_rgb, cv2.COLOR_RGB2BGR))
    writer.release()
    (folder / "videos" / "broken.mp4").write_bytes(b"not a video")
    done = kedro(project, "run", "--env", "quick", "--pipeline", "inference")
    assert done.returncode == 0, done.stderr[-4000:]
    # the quick run's model scores far below the shipped one on PublicTest (its export card), so not it
    assert "below the shipped model's" in " ".join((done.stdout + done.stderr).split())
    rows = pd.read_csv(latest(project, "data/07_model_output/inference_predictions.csv"))
    assert rows.groupby("file").size().to_dict() == {"astronaut.jpg": 1, "no_face.png": 1, "broken.jpg": 1,
                                                      "videos/clip.avi": 5, "videos/broken.mp4": 1}
    status = rows.groupby("file")["status"].first()
    assert status["astronaut.jpg"] == "ok" and status["no_face.png"] == "no_face"
    assert status["broken.jpg"] == status["videos/broken.mp4"] == "unreadable"
    assert (rows.loc[rows["file"] == "videos/clip.avi", "status"] == "ok").all()
    assert (project / "data" / "07_model_output" / "annotated" / "astronaut.png").exists()
    summary = pd.read_csv(latest(project, "data/07_model_output/inference_face_summary.csv")).set_index("file")
    assert summary.loc["videos/clip.avi", "frames"] == 5
    assert (project / "data" / "08_reporting" / "video_timelines" / "videos" / "clip_timeline.png").exists()


def test_ensemble_pipeline_of_one_saved_model_matches_its_evaluation(project):
    model_id = f"{versions(project, 'data/06_models/trained_model.keras')[0]}/trained_model"
    first = json.loads((project / "data/08_reporting/evaluation_metrics.json"
                        / versions(project, "data/08_reporting/evaluation_metrics.json")[0]
                        / "evaluation_metrics.json").read_text())
    done = kedro(project, "run", "--env", "quick", "--pipeline", "evaluate_ensemble",
                 "--params", f"evaluation.ensemble={model_id} {model_id}")  # two members, as users write them
    assert done.returncode == 0, done.stderr[-4000:]
    ensemble = json.loads(latest(project, "data/08_reporting/evaluation_metrics.json").read_text())
    assert ensemble["accuracy"] == pytest.approx(first["accuracy"])
    assert ensemble["train_duplicates"].pop("trained_on") == first["train_duplicates"].pop("trained_on") == ["train"]
    assert ensemble["train_duplicates"] == pytest.approx(first["train_duplicates"])
    bad = kedro(project, "run", "--env", "quick", "--pipeline", "evaluate_ensemble",
                "--params", "evaluation.ensemble=[nope/trained_model]")
    assert bad.returncode != 0 and "nope/trained_model" in " ".join(bad.stdout.split() + bad.stderr.split())


def test_inference_model_from_an_mlflow_uri(project):
    from deepfer_kedro.inference.loading import load_model

    mlflow.set_tracking_uri(f"sqlite:///{project / 'mlflow.db'}")
    run = next(r for r in mlflow.search_runs(experiment_names=["deepfer"], output_format="list")
               if r.data.tags.get("kedro_pipeline") == "__default__")
    from_artifact = load_model(f"runs:/{run.info.run_id}/model/trained_model.keras", runtime="keras")
    from_served = load_model(f"runs:/{run.info.run_id}/served_model", runtime="onnx")  # the int8 export
    from_registry = load_model("models:/deepfer@champion", runtime="onnx")
    faces = np.random.default_rng(0).integers(0, 255, (4, 48, 48, 1), dtype=np.uint8)
    np.testing.assert_allclose(from_artifact.predict_on_batch(faces), from_served.predict_on_batch(faces), atol=0.05)
    np.testing.assert_allclose(from_registry.predict_on_batch(faces), from_served.predict_on_batch(faces))


def test_the_run_exports_its_model_and_registers_it_as_champion(project):
    from deepfer_kedro.inference.registry import CHAMPION, SCORE_TAG

    card = json.loads(latest(project, "data/08_reporting/export_card.json").read_text())
    assert card["precision"] == "int8" and card["privatetest"]["faces"] == 3589
    assert card["privatetest"]["agreement_with_keras"]["top1_agreement"] > 0.9
    assert card["publictest"]["faces"] == 3589  # the champion is chosen on PublicTest, measured on the export
    client = mlflow.MlflowClient(f"sqlite:///{project / 'mlflow.db'}")
    champion = client.get_model_version_by_alias("deepfer", CHAMPION)
    assert float(champion.tags[SCORE_TAG]) == pytest.approx(card["publictest"]["exported"]["top1"], abs=1e-4)


def test_the_notebook_runs_top_to_bottom_on_the_quick_run(project):
    """Executed headless with a real kernel, from the project root, after `kedro run --env quick`."""
    import nbformat
    from nbclient import NotebookClient

    source = PROJECT_ROOT / "notebooks" / "explore_fer2013.ipynb"
    notebook = nbformat.read(source, as_version=4)
    assert all(not c.get("outputs") for c in notebook.cells if c.cell_type == "code"), "outputs are stripped in git"
    os.environ["KEDRO_DISABLE_TELEMETRY"] = "true"
    backend = os.environ.pop("MPLBACKEND", None)  # this process's Agg; the kernel picks its inline backend itself
    try:
        NotebookClient(notebook, timeout=600, kernel_name="python3",
                       resources={"metadata": {"path": str(project)}}).execute()
    finally:
        if backend:
            os.environ["MPLBACKEND"] = backend
    outputs = [o for c in notebook.cells if c.cell_type == "code" for o in c.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    images = [o for o in outputs if "image/png" in o.get("data", {})]
    # class counts, faces per emotion, augmentation, duplicate pairs, near duplicates, confusion, worst faces
    assert len(images) >= 7
    text = "".join(o.get("text", "") for o in outputs)
    assert "6 pairs shown" in text and "8 faces shown" in text and "'train_test': " in text


def test_a_run_whose_session_started_in_an_earlier_runs_millisecond_saves_under_its_own_version(project):
    """Kedro's clock stopped at the quick run's save version (two `kedro run`s started together can
    get the same one): the real run saves everything under the next free millisecond instead."""
    earlier = versions(project, "data/08_reporting/class_counts.csv")
    taken = earlier[-1]
    before = latest(project, "data/08_reporting/class_counts.csv").read_text()
    pinned_clock = ("import sys, kedro.framework.session.session as session\n"
                    f"session.generate_timestamp = lambda: {taken!r}\n"
                    "from kedro.framework.cli import main\n"
                    "sys.argv = ['kedro', 'run', '--env', 'quick', '--pipeline', 'class_analysis']\n"
                    "main()\n")
    env = {**os.environ, "MLFLOW_TRACKING_URI": f"sqlite:///{project / 'mlflow.db'}", "KEDRO_DISABLE_TELEMETRY": "true",
           "COLUMNS": "300"}  # log lines unwrapped
    done = subprocess.run([sys.executable, "-c", pinned_clock], cwd=project, env=env, capture_output=True, text=True,
                          timeout=600)
    output = " ".join((done.stdout + done.stderr).split())
    assert done.returncode == 0, output[-3000:]
    assert f"Save version {taken} is another run's in this project; this run saves as" in output
    saved = versions(project, "data/08_reporting/class_counts.csv")
    assert saved[:-1] == earlier and saved[-1] > taken
    assert (project / "data/08_reporting/class_counts.csv" / taken / "class_counts.csv").read_text() == before
    assert versions(project, "data/04_feature/class_weights.json")[-1] == saved[-1]  # one version for the run
