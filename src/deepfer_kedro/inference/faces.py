"""Finding faces in real photos and frames, and turning each into the model's 48x48 input."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from deepfer_kedro.labels import IMAGE_SIZE

CASCADE = "haarcascade_frontalface_default.xml"
# Larger images are refused before decoding: a 450 KB PNG can hold 12,000 x 12,000 pixels (1.4 GB
# decoded). 40 megapixels is more than any camera photo people send.
MAX_IMAGE_PIXELS = 40_000_000


class UnreadableImageError(ValueError):
    """A file that is not an image we can decode."""


@dataclass(frozen=True)
class Box:
    x: int
    y: int
    w: int
    h: int


def read_image(path: str | Path | Any, max_pixels: int = MAX_IMAGE_PIXELS, name: str | None = None) -> np.ndarray:
    """Any image file or file object (JPEG, PNG, TIFF, ...; RGB, gray, RGBA, 16-bit or float) as a
    gray uint8 array, upright as its EXIF orientation says. Images over ``max_pixels`` are refused
    from their header, before any decoding."""
    name = name or str(path)
    try:
        if isinstance(path, Image.Image):  # opened by a catalog dataset: not decoded yet
            return _checked_gray(path, max_pixels, name)
        with Image.open(path) as image:
            return _checked_gray(image, max_pixels, name)
    except Image.DecompressionBombError as err:  # PIL's own cap, met before ours when far over
        raise UnreadableImageError(f"{name}: over the limit of {max_pixels:,} pixels ({err})") from err
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


class FaceDetector:
    """OpenCV's frontal-face Haar cascade, shipped inside opencv-python-headless.

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


def crop_face(gray: np.ndarray, box: Box, margin: float = 0.1) -> np.ndarray:
    """A square crop around the box, ``margin`` of its side added on each side, edges repeated
    where it leaves the image, resized to 48x48 like FER2013's faces."""
    side = int(round(max(box.w, box.h) * (1 + 2 * margin)))
    cx, cy = box.x + box.w / 2, box.y + box.h / 2
    x0, y0 = int(round(cx - side / 2)), int(round(cy - side / 2))
    pad = max(0, -x0, -y0, x0 + side - gray.shape[1], y0 + side - gray.shape[0])
    padded = cv2.copyMakeBorder(gray, pad, pad, pad, pad, cv2.BORDER_REPLICATE) if pad else gray
    crop = padded[y0 + pad:y0 + pad + side, x0 + pad:x0 + pad + side]
    interpolation = cv2.INTER_AREA if side > IMAGE_SIZE else cv2.INTER_LINEAR
    return cv2.resize(crop, (IMAGE_SIZE, IMAGE_SIZE), interpolation=interpolation)
