"""`kedro viz` shows every pipeline with readable node and dataset names, in data layers."""

import json
import os
import shutil
import subprocess
import sys

from tests.conftest import PROJECT_ROOT

PIPELINES = {"data_processing", "class_analysis", "augmentation", "training", "evaluate",
             "evaluate_ensemble", "export", "export_litert", "inference", "__default__"}


def test_kedro_viz_build_lists_pipelines_nodes_and_layers(tmp_path):
    shutil.copy(PROJECT_ROOT / "pyproject.toml", tmp_path)
    shutil.copytree(PROJECT_ROOT / "conf", tmp_path / "conf", ignore=shutil.ignore_patterns("local"))
    (tmp_path / "conf" / "local").mkdir()
    (tmp_path / "src").mkdir()
    done = subprocess.run([sys.executable, "-m", "kedro", "viz", "build"], cwd=tmp_path, capture_output=True,
                          text=True, timeout=600, env={**os.environ, "KEDRO_DISABLE_TELEMETRY": "true"})
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    graph = json.loads((tmp_path / "build" / "api" / "main").read_text())
    assert {p["id"] for p in graph["pipelines"]} == PIPELINES
    tasks = {n["name"] for n in graph["nodes"] if n["type"] == "task"}
    assert {"build_image_index", "build_quality_report", "compute_class_weights", "plot_augmentation_preview",
            "train_model", "predict_emotions", "plot_confusion_matrix", "export_fast_model",
            "package_served_model"} <= tasks
    data = {n["name"]: n.get("layer") for n in graph["nodes"] if n["type"] == "data"}
    assert data["fer2013_faces"] == "raw" and data["trained_model"] == "models"
    assert data["confusion_matrix_plot"] == "reporting"
    assert graph["layers"][0] == "raw"
    assert {"primary", "feature", "models", "model_output", "reporting"} <= set(graph["layers"])


def test_kedro_viz_loads_the_project_without_keras_or_tensorflow():
    """`kedro viz` imports every node module and builds the catalog; with Keras imported at the top of
    three node modules kedro-viz's `load_data` took 14.3 s instead of 7.9 s (2-core CPU, timed twice each),
    behind TensorFlow's CUDA notices. Keras loads when a node runs or a model dataset loads."""
    script = ("import sys\nfrom pathlib import Path\n"
              "from kedro_viz.integrations.kedro.data_loader import load_data\n"
              "catalog, pipelines, _ = load_data(Path.cwd())\n"
              "print(len(pipelines), sorted(m for m in ('keras', 'tensorflow', 'jax') if m in sys.modules))\n")
    done = subprocess.run([sys.executable, "-c", script], cwd=PROJECT_ROOT, capture_output=True, text=True,
                          timeout=600, env={**os.environ, "KEDRO_DISABLE_TELEMETRY": "true"})
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert done.stdout.strip().splitlines()[-1] == f"{len(PIPELINES)} []"
    assert "Could not extract type hints" not in done.stdout + done.stderr  # node annotations resolve without Keras
