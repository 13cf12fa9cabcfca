"""Inference speed on this CPU: classification latency (batch 1) and throughput (batch 256) of the
recipe's VGG16 network, and end-to-end frames per second on a 640x480 video with one face.
Usage: python benchmarks/inference.py"""

import statistics
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np
from skimage import data

sys.path.insert(0, str(Path(__file__).parent))
from _report import table, write_section  # noqa: E402

from deepfer_kedro.inference.predict import EmotionPredictor, predict_video  # noqa: E402
from deepfer_kedro.models import build_vgg16_classifier  # noqa: E402

FRAMES = 120


def timed(call, repeats: int) -> list[float]:
    call()  # warm-up: graph tracing
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        call()
        times.append(time.perf_counter() - start)
    return times


def make_video(path: Path) -> None:
    frame = cv2.resize(cv2.cvtColor(data.astronaut(), cv2.COLOR_RGB2BGR), (480, 480))
    canvas = np.zeros((480, 640, 3), np.uint8)
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 30, (640, 480))
    for i in range(FRAMES):  # the face drifts sideways, as in a real clip
        canvas[:] = 0
        x = 40 + (i % 60) * 2
        canvas[:, x:x + 480] = frame
        writer.write(canvas)
    writer.release()


def video_fps(model, path: Path, settings: dict, detect_every: int = 1) -> tuple[float, int]:
    predictor = EmotionPredictor(model, settings)
    start = time.perf_counter()
    rows = list(predict_video(predictor, str(path), detect_every=detect_every))
    elapsed = time.perf_counter() - start
    return FRAMES / elapsed, sum(r["status"] == "ok" for r in rows)


def main() -> None:
    model = build_vgg16_classifier(weights=None)  # the recipe's network; speed does not depend on weights
    one = np.zeros((1, 48, 48, 1), np.uint8)
    batch = np.zeros((256, 48, 48, 1), np.uint8)
    keras_predict = statistics.median(timed(lambda: model.predict(one, verbose=0), 50)) * 1000
    on_batch = statistics.median(timed(lambda: model.predict_on_batch(one), 200)) * 1000
    throughput = 256 / statistics.median(timed(lambda: model.predict_on_batch(batch), 5))
    rows = [
        {"what": "latency per face, batch 1, `model.predict` (baseline)", "value": f"{keras_predict:.1f} ms",
         "vs baseline": "1.00x"},
        {"what": "latency per face, batch 1, `predict_on_batch` (ours)", "value": f"{on_batch:.1f} ms",
         "vs baseline": f"{keras_predict / on_batch:.2f}x faster"},
        {"what": "throughput, batch 256, `predict_on_batch`", "value": f"{throughput:.0f} faces/s", "vs baseline": ""},
    ]
    with tempfile.TemporaryDirectory() as tmp:
        video = Path(tmp) / "one_face_640x480.avi"
        make_video(video)
        gray = cv2.cvtColor(cv2.VideoCapture(str(video)).read()[1], cv2.COLOR_BGR2GRAY)
        configs = [("detector searches at 640 px (photo default)", {"detector": {"max_width": 640}}, 1),
                   ("detector searches at 320 px", {"detector": {"max_width": 320}}, 1),
                   ("detector at 320 px on every 2nd frame, boxes reused between",
                    {"detector": {"max_width": 320}}, 2),
                   ("detector at 320 px on every 3rd frame, boxes reused between",
                    {"detector": {"max_width": 320}}, 3)]
        base_fps = None
        for name, settings, detect_every in configs:
            fps, faces = video_fps(model, video, settings, detect_every)
            base_fps = base_fps or fps
            predictor = EmotionPredictor(model, settings)
            detect_ms = statistics.median(timed(lambda p=predictor: p.detector.detect(gray), 20)) * 1000
            rows.append({"what": f"video end to end, {name}", "value": f"{fps:.1f} frames/s ({faces} faces)",
                         "vs baseline": f"{fps / base_fps:.2f}x; detection {detect_ms:.1f} ms/frame"})
    body = table(rows, ["what", "value", "vs baseline"])
    body += (f"\n\nVideo: {FRAMES} frames, 640x480 MJPG, one face (scikit-image's astronaut) drifting sideways; "
             "end to end = read and decode every frame, detect (OpenCV Haar cascade), crop and classify every "
             "frame's faces. "
             "Medians of repeated calls after a warm-up; the network is the recipe's VGG16 at 48x48.")
    print(body)
    write_section("Inference", "python benchmarks/inference.py", body)


if __name__ == "__main__":
    main()
