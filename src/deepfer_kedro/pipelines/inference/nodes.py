"""Emotions of the faces in a folder of photos (``data/05_model_input/inference``)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

import cv2
import pandas as pd
from PIL import Image, ImageOps

from deepfer_kedro.inference.faces import to_gray
from deepfer_kedro.inference.predict import ROW_COLUMNS, EmotionPredictor, annotate, result_rows

logger = logging.getLogger(__name__)


def predict_folder(inference_model: Any, inference_images: dict[str, Callable[[], Image.Image]],
                   inference: dict[str, Any]) -> tuple[pd.DataFrame, dict[str, Image.Image]]:
    """One row per face (or per image without one, or per unreadable file), and the images
    annotated with box, emotion and confidence when ``inference['annotate']``."""
    predictor = EmotionPredictor(inference_model, inference)
    rows, annotated = [], {}
    for name in sorted(inference_images):
        try:
            gray = to_gray(ImageOps.exif_transpose(inference_images[name]()))
        except Exception as err:  # the dataset raises DatasetError wrapping PIL's error
            reason = " ".join(str(err).split())
            logger.error("%s: not a readable image (%s)", name, reason)
            rows.append({"file": name, "status": "unreadable", "message": f"not a readable image ({reason})"})
            continue
        results = predictor.predict_frame(gray)
        rows += result_rows(name, None, results)
        if inference.get("annotate"):
            drawn = cv2.cvtColor(annotate(gray, results), cv2.COLOR_BGR2RGB)
            annotated[Path(name).with_suffix("").as_posix()] = Image.fromarray(drawn)
    return pd.DataFrame(rows).reindex(columns=ROW_COLUMNS), annotated
