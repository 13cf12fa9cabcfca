"""Emotions of every face in photos, video files and camera frames."""

from __future__ import annotations

import contextlib
import datetime
import itertools
import logging
import math
import os
import queue
import re
import threading
import time
from collections import Counter, deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import cv2
import numpy as np

from deepfer_kedro.core.evaluation import with_temperature
from deepfer_kedro.inference.faces import (
    MAX_IMAGE_PIXELS,
    Box,
    UnreadableImageError,
    crop_face,
    make_detector,
    read_image,
    stretch_contrast,
)
from deepfer_kedro.labels import EMOTIONS, PROBABILITY_COLUMNS, ROW_COLUMNS, Status

__all__ = ["ROW_COLUMNS", "AnnotationFolder", "EmotionPredictor", "FaceResult", "FaceTracks", "Status", "predict_paths",
           "predict_side_by_side", "predict_video"]

logger = logging.getLogger(__name__)

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff", ".gif", ".heic", ".heif", ".avif"}
VIDEO_SUFFIXES = {".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v", ".mpg", ".mpeg"}
# video streams, as IP cameras and media servers give them
STREAM_SCHEMES = ("rtsp://", "rtsps://", "rtmp://", "http://", "https://", "srt://", "udp://", "tcp://")
STREAM_TIMEOUT_MS = 10_000  # a camera that does not answer is reported after this (OpenCV waits 30 s)
# faces whose centre spans fewer gray levels are in poor light and are stretched (stretch_contrast):
# chosen on PublicTest, where it leaves clean faces' top-1 as it is (benchmarks/lighting.py)
STRETCH_CONTRAST_BELOW = 100.0
STREAM_RECONNECT_S = 60.0  # how long a camera or live stream that stops delivering frames is tried again
PHOTO_WORKERS = 4  # threads reading photos at once (at most the CPU count): benchmarks/photo_workers.py


def is_stream(source: str | int) -> bool:
    return isinstance(source, str) and source.lower().startswith(STREAM_SCHEMES)


def output_name(source: str | int) -> str:
    """What the files written for an input are named after: the file itself, ``camera0`` for camera 0
    (``camera:0`` in the table), and a stream's address in plain characters."""
    if isinstance(source, int) or (isinstance(source, str) and source.startswith("camera:")):
        return f"camera{str(source).removeprefix('camera:')}"
    if is_stream(source):
        address = urlsplit(source)
        return re.sub(r"[^A-Za-z0-9]+", "_", address.netloc.rpartition("@")[2] + address.path).strip("_")
    return source


def shown_name(source: str | int) -> str:
    """The input as the table and the log name it: a stream's password (``rtsp://admin:secret@...``,
    as IP cameras are often addressed) as ``***``."""
    if isinstance(source, int):
        return f"camera:{source}"
    address = urlsplit(source) if is_stream(source) else None
    if address is None or address.password is None:
        return source
    return address._replace(netloc=address.netloc.replace(f":{address.password}@", ":***@", 1)).geturl()


@dataclass
class FaceResult:
    box: Box
    status: str  # Status.OK or Status.FACE_TOO_SMALL
    probabilities: np.ndarray | None = None

    @property
    def emotion(self) -> str | None:
        return None if self.probabilities is None else EMOTIONS[int(self.probabilities.argmax())]


@dataclass
class EmotionPredictor:
    """Detects faces, classifies those large enough, and reports the rest.

    ``settings``: ``min_face_size`` (pixels; smaller faces are reported, not guessed),
    ``margin``, ``align_faces`` and ``align_min_roll`` (a face tilted at least that many degrees is
    turned upright by its eyes before it is classified), ``tta_flip``,
    ``temperature`` (the probabilities' logits are divided by it, which calibrates the confidence
    and never changes the emotion; None: the model's ``calibration_temperature``, which the shipped
    model has, else 1), ``stretch_contrast_below`` (faces in poor light are stretched to FER2013's gray range:
    ``stretch_contrast``; 0: never), ``detector`` (``make_detector``: ``kind`` blazeface or haar, and their
    options), ``detect_faces``
    (False: every image is already one face crop, as FER2013's own images are),
    ``max_image_pixels`` (larger images are refused before decoding), ``video_smoothing``
    (``FaceTracks``), ``photo_workers`` (``predict_paths``), and for a camera or live stream
    ``stream_reconnect_s``, ``live_all_frames`` and ``live_max_fps`` (``LiveFrames``)."""

    model: Any
    settings: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.detector = make_detector(self.settings.get("detector"))
        self.min_face_size = int(self.settings.get("min_face_size", 32))
        self.margin = float(self.settings.get("margin", 0.1))
        self.align_faces = bool(self.settings.get("align_faces", True))
        self.align_min_roll = float(self.settings.get("align_min_roll", 5.0)) if self.align_faces else None
        self.tta_flip = bool(self.settings.get("tta_flip", False))
        temperature = self.settings.get("temperature")
        self.temperature = float(getattr(self.model, "calibration_temperature", 1.0) if temperature is None
                                 else temperature)
        if not 0 < self.temperature < math.inf:
            raise ValueError(f"inference.temperature must be above 0 (or null: the model's own), not {temperature}")
        self.stretch_contrast_below = float(self.settings.get("stretch_contrast_below", STRETCH_CONTRAST_BELOW))
        self.detect_faces = bool(self.settings.get("detect_faces", True))
        self.max_image_pixels = int(self.settings.get("max_image_pixels", MAX_IMAGE_PIXELS))
        self.video_smoothing = float(self.settings.get("video_smoothing", 0.0))
        if not 0 <= self.video_smoothing < 1:
            raise ValueError(f"inference.video_smoothing must be at least 0 and below 1, not {self.video_smoothing}")
        self.stream_reconnect_s = float(self.settings.get("stream_reconnect_s", STREAM_RECONNECT_S))
        if not self.stream_reconnect_s >= 0:
            raise ValueError(f"inference.stream_reconnect_s must be at least 0, not {self.stream_reconnect_s}")
        workers = self.settings.get("photo_workers", PHOTO_WORKERS)
        if not (isinstance(workers, int) and workers >= 1):
            raise ValueError(f"inference.photo_workers must be a whole number of at least 1, not {workers!r}")
        self.photo_workers = min(workers, os.cpu_count() or 1)
        self.live_all_frames = bool(self.settings.get("live_all_frames", False))
        self.live_max_fps = self.settings.get("live_max_fps")
        if self.live_max_fps is not None:
            self.live_max_fps = float(self.live_max_fps)
            if not 0 < self.live_max_fps < math.inf:
                raise ValueError(f"inference.live_max_fps must be above 0 (or null: no limit), not {self.live_max_fps}")
            if self.live_all_frames:
                raise ValueError("inference.live_max_fps skips frames and inference.live_all_frames: true classifies "
                                 "every one: set one of them")

    def classify(self, faces: np.ndarray) -> np.ndarray:
        """Probabilities for (N, 48, 48) uint8 faces, those in poor light stretched first; with
        ``tta_flip`` averaged with mirrors."""
        batch = stretch_contrast(faces, self.stretch_contrast_below)[..., None]
        probabilities = np.asarray(self.model.predict_on_batch(batch))
        if self.tta_flip:
            probabilities = (probabilities + np.asarray(self.model.predict_on_batch(batch[:, :, ::-1]))) / 2
        return with_temperature(probabilities, self.temperature)

    def predict_frame(self, image: np.ndarray, boxes: list[Box] | None = None) -> list[FaceResult]:
        """Classifies the faces in a gray image or a colour one in OpenCV's channel order (BGR or
        BGRA, as ``cv2.VideoCapture`` and ``cv2.imread`` give it); ``boxes`` skips detection (video
        frames that reuse the previous detection)."""
        gray = image if image.ndim == 2 else cv2.cvtColor(
            image, cv2.COLOR_BGRA2GRAY if image.shape[2] == 4 else cv2.COLOR_BGR2GRAY)
        if not self.detect_faces:  # the whole image is the face, unless it is too small to be one
            whole = Box(0, 0, gray.shape[1], gray.shape[0])
            if min(gray.shape) < self.min_face_size:
                return [FaceResult(whole, Status.FACE_TOO_SMALL)]
            return [FaceResult(whole, Status.OK, self.classify(crop_face(gray, whole, 0.0)[None])[0])]
        boxes = self.detector.detect(gray) if boxes is None else boxes
        results = [FaceResult(box, Status.OK if min(box.w, box.h) >= self.min_face_size else Status.FACE_TOO_SMALL)
                   for box in boxes]
        usable = [r for r in results if r.status == Status.OK]
        if usable:
            faces = np.stack([crop_face(gray, r.box, self.margin, self.align_min_roll) for r in usable])
            for result, probabilities in zip(usable, self.classify(faces), strict=True):
                result.probabilities = probabilities
        return results


def box_overlap(a: list[Box], b: list[Box]) -> np.ndarray:
    """Intersection over union of every box of ``a`` with every box of ``b``."""
    overlap = np.zeros((len(a), len(b)))
    for i, p in enumerate(a):
        for j, q in enumerate(b):
            w = min(p.x + p.w, q.x + q.w) - max(p.x, q.x)
            h = min(p.y + p.h, q.y + q.h) - max(p.y, q.y)
            inter = max(w, 0) * max(h, 0)
            overlap[i, j] = inter / (p.w * p.h + q.w * q.h - inter)
    return overlap


@dataclass
class _Track:
    box: Box
    average: np.ndarray | None = None  # the smoothed probabilities
    missed: int = 0  # frames since it was last seen


@dataclass
class FaceTracks:
    """Follows faces from frame to frame of a video and steadies their emotions.

    Each face is matched to the face of the previous frames whose box it overlaps most
    (intersection over union at least ``min_overlap``, one to one) and keeps its number; a new face
    gets the next number, and a face unseen for more than ``max_missed`` frames is forgotten. With
    ``smoothing`` above 0 a face's probabilities are averaged with its earlier frames' (an
    exponential average with that weight on the past), so that its label does not flicker with
    every frame's noise; the cost is a lag when the expression really changes
    (``benchmarks/video_smoothing.py`` measures both)."""

    smoothing: float = 0.0
    min_overlap: float = 0.3
    max_missed: int = 5
    tracks: dict[int, _Track] = field(default_factory=dict)
    next_number: int = 0

    def forget(self) -> None:
        """Drops every face (after a gap in the frames, such as a reconnected camera); the next faces
        get new numbers."""
        self.tracks.clear()

    def follow(self, results: list[FaceResult]) -> list[int]:
        """The face numbers of ``results``, in their order; their probabilities are replaced by the
        smoothed ones."""
        from scipy.optimize import linear_sum_assignment  # here: it takes 0.3 s to import, and photos need none

        known = list(self.tracks)
        overlap = box_overlap([r.box for r in results], [self.tracks[n].box for n in known])
        numbers: list[int | None] = [None] * len(results)
        for i, j in zip(*linear_sum_assignment(-overlap), strict=True):
            if overlap[i, j] >= self.min_overlap:
                numbers[i] = known[j]
        for number in set(known) - set(numbers):
            self.tracks[number].missed += 1
            if self.tracks[number].missed > self.max_missed:
                del self.tracks[number]
        for i, result in enumerate(results):
            if numbers[i] is None:
                numbers[i], self.next_number = self.next_number, self.next_number + 1
            track = self.tracks.setdefault(numbers[i], _Track(result.box))
            track.box, track.missed = result.box, 0
            if result.probabilities is not None:
                if track.average is not None:
                    result.probabilities = self.smoothing * track.average + (1 - self.smoothing) * result.probabilities
                track.average = result.probabilities
        return numbers  # type: ignore[return-value]


def result_rows(file: str, frame: int | None, results: list[FaceResult],
                numbers: list[int] | None = None, seconds: float | None = None) -> list[dict[str, Any]]:
    """Table rows for one image or frame: one per face, or one saying no face was found.
    ``numbers``: the faces' numbers (a video's ``FaceTracks``); by default 0, 1, ... in order.
    ``seconds``: the frame's time in its video."""
    if not results:
        return [{"file": file, "frame": frame, "time": seconds, "status": Status.NO_FACE,
                 "message": "no face found"}]
    rows = []
    for i, result in zip(numbers or range(len(results)), results, strict=True):
        row = {"file": file, "frame": frame, "time": seconds, "face": i, "status": result.status, "x": result.box.x,
               "y": result.box.y, "w": result.box.w, "h": result.box.h}
        if result.probabilities is not None:
            row |= {"emotion": result.emotion, "confidence": float(result.probabilities.max()),
                    **{c: float(p) for c, p in zip(PROBABILITY_COLUMNS, result.probabilities, strict=True)}}
        else:
            row["message"] = f"face of {min(result.box.w, result.box.h)} px is below the minimum size"
        rows.append(row)
    return rows


def unreadable_row(file: str, error: Exception | str) -> dict[str, Any]:
    """The row for an input that could not be read, naming it and why."""
    return {"file": file, "frame": None, "status": Status.UNREADABLE, "message": str(error)}


def annotate(image: np.ndarray, results: list[FaceResult], numbers: list[int] | None = None) -> np.ndarray:
    """A BGR copy of the image (gray or BGR) with a box, label and confidence per face; with
    ``numbers`` (a video's face numbers) each label starts with its face's, as in the table."""
    canvas = cv2.cvtColor(image, cv2.COLOR_GRAY2BGR) if image.ndim == 2 else image.copy()
    thickness = max(1, canvas.shape[1] // 400)
    for i, result in enumerate(results):
        b = result.box
        ok = result.probabilities is not None
        colour = (40, 200, 40) if ok else (0, 160, 255)
        label = f"{result.emotion} {result.probabilities.max():.0%}" if ok else "too small"
        if numbers is not None:
            label = f"#{numbers[i]} {label}"
        cv2.rectangle(canvas, (b.x, b.y), (b.x + b.w, b.y + b.h), colour, thickness)
        scale = max(0.4, b.w / 200)
        (tw, th), _ = cv2.getTextSize(label, cv2.FONT_HERSHEY_SIMPLEX, scale, thickness)
        top = max(th + 4, b.y)
        cv2.rectangle(canvas, (b.x, top - th - 4), (b.x + tw + 2, top), colour, -1)
        cv2.putText(canvas, label, (b.x + 1, top - 3), cv2.FONT_HERSHEY_SIMPLEX, scale, (0, 0, 0), thickness)
    return canvas


def expand_inputs(inputs: Iterable[str], output_folder: str | None = None) -> list[str]:
    """Files as given, folders replaced by the image and video files inside them, sorted, each file
    once. The other files in a folder are skipped with a warning that names them (hidden ones
    silently), and so are those in ``output_folder`` (``--annotate``'s: ``deepfer predict .
    --annotate annotated/`` run again would classify its own annotated copies)."""
    own = Path(output_folder).resolve() if output_folder else None
    expanded: list[str] = []
    for item in inputs:
        path = Path(item)
        if not path.is_dir():
            expanded.append(item)
            continue
        files = [p for p in path.rglob("*") if p.is_file()]
        if own is not None and (outputs := {p for p in files if p.resolve().is_relative_to(own)}):
            logger.info("Left out the %d file(s) in %s, the --annotate folder", len(outputs), output_folder)
            files = [p for p in files if p not in outputs]
        names = sorted(p.relative_to(path).as_posix() for p in files)
        expanded += [str(path / name) for name in media_files(names, item, "give a file by name to try it anyway")]
    # a file given twice (by itself and in its folder) is read once: one set of rows, one annotated copy
    first_spelling: dict[str, str] = {}
    for item in expanded:
        first_spelling.setdefault(item if is_stream(item) else os.path.abspath(item), item)
    if len(first_spelling) < len(expanded):
        logger.info("%d input(s) given more than once are read once", len(expanded) - len(first_spelling))
    return list(first_spelling.values())


def media_files(names: Iterable[str], folder: str, hint: str) -> list[str]:
    """The image and video files among a folder's ``names`` (relative paths). Hidden files and those
    in hidden folders (``.DS_Store``, ``.ipynb_checkpoints/``) are left out silently; the other files
    with a warning that names them and ends with ``hint``."""
    names = [name for name in names if not any(part.startswith(".") for part in Path(name).parts)]
    media = [name for name in names if Path(name).suffix.lower() in IMAGE_SUFFIXES | VIDEO_SUFFIXES]
    if skipped := sorted(set(names) - set(media)):
        logger.warning("Skipped %d file(s) in %s that are not images or videos by their suffix: %s%s "
                       "(images: %s; videos: %s; %s)", len(skipped), folder, ", ".join(skipped[:5]),
                       " ..." if len(skipped) > 5 else "", " ".join(sorted(IMAGE_SUFFIXES)),
                       " ".join(sorted(VIDEO_SUFFIXES)), hint)
    return media


class AnnotationFolder:
    """Where a run writes each input's annotated copy and timeline: ``<name>_<kind><suffix>`` in
    ``folder``, the input's name its file's stem made unique among the run's inputs (``unique_names``),
    so the names say which input is which and a second run of the same inputs overwrites the first's
    files."""

    def __init__(self, folder: Path | str, sources: Iterable[str | int] = ()) -> None:
        self.folder = Path(folder)
        self._lock = threading.Lock()  # cameras read side by side ask from their own threads
        self._names = unique_names([output_name(source) for source in sources])

    def path(self, source: str | int, suffix: str, kind: str = "annotated") -> Path:
        key = output_name(source)
        with self._lock:
            if key not in self._names:  # not announced: made unique among those named so far
                taken = {name.casefold() for name in self._names.values()}
                name = base = unique_names([*self._names, key])[key]
                n = 1
                while name.casefold() in taken:
                    n += 1
                    name = f"{base}_{n}"
                self._names[key] = name
        self.folder.mkdir(parents=True, exist_ok=True)
        return self.folder / f"{self._names[key]}_{kind}{suffix}"


_FOLDERS_OF_SINGLE_CALLS: dict[Path, AnnotationFolder] = {}


def _annotation_folder(folder: AnnotationFolder | Path, sources: list[str | int] | None = None) -> AnnotationFolder:
    if isinstance(folder, AnnotationFolder):
        return folder
    if sources is not None:  # a batch: its names are chosen together
        return AnnotationFolder(folder, sources)
    # predict_image or predict_video called one input at a time with one folder: the names stay apart
    return _FOLDERS_OF_SINGLE_CALLS.setdefault(Path(folder).resolve(), AnnotationFolder(folder))


def unique_names(keys: Iterable[str]) -> dict[str, str]:
    """Each key's file stem, with its suffix when another key differs from it by that alone (``a.jpg``,
    ``a.png``: ``a_jpg``, ``a_png``), and with as many of its parent folders as it takes to tell it from
    the others (``happy/1.jpg``, ``sad/1.jpg``: ``happy_1``, ``sad_1``); a number when nothing else
    does. Names are compared without case, as macOS and Windows compare file names."""
    keys = list(dict.fromkeys(keys))
    parts = {key: [part for part in Path(key).with_suffix("").parts if part not in (Path(key).anchor, ".", "..")]
                  or [key] for key in keys}
    depth, suffixed = dict.fromkeys(keys, 1), set()

    def name(key: str) -> str:
        return "_".join(parts[key][-depth[key]:]) + (f"_{Path(key).suffix[1:]}" if key in suffixed else "")

    while True:
        groups: dict[str, list[str]] = {}
        for key in keys:
            groups.setdefault(name(key).casefold(), []).append(key)
        clashes = [group for group in groups.values() if len(group) > 1]
        grown = False
        for group in clashes:
            # files of one folder that differ by suffix alone are told apart by it; others by their folders
            stems = Counter(Path(key).with_suffix("").as_posix().casefold() for key in group)
            for key in group:
                if stems[Path(key).with_suffix("").as_posix().casefold()] > 1:
                    if key not in suffixed and Path(key).suffix:
                        suffixed.add(key)
                        grown = True
                elif depth[key] < len(parts[key]):
                    depth[key] += 1
                    grown = True
        if not grown:
            names = {key: name(key) for key in keys}
            for group in clashes:
                for n, key in enumerate(group[1:], 2):
                    names[key] += f"_{n}"
            return names


def predict_image(predictor: EmotionPredictor, path: str, annotate_dir: AnnotationFolder | Path | None = None,
                  threads: PhotoThreads | None = None) -> list[dict[str, Any]]:
    """The rows of a photo's faces; ``threads``: when photos are read by several threads at once."""
    gray = read_image(path, predictor.max_image_pixels)
    results = threads.predict_frame(gray) if threads else predictor.predict_frame(gray)
    if annotate_dir is not None:
        cv2.imwrite(str(_annotation_folder(annotate_dir).path(path, ".png")), annotate(gray, results))
    return result_rows(path, None, results)


class PhotoThreads:
    """Photos read and searched for faces by ``predictor.photo_workers`` threads at once, each with a
    single-threaded detector of its own (BlazeFace's interpreter serves one thread; the photos are
    the parallel work), their faces classified one photo at a time (the model is shared). ``map``
    gives the results in the order of its items, however the threads finish; with one worker it
    runs them one after another on the caller's thread."""

    def __init__(self, predictor: EmotionPredictor) -> None:
        self.predictor = predictor
        self._pool = ThreadPoolExecutor(predictor.photo_workers, "photos") if predictor.photo_workers > 1 else None
        self._detectors, self._turns = threading.local(), threading.Lock()

    def predict_frame(self, gray: np.ndarray) -> list[FaceResult]:
        if self._pool is None or not self.predictor.detect_faces:
            boxes = None
        else:
            if not hasattr(self._detectors, "own"):
                self._detectors.own = make_detector(_single_threaded(self.predictor.settings.get("detector")))
            boxes = self._detectors.own.detect(gray)
        with self._turns:
            return self.predictor.predict_frame(gray, boxes)

    def map(self, function: Callable[[Any], Any], items: Iterable[Any]) -> Iterator[Any]:
        return self._pool.map(function, items) if self._pool else map(function, items)

    def close(self) -> None:
        """The photos not begun are dropped; those being read finish."""
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)


class TurnTaking:
    """A lock handed over in the order it was asked for: with ``threading.Lock`` the thread that has
    just let go may take it again at once, and one camera could keep the classifier from the others."""

    def __init__(self) -> None:
        self._changed = threading.Condition()
        self._next_ticket = self._serving = 0

    def __enter__(self) -> None:
        with self._changed:
            ticket, self._next_ticket = self._next_ticket, self._next_ticket + 1
            self._changed.wait_for(lambda: self._serving == ticket)

    def __exit__(self, *exc_info: object) -> None:
        with self._changed:
            self._serving += 1
            self._changed.notify_all()


class LiveClock:
    """Seconds since the first frame of any of the live sources that share it came: one clock for
    the cameras of a run, so that their rows line up."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._started: float | None = None

    def seconds(self) -> float:
        now = time.monotonic()
        with self._lock:
            self._started = now if self._started is None else self._started
            return round(now - self._started, 3)


@dataclass
class SideBySide:
    """What the sources read at the same time share (``predict_side_by_side``): a halt for all of
    them, turns at the detector and model, and a clock."""

    halt: threading.Event = field(default_factory=threading.Event)
    turns: TurnTaking = field(default_factory=TurnTaking)
    clock: LiveClock = field(default_factory=LiveClock)


def predict_video(predictor: EmotionPredictor, source: str | int,
                  annotate_dir: AnnotationFolder | Path | None = None,
                  every: int = 1, max_frames: int | None = None, detect_every: int = 1,
                  together: SideBySide | None = None) -> Iterator[dict[str, Any]]:
    """Rows for every ``every``-th frame of a video file, a stream URL (``is_stream``; its password is
    never written out) or a camera index. Faces are detected on every ``detect_every``-th of those
    frames; the frames between reuse the last boxes, which keeps a label on every frame at a
    fraction of the detection cost. A face keeps its number from frame to frame, and its emotion is
    smoothed over frames (``FaceTracks``); ``time`` is the frame's time in the video (its timestamp),
    or from a camera or a live stream the seconds since its first frame came (``LiveFrames``: read
    as they come, the ones classification cannot keep up with skipped, and reopened when it stops
    delivering them). A file that stops decoding before the frame count its header gives (truncated
    or damaged), or a camera or live stream that stops delivering frames and cannot be reopened,
    ends with an ``unreadable`` row saying so; the rows of the frames read are kept. ``together``: what
    it shares with the sources read at the same time (``predict_side_by_side``)."""
    capture = _open_video(source, predictor.max_image_pixels)
    name = shown_name(source)
    nominal_fps = capture.get(cv2.CAP_PROP_FPS)  # the annotated video's
    fps = 0.0 if isinstance(source, int) else nominal_fps
    count = 0.0 if isinstance(source, int) else capture.get(cv2.CAP_PROP_FRAME_COUNT)
    expected = int(count) if math.isfinite(count) else 0
    # a camera or a live stream (no frame count) runs on the clock: its timestamps, if any, are nominal
    live = isinstance(source, int) or (is_stream(source) and expected <= 0)
    frames = LiveFrames(source, capture, predictor, together) if live else VideoFrames(capture, fps)
    halt = together.halt if together else threading.Event()
    turns = together.turns if together else contextlib.nullcontext()
    # read side by side, each source finds faces with a detector of its own (one is not made for two threads,
    # and finding faces takes most of a frame's time), and takes turns at the model
    detector = make_detector(predictor.settings.get("detector")) if together else predictor.detector
    writer = None
    try:
        processed, boxes, size, written = 0, None, (0, 0), None
        tracks = FaceTracks(predictor.video_smoothing)
        for index, seconds, frame in frames:
            if halt.is_set():
                break
            if frame is None:  # reopened: who is in front of the camera now is not known
                tracks.forget()
                continue
            if max_frames is not None and index >= max_frames:
                break
            if index % every:
                continue
            gray = cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY)
            if processed % detect_every == 0 and predictor.detect_faces:
                boxes = detector.detect(gray)
            with turns:
                results = predictor.predict_frame(gray, boxes)
            processed += 1
            numbers = tracks.follow(results)
            yield from result_rows(name, index, results, numbers, seconds)
            if annotate_dir is not None:
                if writer is None:
                    target = _annotation_folder(annotate_dir).path(source, ".mp4")
                    size = (frame.shape[1], frame.shape[0])
                    writer = cv2.VideoWriter(str(target), cv2.VideoWriter_fourcc(*"mp4v"), (nominal_fps or 25) / every,
                                             size)
                annotated = annotate(frame, results, numbers)
                # (a reopened camera may send another size; the writer would drop such frames silently)
                annotated = annotated if annotated.shape[1::-1] == size else cv2.resize(annotated, size)
                # a live frame stands in for those skipped before it, so the video plays in the camera's time
                for _ in range(1 if written is None else max((index - written) // every, 1)):
                    writer.write(annotated)
                written = index
        else:
            if halt.is_set():  # stopped from outside, while waiting for a frame
                return
            if frames.count == 0:
                raise UnreadableImageError(f"{name}: no frame could be read")
            message = None
            tried = (f" and could not be reopened within {predictor.stream_reconnect_s:g} s (stream_reconnect_s)"
                     if live and frames.tried_to_reopen else "")
            if isinstance(source, int):  # a camera ends only when told to (--max-frames, Ctrl-C)
                message = (f"{name}: stopped delivering frames after {frames.count} (unplugged, or taken by another "
                           f"program?){tried}; the rows of those frames are kept")
            elif live:  # a live stream has no end of its own
                message = (f"{name}: the stream stopped delivering frames after {frames.count} (ended, or the "
                           f"connection was lost){tried}; the rows of those frames are kept")
            elif frames.count < expected - 1 - expected // 100:
                # (headers may round the count a little)
                message = (f"{name}: frames {frames.count} to {expected - 1} could not be decoded (the file says it "
                           f"has {expected}: truncated or damaged); the rows of the first {frames.count} frames "
                           f"are kept")
            if message:
                logger.error("%s", message)
                yield {**unreadable_row(name, message), "frame": frames.count}
    finally:
        frames.close()
        if writer is not None:
            writer.release()


class VideoFrames:
    """A video file's frames as ``(index, seconds into the video, frame)``, read one by one."""

    def __init__(self, capture: cv2.VideoCapture, fps: float) -> None:
        self.capture, self.fps, self.count = capture, fps, 0  # count: the frames read

    def __iter__(self) -> Iterator[tuple[int, float | None, np.ndarray]]:
        while (frame := self.capture.read()[1]) is not None:
            self.count += 1
            yield self.count - 1, _video_time(self.capture, self.count - 1, self.fps), frame

    def close(self) -> None:
        self.capture.release()


class LiveFrames:
    """A camera's or live stream's frames as ``(index, seconds since the first came, frame)`` (the
    first of any of the sources read side by side: ``LiveClock``).

    They are read on a thread of their own as they come, and the classifier gets the newest each
    time, so that its results keep up with the camera: when classifying is slower than the camera,
    the frames it had no time for are skipped (``benchmarks/live_lag.py``: 0.04-0.07 s behind a
    1080p camera at 30 frames/s on 2 cores, median, where reading every frame one by one, as
    ``live_all_frames`` does, was 0.5-1.0 s behind). A source that stops delivering frames is
    reopened, tried for up to ``stream_reconnect_s`` seconds (an IP camera rebooting, a dropped
    connection); a frame of None marks the gap. The index counts every frame the source delivered,
    skipped ones too. ``live_max_fps`` spaces the frames given out at least 1/fps seconds apart,
    each the newest when its time comes (less work a camera, for many cameras or a small machine)."""

    def __init__(self, source: str | int, capture: cv2.VideoCapture, predictor: EmotionPredictor,
                 together: SideBySide | None = None) -> None:
        self.source, self.capture = source, capture
        together = together or SideBySide()
        self.halt, self.clock = together.halt, together.clock
        self.max_pixels, self.reconnect_s = predictor.max_image_pixels, predictor.stream_reconnect_s
        self.max_fps = predictor.live_max_fps
        self.count = self.skipped = 0
        self.tried_to_reopen = False  # and in vain, once the frames have ended
        self._waiting: deque[tuple[int, float, np.ndarray | None]] = deque()
        self._changed = threading.Condition()
        self._ended, self._error = False, None
        self._stop = threading.Event()
        self._reader = None
        if not predictor.live_all_frames:
            self._reader = threading.Thread(target=self._read_all, name=f"frames of {shown_name(source)}", daemon=True)
            self._reader.start()

    def __iter__(self) -> Iterator[tuple[int, float, np.ndarray | None]]:
        if self._reader is None:  # every frame, one by one
            while not self.halt.is_set() and (item := self._next_frame()) is not None:
                yield item
            return
        due = 0.0  # when the next frame may be given out (live_max_fps)
        while not self.halt.is_set():
            if self._stopped(due - time.monotonic()):
                return
            with self._changed:
                # (in slices: a halt from another thread comes without a notify)
                if not self._changed.wait_for(lambda: self._waiting or self._ended, timeout=0.25):
                    continue
                if self._error is not None:
                    raise self._error
                if not self._waiting:
                    return
                item = self._waiting.popleft()
            if self.max_fps and item[2] is not None:
                due = time.monotonic() + 1 / self.max_fps
            yield item

    def close(self) -> None:
        self._stop.set()
        if self._reader is not None:
            self._reader.join(STREAM_TIMEOUT_MS / 1000 + 1)  # a read ends within its timeout
        else:
            self.capture.release()
        if self.skipped and self.max_fps:
            logger.info("%s: %d of %d frames were skipped (at most %g a second are classified: "
                        "inference.live_max_fps)", shown_name(self.source), self.skipped, self.count, self.max_fps)
        elif self.skipped:
            logger.info("%s: %d of %d frames were skipped to keep up with it (classifying them was slower than it "
                        "delivered them; inference.live_all_frames: true classifies all, falling behind)",
                        shown_name(self.source), self.skipped, self.count)

    def _next_frame(self) -> tuple[int, float, np.ndarray | None] | None:
        """The next frame from the source, reopened when it stopped (a frame of None says so); None
        when it stays away."""
        ok, frame = self.capture.read()
        if not ok:
            if self.count == 0 or self.reconnect_s <= 0 or self._stopped(0) or not self._reopen():
                return None
            return self.count, 0.0, None
        seconds = self.clock.seconds()
        if self.count == 0:  # for lining rows up with the world's clock
            logger.info("%s: first frame at %s (time %g)", shown_name(self.source),
                        datetime.datetime.now(datetime.UTC).isoformat(timespec="milliseconds"), seconds)
        self.count += 1
        return self.count - 1, seconds, frame

    def _read_all(self) -> None:
        try:
            while not self._stopped(0) and (item := self._next_frame()) is not None:
                with self._changed:
                    # a frame still waiting when a newer one comes is skipped (a gap marker never is)
                    if self._waiting and self._waiting[-1][2] is not None and item[2] is not None:
                        self._waiting.pop()
                        self.skipped += 1
                    self._waiting.append(item)
                    self._changed.notify()
        except BaseException as err:  # raised in the classifying thread
            self._error = err
        finally:
            self.capture.release()
            with self._changed:
                self._ended = True
                self._changed.notify()

    def _stopped(self, within: float) -> bool:
        """Whether it was closed or halted, waiting up to ``within`` seconds for either."""
        deadline = time.monotonic() + within
        while not (self._stop.is_set() or self.halt.is_set()):
            if (left := deadline - time.monotonic()) <= 0:
                return False
            self._stop.wait(min(left, 0.25))
        return True

    def _reopen(self) -> bool:
        """Opens the source again, tried at growing intervals (1 s, 2 s, ... at most 10 s) for up to
        ``reconnect_s``; whether it came back."""
        name, wait, deadline = shown_name(self.source), 1.0, time.monotonic() + self.reconnect_s
        self.tried_to_reopen = True
        logger.warning("%s: stopped delivering frames after %d; trying to reopen it for %g s", name, self.count,
                       self.reconnect_s)
        self.capture.release()
        while (left := deadline - time.monotonic()) > 0:
            if self._stopped(min(wait, left)):
                return False
            wait = min(2 * wait, 10.0)
            try:
                self.capture = _open_video(self.source, self.max_pixels)
            except UnreadableImageError as err:
                logger.info("%s", err)
                continue
            logger.warning("%s: reopened; frames go on from %d (face numbers start afresh)", name, self.count)
            self.tried_to_reopen = False
            return True
        return False


def _open_video(source: str | int, max_pixels: int) -> cv2.VideoCapture:
    """An opened capture of a video file, stream URL or camera index, its frame size within
    ``max_pixels`` (read from the header, before a frame is decoded: OpenCV keeps that size after)."""
    capture = (cv2.VideoCapture(source, cv2.CAP_FFMPEG, [cv2.CAP_PROP_OPEN_TIMEOUT_MSEC, STREAM_TIMEOUT_MS,
                                                         cv2.CAP_PROP_READ_TIMEOUT_MSEC, STREAM_TIMEOUT_MS])
               if is_stream(source) else cv2.VideoCapture(source))
    name = shown_name(source)
    if not capture.isOpened() and isinstance(source, str) and not is_stream(source) and not Path(source).exists():
        raise UnreadableImageError(f"{name}: no such file or folder")
    if not capture.isOpened():
        raise UnreadableImageError(f"{name}: cannot be opened as a video, stream or camera"
                                   + (" (unreachable, or not a video stream?)" if is_stream(source) else ""))
    if not isinstance(source, int):
        width, height = int(capture.get(cv2.CAP_PROP_FRAME_WIDTH)), int(capture.get(cv2.CAP_PROP_FRAME_HEIGHT))
        if width * height > max_pixels:
            capture.release()
            raise UnreadableImageError(f"{name}: its {width}x{height} frames are over the limit of "
                                       f"{max_pixels:,} pixels (inference.max_image_pixels)")
    return capture


def frame_count(path: str) -> int | None:
    """The number of frames a video file's header gives; None for streams and files that give none."""
    if is_stream(path) or Path(path).suffix.lower() not in VIDEO_SUFFIXES:
        return None
    capture = cv2.VideoCapture(path)
    try:
        count = capture.get(cv2.CAP_PROP_FRAME_COUNT)
    finally:
        capture.release()
    return int(count) if math.isfinite(count) and count > 0 else None


def _video_time(capture: cv2.VideoCapture, index: int, fps: float) -> float | None:
    """Seconds into a video file by the frame's own timestamp (right for variable frame rates too),
    else by its frame rate."""
    milliseconds = capture.get(cv2.CAP_PROP_POS_MSEC)
    if milliseconds > 0 or index == 0:
        return round(milliseconds / 1000, 3)
    return round(index / fps, 3) if fps > 0 else None


def predict_paths(predictor: EmotionPredictor, paths: list[str], annotate_dir: AnnotationFolder | Path | None = None,
                  every: int = 1, max_frames: int | None = None, detect_every: int = 1,
                  cameras: Iterable[int] = ()) -> Iterator[dict[str, Any]]:
    """Rows for each image and video file, in the order given, then for the stream URLs and
    ``cameras``: side by side when there are several (``predict_side_by_side``), since a live one has
    no end of its own. Photos one after another are read and searched for faces by
    ``predictor.photo_workers`` threads at once (``PhotoThreads``). An input that cannot be read
    gives an ``unreadable`` row naming it, and the others still run."""
    streams = [*(path for path in paths if is_stream(path)), *cameras]
    if annotate_dir is not None:
        annotate_dir = _annotation_folder(annotate_dir, [*paths, *streams])
    one_by_one = [path for path in paths if not is_stream(path)] + (streams if len(streams) == 1 else [])
    threads = PhotoThreads(predictor)

    def photo_rows(source: str) -> list[dict[str, Any]]:
        try:
            return predict_image(predictor, source, annotate_dir, threads)
        except (UnreadableImageError, FileNotFoundError) as err:
            logger.error("%s", err)
            return [unreadable_row(shown_name(source), err)]

    try:
        for photos, sources in itertools.groupby(one_by_one, key=_is_photo):
            if photos:
                for rows in threads.map(photo_rows, sources):
                    yield from rows
                continue
            for source in sources:
                try:
                    yield from predict_video(predictor, source, annotate_dir, every, max_frames, detect_every)
                except (UnreadableImageError, FileNotFoundError) as err:
                    logger.error("%s", err)
                    yield unreadable_row(shown_name(source), err)
    finally:  # stopped (Ctrl-C)
        threads.close()
    if len(streams) > 1:
        yield from predict_side_by_side(predictor, streams, annotate_dir, every, max_frames, detect_every)


def _is_photo(source: str | int) -> bool:
    return not (isinstance(source, int) or is_stream(source) or Path(source).suffix.lower() in VIDEO_SUFFIXES)


def _single_threaded(detector: dict[str, Any] | None) -> dict[str, Any]:
    """``detector`` settings for one of several detectors run at once: one thread each, the photos
    being the parallel work."""
    detector = dict(detector or {})
    detector["blazeface"] = {**(detector.get("blazeface") or {}), "threads": 1}
    return detector


_ENDED = object()  # a source's thread is done


def predict_side_by_side(predictor: EmotionPredictor, sources: list[str | int],
                         annotate_dir: AnnotationFolder | Path | None = None,
                         every: int = 1, max_frames: int | None = None,
                         detect_every: int = 1) -> Iterator[dict[str, Any]]:
    """The rows of several cameras and streams read at once (``predict_video``, each on a thread of
    its own), as they come, their ``time`` on one clock (0: the first frame of any of them). Each finds
    faces in its newest frame with a detector of its own, and they take turns at classifying them
    (``TurnTaking``), so a camera gets a share of the model however many there are. One that cannot
    be opened or stops gives its ``unreadable`` row, and the others go on. When this stops (Ctrl-C,
    SIGTERM) all of them are stopped and their finished rows still come out before the interrupt goes
    on."""
    if annotate_dir is not None:
        annotate_dir = _annotation_folder(annotate_dir, sources)
    # bounded: a reader of the rows that stalls holds the threads up, not memory
    rows: queue.Queue[Any] = queue.Queue(maxsize=64 * len(sources))
    together = SideBySide()
    halt = together.halt

    def put(item: Any) -> None:
        while not halt.is_set():
            try:
                rows.put(item, timeout=0.25)
                return
            except queue.Full:
                continue

    def run(source: str | int) -> None:
        try:
            video = predict_video(predictor, source, annotate_dir, every, max_frames, detect_every, together)
            try:
                for row in video:
                    put(row)
            finally:
                video.close()  # its annotated video is finished before the thread ends
        except UnreadableImageError as err:
            logger.error("%s", err)
            put(unreadable_row(shown_name(source), err))
        except BaseException as err:  # raised where the rows are read
            put(err)
        finally:
            put(_ENDED)

    threads = [threading.Thread(target=run, args=(source,), name=f"rows of {shown_name(source)}", daemon=True)
               for source in sources]
    for thread in threads:
        thread.start()
    running = len(threads)
    try:
        while running:
            try:
                item = rows.get(timeout=0.25)  # (in slices: Ctrl-C and SIGTERM are handled between them)
            except queue.Empty:
                continue
            if item is _ENDED:
                running -= 1
            elif isinstance(item, BaseException):
                raise item
            else:
                yield item
    except KeyboardInterrupt:
        halt.set()
        _join_all(threads)
        yield from _drained(rows)  # the rows finished before the stop
        raise
    finally:
        halt.set()
        _join_all(threads)


def _join_all(threads: list[threading.Thread]) -> None:
    deadline = time.monotonic() + STREAM_TIMEOUT_MS / 1000 + 2  # a read ends within its timeout
    for thread in threads:
        thread.join(max(deadline - time.monotonic(), 0))


def _drained(rows: queue.Queue[Any]) -> list[dict[str, Any]]:
    items = []
    while True:
        try:
            items.append(rows.get_nowait())
        except queue.Empty:
            return [item for item in items if isinstance(item, dict)]
