"""Reads FER2013 in any layout users have and returns decoded 48x48 faces.

Layouts, detected from what the catalog ``path`` points at (a file, or a folder holding one):

- ``kaggle``: ``train/<emotion>/Training_<id>.jpg`` and ``test/<emotion>/{PublicTest,PrivateTest}_<id>.jpg``,
  as a zip or unpacked (any single top folder inside the zip is fine);
- ``csv``: the challenge file ``fer2013.csv`` with columns ``emotion,pixels,Usage``;
- ``images``: ``images/train/<emotion>/*.jpg`` and ``images/validation/<emotion>/*.jpg``.

Decoding uses OpenCV on all cores. No Kedro import: a bare GPU machine reads the data with it
too; the catalog dataset around it is ``deepfer_kedro.datasets.FER2013Dataset``.
"""

from __future__ import annotations

import hashlib
import logging
import os
import zipfile
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

import cv2
import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from deepfer_kedro.labels import CSV_EMOTION_CODES, EMOTIONS, IMAGE_SIZE, USAGE_TO_SPLIT

logger = logging.getLogger(__name__)

HOW_TO_GET = (
    "Put FER2013 in data/01_raw/: the Kaggle archive as downloaded (fer2013.zip, with train/ and "
    "test/ inside; https://www.kaggle.com/datasets/msambare/fer2013), the same unpacked, or the "
    "challenge CSV fer2013.csv (https://www.kaggle.com/c/challenges-in-representation-learning-"
    "facial-expression-recognition-challenge). Inside this repository's workspace: "
    "`ln -s ../../../shared/datasets/fer2013.zip data/01_raw/fer2013.zip`."
)
CSV_COLUMNS = {"emotion", "pixels", "Usage"}
IMAGES_LAYOUT_USAGES = {"train": "train", "validation": "validation"}
KAGGLE_FOLDERS = {"train", "test"}


@dataclass(frozen=True)
class FER2013Faces:
    """Decoded FER2013: ``pixels`` uint8 (N, 48, 48) row-aligned with ``index`` (source, emotion,
    usage), the ``problems`` met while reading (each a dict naming the source), the ``layout`` and
    ``location`` read, the source's ``source_sha256``, and how many images were ``examined``."""

    pixels: np.ndarray
    index: pd.DataFrame
    problems: list[dict[str, Any]]
    layout: str
    location: str
    source_sha256: str
    examined: int


class FER2013Error(ValueError):
    """Raised for a dataset that is missing or not in a layout we can read."""


@dataclass
class RawRecords:
    """What was found in the source, before decoding."""

    layout: str
    sources: list[str] = field(default_factory=list)
    emotions: list[str] = field(default_factory=list)
    usages: list[str] = field(default_factory=list)
    encoded: list[bytes] = field(default_factory=list)  # image files' bytes
    pixels: np.ndarray | None = None  # already decoded (CSV)
    unreadable: list[dict] = field(default_factory=list)  # members that could not even be read


# ---------------------------------------------------------------- locating the source


def find_source(path: Path) -> tuple[Path, str]:
    """Returns the file or folder holding FER2013 under ``path`` and its layout name."""
    if path.is_symlink() and not path.exists():
        raise FER2013Error(f"{path}: the link is broken (it points at {os.readlink(path)}, which does not exist). "
                           f"{HOW_TO_GET}")
    if not path.exists():
        raise FER2013Error(f"No FER2013 data at {path}: the path does not exist. {HOW_TO_GET}")
    if path.is_file():
        return path, _file_layout(path)
    layout = _folder_layout(path)
    archives = sorted(p.name for p in path.iterdir() if p.is_file() and p.suffix.lower() in {".zip", ".csv"}
                      and not p.name.startswith("."))
    if layout and archives:
        raise FER2013Error(
            f"Several FER2013 sources in {path}: the unpacked {layout} folders and {archives}. Keep one "
            "(for example delete the unpacked train/ and test/ folders, or move the archive away).")
    if layout:
        return path, layout
    broken = sorted(p.name for p in path.iterdir() if p.is_symlink() and not p.exists())
    if broken:
        raise FER2013Error(f"{path}: the link(s) {broken} are broken (they point at nothing). Remove them or "
                           f"link the archive again. {HOW_TO_GET}")
    candidates = sorted(
        p for p in path.iterdir()
        if not p.name.startswith(".")
        and ((p.is_file() and p.suffix.lower() in {".zip", ".csv"}) or (p.is_dir() and _folder_layout(p)))
    )
    if not candidates:
        entries = sorted(p.name for p in path.iterdir() if not p.name.startswith("."))
        found = f"it holds {entries}" if entries else "it is empty"
        raise FER2013Error(f"No FER2013 data in {path}: {found}. {HOW_TO_GET}")
    if len(candidates) > 1:
        raise FER2013Error(
            f"Several FER2013 sources in {path}: {[c.name for c in candidates]}. Keep one, or point "
            "the catalog entry's `path` at the one to use."
        )
    return find_source(candidates[0])


def _file_layout(path: Path) -> str:
    if path.suffix.lower() == ".csv":
        return "csv"
    if path.suffix.lower() != ".zip":
        raise FER2013Error(f"{path}: expected a .zip archive or a .csv file")
    try:
        with zipfile.ZipFile(path) as archive:
            names = [n for n in archive.namelist() if not n.endswith("/")]
    except zipfile.BadZipFile as err:
        raise FER2013Error(f"{path}: not a readable zip archive ({err})") from err
    layout = _names_layout(names)
    if not layout:
        raise FER2013Error(
            f"{path}: no FER2013 layout inside (expected train/<emotion>/*.jpg and "
            f"test/<emotion>/*.jpg, images/train|validation/<emotion>/*.jpg, or fer2013.csv); "
            f"first entries: {names[:5]}"
        )
    return layout


def _names_layout(names: list[str]) -> str | None:
    parts = [PurePosixPath(n).parts for n in names if not _hidden(n)]
    tops = {p[i] for p in parts for i in range(len(p) - 2) if len(p) >= 3}
    if {"train", "validation"} <= tops and any("images" in p for p in parts):
        return "images"
    if KAGGLE_FOLDERS <= tops:
        return "kaggle"
    if {"train", "validation"} <= tops:
        return "images"
    if any(p[-1].lower().endswith(".csv") for p in parts):
        return "csv"
    return None


def _folder_layout(path: Path) -> str | None:
    if (path / "images" / "train").is_dir() and (path / "images" / "validation").is_dir():
        return "images"
    if (path / "train").is_dir() and (path / "validation").is_dir():
        return "images"
    if (path / "train").is_dir() and (path / "test").is_dir():
        return "kaggle"
    return None


def _hidden(name: str) -> bool:
    return any(part.startswith(".") or part == "__MACOSX" for part in PurePosixPath(name).parts)


def fingerprint(source: Path) -> str:
    """sha256 of a file's bytes; for a folder, of every file's relative path, size and mtime."""
    digest = hashlib.sha256()
    if source.is_file():
        with source.open("rb") as file:
            for block in iter(lambda: file.read(1 << 20), b""):
                digest.update(block)
        return digest.hexdigest()
    for file in sorted(p for p in source.rglob("*") if p.is_file()):
        stat = file.stat()
        digest.update(f"{file.relative_to(source)}|{stat.st_size}|{stat.st_mtime_ns}\n".encode())
    return digest.hexdigest()


# ---------------------------------------------------------------- reading records


def read_records(source: Path, layout: str) -> RawRecords:
    """Lists every image of the source with its emotion and usage (no decoding yet)."""
    if layout == "csv":
        return _read_csv(source)
    records = RawRecords(layout=layout)
    for name, read in _image_entries(source):
        if not _inside_layout(name, layout):  # a README, an extras/ folder: not FER2013's
            logger.warning("Ignoring %s in %s: outside the %s layout's split folders", name, source.name, layout)
            continue
        emotion, usage = _label_from_path(name, layout)
        try:
            encoded = read()
        except (zipfile.BadZipFile, OSError) as err:  # a damaged member: skipped and counted like a bad JPEG
            records.unreadable.append({"source": name, "kind": "undecodable",
                                       "detail": f"cannot be read from the archive ({err})"})
            continue
        records.sources.append(name)
        records.emotions.append(emotion)
        records.usages.append(usage)
        records.encoded.append(encoded)
    if not records.sources:
        raise FER2013Error(f"{source}: the {layout} layout was found but it holds no images")
    return records


def _image_entries(source: Path) -> Iterator[tuple[str, Any]]:
    if source.is_file():
        with zipfile.ZipFile(source) as archive:
            for info in archive.infolist():
                if info.is_dir() or _hidden(info.filename):
                    continue
                yield info.filename, (lambda info=info: archive.read(info))
        return
    for file in sorted(source.rglob("*")):
        name = file.relative_to(source).as_posix()
        if file.is_file() and not _hidden(name):
            yield name, file.read_bytes


def _inside_layout(name: str, layout: str) -> bool:
    """Whether ``name`` sits under the layout's split folders (so a wrong file there is an error)."""
    folders = KAGGLE_FOLDERS if layout == "kaggle" else set(IMAGES_LAYOUT_USAGES)
    return any(part in folders for part in PurePosixPath(name).parts[:-1])


def _label_from_path(name: str, layout: str) -> tuple[str, str]:
    parts = PurePosixPath(name).parts
    folders = KAGGLE_FOLDERS if layout == "kaggle" else set(IMAGES_LAYOUT_USAGES)
    split_at = next((i for i, part in enumerate(parts[:-2]) if part in folders), None)
    if split_at is None or len(parts) != split_at + 3:
        raise FER2013Error(
            f"{name}: expected <{'|'.join(sorted(folders))}>/<emotion>/<image> in the {layout} layout"
        )
    folder, emotion, filename = parts[split_at:]
    if emotion not in EMOTIONS:
        raise FER2013Error(
            f"{'/'.join(parts[:split_at + 2])}: unknown emotion folder {emotion!r}; expected one of "
            f"{', '.join(EMOTIONS)}"
        )
    if layout == "images":
        return emotion, IMAGES_LAYOUT_USAGES[folder]
    prefix = filename.split("_", 1)[0]
    if prefix in USAGE_TO_SPLIT:
        return emotion, prefix
    if folder == "train":
        return emotion, "Training"
    raise FER2013Error(
        f"{name}: cannot tell PublicTest from PrivateTest; files in test/ must be named "
        "PublicTest_<id>.jpg or PrivateTest_<id>.jpg as in the Kaggle archive"
    )


def _read_csv(source: Path) -> RawRecords:
    try:
        if source.suffix.lower() == ".zip":
            with zipfile.ZipFile(source) as archive:
                csv_name = next(n for n in archive.namelist() if n.lower().endswith(".csv"))
                with archive.open(csv_name) as file:
                    table = pd.read_csv(file, dtype=str, keep_default_na=False)
        else:
            table = pd.read_csv(source, dtype=str, keep_default_na=False)
    except (pd.errors.ParserError, UnicodeDecodeError) as err:
        raise FER2013Error(f"{source}: not a readable CSV ({err})") from err
    missing = CSV_COLUMNS - set(table.columns)
    if missing:
        raise FER2013Error(
            f"{source}: missing column(s) {sorted(missing)}; expected emotion,pixels,Usage, "
            f"found {list(table.columns)}"
        )
    if table.empty:
        raise FER2013Error(f"{source}: the CSV has a header but no rows")
    pixels = np.empty((len(table), IMAGE_SIZE, IMAGE_SIZE), np.uint8)
    emotions, usages = [], []
    size = IMAGE_SIZE * IMAGE_SIZE
    for row, (code, values, usage) in enumerate(
        zip(table["emotion"], table["pixels"], table["Usage"], strict=True)
    ):
        where = f"{source.name} row {row + 1} (line {row + 2})"
        if usage not in USAGE_TO_SPLIT:
            raise FER2013Error(f"{where}: unknown Usage {usage!r}; expected one of {list(USAGE_TO_SPLIT)}")
        if not code.strip().isdigit() or int(code) not in CSV_EMOTION_CODES:
            raise FER2013Error(f"{where}: emotion {code!r} is not a code 0-6")
        try:
            flat = np.array(values.split(), dtype=np.int64)
        except ValueError as err:
            raise FER2013Error(f"{where}: pixels must be space-separated integers ({err})") from err
        if flat.size != size:
            raise FER2013Error(f"{where}: {flat.size} pixel values, expected {size} (48x48)")
        if flat.min() < 0 or flat.max() > 255:
            raise FER2013Error(f"{where}: pixel values must lie in 0-255")
        pixels[row] = flat.reshape(IMAGE_SIZE, IMAGE_SIZE)
        emotions.append(CSV_EMOTION_CODES[int(code)])
        usages.append(usage)
    sources = [f"{source.name}#row{row + 1}" for row in range(len(table))]
    return RawRecords(layout="csv", sources=sources, emotions=emotions, usages=usages, pixels=pixels)


# ---------------------------------------------------------------- decoding


def decode_image(encoded: bytes) -> tuple[np.ndarray | None, str | None]:
    """Decodes one image to a 48x48 gray uint8 array; returns (array, problem)."""
    if not encoded:
        return None, "empty file (0 bytes)"
    if encoded[:2] == b"\xff\xd8" and not encoded.rstrip(b"\x00").endswith(b"\xff\xd9"):
        return None, "truncated JPEG (no end-of-image marker)"
    image = cv2.imdecode(np.frombuffer(encoded, np.uint8), cv2.IMREAD_GRAYSCALE)
    if image is None:
        return None, "not a decodable image"
    if image.shape != (IMAGE_SIZE, IMAGE_SIZE):
        resized = cv2.resize(image, (IMAGE_SIZE, IMAGE_SIZE), interpolation=cv2.INTER_AREA)
        return resized, f"resized from {image.shape[1]}x{image.shape[0]}"
    return image, None


def decode_all(encoded: list[bytes], sources: list[str], workers: int | None = None,
               chunk_size: int = 512, progress: bool = True) -> tuple[np.ndarray, np.ndarray, list[dict]]:
    """Decodes every image on all cores (OpenCV releases the GIL).

    Returns the pixels of the decodable images, a mask of which inputs they are, and one
    problem record per undecodable or resized image.
    """
    pixels = np.zeros((len(encoded), IMAGE_SIZE, IMAGE_SIZE), np.uint8)
    decoded = np.zeros(len(encoded), bool)
    problems: list[dict] = []

    def decode_chunk(start: int) -> list[tuple[int, str]]:
        found = []
        for i in range(start, min(start + chunk_size, len(encoded))):
            image, problem = decode_image(encoded[i])
            if image is not None:
                pixels[i] = image
                decoded[i] = True
            if problem:
                found.append((i, problem))
        return found

    starts = range(0, len(encoded), chunk_size)
    with ThreadPoolExecutor(max_workers=workers or os.cpu_count() or 1) as pool, tqdm(
        total=len(encoded), desc="Decoding FER2013", unit="img", disable=not progress, mininterval=0.5
    ) as bar:
        for start, found in zip(starts, pool.map(decode_chunk, starts), strict=True):
            bar.update(min(chunk_size, len(encoded) - start))
            for i, problem in found:
                kind = "resized" if problem.startswith("resized") else "undecodable"
                problems.append({"source": sources[i], "kind": kind, "detail": problem})
    return pixels[decoded], decoded, problems


def load_faces(path: Path, progress: bool = True, found: tuple[Path, str] | None = None,
               sha256: str | None = None) -> FER2013Faces:
    """Finds, reads and decodes FER2013 under ``path`` (no cache). ``found`` (``find_source``'s
    answer) and ``sha256`` (``fingerprint``'s) skip those steps when the caller has them already."""
    source, layout = found or find_source(path)
    records = read_records(source, layout)
    if records.pixels is not None:
        pixels, keep, problems = records.pixels, np.ones(len(records.sources), bool), []
    else:
        pixels, keep, problems = decode_all(records.encoded, records.sources, progress=progress)
    problems = records.unreadable + problems
    for problem in problems:
        if problem["kind"] == "undecodable":
            logger.warning("Skipping %s: %s", problem["source"], problem["detail"])
    index = pd.DataFrame(
        {"source": records.sources, "emotion": records.emotions, "usage": records.usages}
    )[keep].reset_index(drop=True)
    if index.empty:
        raise FER2013Error(f"{source}: none of its {len(keep)} images could be decoded")
    return FER2013Faces(pixels=pixels, index=index, problems=problems, layout=layout, location=str(source),
                        source_sha256=sha256 or fingerprint(source), examined=int(len(keep)) + len(records.unreadable))
