"""`deepfer serve` on 127.0.0.1: answers like MLflow's server, and refuses oversized requests
before holding them in memory."""

import base64
import io
import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tests.conftest import stop_group

pytestmark = pytest.mark.slow


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def b64(array, fmt="JPEG") -> str:
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, fmt)
    return base64.b64encode(buffer.getvalue()).decode()


def post(port, data: bytes) -> tuple[int, dict]:
    request = urllib.request.Request(f"http://127.0.0.1:{port}/invocations", data=data,
                                     headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=120) as answer:
            return answer.status, json.loads(answer.read())
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read())


def peak_memory_mb(pid: int) -> float:
    line = next(x for x in Path(f"/proc/{pid}/status").read_text().splitlines() if x.startswith("VmHWM"))
    return int(line.split()[1]) / 1024


@pytest.fixture(scope="module")
def server(tiny_model_file):
    port = free_port()
    process = subprocess.Popen([str(Path(sys.executable).parent / "deepfer"), "serve", "--model", str(tiny_model_file),
                                "--port", str(port), "--max-request-bytes", str(2 * 2**20)],
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                               env={**os.environ, "KEDRO_DISABLE_TELEMETRY": "true"}, start_new_session=True)
    deadline = time.monotonic() + 120
    while True:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/ping", timeout=2).close()
            break
        except OSError:
            assert process.poll() is None, process.stdout.read()
            assert time.monotonic() < deadline
            time.sleep(0.5)
    yield port, process.pid
    stop_group(process)


def test_answers_rows_in_mlflows_json(server, astronaut_rgb):
    server, _ = server
    body = {"dataframe_split": {"columns": ["image", "name"], "data": [[b64(astronaut_rgb), "a.jpg"],
                                                                       ["bm90", "broken"]]}}
    status, answer = post(server, json.dumps(body).encode())
    assert status == 200
    assert [r["status"] for r in answer["predictions"]] == ["ok", "unreadable"]
    status, answer = post(server, json.dumps({"dataframe_records": [{"image": b64(astronaut_rgb)}]}).encode())
    assert status == 200 and answer["predictions"][0]["status"] == "ok"


def test_oversized_and_malformed_requests_get_a_4xx_with_a_message(server):
    server, _ = server
    big = json.dumps({"dataframe_split": {"columns": ["image"], "data": [["A" * (3 * 2**20)]]}}).encode()
    status, answer = post(server, big)
    assert status == 413 and "over the limit of 2,097,152" in answer["error"]
    status, answer = post(server, b"{not json")
    assert status == 400 and "expected JSON" in answer["error"] and "Traceback" not in answer["error"]
    status, answer = post(server, json.dumps({"dataframe_split": {"columns": ["img"], "data": [["x"]]}}).encode())
    assert status == 400 and "needs an 'image' column" in answer["error"]


def test_images_over_the_pixel_limit_are_rows_and_cost_the_server_no_memory(server, astronaut_rgb):
    port, pid = server
    face = json.dumps({"dataframe_split": {"columns": ["image"], "data": [[b64(astronaut_rgb)]]}}).encode()
    assert post(port, face)[0] == 200
    before = peak_memory_mb(pid)
    bomb = b64(np.zeros((12_000, 12_000), np.uint8), "PNG")  # 144 MB once decoded
    body = json.dumps({"dataframe_split": {"columns": ["image"], "data": [[bomb]] * 4}}).encode()
    status, answer = post(port, body)
    assert status == 200 and all("over the limit" in row["message"] for row in answer["predictions"])
    assert peak_memory_mb(pid) - before < 100  # four decoded bombs would be 576 MB
