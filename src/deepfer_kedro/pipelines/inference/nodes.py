"""Emotions of the faces in a folder of photos (``data/05_model_input/inference``)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

import cv2
import pandas as pd
from PIL import Image

from deepfer_kedro.inference.faces import UnreadableImageError, read_image
from deepfer_kedro.inference.loading import for_runtime
from deepfer_kedro.inference.predict import EmotionPredictor, annotate, result_rows, unreadable_row
from deepfer_kedro.labels import ROW_COLUMNS, Status

logger = logging.getLogger(__name__)


def predict_folder(inference_model: Any, inference_images: dict[str, Callable[[], Image.Image]],
                   inference: dict[str, Any]) -> tuple[pd.DataFrame, dict[str, Image.Image]]:
    """One row per face (or per image without one, or per unreadable file), and the images
    annotated with box, emotion and confidence when ``inference['annotate']``. The model runs on
    ``inference['runtime']`` (onnx or keras)."""
    predictor = EmotionPredictor(for_runtime(inference_model, inference.get("runtime", "onnx")), inference)
    rows, annotated = [], {}
    for name in sorted(inference_images):
        try:
            try:
                image = inference_images[name]()
            except Exception as err:  # the catalog dataset wraps PIL's errors in its own
                raise UnreadableImageError(f"{name}: not a readable image ({' '.join(str(err).split())})") from err
            gray = read_image(image, predictor.max_image_pixels, name)
        except UnreadableImageError as err:
            logger.error("%s", err)
            rows.append(unreadable_row(name, err))
            continue
        results = predictor.predict_frame(gray)
        rows += result_rows(name, None, results)
        if inference.get("annotate"):
            drawn = cv2.cvtColor(annotate(gray, results), cv2.COLOR_BGR2RGB)
            annotated[Path(name).with_suffix("").as_posix()] = Image.fromarray(drawn)
    table = pd.DataFrame(rows).reindex(columns=ROW_COLUMNS)
    without_face = int((table["status"] == Status.NO_FACE).sum())
    if without_face and predictor.detect_faces:
        logger.warning("No face found in %d of %d image(s); if they are already face crops, "
                       "inference.detect_faces: false classifies each whole image", without_face, len(inference_images))
    return table, annotated
