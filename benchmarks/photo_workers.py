"""Photos read on several threads at once (`inference.photo_workers`, `deepfer predict --workers`):
photos a second through `predict_paths` against one photo after another, in the same run.

Each photo is scikit-image's astronaut (one face) scaled up to a phone's 12 MP (4032x3024) or to
1080p, shifted and mirrored so that no two are alike, saved as a JPEG (quality 90). Each thread reads
a photo, searches it for faces with a BlazeFace detector of its own and classifies them with the
shipped int8 ONNX model (one photo at a time); the rows must be the same as one after another.
With `--annotate`, each photo's annotated PNG is written too (as `deepfer predict --annotate` does).

Usage: python benchmarks/photo_workers.py [--photos 24] [--repeats 3]"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

import cv2
import numpy as np
from skimage import data

sys.path.insert(0, str(Path(__file__).parent))
from _report import median_seconds, table, write_section  # noqa: E402

from deepfer_kedro.inference.loading import load_default_model  # noqa: E402
from deepfer_kedro.inference.predict import EmotionPredictor, predict_paths  # noqa: E402

SIZES = {"12 MP phone photo (4032x3024)": (4032, 3024), "1080p (1920x1080)": (1920, 1080)}
WORKERS = (1, 2, 4)


def write_photos(folder: Path, size: tuple[int, int], count: int) -> list[str]:
    astronaut = cv2.cvtColor(data.astronaut(), cv2.COLOR_RGB2BGR)
    width, height = size
    photos = []
    for i in range(count):
        canvas = np.full((height, width, 3), 90 + 5 * i, np.uint8)
        side = int(height * (0.5 + 0.4 * (i % 3) / 2))
        face = cv2.resize(astronaut[:, ::-1] if i % 2 else astronaut, (side, side), interpolation=cv2.INTER_CUBIC)
        x, y = (width - side) * (i % 5) // 4, (height - side) * (i % 4) // 3
        canvas[y:y + side, x:x + side] = face
        path = folder / f"photo_{i:03d}.jpg"
        cv2.imwrite(str(path), canvas, [cv2.IMWRITE_JPEG_QUALITY, 90])
        photos.append(str(path))
    return photos


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--photos", type=int, default=24)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    model = load_default_model("onnx")
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for size_name, size in SIZES.items():
            folder = Path(tmp) / size_name.split()[0]
            folder.mkdir()
            photos = write_photos(folder, size, args.photos)
            for annotate in (False, True):
                baseline, first = None, None
                for workers in WORKERS:
                    predictor = EmotionPredictor(model, {"photo_workers": workers})
                    out = Path(tmp) / f"annotated_{workers}" if annotate else None
                    result: list = []
                    seconds = median_seconds(lambda: result.__setitem__(  # noqa: B023
                        slice(None), list(predict_paths(predictor, photos, out))), args.repeats)  # noqa: B023
                    if first is None:
                        first, baseline = result[:], seconds
                    same = [(r["file"], r["status"], r["emotion"], r["p_happy"]) for r in result] == \
                        [(r["file"], r["status"], r["emotion"], r["p_happy"]) for r in first]
                    rows.append({"photos": size_name, "annotated": "yes" if annotate else "no",
                                 "workers (threads)": f"{workers} ({predictor.photo_workers})",
                                 "photos/s": f"{len(photos) / seconds:.2f}",
                                 "vs one after another": f"{baseline / seconds:.2f}x",
                                 "rows as one after another": "same" if same else "**different**",
                                 "faces found": sum(r["status"] == "ok" for r in result)})
                    print(rows[-1], flush=True)
    body = (f"{args.photos} photos of each size, each run {args.repeats} times after a warm-up (median); "
            f"threads are capped at the CPU count ({os.cpu_count()} here), so `workers` above it run as that "
            "many. One after another (1 worker) is the baseline, with the predictor's own two-thread detector. "
            "Faces found: rows with a classified face; a few photos have a second, small box (45-61 px) inside the "
            "astronaut picture but off his face, found with any number of threads."
            "\n\n" + table(rows, list(rows[0])))
    write_section("Photos on several threads", "python benchmarks/photo_workers.py", body)


if __name__ == "__main__":
    main()
