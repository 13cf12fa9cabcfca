"""The MLflow UI after two quick runs with different parameters, in Chromium: both runs listed by
name with their dataset, compared side by side with the differing parameter and a val_accuracy
chart, and the confusion matrix among a run's artifacts."""

import os
import shutil
import subprocess
import sys

import mlflow
import pytest
from playwright.sync_api import expect

from tests.browser.conftest import free_port, screenshot, wait_for_http
from tests.conftest import PROJECT_ROOT, stop_group

pytestmark = [pytest.mark.slow, pytest.mark.real_data]
SMALL = "training.epochs=2,training.max_images_per_class=50,evaluation.max_images_per_class=10"


@pytest.fixture(scope="module")
def two_runs(tmp_path_factory, real_zip):
    root = tmp_path_factory.mktemp("mlflow_project")
    shutil.copy(PROJECT_ROOT / "pyproject.toml", root)
    shutil.copytree(PROJECT_ROOT / "conf", root / "conf", ignore=shutil.ignore_patterns("local"))
    (root / "conf" / "local").mkdir()
    (root / "src").mkdir()
    (root / "data" / "01_raw").mkdir(parents=True)
    (root / "data" / "01_raw" / "fer2013.zip").symlink_to(real_zip)
    env = {**os.environ, "KEDRO_DISABLE_TELEMETRY": "true", "MLFLOW_TRACKING_URI": f"sqlite:///{root / 'mlflow.db'}"}
    for rate in ("0.001", "0.002"):
        done = subprocess.run([sys.executable, "-m", "kedro", "run", "--env", "quick", "--params",
                               f"{SMALL},training.learning_rate={rate}"], cwd=root, env=env, capture_output=True,
                              text=True, timeout=900)
        assert done.returncode == 0, done.stderr[-3000:]
    port = free_port()
    server = subprocess.Popen([sys.executable, "-m", "mlflow", "ui", "--backend-store-uri",
                               f"sqlite:///{root / 'mlflow.db'}", "--host", "127.0.0.1", "--port", str(port)],
                              cwd=root, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                              env={**os.environ, "PATH": f"{os.path.dirname(sys.executable)}:{os.environ['PATH']}"},
                              start_new_session=True)
    wait_for_http(f"http://127.0.0.1:{port}/health", server)
    mlflow.set_tracking_uri(f"sqlite:///{root / 'mlflow.db'}")
    experiment = mlflow.get_experiment_by_name("deepfer").experiment_id
    runs = mlflow.search_runs([experiment], output_format="list")
    mlflow.set_tracking_uri(None)
    yield f"http://127.0.0.1:{port}/#/experiments/{experiment}", runs
    stop_group(server)


def test_both_runs_are_listed_by_name_with_their_dataset(two_runs, browser_factory, tmp_path):
    url, runs = two_runs
    assert {r.info.run_name for r in runs} == {"__default__ quick vgg_fer seed 42"}
    page = browser_factory().new_page(viewport={"width": 1600, "height": 1000})
    page.goto(f"{url}/runs")
    page.wait_for_selector("text=2 matching runs", timeout=90_000)
    expect(page.locator("text=__default__ quick vgg_fer")).to_have_count(2, timeout=60_000)
    expect(page.locator("text=FER2013 (bf9ce1bbfb4d")).to_have_count(2, timeout=60_000)  # the dataset column
    screenshot(page, tmp_path, "mlflow_runs")


def test_comparing_shows_the_differing_parameter_and_a_val_accuracy_chart(two_runs, browser_factory, tmp_path):
    url, runs = two_runs
    page = browser_factory().new_page(viewport={"width": 1600, "height": 1000})
    page.goto(f"{url}/runs")
    page.wait_for_selector("text=2 matching runs", timeout=90_000)
    page.get_by_role("checkbox").first.click()  # select all
    page.get_by_role("button", name="Compare").first.click()
    page.wait_for_selector("text=Comparing 2 Runs", timeout=60_000)
    page.wait_for_selector("text=training.learning_rate", timeout=60_000)
    body = page.inner_text("body")
    assert "Show diff only" in body and "val_accuracy" in body
    screenshot(page, tmp_path, "mlflow_compare")
    page.goto(f"{url}/runs?compareRunsMode=CHART")  # the runs list's chart view: a chart per metric
    page.get_by_placeholder("Search metric charts").fill("val_accuracy")
    page.wait_for_timeout(3_000)
    screenshot(page, tmp_path, "mlflow_val_accuracy")
    expect(page.get_by_text("val_accuracy", exact=True).first).to_be_visible(timeout=60_000)
    expect(page.locator(".js-plotly-plot").first).to_be_visible(timeout=60_000)


def test_a_runs_artifacts_show_the_confusion_matrix(two_runs, browser_factory, tmp_path):
    url, runs = two_runs
    page = browser_factory().new_page(viewport={"width": 1600, "height": 1000})
    page.goto(f"{url}/runs/{runs[0].info.run_id}/artifacts/plots/confusion_matrix.png")
    # the artifact viewer shows the PNG (1650 px wide, served as a blob) beside the artifact tree
    page.wait_for_function("Array.from(document.images).some(i => i.complete && i.naturalWidth >= 1500)",
                           timeout=60_000)
    assert "confusion_matrix.png" in page.inner_text("body")
    screenshot(page, tmp_path, "mlflow_artifacts")
