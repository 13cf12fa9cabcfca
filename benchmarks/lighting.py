"""Poor light and image quality: how top-1 falls when a camera films faces dim, backlit, hazy,
overexposed, noisy, over-compressed or blurred, and what `inference.stretch_contrast_below` (faces in
poor light stretched to FER2013's gray range before they are classified) wins back.

Each PublicTest and PrivateTest face stands for a camera's crop of a 96 px face box (115 px with the
default margin): enlarged to 115 px, degraded there as a camera would (the list below), and cut to
48 px by `crop_face` as `deepfer predict` does (area averaging, which also averages away some noise),
then classified by the shipped int8 ONNX model through `EmotionPredictor.classify`, the path every
photo and frame takes. The threshold is chosen on PublicTest before PrivateTest is read: the highest
mean top-1 over the conditions, clean faces included; ties go to the lower threshold (fewer faces
touched). FER2013's gray range, the stretch's target, is measured here on the train split.

Usage: python benchmarks/lighting.py [--data data/01_raw]"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from _report import fer2013_splits, median_seconds, table, write_section  # noqa: E402

from deepfer_kedro.inference.faces import FER2013_GRAY_RANGE, Box, crop_face, stretch_contrast  # noqa: E402
from deepfer_kedro.inference.loading import load_default_model  # noqa: E402
from deepfer_kedro.inference.predict import STRETCH_CONTRAST_BELOW, EmotionPredictor  # noqa: E402

CROP = 115  # a 96 px face box with the default 10% margin on each side
THRESHOLDS = (0, 60, 80, 100, 120, 140)  # 0: off
Degrade = Callable[[np.ndarray, np.random.Generator], np.ndarray]


def jpeg(quality: int) -> Degrade:
    def degrade(crop: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        encoded = cv2.imencode(".jpg", np.clip(np.round(crop), 0, 255).astype(np.uint8),
                               [cv2.IMWRITE_JPEG_QUALITY, quality])[1]
        return cv2.imdecode(encoded, cv2.IMREAD_GRAYSCALE).astype(np.float32)
    return degrade


def backlit(crop: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """The face in shadow before a bright window, which fills the crop's outer eighth."""
    edge = CROP // 8
    lit = crop * 0.35
    window = np.ones_like(crop, bool)
    window[edge:-edge, edge:-edge] = False
    lit[window] = 235
    return lit + rng.normal(0, 2, crop.shape)


CONDITIONS: dict[str, Degrade] = {
    "clean": lambda c, r: c,
    "dim (light x0.4, sensor noise 3)": lambda c, r: c * 0.4 + r.normal(0, 3, c.shape),
    "dark (light x0.2, sensor noise 3)": lambda c, r: c * 0.2 + r.normal(0, 3, c.shape),
    "backlit (face x0.35 before a bright window)": backlit,
    "hazy (contrast x0.3)": lambda c, r: 128 + (c - 128) * 0.3,
    "overexposed (x0.4 of the way from white)": lambda c, r: 255 - (255 - c) * 0.4,
    "sensor noise 8": lambda c, r: c + r.normal(0, 8, c.shape),
    "sensor noise 16": lambda c, r: c + r.normal(0, 16, c.shape),
    "JPEG quality 30": jpeg(30),
    "JPEG quality 10": jpeg(10),
    "out of focus (blur 2 px)": lambda c, r: cv2.GaussianBlur(c, (0, 0), 2.0),
}


def filmed(faces: np.ndarray, degrade: Degrade, seed: int = 0) -> np.ndarray:
    """The faces as the camera's degraded crops reach the model."""
    rng = np.random.default_rng(seed)
    out = []
    for face in faces:
        crop = degrade(cv2.resize(face, (CROP, CROP), interpolation=cv2.INTER_LINEAR).astype(np.float32), rng)
        out.append(crop_face(np.clip(np.round(crop), 0, 255).astype(np.uint8), Box(0, 0, CROP, CROP), 0.0))
    return np.stack(out)


def gray_range(train: np.ndarray) -> tuple[float, float, np.ndarray]:
    """The medians of the train faces' 1st and 99th percentiles, and each face's centre spread."""
    lo, hi = np.percentile(train.reshape(len(train), -1), (1, 99), axis=1)
    edge = train.shape[1] // 6
    c_lo, c_hi = np.percentile(train[:, edge:-edge, edge:-edge].reshape(len(train), -1), (1, 99), axis=1)
    return float(np.median(lo)), float(np.median(hi)), c_hi - c_lo


FIGURE = Path(__file__).parents[1] / "docs" / "figures" / "poor_light.png"
SHOWN = ("clean", "dim (light x0.4, sensor noise 3)", "dark (light x0.2, sensor noise 3)",
         "backlit (face x0.35 before a bright window)", "hazy (contrast x0.3)",
         "overexposed (x0.4 of the way from white)")


def draw_examples(model) -> Path:
    """A real face (scikit-image's astronaut, public domain) filmed under each light: as the camera
    gives it and as the model sees it after the stretch, each with the shipped model's answer and
    confidence."""
    import matplotlib.pyplot as plt
    from skimage import data

    from deepfer_kedro.labels import EMOTIONS

    gray = cv2.cvtColor(data.astronaut(), cv2.COLOR_RGB2GRAY)
    face = crop_face(gray, Box(177, 67, 93, 93))[None]
    off, on = EmotionPredictor(model, {"stretch_contrast_below": 0}), EmotionPredictor(model, {})
    figure, axes = plt.subplots(2, len(SHOWN), figsize=(1.7 * len(SHOWN), 4.2))
    for c, condition in enumerate(SHOWN):
        seen = filmed(face, CONDITIONS[condition])
        for r, (shown, predictor) in enumerate(((seen, off), (stretch_contrast(seen, on.stretch_contrast_below), on))):
            probabilities = predictor.classify(seen)[0]
            axis = axes[r, c]
            axis.imshow(shown[0], cmap="gray", vmin=0, vmax=255)
            axis.set_xticks([]), axis.set_yticks([])
            axis.set_xlabel(f"{EMOTIONS[probabilities.argmax()]} {probabilities.max():.0%}", fontsize=9)
            if r == 0:
                axis.set_title(condition.split(" (")[0], fontsize=9)
        axes[0, 0].set_ylabel("as filmed", fontsize=9)
        axes[1, 0].set_ylabel("stretched", fontsize=9)
    figure.suptitle("A face filmed in poor light, and what the model sees after the stretch (the shipped model's "
                    "answer below each)", fontsize=9)
    figure.tight_layout()
    FIGURE.parent.mkdir(exist_ok=True)
    figure.savefig(FIGURE, dpi=90)
    plt.close(figure)
    return FIGURE


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", default="data/01_raw")
    parser.add_argument("--figure-only", action="store_true", help="only redraw docs/figures/poor_light.png")
    args = parser.parse_args()
    print(draw_examples(load_default_model("onnx")))
    if args.figure_only:
        return
    faces, split, labels = fer2013_splits(args.data)
    low, high, spread = gray_range(faces.pixels[split == "train"])
    model = load_default_model("onnx")
    predictors = {t: EmotionPredictor(model, {"stretch_contrast_below": t}) for t in THRESHOLDS}

    def top1(part: str, condition: str, threshold: float) -> float:
        probabilities = predictors[threshold].classify(filmed(faces.pixels[split == part], CONDITIONS[condition]))
        return float((probabilities.argmax(1) == labels[split == part]).mean())

    val = {(c, t): top1("val", c, t) for c in CONDITIONS for t in THRESHOLDS}
    for c in CONDITIONS:
        print(c, " ".join(f"{t}:{val[c, t]:.4f}" for t in THRESHOLDS), flush=True)
    mean = {t: np.mean([val[c, t] for c in CONDITIONS]) for t in THRESHOLDS}
    chosen = max(THRESHOLDS, key=lambda t: (round(mean[t], 6), -t))
    test = {(c, t): top1("test", c, t) for c in CONDITIONS for t in (0, chosen)}
    rows = [{"condition": c,
             **{f"PublicTest, {'off' if t == 0 else t}": f"**{val[c, t]:.4f}**" if t == chosen else f"{val[c, t]:.4f}"
                for t in THRESHOLDS},
             "PrivateTest, off": f"{test[c, 0]:.4f}", f"PrivateTest, {chosen}": f"{test[c, chosen]:.4f}",
             "PrivateTest gain (points)": f"{100 * (test[c, chosen] - test[c, 0]):+.1f}"} for c in CONDITIONS]
    rows.append({"condition": "mean", **{f"PublicTest, {'off' if t == 0 else t}": f"{mean[t]:.4f}" for t in THRESHOLDS},
                 "PrivateTest, off": f"{np.mean([test[c, 0] for c in CONDITIONS]):.4f}",
                 f"PrivateTest, {chosen}": f"{np.mean([test[c, chosen] for c in CONDITIONS]):.4f}",
                 "PrivateTest gain (points)": ""})
    print(table(rows, list(rows[0])))
    # its cost: the stretch alone, on one face in good light (percentiles only) and one dim (stretched too),
    # beside the call it is part of; timed apart, since a whole call varies by more than the stretch takes
    one = {light: filmed(faces.pixels[split == "test"][:1], CONDITIONS[light])
           for light in ("clean", "dim (light x0.4, sensor noise 3)")}
    call_ms = 1000 * median_seconds(lambda: predictors[0].classify(one["clean"]), 1000)
    stretch_us = {light: 1e6 * median_seconds(lambda f=face: stretch_contrast(f, chosen), 1000)
                  for light, face in one.items()}
    timing = (f"The stretch takes {stretch_us['clean']:.0f} µs for a face in good light (its percentiles only) and "
              f"{stretch_us['dim (light x0.4, sensor noise 3)']:.0f} µs for a dim one, which it stretches, beside "
              f"{call_ms:.2f} ms for the model's call on one face (the shipped int8 ONNX model on this machine, "
              "medians of 1,000).")
    gain = {c: 100 * (test[c, chosen] - test[c, 0]) for c in CONDITIONS}
    light = [c for c in CONDITIONS if c.split(" ")[0] in ("dim", "dark", "backlit", "hazy", "overexposed")]
    light_gain = f"{min(gain[c] for c in light):+.1f} to {max(gain[c] for c in light):+.1f} points on PrivateTest"
    clean_cost = f"{gain['clean']:+.1f}"
    others = [gain[c] for c in CONDITIONS if c not in light and c != "clean"]
    other_cost = f"{min(others):+.1f} to {max(others):+.1f}"
    configured = "the default" if chosen == STRETCH_CONTRAST_BELOW else f"NOT the default ({STRETCH_CONTRAST_BELOW:g})"
    body = (
        f"Every PublicTest and PrivateTest face ({int((split == 'val').sum())} and {int((split == 'test').sum())}) "
        f"filmed as a camera's {CROP} px crop of a 96 px face box under each condition, cut to 48 px by `crop_face` "
        "and classified by the shipped int8 ONNX model through `EmotionPredictor.classify` with "
        "`stretch_contrast_below` off or at a threshold (gray levels spanned by the face's centre, 1st to 99th "
        "percentile). Sensor noise is the standard deviation in gray levels at the camera's resolution.\n\n"
        + table(rows, list(rows[0]))
        + f"\n\nChosen on PublicTest (highest mean, ties to the lower threshold): **{chosen}**, {configured} "
        f"(`inference.stretch_contrast_below`, `--stretch-contrast`). FER2013's gray range, the target of the "
        f"stretch, measured on the train split: medians of each face's 1st and 99th percentiles {low:g} and "
        f"{high:g} (`FER2013_GRAY_RANGE` = {FER2013_GRAY_RANGE}); the centres of "
        f"{100 * np.mean(spread < chosen):.1f}% of the train faces span fewer than {chosen} levels "
        f"(5th percentile of the spread: {np.percentile(spread, 5):.0f}).\n\n"
        f"The stretch mends light (dim, dark, backlit, hazy and overexposed faces: {light_gain}); on PrivateTest "
        f"it costs clean faces {clean_cost} points and noisy, compressed or blurred ones {other_cost}, which it "
        "cannot mend: the table measures them for choosing a camera and its settings. These are synthetic "
        f"conditions on FER2013's faces, not photos taken in such light. {timing}\n\n"
        "![A face filmed in poor light, as filmed and as the model sees it after the stretch](figures/poor_light.png)")
    write_section("Poor light and image quality", f"python benchmarks/lighting.py --data {args.data}", body)


if __name__ == "__main__":
    main()
