import io
import subprocess
import sys
from dataclasses import astuple

import cv2
import numpy as np
import pillow_heif
import pytest
from PIL import Image

from deepfer_kedro.inference.faces import (
    FER2013_GRAY_RANGE,
    Box,
    HaarDetector,
    UnreadableImageError,
    crop_face,
    read_image,
    stretch_contrast,
)

ASTRONAUT_FACE = Box(177, 67, 93, 93)


def iou(a: Box, b: Box) -> float:
    w = max(0, min(a.x + a.w, b.x + b.w) - max(a.x, b.x))
    h = max(0, min(a.y + a.h, b.y + b.h) - max(a.y, b.y))
    return w * h / (a.w * a.h + b.w * b.h - w * h)


def test_detector_finds_the_astronauts_face(astronaut_rgb):
    boxes = HaarDetector().detect(cv2.cvtColor(astronaut_rgb, cv2.COLOR_RGB2GRAY))
    assert len(boxes) == 1
    assert iou(boxes[0], ASTRONAUT_FACE) > 0.6


def test_detector_scales_boxes_back_from_a_smaller_search(astronaut_rgb):
    big = cv2.resize(cv2.cvtColor(astronaut_rgb, cv2.COLOR_RGB2GRAY), (1024, 1024))
    boxes = HaarDetector(max_width=320).detect(big)
    expected = Box(*(2 * v for v in (ASTRONAUT_FACE.x, ASTRONAUT_FACE.y, ASTRONAUT_FACE.w, ASTRONAUT_FACE.h)))
    assert max(iou(box, expected) for box in boxes) > 0.5


def test_detector_finds_nothing_on_a_blank_image():
    assert HaarDetector().detect(np.full((240, 320), 127, np.uint8)) == []


def test_crop_is_48x48_and_pads_at_the_border():
    gray = np.arange(100 * 100, dtype=np.uint32).reshape(100, 100).astype(np.uint8)
    assert crop_face(gray, Box(10, 10, 40, 40)).shape == (48, 48)
    corner = crop_face(gray, Box(0, 0, 20, 20), margin=0.5)  # reaches outside the image
    assert corner.shape == (48, 48)
    flat = np.zeros((60, 60), np.uint8)
    flat[20:40, 20:40] = 255
    centred = crop_face(flat, Box(20, 20, 20, 20), margin=0.0)
    assert centred.min() > 200  # no margin: only the box


def test_a_tilted_face_is_cut_out_upright(astronaut_rgb):
    """The astronaut turned 25 degrees about her face: with the roll the detector reads from the eyes,
    the crop is the upright face's crop; without alignment, below ``min_roll`` or with the roll's sign
    wrong, it is not."""
    gray = cv2.cvtColor(astronaut_rgb, cv2.COLOR_RGB2GRAY)
    centre = (ASTRONAUT_FACE.x + ASTRONAUT_FACE.w / 2, ASTRONAUT_FACE.y + ASTRONAUT_FACE.h / 2)
    turned = cv2.warpAffine(gray, cv2.getRotationMatrix2D(centre, 25, 1.0), gray.shape[::-1],
                            borderMode=cv2.BORDER_REPLICATE)  # counter-clockwise: the eyes' line rises to the right
    upright = crop_face(gray, ASTRONAUT_FACE).astype(float)
    box = Box(ASTRONAUT_FACE.x, ASTRONAUT_FACE.y, ASTRONAUT_FACE.w, ASTRONAUT_FACE.h, roll=-25.0)

    def likeness(crop: np.ndarray) -> float:
        return float(np.corrcoef(crop.astype(float).ravel(), upright.ravel())[0, 1])

    assert likeness(crop_face(turned, box, min_roll=10)) > 0.95
    assert likeness(crop_face(turned, box)) < 0.85  # min_roll None: as boxed
    assert likeness(crop_face(turned, box, min_roll=30)) < 0.85  # tilted less than min_roll: as boxed
    assert likeness(crop_face(turned, Box(*astuple(box)[:4], roll=25.0), min_roll=10)) < 0.7
    # a face at the border: the turned crop repeats the edges, as the upright one does
    assert crop_face(gray, Box(0, 0, 60, 60, roll=30.0), min_roll=0).shape == (48, 48)


def _jpeg_with_orientation(array: np.ndarray, orientation: int) -> bytes:
    image = Image.fromarray(array)
    exif = image.getexif()
    exif[0x0112] = orientation
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", exif=exif, quality=95)
    return buffer.getvalue()


def test_exif_orientation_is_respected(tmp_path):
    array = np.zeros((40, 80), np.uint8)
    array[:, :10] = 255  # a bright left edge, in a landscape image
    path = tmp_path / "rotated.jpg"
    path.write_bytes(_jpeg_with_orientation(array, 6))  # 6: rotate 90 degrees clockwise to view
    upright = read_image(path)
    assert upright.shape == (80, 40)
    assert upright[:10].mean() > 200 and upright[-10:].mean() < 50  # the edge is now on top


def test_an_iphone_heic_photo_is_read_upright(tmp_path):
    """iPhones save HEIC with the sensor's pixels and a rotation (its ``irot`` box, mirrored in EXIF):
    the photo comes out turned once, as the phone shows it, never twice. Read in a fresh process:
    here scikit-image's imageio has already taught PIL to open HEIC."""
    pillow_heif.register_heif_opener()  # to write the file
    array = np.zeros((40, 80), np.uint8)
    array[:, :10] = 255
    image = Image.fromarray(array).convert("RGB")
    exif = image.getexif()
    exif[0x0112] = 6
    path = tmp_path / "IMG_0001.HEIC"
    image.save(path, "HEIF", exif=exif.tobytes(), quality=95)
    assert b"irot" in path.read_bytes()
    read = ("import sys, numpy as np; from deepfer_kedro.inference.faces import read_image; "
            "np.save(sys.argv[2], read_image(sys.argv[1]))")
    subprocess.run([sys.executable, "-c", read, str(path), str(tmp_path / "read.npy")], check=True)
    upright = np.load(tmp_path / "read.npy")
    assert upright.shape == (80, 40)
    assert upright[:10].mean() > 200 and upright[-10:].mean() < 50  # the edge is now on top


@pytest.mark.parametrize("fmt", ["HEIF", "AVIF", "WEBP"])
def test_a_photo_in_a_phone_or_web_format_reads_as_its_jpeg_does(astronaut_rgb, tmp_path, fmt):
    pillow_heif.register_heif_opener()  # to write the file
    Image.fromarray(astronaut_rgb).save(tmp_path / "a.jpg", quality=95)
    Image.fromarray(astronaut_rgb).save(tmp_path / f"a.{fmt.lower()}", fmt, quality=95)
    jpeg, other = read_image(tmp_path / "a.jpg"), read_image(tmp_path / f"a.{fmt.lower()}")
    assert other.shape == jpeg.shape == astronaut_rgb.shape[:2]
    assert np.abs(other.astype(int) - jpeg.astype(int)).mean() < 4
    [box] = HaarDetector().detect(other)
    assert iou(box, ASTRONAUT_FACE) > 0.6


@pytest.mark.parametrize("mode", ["RGB", "RGBA", "L", "P"])
def test_any_mode_becomes_gray(tmp_path, mode):
    image = Image.fromarray(np.random.default_rng(0).integers(0, 255, (30, 30, 3), dtype=np.uint8)).convert(mode)
    image.save(tmp_path / "x.png")
    gray = read_image(tmp_path / "x.png")
    assert gray.shape == (30, 30) and gray.dtype == np.uint8


def test_unreadable_file_is_named(tmp_path):
    (tmp_path / "notes.jpg").write_text("not an image")
    with pytest.raises(UnreadableImageError, match="notes.jpg: not a readable image"):
        read_image(tmp_path / "notes.jpg")


def test_faces_in_poor_light_are_stretched_and_faces_in_good_light_left_alone(astronaut_rgb):
    face = cv2.resize(crop_face(cv2.cvtColor(astronaut_rgb, cv2.COLOR_RGB2GRAY), ASTRONAUT_FACE), (48, 48))
    dark = np.round(face * 0.2).astype(np.uint8)
    backlit = dark.copy()
    backlit[:6], backlit[-6:], backlit[:, :6], backlit[:, -6:] = 235, 235, 235, 235  # a bright window around it
    out = stretch_contrast(np.stack([face, dark, backlit]), below=100)
    np.testing.assert_array_equal(out[0], face)  # spans well over 100 levels: untouched
    for stretched in out[1:]:
        lo, hi = np.percentile(stretched[8:40, 8:40], (1, 99))
        assert abs(lo - FER2013_GRAY_RANGE[0]) <= 2 and abs(hi - FER2013_GRAY_RANGE[1]) <= 2
        assert np.corrcoef(stretched[8:40, 8:40].ravel(), face[8:40, 8:40].ravel())[0, 1] > 0.95
    np.testing.assert_array_equal(stretch_contrast(np.stack([dark]), below=0)[0], dark)  # 0: off
    assert stretch_contrast(np.zeros((0, 48, 48), np.uint8), below=100).shape == (0, 48, 48)
    flat = stretch_contrast(np.full((1, 48, 48), 7, np.uint8), below=100)  # no contrast at all: no division by 0
    assert (flat == FER2013_GRAY_RANGE[0]).all()
