"""Makes the model that ships with DeepFER and measures its card on the shipped file itself.

From a trained ``.keras`` model (default: ../shared/models/deepfer_sota_seed42.keras, trained by
this project's code on a GPU) it writes ``src/deepfer_kedro/default_model/``:
``deepfer_default.keras`` (the network without its training-only augmentation layers, weights in
half precision) and ``card.json`` / ``card.md``: recipe, data sha256, PublicTest and PrivateTest
top-1 and macro-F1 with and without test-time augmentation, per-class recall, CPU latency per face.

  python benchmarks/default_model.py --source ../shared/models/deepfer_sota_seed42.keras --env sota
"""

from __future__ import annotations

import argparse
import hashlib
import json
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from _report import machine, table, write_section  # noqa: E402

from deepfer_kedro.core.config import PROJECT_ROOT, load_parameters  # noqa: E402
from deepfer_kedro.core.data import build_image_index  # noqa: E402
from deepfer_kedro.core.evaluation import average_probabilities, scores  # noqa: E402
from deepfer_kedro.core.saving import inference_copy, load_keras_model, save_half_precision  # noqa: E402
from deepfer_kedro.default_model import CARD_JSON, CARD_MD, MODEL_FILE  # noqa: E402
from deepfer_kedro.fer2013 import load_faces  # noqa: E402
from deepfer_kedro.labels import EMOTIONS  # noqa: E402


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def latency_ms(model, faces: np.ndarray, batch: int, repeats: int) -> float:
    """Median ms per face of ``predict_on_batch`` at ``batch`` faces per call, after a warm-up."""
    x = faces[:batch]
    model.predict_on_batch(x)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        model.predict_on_batch(x)
        times.append(time.perf_counter() - start)
    return 1000 * statistics.median(times) / batch


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--source", default=str(PROJECT_ROOT.parent / "shared/models/deepfer_sota_seed42.keras"))
    parser.add_argument("--env", default="sota", help="the Kedro environment the source was trained with")
    parser.add_argument("--source-card", default="the project at commit f9d18a8: KERAS_BACKEND=jax python3 -u "
                        "benchmarks/gpu_train.py --budget-s 330 on one NVIDIA H200, conf/sota, seed 42, 74 epochs, "
                        "checkpoint best on PublicTest (epoch 69); see ../shared/models/README.md",
                        help="how the source model was trained")
    parser.add_argument("--base-filters", type=int, help="the source's first-stage filters when they differ from "
                        "the environment's (a network narrowed by benchmarks/distill_fast_model.py)")
    parser.add_argument("--data", default=str(PROJECT_ROOT / "data/01_raw"))
    parser.add_argument("--out", default=str(MODEL_FILE.parent))
    parser.add_argument("--rebuild", action="store_true", help="write the shipped file again even if it was made "
                        "from this source (otherwise only its card is measured again)")
    args = parser.parse_args()
    out = Path(args.out)
    source = Path(args.source)
    params = load_parameters(args.env)
    if args.base_filters:
        params["model"] = {**params["model"], "base_filters": args.base_filters}

    shipped = out / MODEL_FILE.name
    previous = json.loads((out / CARD_JSON.name).read_text()) if (out / CARD_JSON.name).is_file() else {}
    if args.rebuild or not shipped.is_file() or previous.get("source_model", {}).get("sha256") != sha256(source):
        save_half_precision(inference_copy(load_keras_model(source), params["model"]), shipped)
        print(f"wrote {shipped} ({shipped.stat().st_size / 1e6:.1f} MB)", flush=True)
    model = load_keras_model(shipped)  # every number below is measured on the shipped file
    print(f"measuring {shipped}", flush=True)

    faces = load_faces(Path(args.data))
    index = build_image_index(faces, 0.1, 0)
    tta = params["evaluation"]["tta"]
    results = {}
    for split in ("val", "test"):
        rows = index["split"].to_numpy() == split
        for name, views in (("no TTA", {"flip": False, "shift_pixels": 0}), ("TTA", tta)):
            probabilities = average_probabilities([model], faces.pixels[rows][..., None], bool(views.get("flip")),
                                                  int(views.get("shift_pixels", 0)))
            results[f"{split} {name}"] = {"images": int(rows.sum()),
                                          **scores(probabilities, index["label"].to_numpy()[rows])}
            print(f"{split} {name}: {results[f'{split} {name}']}", flush=True)

    test_faces = faces.pixels[index["split"].to_numpy() == "test"][..., None]
    card = {
        "model_file": shipped.name, "model_sha256": sha256(shipped), "bytes": shipped.stat().st_size,
        "parameters": int(model.count_params()), "weights_stored_as": "float16 (computed in float32)",
        "source_model": {"file": source.name, "sha256": sha256(source), "how_trained": args.source_card},
        "recipe": {"env": args.env, "model": params["model"], "training": params["training"],
                   "augmentation": params["augmentation"], "seed": params.get("seed")},
        "labels": list(EMOTIONS), "input": "48x48 gray uint8 faces, shape (N, 48, 48, 1); the model scales to [0, 1]",
        "data_sha256": faces.source_sha256, "selection": "checkpoint best on PublicTest (val)",
        "tta": tta, "results": results,
        "cpu_ms_per_face": {"batch 1": round(latency_ms(model, test_faces, 1, 50), 2),
                            "batch 256": round(latency_ms(model, test_faces, 256, 5), 3)},
        "machine": machine(), "command": "python " + " ".join(sys.argv),
    }
    (out / CARD_JSON.name).write_text(json.dumps(card, indent=2) + "\n")
    rows = [{"split": "PrivateTest" if k.startswith("test") else "PublicTest", "views": k.split(" ", 1)[1],
             "top-1": v["top1"], "macro-F1": v["macro_f1"], "disgust recall": v["recall"]["disgust"],
             "fear recall": v["recall"]["fear"]} for k, v in results.items()]
    recall = table([{"emotion": e, "recall, no TTA": results["test no TTA"]["recall"][e],
                     "recall, TTA": results["test TTA"]["recall"][e]} for e in EMOTIONS],
                   ["emotion", "recall, no TTA", "recall, TTA"])
    body = (f"`{shipped.name}`: {card['parameters']:,} parameters, {card['bytes'] / 1e6:.1f} MB, sha256 "
            f"`{card['model_sha256']}`, weights stored in float16. Source: `{source.name}` ({args.source_card}).\n"
            f"Data sha256 `{card['data_sha256']}`. TTA = {tta}.\n\n"
            + table(rows, ["split", "views", "top-1", "macro-F1", "disgust recall", "fear recall"])
            + "\n\nPrivateTest recall per emotion:\n\n" + recall
            + f"\n\nCPU latency ({card['machine']}), `predict_on_batch`: {card['cpu_ms_per_face']['batch 1']} ms "
            f"per face at batch 1, {card['cpu_ms_per_face']['batch 256']} ms per face at batch 256.\n")
    (out / CARD_MD.name).write_text(f"# DeepFER default model\n\n`{card['command']}`\n\n{body}")
    write_section("Shipped default model", card["command"], body)
    print(body)


if __name__ == "__main__":
    main()
