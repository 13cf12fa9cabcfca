"""Near duplicates between Training and PrivateTest, found by the data-quality report's perceptual
hash (`data_processing.near_duplicate_max_distance`): how far a copy of a face moves the hash, how
far apart different faces are, and how many PrivateTest images each threshold flags, how many of
them carry their train twin's label, and (with `--predictions`, the `test_predictions.csv` that
`deepfer evaluate -o DIR` writes) the model's top-1 with and without them.

Usage: python benchmarks/near_duplicates.py [--data data/01_raw] [--predictions DIR/test_predictions.csv]"""

from __future__ import annotations

import argparse
import io
import sys
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image

sys.path.insert(0, str(Path(__file__).parent))
from _report import table, write_section  # noqa: E402

from deepfer_kedro.core.data import build_image_index  # noqa: E402
from deepfer_kedro.fer2013 import load_faces  # noqa: E402
from deepfer_kedro.pipelines.data_processing.nodes import (  # noqa: E402
    build_quality_report,
    find_near_duplicates,
    perceptual_hashes,
)


def jpeg(face: np.ndarray) -> np.ndarray:
    buffer = io.BytesIO()
    Image.fromarray(face).save(buffer, "JPEG", quality=80)
    return np.asarray(Image.open(buffer))


COPIES = {
    "saved again as JPEG, quality 80": jpeg,
    "15 grey levels brighter": lambda f: np.clip(f.astype(np.int16) + 15, 0, 255).astype(np.uint8),
    "1.2 times the contrast": lambda f: np.clip((f.astype(np.float32) - 128) * 1.2 + 128, 0, 255).astype(np.uint8),
    "cropped 1 pixel tighter, scaled back": lambda f: np.asarray(
        Image.fromarray(f[1:-1, 1:-1]).resize((48, 48), Image.BILINEAR)),
    "shifted 1 pixel sideways": lambda f: np.roll(f, 1, axis=1),
    "mirrored (a different image to the model)": lambda f: f[:, ::-1],
}


def spread(name: str, bits: np.ndarray) -> dict:
    return {"a train face and its copy": name, "median bits": int(np.median(bits)),
            "1st percentile": int(np.percentile(bits, 1)), "90th percentile": int(np.percentile(bits, 90)),
            "within 6 bits": f"{(bits <= 6).mean():.2%}"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", default="data/01_raw")
    parser.add_argument("--predictions", help="test_predictions.csv from deepfer evaluate -o DIR")
    parser.add_argument("--faces", type=int, default=1000, help="train faces copied in the first table")
    args = parser.parse_args()
    faces = load_faces(Path(args.data), progress=False)
    index = build_image_index(faces, 0.1, 42)
    rng = np.random.default_rng(0)
    sample = faces.pixels[rng.choice(np.flatnonzero(index["split"] == "train"), args.faces, replace=False)]
    hashes = perceptual_hashes(sample)
    rows = []
    for name, copy in COPIES.items():
        bits = np.bitwise_count(hashes ^ perceptual_hashes(np.stack([copy(f) for f in sample])))
        rows.append(spread(name, bits))
    others = np.bitwise_count(hashes[:, None] ^ hashes[None, :])[np.triu_indices(len(sample), 1)]
    rows.append(spread("another train face (every pair)", others))
    copies = table(rows, list(rows[0]))

    pairs = pd.DataFrame(find_near_duplicates(faces.pixels, index, 12)["train_test"],
                         columns=["test", "train", "bits"])
    emotion_of = dict(zip(index["source"], index["emotion"], strict=True))
    split_of = dict(zip(index["source"], index["split"], strict=True))
    leaks = build_quality_report(faces, index)["duplicates"]["leakage_train_test"]  # as the evaluate node counts
    exact = {s for group in leaks for s in group if split_of[s] == "test"}
    pairs["exact"] = pairs["test"].isin(exact)
    pairs["same_label"] = [emotion_of[a] == emotion_of[b] for a, b in zip(pairs["test"], pairs["train"], strict=True)]
    predictions = pd.read_csv(args.predictions).set_index("source") if args.predictions else None
    test = int((index["split"] == "test").sum())
    rows = []
    for bits in range(0, 13, 2):
        near = pairs[pairs["bits"] <= bits]
        band = pairs[pairs["bits"].between(bits - 1, bits)]
        row = {"bits at most": bits, "PrivateTest images": f"{len(near)} ({len(near) / test:.1%})",
               "with an exact copy in Training": int(near["exact"].sum()),
               "same label as the train twin": f"{near['same_label'].mean():.1%}",
               "the same, of the pairs added by this row": f"{band['same_label'].mean():.1%} of {len(band)}"}
        if predictions is not None:
            correct = predictions["true_emotion"] == predictions["predicted_emotion"]
            flagged = correct.index.isin(near["test"])
            row["top-1 on them"] = f"{correct[flagged].mean():.4f}"
            row["top-1 without them"] = f"{correct[~flagged].mean():.4f}"
        rows.append(row)
    counts = table(rows, list(rows[0]))
    shares = index.groupby("split")["emotion"].value_counts(normalize=True).unstack(fill_value=0)
    chance = float((shares.loc["train"] * shares.loc["test"]).sum())
    command = "python benchmarks/near_duplicates.py --data " + args.data + (
        f" --predictions {args.predictions}" if args.predictions else "")
    body = (f"A 64-bit DCT hash of {args.faces} train faces (seeded sample) against the hash of a copy "
            f"of each:\n\n{copies}\n\nEach PrivateTest image's nearest Training image by that hash "
            f"({test} PrivateTest images):\n\n{counts}\n\nA Training and a PrivateTest face drawn at random "
            f"share a label {chance:.1%} of the time.\n")
    if predictions is not None:
        body += f"\nTop-1 from `{args.predictions}`, {len(predictions)} faces.\n"
    print(body)
    write_section("Near duplicates between Training and PrivateTest", command, body)


if __name__ == "__main__":
    main()
