"""Tilted heads: is a face classified better when it is turned upright by its eyes first?

FER2013's faces are mostly upright, and the model learnt them so (its augmentation turns them by
at most 10-15 degrees). In photos and video people tilt their heads. BlazeFace gives each face's eye
keypoints, so `crop_face` can turn the face until its eyes are level before cutting the 48x48 crop
(`inference.align_faces`, `Box.roll`).

Each real FER2013 face is upscaled to 160 px, set in a 480x400 frame (its edges repeated) and
turned by 0, 10, 20 or 30 degrees, alternately clockwise and counter-clockwise. BlazeFace finds it
once; the largest face found is cut out with and without alignment and classified by the shipped
int8 ONNX model. Top-1 is over the faces found (the same faces for both). The default is chosen on
PublicTest (the higher top-1 over the four angles together); PrivateTest is reported. Also
measured: how well the eyes give the roll (the change of the estimated roll between the upright
and the turned frame of the same face, against the turn applied) and what alignment costs per face.

Usage: python benchmarks/face_roll.py [--data data/01_raw] [--limit N]"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from _report import fer2013_splits, median_seconds, table, write_section  # noqa: E402

from deepfer_kedro.inference.faces import BlazeFaceDetector, Box, crop_face  # noqa: E402
from deepfer_kedro.inference.loading import load_default_model  # noqa: E402

ANGLES = (0, 10, 20, 30)


def tilted_frame(face: np.ndarray, angle: float) -> np.ndarray:
    """A 48x48 face upscaled to 160 px in a 480x400 frame, turned ``angle`` degrees counter-clockwise."""
    big = cv2.resize(face, (160, 160), interpolation=cv2.INTER_CUBIC)
    frame = cv2.copyMakeBorder(big, 120, 120, 160, 160, cv2.BORDER_REPLICATE)
    turn = cv2.getRotationMatrix2D(((frame.shape[1] - 1) / 2, (frame.shape[0] - 1) / 2), angle, 1.0)
    return cv2.warpAffine(frame, turn, (frame.shape[1], frame.shape[0]), flags=cv2.INTER_LINEAR,
                          borderMode=cv2.BORDER_REPLICATE)


def measured(model, detector: BlazeFaceDetector, faces: np.ndarray, labels: np.ndarray) -> dict:
    """Per angle: faces found, top-1 without and with alignment, and each face's estimated roll."""
    out = {}
    for angle in ANGLES:
        found, rolls, plain, aligned = [], np.full(len(faces), np.nan), [], []
        for i, face in enumerate(faces):
            frame = tilted_frame(face, angle if i % 2 == 0 else -angle)
            box = max(detector.detect(frame), key=lambda b: b.w * b.h, default=None)
            if box is None:
                continue
            found.append(i)
            rolls[i] = box.roll
            plain.append(crop_face(frame, box, align=False))
            aligned.append(crop_face(frame, box, align=True))
        right = labels[found]
        out[angle] = {"found": len(found) / len(faces), "rolls": rolls,
                      "plain": float((model.predict(np.stack(plain)[..., None]).argmax(1) == right).mean()),
                      "aligned": float((model.predict(np.stack(aligned)[..., None]).argmax(1) == right).mean())}
        print(angle, {k: v for k, v in out[angle].items() if k != "rolls"}, flush=True)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", default="data/01_raw")
    parser.add_argument("--limit", type=int, help="a random sample of this many faces per split (a quick look)")
    args = parser.parse_args()
    faces, split, labels = fer2013_splits(args.data)
    model, detector = load_default_model("onnx"), BlazeFaceDetector()
    results = {}
    for part in ("val", "test"):
        sample = np.random.default_rng(0).permutation(int((split == part).sum()))[:args.limit]  # all when no limit
        results[part] = measured(model, detector, faces.pixels[split == part][sample], labels[split == part][sample])

    def mean(part: str, how: str) -> float:
        return float(np.mean([results[part][a][how] for a in ANGLES]))

    chosen = "aligned" if mean("val", "aligned") > mean("val", "plain") else "plain"
    rows = []
    for angle in (*ANGLES, None):
        val, test = ({how: results[part][angle][how] if angle is not None else mean(part, how)
                      for how in ("plain", "aligned")} for part in ("val", "test"))
        found = "" if angle is None else f"{results['val'][angle]['found']:.1%} / {results['test'][angle]['found']:.1%}"
        rows.append({"turn": "all four" if angle is None else f"±{angle}°",
                     "faces found (PublicTest / PrivateTest)": found,
                     "PublicTest top-1, as boxed / aligned": f"{val['plain']:.4f} / {val['aligned']:.4f}",
                     "PrivateTest top-1, as boxed / aligned": f"{test['plain']:.4f} / {test['aligned']:.4f}",
                     "PrivateTest gain (points)": f"{100 * (test['aligned'] - test['plain']):+.1f}"})

    upright = results["test"][0]["rolls"]
    sign = np.where(np.arange(len(upright)) % 2 == 0, 1, -1)
    errors = [{"turn": f"±{a}°", "median error (degrees)": f"{np.nanmedian(np.abs(errors)):.1f}",
               "90th percentile": f"{np.nanpercentile(np.abs(errors), 90):.1f}"}
              for a in ANGLES[1:]
              for errors in [results["test"][a]["rolls"] - upright + sign * a]]

    frame = tilted_frame(faces.pixels[split == "test"][0], 20)
    box = max(detector.detect(frame), key=lambda b: b.w * b.h)
    cost = [{"crop": name, "ms per face": f"{median_seconds(lambda b=b: crop_face(frame, b), 200) * 1000:.3f}"}
            for name, b in (("as boxed", Box(box.x, box.y, box.w, box.h)), ("aligned", box))]

    body = (
        f"Faces: {int((split == 'val').sum())} PublicTest and {int((split == 'test').sum())} PrivateTest "
        f"({args.limit or 'all'} per split used), classified by the shipped int8 ONNX model; top-1 over the faces "
        f"found, the same faces in both columns. Chosen on PublicTest: "
        f"**{'aligned' if chosen == 'aligned' else 'as boxed'}** "
        f"(`inference.align_faces: {str(chosen == 'aligned').lower()}`).\n\n" + table(rows, list(rows[0]))
        + "\n\nHow far the roll read from the eyes is from the turn applied (PrivateTest, the same face upright "
          "and turned):\n\n" + table(errors, list(errors[0]))
        + f"\n\nWhat it costs ({box.w} px face box in a 480x400 frame):\n\n" + table(cost, list(cost[0])))
    limit = f" --limit {args.limit}" if args.limit else ""
    write_section("Tilted heads: faces turned upright by their eyes",
                  f"python benchmarks/face_roll.py --data {args.data}{limit}", body)


if __name__ == "__main__":
    main()
