"""Small faces: how top-1 falls with the size of the face, which `inference.min_face_size` (`--min-face`)
trades against classifying far faces at all.

A detected face of box side b is cropped with the default margin (side 1.2 b) and resized to
48x48. FER2013's own faces are such crops at 48 px (b = 40); here each is shrunk to 1.2 b px
(area averaging, as a camera's sensor does) and enlarged back to 48 px the way `crop_face`
enlarges a small crop, then classified by the shipped int8 ONNX model. PublicTest and PrivateTest
each, every face.

Usage: python benchmarks/face_size.py [--data data/01_raw]"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from _report import fer2013_splits, table, write_section  # noqa: E402

from deepfer_kedro.inference.loading import load_default_model  # noqa: E402
from deepfer_kedro.inference.predict import EmotionPredictor  # noqa: E402
from deepfer_kedro.labels import IMAGE_SIZE  # noqa: E402

BOX_SIDES = (8, 12, 16, 20, 24, 28, 32, 40)


def at_box_side(pixels: np.ndarray, box: int, margin: float) -> np.ndarray:
    """The faces as a detector's box of side ``box`` would give them to the model."""
    side = round(box * (1 + 2 * margin))
    if side >= IMAGE_SIZE:
        return pixels
    return np.stack([cv2.resize(cv2.resize(face, (side, side), interpolation=cv2.INTER_AREA),
                                (IMAGE_SIZE, IMAGE_SIZE), interpolation=cv2.INTER_LINEAR) for face in pixels])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", default="data/01_raw")
    args = parser.parse_args()
    faces, split, labels = fer2013_splits(args.data)
    model = load_default_model("onnx")
    defaults = EmotionPredictor(model, {})
    top1 = {(part, box): float((model.predict(at_box_side(faces.pixels[split == part], box, defaults.margin))
                                .argmax(1) == labels[split == part]).mean())
            for part in ("val", "test") for box in BOX_SIDES}
    full = BOX_SIDES[-1]
    rows = [{"face box side (px)": f"**{box}** (the default minimum)" if box == defaults.min_face_size else box,
             "crop side (px)": round(box * (1 + 2 * defaults.margin)),
             "PublicTest top-1": f"{top1['val', box]:.4f}",
             "PrivateTest top-1": f"{top1['test', box]:.4f}",
             f"PrivateTest vs {full} px (points)": f"{100 * (top1['test', box] - top1['test', full]):+.1f}"}
            for box in BOX_SIDES]
    print(table(rows, list(rows[0])))
    body = (f"Every PublicTest and PrivateTest face ({int((split == 'val').sum())} and {int((split == 'test').sum())}"
            f"), shrunk so that its box would be the given side, margin {defaults.margin}, classified by the shipped "
            "int8 ONNX model.\n\n" + table(rows, list(rows[0]))
            + "\n\nFaces below the minimum are reported (`face_too_small`), not guessed. Lower it (`--min-face`, "
              "`inference.min_face_size`) to classify far faces at the accuracy of this table.")
    write_section("Small faces: top-1 by face size", f"python benchmarks/face_size.py --data {args.data}", body)


if __name__ == "__main__":
    main()
