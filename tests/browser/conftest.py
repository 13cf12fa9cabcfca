"""Real Chromium (Debian's package, installed by .ci/run) driven by Playwright; servers on 127.0.0.1."""

import os
import random
import shutil
import socket
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest

CHROMIUM_ARGS = ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"]


def chromium_path() -> str:
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    if not path:
        message = "Chromium is not installed (apt-get install chromium; .ci/run does it)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return path


@pytest.fixture
def browser_factory(tmp_path):
    """Starts Chromium with extra command-line arguments; closes everything it started."""
    from playwright.sync_api import sync_playwright

    executable = chromium_path()
    playwright = sync_playwright().start()
    browsers = []

    def launch(*extra: str):
        browsers.append(playwright.chromium.launch(executable_path=executable, args=[*CHROMIUM_ARGS, *extra]))
        return browsers[-1]

    yield launch
    for browser in browsers:
        browser.close()
    playwright.stop()


def free_port(below: int | None = None) -> int:
    """A free port on 127.0.0.1; ``below`` for servers that refuse the ephemeral range (Kedro-Viz
    takes nothing above 49151)."""
    if below is None:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            return s.getsockname()[1]
    for port in random.Random().sample(range(20000, below), 200):
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise AssertionError(f"no free port below {below}")


def wait_for_http(url: str, process: subprocess.Popen, seconds: float = 180) -> None:
    deadline = time.monotonic() + seconds
    while True:
        try:
            urllib.request.urlopen(url, timeout=2).close()
            return
        except OSError:
            if process.poll() is not None:
                output = process.stdout.read()[-3000:] if process.stdout else ""
                raise AssertionError(f"the server stopped: {output}") from None
            if time.monotonic() > deadline:
                raise AssertionError(f"{url} did not answer in {seconds} s") from None
            time.sleep(0.5)


def screenshot(page, tmp_path: Path, name: str) -> Path:
    """Saved under the test's tmp dir, and under $DEEPFER_SCREENSHOT_DIR when set (the README's pictures)."""
    path = tmp_path / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    if os.environ.get("DEEPFER_SCREENSHOT_DIR"):
        Path(os.environ["DEEPFER_SCREENSHOT_DIR"]).mkdir(parents=True, exist_ok=True)
        shutil.copy(path, Path(os.environ["DEEPFER_SCREENSHOT_DIR"]) / path.name)
    return path
