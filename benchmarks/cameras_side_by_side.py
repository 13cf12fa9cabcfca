"""Several live cameras: one `deepfer predict` reading them side by side, against one process per camera.

Each camera is stood in for by `live_lag.py`'s MJPEG server (1920x1080, four faces a frame, 30
frames/s for --seconds) in a process of its own. The cameras are classified with the shipped int8
ONNX model and BlazeFace at default settings, in two ways:

- one process per camera, each running `predict_video` (the baseline: what had to be done before
  a run read several live cameras at once);
- one process reading all of them with `predict_side_by_side` (what `deepfer predict URL1 URL2`
  does): a thread per camera, each with a face detector of its own, taking turns at the one model;
- the same with `inference.live_max_fps: 5` (`--max-fps 5`): at most 5 frames a second of each
  camera classified, for the work it saves.

Each way runs in fresh processes (spawned), so that their peak memory (the largest resident set of
a process, summed over the processes) compares. Lag: from a frame's capture to its row. CPU: the
processes' user and system time over the cameras' seconds (2.0 = both cores busy).

Usage: python benchmarks/cameras_side_by_side.py [--cameras 2] [--seconds 20]"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import resource
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from _report import table, write_section  # noqa: E402
from live_lag import FPS, serve_camera  # noqa: E402


def serve(announced: multiprocessing.Queue, seconds: float, times_file: str) -> None:
    """``serve_camera``, its port announced with the file its capture times go to."""
    class Tell:
        def put(self, port: int) -> None:
            announced.put((port, times_file))

    serve_camera(Tell(), seconds, times_file)


def classify(urls: list[str], results: multiprocessing.Queue, max_fps: float | None) -> None:
    """Classifies ``urls`` in this process (side by side when several); puts when each frame's rows came,
    by URL, this process's CPU seconds while classifying and its peak resident memory."""
    from deepfer_kedro.inference.loading import load_predictor
    from deepfer_kedro.inference.predict import predict_side_by_side, predict_video

    predictor = load_predictor("default", {"stream_reconnect_s": 0, "live_max_fps": max_fps})
    usage = resource.getrusage(resource.RUSAGE_SELF)
    cpu_before = usage.ru_utime + usage.ru_stime
    rows = predict_side_by_side(predictor, urls) if len(urls) > 1 else predict_video(predictor, urls[0])
    done: dict[str, dict[int, float]] = {url: {} for url in urls}
    for row in rows:
        if row["status"] == "ok":
            done[row["file"]][row["frame"]] = time.monotonic()
    usage = resource.getrusage(resource.RUSAGE_SELF)
    results.put((done, usage.ru_utime + usage.ru_stime - cpu_before, usage.ru_maxrss / 1024))


def measure(cameras: int, together: bool, seconds: float, workdir: Path, max_fps: float | None = None) -> dict:
    spawn = multiprocessing.get_context("spawn")
    ports, results = spawn.Queue(), spawn.Queue()
    times_files = [workdir / f"captured{i}.json" for i in range(cameras)]
    servers = [spawn.Process(target=serve, args=(ports, seconds, str(file))) for file in times_files]
    for server in servers:
        server.start()
    times_file = dict(ports.get(timeout=60) for _ in servers)
    urls = [f"http://127.0.0.1:{port}/video" for port in times_file]
    groups = [urls] if together else [[url] for url in urls]
    workers = [spawn.Process(target=classify, args=(group, results, max_fps)) for group in groups]
    for worker in workers:
        worker.start()
    outcomes = [results.get(timeout=seconds + 300) for _ in workers]
    for process in [*workers, *servers]:
        process.join(60)
    done = {url: frames for outcome in outcomes for url, frames in outcome[0].items()}
    captured = {url: json.loads(Path(file).read_text()) for url, file in zip(urls, times_file.values(), strict=True)}
    lags, classified_per_s = [], []
    for url in urls:
        times = captured[url]
        lags += [done[url][i] - times[i] for i in sorted(done[url])]
        classified_per_s.append(len(done[url]) / (times[-1] - times[0]))
    lags_array = np.array(lags)
    span = max(times[-1] - times[0] for times in captured.values())
    return {"cameras": cameras,
            "read by": (f"one process ({cameras} threads)" if together else f"{cameras} processes (baseline)")
            + (f", --max-fps {max_fps:g}" if max_fps else ""),
            "frames sent, each": min(len(times) for times in captured.values()),
            "classified frames/s, each camera": ", ".join(f"{rate:.1f}" for rate in classified_per_s),
            "median lag s": round(float(np.median(lags_array)), 3),
            "90th-percentile lag s": round(float(np.percentile(lags_array, 90)), 3),
            "CPU cores busy": round(sum(outcome[1] for outcome in outcomes) / span, 2),
            "peak memory MiB, all processes": round(sum(outcome[2] for outcome in outcomes))}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cameras", type=int, default=2)
    parser.add_argument("--seconds", type=float, default=20.0)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        rows = [measure(args.cameras, together, args.seconds, Path(folder), max_fps)
                for together, max_fps in ((False, None), (True, None), (True, 5.0))]
    for row in rows:
        row["median lag vs baseline"] = f"{row['median lag s'] / rows[0]['median lag s']:.2f}x"
    for row in rows:
        print(row)
    body = (f"{args.cameras} MJPEG cameras, each 1920x1080 at {FPS} frames/s for {args.seconds:g} s with four faces "
            "a frame (see `live_lag.py`), classified with the shipped int8 ONNX model and BlazeFace at default "
            "settings, by one process per camera or by one process reading them side by side. Lag: from a frame's "
            "capture to its row; the frames there was no time for are skipped.\n\n" + table(rows, list(rows[0]))
            + "\n\nIn one process the cameras share one model, so it holds less memory. `--max-fps` trades "
            "frames for CPU: for many cameras, or a machine with other work to do.")
    write_section("Several cameras in one run (deepfer predict URL1 URL2)",
                  f"python benchmarks/cameras_side_by_side.py --cameras {args.cameras} --seconds {args.seconds:g}",
                  body)


if __name__ == "__main__":
    main()
