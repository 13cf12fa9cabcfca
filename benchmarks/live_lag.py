"""Live cameras: how far behind the camera `deepfer predict`'s results are, and how many frames it classifies.

An IP camera is stood in for by an MJPEG server on 127.0.0.1 in a process of its own: 1920x1080
frames (four people side by side: scikit-image's astronaut, faces about 200 px) at 30 frames/s for
--seconds, each frame's capture time noted when it is made (a camera whose sending waits when its
client reads too slowly, as TCP makes it). The same stream is classified by `predict_video` with
the shipped int8 ONNX model and BlazeFace, once per setting of `inference.live_all_frames`:

- `true`: every frame read one by one and classified, however far behind that falls (the
  baseline: how live frames were read before they had a thread of their own);
- `false` (the default): read on their own thread as they come, the newest classified each time.

Twice: with the default settings, which keep up with this camera on 2 cores, and with
`inference.detector.blazeface.tile: 400` (small faces searched for too, as for a camera far from
its people), which does not. The lag of a frame is the time its row was yielded minus its capture
time (`time.monotonic`, one clock for both processes on Linux).

Usage: python benchmarks/live_lag.py [--seconds 20]"""

from __future__ import annotations

import argparse
import http.server
import json
import multiprocessing
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np
from skimage import data

sys.path.insert(0, str(Path(__file__).parent))
from _report import table, write_section  # noqa: E402

from deepfer_kedro.inference.loading import load_predictor  # noqa: E402
from deepfer_kedro.inference.predict import predict_video  # noqa: E402

WIDTH, HEIGHT, FPS = 1920, 1080, 30


def camera_frame() -> bytes:
    """Four people side by side in a 1920x1080 frame, JPEG-encoded as an IP camera sends it."""
    frame = np.full((HEIGHT, WIDTH, 3), 90, np.uint8)
    side = WIDTH // 4
    face = cv2.resize(cv2.cvtColor(data.astronaut(), cv2.COLOR_RGB2BGR), (side, side))
    for i in range(4):
        frame[100:100 + side, i * side:(i + 1) * side] = face
    return cv2.imencode(".jpg", frame, [cv2.IMWRITE_JPEG_QUALITY, 85])[1].tobytes()


def serve_camera(port: multiprocessing.Queue, seconds: float, times_file: str) -> None:
    jpeg, captured = camera_frame(), []

    class Camera(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(200)
            self.send_header("Content-Type", "multipart/x-mixed-replace; boundary=frame")
            self.end_headers()
            start = time.monotonic()
            for i in range(int(seconds * FPS)):
                time.sleep(max(start + i / FPS - time.monotonic(), 0))
                captured.append(time.monotonic())  # made now: on time, or when the last one was taken
                self.wfile.write(b"--frame\r\nContent-Type: image/jpeg\r\nContent-Length: %d\r\n\r\n%s\r\n"
                                 % (len(jpeg), jpeg))
            Path(times_file).write_text(json.dumps(captured))

        def log_message(self, *args):
            pass

    server = http.server.HTTPServer(("127.0.0.1", 0), Camera)
    port.put(server.server_address[1])
    server.handle_request()


SETTINGS = {"default settings": {}, "tile: 400 (small faces too)": {"detector": {"blazeface": {"tile": 400}}}}


def measure(setting: str, all_frames: bool, seconds: float, workdir: Path) -> dict:
    predictor = load_predictor("default", {**SETTINGS[setting], "live_all_frames": all_frames,
                                           "stream_reconnect_s": 0})
    times_file = workdir / "captured.json"
    port: multiprocessing.Queue = multiprocessing.Queue()
    camera = multiprocessing.Process(target=serve_camera, args=(port, seconds, str(times_file)))
    camera.start()
    url = f"http://127.0.0.1:{port.get(timeout=30)}/video"
    done: dict[int, float] = {}
    faces = 0
    for row in predict_video(predictor, url):
        if row["status"] == "ok":
            done[row["frame"]] = time.monotonic()
            faces += 1
    camera.join(30)
    captured = json.loads(times_file.read_text())
    lags = np.array([done[i] - captured[i] for i in sorted(done)])
    late = [done[i] - captured[i] for i in sorted(done) if captured[i] - captured[0] >= seconds - 5]
    return {"detection": setting, "live_all_frames": "true (baseline)" if all_frames else "false (default)",
            "frames sent": len(captured), "over s": round(captured[-1] - captured[0], 1),
            "frames classified": len(done),
            "faces a frame": round(faces / max(len(done), 1), 2),
            "classified frames/s": round(len(done) / (captured[-1] - captured[0]), 1),
            "median lag s": round(float(np.median(lags)), 3),
            "90th-percentile lag s": round(float(np.percentile(lags, 90)), 3),
            "max lag s": round(float(lags.max()), 3), "mean lag, last 5 s": round(float(np.mean(late)), 3)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=20.0)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        rows = [measure(setting, all_frames, args.seconds, Path(folder))
                for setting in SETTINGS for all_frames in (True, False)]
    for baseline, row in zip(rows[::2], rows[1::2], strict=True):  # each setting's against its baseline
        baseline["median lag vs baseline"] = "1.00x"
        row["median lag vs baseline"] = f"{row['median lag s'] / baseline['median lag s']:.2f}x"
    for row in rows:
        print(row)
    body = (f"A 1920x1080 MJPEG camera at {FPS} frames/s for {args.seconds:g} s (four faces a frame; see the "
            "script), classified by `predict_video` with the shipped int8 ONNX model and BlazeFace. Lag: from a "
            "frame's capture to its row. Over: the seconds the camera took to send its frames; more than "
            f"{args.seconds:g} when the reader made it wait (TCP; a real camera would drop frames or buffer them "
            "instead).\n\n"
            + table(rows, list(rows[0]))
            + "\n\nRead one by one, every frame waits its turn behind those the camera's, the network's and "
            "OpenCV's buffers hold, so the results lag by what those hold; read on a thread of their own with the "
            "newest classified each time, they lag by about one frame's classification, and the frames skipped "
            "are those there was no time for.")
    write_section("Live cameras: keeping up (inference.live_all_frames)",
                  f"python benchmarks/live_lag.py --seconds {args.seconds:g}", body)


if __name__ == "__main__":
    main()
