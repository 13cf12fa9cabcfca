"""`kedro viz run` on the project, in Chromium: every registered pipeline, the default pipeline's
nodes by name, and a dataset's metadata panel when it is clicked."""

import os
import re
import shutil
import subprocess
import sys

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import free_port, screenshot, wait_for_http
from tests.conftest import PROJECT_ROOT, stop_group

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def viz(tmp_path_factory):
    root = tmp_path_factory.mktemp("viz_project")
    shutil.copy(PROJECT_ROOT / "pyproject.toml", root)
    shutil.copytree(PROJECT_ROOT / "conf", root / "conf", ignore=shutil.ignore_patterns("local"))
    (root / "conf" / "local").mkdir()
    (root / "src").mkdir()
    for attempt in range(2):  # a port taken between our check and kedro viz's start: once more on another
        port = free_port(below=49151)  # Kedro-Viz refuses ports above 49151
        process = subprocess.Popen([sys.executable, "-m", "kedro", "viz", "run", "--no-browser", "--host",
                                    "127.0.0.1", "--port", str(port)], cwd=root, stdout=subprocess.PIPE,
                                   stderr=subprocess.STDOUT, text=True,
                                   env={**os.environ, "KEDRO_DISABLE_TELEMETRY": "true"}, start_new_session=True)
        try:
            wait_for_http(f"http://127.0.0.1:{port}/api/main", process, seconds=300)
            break
        except AssertionError as err:
            print(f"kedro viz attempt {attempt + 1}: {err}")
            if attempt:
                raise
    yield f"http://127.0.0.1:{port}/"
    stop_group(process)


def test_the_pipelines_nodes_and_a_datasets_metadata_show_in_the_browser(viz, browser_factory, tmp_path):
    page = browser_factory().new_page(viewport={"width": 1600, "height": 1000})
    page.goto(viz)
    page.wait_for_selector("text=train_model", timeout=120_000)
    for node in ("build_image_index", "compute_class_weights", "plot_augmentation_preview", "train_model",
                 "predict_emotions", "plot_confusion_matrix"):
        assert page.locator(f"g.pipeline-node:has-text('{node}')").count() >= 1, node
    for layer in ("raw", "primary", "feature", "models", "model_output", "reporting"):
        assert page.locator(f".pipeline-layer-name:text-is('{layer}')").count() == 1, layer
    screenshot(page, tmp_path, "kedro_viz")
    page.locator("g.pipeline-node:has-text('trained_model')").first.click()
    page.wait_for_selector(".pipeline-metadata", timeout=30_000)
    panel = page.inner_text(".pipeline-metadata")
    assert "KerasModelDataset" in panel and "data/06_models/trained_model.keras" in panel
    screenshot(page, tmp_path, "kedro_viz_metadata")
    page.locator(".dropdown__label", has_text="__default__").first.click()  # the pipeline menu
    for name in ("data_processing", "class_analysis", "augmentation", "training", "evaluate", "evaluate_ensemble",
                 "export", "export_litert", "inference"):
        expect(page.locator(".menu-option__content").filter(has_text=re.compile(f"^{name}$"))).to_be_visible()
