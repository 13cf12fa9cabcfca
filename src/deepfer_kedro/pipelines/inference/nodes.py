"""Emotions of the faces in a folder of photos and videos (``data/05_model_input/inference``)."""

from __future__ import annotations

import itertools
import logging
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pandas as pd
from kedro.io.core import DatasetError
from matplotlib.figure import Figure  # at run time: Kedro reads the nodes' type hints
from PIL import Image
from tqdm.auto import tqdm

from deepfer_kedro.inference.faces import UnreadableImageError, read_image
from deepfer_kedro.inference.loading import for_runtime
from deepfer_kedro.inference.predict import (
    VIDEO_SUFFIXES,
    EmotionPredictor,
    PhotoThreads,
    annotate,
    frame_count,
    media_files,
    predict_video,
    result_rows,
    unreadable_row,
)
from deepfer_kedro.inference.summary import SUMMARY_COLUMNS, FaceSummaries
from deepfer_kedro.labels import ROW_COLUMNS, Status

logger = logging.getLogger(__name__)


def predict_folder(inference_model: Any, inference_images: dict[str, Callable[[], Image.Image]],
                   inference_videos: dict[str, Callable[[], str]], inference: dict[str, Any],
                   ) -> tuple[pd.DataFrame, dict[str, Callable[[], Image.Image]], pd.DataFrame, dict[str, Figure]]:
    """One row per face (or per image or frame without one, or per unreadable file) of every photo
    and of every frame of every video, as ``deepfer predict`` writes them; the photos annotated
    with box, emotion and confidence when ``inference['annotate']`` (each drawn as it is saved: held
    at once, a 12 MP phone photo's copy takes 36 MB, a thousand of them 36 GB); one row per face of each file
    (a video's over all its frames); and a plot per video of its faces' emotions over time. The
    model runs on ``inference['runtime']`` (onnx or keras)."""
    predictor = EmotionPredictor(for_runtime(inference_model, inference.get("runtime", "onnx")), inference)
    rows: list[dict[str, Any]] = []
    annotated, summaries = {}, FaceSummaries()
    # both datasets list the whole folder; each file is read by the one for its kind
    names = media_files(sorted(set(inference_images) | set(inference_videos)),
                        "the inference folder (inference_images)", "rename it to try it anyway")
    saved_as = _output_names(names)
    threads = PhotoThreads(predictor)  # photos one after another are read on several threads

    def photo(name: str) -> tuple[list[dict[str, Any]], Callable[[], Image.Image] | None]:
        return _image_rows(threads, name, inference_images[name], bool(inference.get("annotate")))

    progress = tqdm(total=len(names), desc="Classifying", unit="file", mininterval=0.5)
    try:
        for videos, group in itertools.groupby(names, key=lambda name: Path(name).suffix.lower() in VIDEO_SUFFIXES):
            group = list(group)
            if videos:
                done = ((name, _video_rows(predictor, name, inference_videos[name], progress), None) for name in group)
            else:  # in the folder's order, however the threads finish
                done = ((name, *rows_drawn) for name, rows_drawn in zip(group, threads.map(photo, group), strict=True))
            for name, new_rows, drawn in done:
                if drawn is not None:
                    annotated[saved_as[name]] = drawn
                for row in new_rows:
                    summaries.add(row)
                rows += new_rows
                progress.update()
    finally:
        threads.close()
        progress.close()
    table = pd.DataFrame(rows).reindex(columns=ROW_COLUMNS)
    photos_without_face = int(((table["status"] == Status.NO_FACE) & table["frame"].isna()).sum())
    if photos_without_face and predictor.detect_faces:
        logger.warning("No face found in %d of %d image(s); if they are already face crops, "
                       "inference.detect_faces: false classifies each whole image", photos_without_face,
                       sum(Path(name).suffix.lower() not in VIDEO_SUFFIXES for name in names))
    timelines = {f"{saved_as[video]}_timeline.png": summaries.timeline(video)
                 for video in summaries.videos()}
    return table, annotated, summaries.table().reindex(columns=SUMMARY_COLUMNS), timelines


def _output_names(names: list[str]) -> dict[str, str]:
    """The name each file's outputs are saved under: its path without suffix, and with it for files of
    one folder that share a stem (``IMG_1.HEIC`` and ``IMG_1.JPG``: ``IMG_1_HEIC``, ``IMG_1_JPG``)."""
    stems = Counter(Path(name).with_suffix("").as_posix().casefold() for name in names)
    return {name: Path(name).with_suffix("").as_posix()
            + (f"_{Path(name).suffix[1:]}" if stems[Path(name).with_suffix("").as_posix().casefold()] > 1 else "")
            for name in names}


def _image_rows(threads: PhotoThreads, name: str, load: Callable[[], Image.Image],
                draw: bool) -> tuple[list[dict[str, Any]], Callable[[], Image.Image] | None]:
    """The photo's rows, and with ``draw`` what draws its annotated copy (None when it cannot be read)."""
    try:
        gray = _gray(threads.predictor, name, load)
    except UnreadableImageError as err:
        logger.error("%s", err)
        return [unreadable_row(name, err)], None
    results = threads.predict_frame(gray)

    def drawn() -> Image.Image:  # the photo read again: only its faces' boxes and labels are kept meanwhile
        gray = _gray(threads.predictor, name, load)
        return Image.fromarray(cv2.cvtColor(annotate(gray, results), cv2.COLOR_BGR2RGB))
    return result_rows(name, None, results), drawn if draw else None


def _gray(predictor: EmotionPredictor, name: str, load: Callable[[], Image.Image]) -> np.ndarray:
    try:
        image = load()
    except Exception as err:  # the catalog dataset wraps PIL's errors in its own
        raise UnreadableImageError(f"{name}: not a readable image ({' '.join(str(err).split())})") from err
    return read_image(image, predictor.max_image_pixels, name)


def _video_rows(predictor: EmotionPredictor, name: str, load: Callable[[], str],
                progress: tqdm) -> list[dict[str, Any]]:
    """Every frame's rows, named by the file's name in the folder; a video that cannot be read, or
    breaks off, keeps the rows of the frames read and ends with an ``unreadable`` row saying why."""
    rows = []
    try:
        path = load()
        frames = frame_count(path)
        for row in predict_video(predictor, path):
            if row["frame"] is not None:
                progress.set_postfix_str(f"{name} frame {row['frame'] + 1}" + (f"/{frames}" if frames else ""),
                                         refresh=False)
            rows.append(row | {"file": name} if row["status"] != Status.UNREADABLE
                        else row | {"file": name, "message": row["message"].replace(row["file"], name)})
    except (UnreadableImageError, DatasetError) as err:
        logger.error("%s", err)
        rows.append(unreadable_row(name, err))
    return rows
