"""The epoch-time estimate (``training.time_budget_s``) against the epochs it sizes, on real
FER2013 faces, per Keras backend: the estimate must match what it measures, or a time budget
cuts a recipe's schedule short (the GPU search's runs are sized by it).

  python benchmarks/epoch_estimate.py [--data ../shared/datasets/fer2013.zip]

Each row trains three epochs in its own process (one backend each) and compares the estimate
with the median of epochs 2-3 (the first also compiles).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CASES = [  # backend, environment, --params
    ("jax", "quick", "training.epochs=3,training.max_images_per_class=400"),
    ("tensorflow", "quick", "training.epochs=3,training.max_images_per_class=400"),
    ("jax", "sota", "model.base_filters=16,training.mixed_precision=false,training.epochs=3,"
                    "training.max_images_per_class=400,training.warmup_epochs=1"),
]
ONE_CASE = r"""
import json, sys
from pathlib import Path
import keras
from deepfer_kedro.core.config import load_parameters
from deepfer_kedro.core.data import build_image_index, compute_class_weights
from deepfer_kedro.core.training import train_model
from deepfer_kedro.fer2013 import load_faces
faces = load_faces(Path(sys.argv[1]), progress=False)
index = build_image_index(faces, 0.1, 0)
params = load_parameters(sys.argv[2], sys.argv[3])
training = {**params["training"], "time_budget_s": 3600, "resume_dir": None, "verbose": 0}
_, history = train_model(faces.pixels, index, compute_class_weights(index), params["model"], training,
                         params["augmentation"], 0)
print(json.dumps({"estimate": float(history["estimated_epoch_seconds"].iloc[0]),
                  "epochs": history["epoch_seconds"].tolist()}))
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", default=str(ROOT.parent / "shared" / "datasets" / "fer2013.zip"))
    args = parser.parse_args()
    print("| backend | env | --params | estimate s | measured epochs 2-3 s | ratio |\n|---|---|---|---|---|---|")
    for backend, env, params in CASES:
        done = subprocess.run([sys.executable, "-c", ONE_CASE, args.data, env, params], capture_output=True,
                              text=True, env={**os.environ, "KERAS_BACKEND": backend}, cwd=ROOT, check=False)
        if done.returncode:
            sys.exit(f"{backend} {env} failed:\n{done.stderr[-3000:]}")
        result = json.loads(done.stdout.strip().splitlines()[-1])
        later = sorted(result["epochs"][1:])
        median = later[len(later) // 2] if len(later) % 2 else sum(later[len(later) // 2 - 1:][:2]) / 2
        print(f"| {backend} | {env} | `{params}` | {result['estimate']:.2f} | "
              f"{', '.join(f'{s:.2f}' for s in result['epochs'][1:])} | {result['estimate'] / median:.2f} |",
              flush=True)


if __name__ == "__main__":
    main()
