"""The served model under load on this machine: `mlflow models serve` of the shipped model (its int8
ONNX export, the default, and the Keras model) and `deepfer serve` on 127.0.0.1, real photos posted
one at a time (the baseline) and then 50 at once; latency percentiles, errors and the server's peak
memory. Usage: python benchmarks/serving_load.py"""

import base64
import io
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
from PIL import Image
from skimage import data

sys.path.insert(0, str(Path(__file__).parent))
from _report import table, write_section  # noqa: E402

from deepfer_kedro.inference.loading import load_default_model  # noqa: E402
from deepfer_kedro.inference.serving import save_served_model  # noqa: E402
from deepfer_kedro.inference.settings import inference_settings  # noqa: E402

CONCURRENT = 50


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def body(image: np.ndarray, name: str) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, "JPEG", quality=90)
    encoded = base64.b64encode(buffer.getvalue()).decode()
    return json.dumps({"dataframe_split": {"columns": ["image", "name"], "data": [[encoded, name]]}}).encode()


def post(port: int, payload: bytes) -> tuple[float, bool]:
    start = time.perf_counter()
    request = urllib.request.Request(f"http://127.0.0.1:{port}/invocations", data=payload,
                                     headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=120) as answer:
            rows = json.loads(answer.read())["predictions"]
            ok = answer.status == 200 and rows[0]["status"] in ("ok", "no_face")
    except (urllib.error.URLError, OSError, ValueError):
        ok = False
    return time.perf_counter() - start, ok


def peak_rss_mb(pid: int) -> float:
    """VmHWM of the server and its children (uvicorn workers), in MB."""
    total = 0.0
    for child in [pid, *map(int, Path(f"/proc/{pid}/task/{pid}/children").read_text().split())]:
        try:
            line = next(x for x in Path(f"/proc/{child}/status").read_text().splitlines() if x.startswith("VmHWM"))
            total += int(line.split()[1]) / 1024
        except (OSError, StopIteration):
            pass
    return total


def measure(command: list[str], port: int, payloads: list[bytes]) -> tuple[list, list, float, float]:
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    server = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                              start_new_session=True)  # its own group: stopping it stops its workers too
    try:
        deadline = time.monotonic() + 180
        while True:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/ping", timeout=2).close()
                break
            except OSError:
                if time.monotonic() > deadline or server.poll() is not None:
                    raise SystemExit(f"the server did not start: {command}") from None
                time.sleep(1)
        post(port, payloads[0])  # warm-up: the model's first call traces its graph
        sequential = [post(port, payloads[i % len(payloads)]) for i in range(20)]
        start = time.perf_counter()
        with ThreadPoolExecutor(CONCURRENT) as pool:
            concurrent = list(pool.map(lambda i: post(port, payloads[i % len(payloads)]), range(CONCURRENT)))
        wall = time.perf_counter() - start
        rss = peak_rss_mb(server.pid)
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=60)
    return sequential, concurrent, wall, rss


def row(server: str, name: str, results: list[tuple[float, bool]], seconds: float, rss: float) -> dict:
    times = sorted(t for t, _ in results)
    return {"server": server, "requests": name, "answered": f"{sum(ok for _, ok in results)}/{len(results)}",
            "p50 s": round(statistics.median(times), 3), "p90 s": round(times[int(0.9 * (len(times) - 1))], 3),
            "max s": round(times[-1], 3), "requests/s": round(len(results) / seconds, 1),
            "peak server memory": f"{rss:.0f} MB"}


def main() -> None:
    photos = [data.astronaut(), np.ascontiguousarray(data.astronaut()[:, ::-1]), data.chelsea()]
    payloads = [body(photo, f"photo{i}.jpg") for i, photo in enumerate(photos)]
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        settings = inference_settings()
        exported = save_served_model(load_default_model("onnx"), settings, Path(tmp) / "onnx")
        keras = save_served_model(load_default_model("keras"), settings, Path(tmp) / "keras")
        serve = [sys.executable, "-m", "mlflow", "models", "serve", "--env-manager", "local", "--host", "127.0.0.1"]
        for name, command in (
                ("mlflow models serve, Keras model", [*serve, "-m", str(keras), "-p"]),
                ("mlflow models serve, int8 ONNX export (default)", [*serve, "-m", str(exported), "-p"]),
                ("deepfer serve (int8 ONNX)", [str(Path(sys.executable).parent / "deepfer"), "serve", "--model",
                                               "default"])):
            port = free_port()
            full = [*command, str(port)] if command[-1] == "-p" else [*command, "--port", str(port)]
            sequential, concurrent, wall, rss = measure(full, port, payloads)
            rows += [row(name, "20 one at a time (baseline)", sequential, sum(t for t, _ in sequential), rss),
                     row(name, f"{CONCURRENT} at once", concurrent, wall, rss)]
    body_text = (table(rows, list(rows[0])) + "\n\nThe shipped model on 127.0.0.1 with conf/base's inference settings "
                 "(BlazeFace), one server process each; every "
                 "request is one real photo (scikit-image's astronaut, its mirror, and a cat without a face), "
                 "512x512 JPEG; 'answered' counts 200s with a row. Peak memory is the server's VmHWM with its "
                 "workers.\n")
    print(body_text)
    write_section("Served model under load", "python benchmarks/serving_load.py", body_text)


if __name__ == "__main__":
    main()
