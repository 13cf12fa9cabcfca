"""A recipe search that uses one GPU call well: the runs of ``benchmarks/search.yml`` trained side
by side as separate processes on the one device, within one time budget for the whole call; then
an ensemble chosen on PublicTest and scored once on PrivateTest.

Each run is a Kedro environment plus a ``--params`` string, trained by the project's own
``train_model`` (the same node ``kedro run`` uses) with ``training.time_budget_s`` set to the time
left, so its epochs are sized from a measured epoch time. Each run writes its history, PublicTest
and PrivateTest probabilities (``probs.npz``, with and without test-time augmentation), its card
and its model in half precision. What comes back (at most 8 files of at most 16 MiB) is
``results.tar.gz`` (every card, history, probability file and log), ``summary.md``, and the best
models' weights cut into parts (rejoin with ``deepfer_kedro.core.saving.join_parts``).

Needs only Keras 3, a backend (jax or torch), numpy, pandas, scikit-learn, OpenCV and PyYAML.

  KERAS_BACKEND=jax python3 -u benchmarks/gpu_search.py --data /tmp/fer2013 --out "$OUT" --budget-s 540

CPU rehearsal on a tiny subset: tests/test_gpu_search.py.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from deepfer_kedro.core.config import (  # noqa: E402
    load_parameters,
    merge,
    mistyped_overrides,
    parameter_kinds,
    parse_overrides,
    unknown_overrides,
)
from deepfer_kedro.core.ensemble import accuracy, select_ensemble, weighted_average  # noqa: E402
from deepfer_kedro.labels import EMOTIONS  # noqa: E402

PART_BYTES = 15 * 2**20  # the transfer takes files of at most 16 MiB
MAX_FILES = 8
EVAL_RESERVE_S = 45  # per run, after training: predictions with and without TTA, saving
BARRIER_MAX_S = 180  # the longest a run waits for the others to compile before timing its steps


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


def run_name(run: dict) -> str:
    seed = parse_overrides(run.get("params")).get("seed", "default")
    return f"{run['recipe']}-s{seed}"


def kedro_command(run: dict) -> str:
    params = f' --params "{run["params"]}"' if run.get("params") else ""
    return f"kedro run --env {run['env']}{params}"


# ---------------------------------------------------------------- one run (a worker process)

def worker(args: argparse.Namespace) -> None:
    import keras

    from deepfer_kedro.core.data import compute_class_weights, select_split
    from deepfer_kedro.core.evaluation import average_probabilities
    from deepfer_kedro.core.saving import inference_copy, save_half_precision
    from deepfer_kedro.core.training import train_model

    run = json.loads(args.worker)
    # the training core's own lines (epoch estimate, distillation, time budget) in the run's log
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(logging.Formatter("[%(asctime)s] %(message)s", "%H:%M:%S"))
    logging.getLogger("deepfer_kedro").addHandler(handler)
    logging.getLogger("deepfer_kedro").setLevel(logging.INFO)
    out = Path(args.workdir) / run_name(run)
    out.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    data = np.load(Path(args.workdir) / "faces.npz", allow_pickle=False)
    pixels = data["pixels"]
    index = pd.DataFrame({"source": data["sources"], "label": data["labels"], "split": data["splits"].astype(str)})
    index["emotion"] = [EMOTIONS[label] for label in index["label"]]
    params = load_parameters(run["env"], run.get("params"))
    epochs_recipe = int(params["training"]["epochs"])
    rehearsal = {"max_images_per_class": args.max_per_class} if args.max_per_class else {}
    budget = args.deadline - time.time() - EVAL_RESERVE_S
    params["training"] = merge(params["training"], {**rehearsal, "verbose": 2, "time_budget_s": budget,
                                                    "resume_dir": None})
    seed = int(params.get("seed", 42))
    log(f"{run_name(run)}: {kedro_command(run)}; {budget:.0f} s for training")

    compiling = Path(args.workdir) / "compiling"  # one file per run not yet compiled, made by run_all
    waited = {"s": 0.0}

    def wait_for_the_others() -> None:
        """Time the steps only once every run started beside this one has compiled, so that the
        epoch estimate sees the device shared as it will be in training (a run timed while the
        others still compile would see it nearly idle, plan too many epochs, and be cut off)."""
        (compiling / run_name(run)).unlink(missing_ok=True)
        start = time.monotonic()
        while any(compiling.iterdir()) and time.monotonic() - start < BARRIER_MAX_S:
            time.sleep(0.5)
        waited["s"] = time.monotonic() - start
        log(f"{run_name(run)}: compiled; timing its steps after waiting {waited['s']:.0f} s for the runs beside it")

    model, history = train_model(pixels, index, compute_class_weights(index), params["model"], params["training"],
                                 params["augmentation"], seed, before_timing=wait_for_the_others)
    train_s = time.monotonic() - started
    history.to_csv(out / "history.csv", index=False)

    probabilities, labels = {}, {}
    tta = params["evaluation"].get("tta") or {}
    for split in ("val", "test"):
        x, labels[split] = select_split(pixels, index, split, args.test_per_class, 0)
        probabilities[f"{split}_plain"] = average_probabilities([model], x)
        probabilities[f"{split}_tta"] = average_probabilities([model], x, bool(tta.get("flip")),
                                                              int(tta.get("shift_pixels", 0)))
    np.savez_compressed(out / "probs.npz", **{k: v.astype(np.float16) for k, v in probabilities.items()},
                        val_labels=labels["val"], test_labels=labels["test"])
    save_half_precision(inference_copy(model, params["model"]), out / "model.keras")

    later = history["epoch_seconds"].iloc[1:] if len(history) > 1 else history["epoch_seconds"]
    card = {
        "name": run_name(run), "recipe": run["recipe"], "seed": seed, "env": run["env"],
        "params": run.get("params", ""), "command": kedro_command(run), "rehearsal": rehearsal,
        "test_per_class": args.test_per_class or None,  # None: all of PublicTest and PrivateTest
        "epochs_recipe": epochs_recipe,
        "epochs_run": int(len(history)),
        # a final fit trains on PublicTest: it keeps its last epoch, and its PublicTest numbers select nothing
        "trained_on_publictest": bool(params["training"].get("final_fit_on_val")),
        "best_epoch": int(history["epoch"].iloc[-1] if "val_accuracy" not in history
                          else history["epoch"][history["val_accuracy"].idxmax()]),
        "estimated_epoch_s": round(float(history["estimated_epoch_seconds"].iloc[0]), 3),
        "measured_epoch_s": {"first": round(float(history["epoch_seconds"].iloc[0]), 3),
                             "median_later": round(float(later.median()), 3)},
        "train_s": round(train_s, 1), "budget_s": round(budget, 1), "waited_for_others_s": round(waited["s"], 1),
        "results": {name: split_scores(p, labels[name.split("_")[0]]) for name, p in probabilities.items()},
        "backend": keras.backend.backend(), "keras": keras.__version__,
        "frameworks_imported": sorted({m.split(".")[0] for m in sys.modules} & {"kedro", "mlflow", "tensorflow"}),
    }
    card["estimate_over_measured"] = round(card["estimated_epoch_s"] / max(card["measured_epoch_s"]["median_later"],
                                                                           1e-9), 3)
    (out / "card.json").write_text(json.dumps(card, indent=2))
    log(f"{card['name']}: {card['epochs_run']} epochs, PublicTest TTA {card['results']['val_tta']['top1']}, "
        f"PrivateTest TTA {card['results']['test_tta']['top1']}, epoch estimate/measured "
        f"{card['estimate_over_measured']}")


# ---------------------------------------------------------------- the whole call

def device_report() -> dict:
    import keras

    info = {"backend": keras.backend.backend(), "keras": keras.__version__}
    if info["backend"] == "jax":  # the devices, and one timed bf16 matrix product to show it is the GPU
        import jax
        import jax.numpy as jnp

        info["devices"] = [str(d) for d in jax.devices()]
        a = jnp.ones((2048, 2048), jnp.bfloat16)
        (a @ a).block_until_ready()
        start = time.perf_counter()
        for _ in range(5):
            b = a @ a
        b.block_until_ready()
        info["matmul_tflops"] = round(5 * 2 * 2048**3 / (time.perf_counter() - start) / 1e12, 2)
    elif info["backend"] == "torch":
        import torch

        info["devices"] = [torch.cuda.get_device_name(0)] if torch.cuda.is_available() else ["cpu"]
    return info


def prepare_data(data: str, workdir: Path) -> str:
    from deepfer_kedro.core.data import build_image_index
    from deepfer_kedro.fer2013 import load_faces

    faces = load_faces(Path(data), progress=False)
    index = build_image_index(faces, 0.1, 0)
    np.savez(workdir / "faces.npz", pixels=faces.pixels, labels=index["label"].to_numpy(),
             splits=index["split"].to_numpy().astype("U5"), sources=index["source"].to_numpy().astype(str))
    return faces.source_sha256


def run_all(runs: list[dict], args: argparse.Namespace, workdir: Path, deadline: float) -> list[str]:
    """Starts up to ``--parallel`` workers at a time, each with the deadline of the whole call; a
    run that could no longer train for ``--min-run-s`` is skipped. Returns what was skipped."""
    env = {**os.environ, "XLA_PYTHON_CLIENT_MEM_FRACTION": f"{0.9 / args.parallel:.3f}",
           "XLA_PYTHON_CLIENT_PREALLOCATE": "false"}
    pending, running, skipped = list(runs), [], []
    compiling = workdir / "compiling"
    compiling.mkdir(exist_ok=True)
    while pending or running:
        for run, proc, logf in [r for r in running if r[1].poll() is not None]:
            logf.close()
            (compiling / run_name(run)).unlink(missing_ok=True)  # a run that failed before compiling
            running.remove((run, proc, logf))
            log(f"{run_name(run)} ended with exit status {proc.returncode}")
        while pending and len(running) < args.parallel:
            run = pending.pop(0)
            if deadline - time.time() - EVAL_RESERVE_S < args.min_run_s:
                skipped.append(run_name(run))
                log(f"skipping {run_name(run)}: less than {args.min_run_s} s of training time left")
                continue
            command = [sys.executable, "-u", __file__, "--worker", json.dumps(run), "--workdir", str(workdir),
                       "--deadline", str(deadline), "--max-per-class", str(args.max_per_class or 0),
                       "--test-per-class", str(args.test_per_class or 0)]
            (compiling / run_name(run)).touch()  # before it starts, so that runs beside it wait for it
            logf = (workdir / f"{run_name(run)}.log").open("w")
            running.append((run, subprocess.Popen(command, env=env, stdout=logf, stderr=subprocess.STDOUT), logf))
            log(f"started {run_name(run)} ({len(running)} running)")
        time.sleep(1)
    return skipped


def summarize(workdir: Path, skipped: list[str], header: dict) -> tuple[str, dict, list[str]]:
    cards = [json.loads(p.read_text()) for p in sorted(workdir.glob("*/card.json"))]
    if not cards:
        return "No run finished.\n", {"runs": [], "skipped": skipped, **header}, []
    probs = {c["name"]: np.load(workdir / c["name"] / "probs.npz") for c in cards}
    first = probs[cards[0]["name"]]
    val_labels, test_labels = first["val_labels"], first["test_labels"]
    # a final fit trained on PublicTest, so its PublicTest probabilities cannot choose members
    selectable = {c["name"] for c in cards if not c.get("trained_on_publictest")}
    weights = select_ensemble({n: probs[n]["val_tta"].astype(np.float64) for n in selectable},
                              val_labels) if selectable else {}
    ensemble = ensemble_scores(probs, weights, val_labels, test_labels) if weights else None
    rows = [{"run": c["name"], "command": f"`{c['command']}`", "epochs": f"{c['epochs_run']}/{c['epochs_recipe']}",
             "epoch s est/measured": f"{c['estimated_epoch_s']}/{c['measured_epoch_s']['median_later']}",
             "train s": c["train_s"],
             "val TTA": "trained on" if c.get("trained_on_publictest") else c["results"]["val_tta"]["top1"],
             "test": c["results"]["test_plain"]["top1"], "test TTA": c["results"]["test_tta"]["top1"],
             "macro-F1 TTA": c["results"]["test_tta"]["macro_f1"],
             "disgust / fear recall TTA": f"{c['results']['test_tta']['recall']['disgust']} / "
                                          f"{c['results']['test_tta']['recall']['fear']}"} for c in cards]
    recipes = []
    for recipe, group in pd.DataFrame([{"recipe": c["recipe"], "seed": c["seed"],
                                        "test": c["results"]["test_tta"]["top1"],
                                        "f1": c["results"]["test_tta"]["macro_f1"]} for c in cards]).groupby("recipe"):
        recipes.append({"recipe": recipe, "seeds": ", ".join(map(str, group["seed"])),
                        "test TTA mean ± sd": f"{group['test'].mean():.4f} ± {group['test'].std(ddof=1):.4f}"
                        if len(group) > 1 else f"{group['test'].mean():.4f}",
                        "best seed": f"{group['test'].max():.4f}", "macro-F1 mean": f"{group['f1'].mean():.4f}"})
    summary = {**header, "runs": cards, "recipes": recipes, "ensemble": ensemble, "skipped": skipped}
    by_val = sorted(cards, key=lambda c: (bool(c.get("trained_on_publictest")), -c["results"]["val_tta"]["top1"]))
    keep = list(weights) + [c["name"] for c in by_val if c["name"] not in weights]
    text = "\n".join([
        f"# GPU recipe search ({header['device']})", "", f"`{header['command']}`", "",
        "PrivateTest top-1 (`test`), model selection and ensemble choice on PublicTest (`val`).", "",
        _table(rows), "", _table(recipes), "",
        f"Ensemble chosen on PublicTest: {weights}; PublicTest {ensemble['val_top1']}, "
        f"**PrivateTest {ensemble['test_top1']}**, macro-F1 {ensemble['test_macro_f1']}, "
        f"recall {ensemble['test_recall']}." if ensemble else
        "No ensemble: every run trained on PublicTest, so nothing can choose its members.", "",
        f"Skipped for time: {skipped or 'none'}.", ""])
    return text, summary, keep


def split_scores(probabilities: np.ndarray, labels: np.ndarray) -> dict:
    """Top-1, macro-F1 and per-emotion recall of one split's probabilities."""
    from sklearn.metrics import f1_score, recall_score

    predicted = probabilities.argmax(axis=1)
    recall = recall_score(labels, predicted, labels=range(len(EMOTIONS)), average=None, zero_division=0)
    return {"top1": round(accuracy(probabilities, labels), 4),
            "macro_f1": round(float(f1_score(labels, predicted, average="macro")), 4),
            "recall": {e: round(float(r), 4) for e, r in zip(EMOTIONS, recall, strict=True)}}


def ensemble_scores(probs: dict, weights: dict[str, int], val_labels: np.ndarray, test_labels: np.ndarray) -> dict:
    """The ensemble's PublicTest top-1 (where it was chosen) and PrivateTest top-1, macro-F1, recall."""
    test = weighted_average({n: probs[n]["test_tta"] for n in weights}, weights)
    val = weighted_average({n: probs[n]["val_tta"] for n in weights}, weights)
    scores = split_scores(test, test_labels)
    return {"members": weights, "chosen_on": "PublicTest (val), TTA probabilities",
            "val_top1": round(accuracy(val, val_labels), 4), "test_top1": scores["top1"],
            "test_macro_f1": scores["macro_f1"], "test_recall": scores["recall"]}


def _table(rows: list[dict]) -> str:
    columns = list(rows[0])
    return "\n".join(["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns),
                      *("| " + " | ".join(str(r[c]) for c in columns) + " |" for r in rows)])


def pack(workdir: Path, out: Path, summary_text: str, keep: list[str]) -> None:
    """results.tar.gz and summary.md, then as many of ``keep``'s models (in parts) as fit in 8 files."""
    from deepfer_kedro.core.saving import split_file

    out.mkdir(parents=True, exist_ok=True)
    (out / "summary.md").write_text(summary_text)
    with tarfile.open(out / "results.tar.gz", "w:gz") as tar:
        for path in sorted(workdir.rglob("*")):
            if path.is_file() and path.suffix in (".json", ".csv", ".npz", ".log", ".md") and path.name != "faces.npz":
                tar.add(path, arcname=str(path.relative_to(workdir)))
    files = 2
    for name in keep:
        model = workdir / name / "model.keras"
        parts = -(-model.stat().st_size // PART_BYTES)
        if files + parts > MAX_FILES:
            break
        target = out / f"{name}.keras"
        target.write_bytes(model.read_bytes())
        split_file(target, PART_BYTES)
        files += parts
        log(f"bringing back {name}'s model in {parts} part(s)")


def plot_curves(models_dir: Path, cards: list[dict], path: Path) -> None:
    """Every run's PublicTest top-1 and training loss per epoch, side by side: which direction wins,
    and whether each peaks near its last epoch (what a final fit's epoch count relies on)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, (top1, loss) = plt.subplots(1, 2, figsize=(13, 5), layout="constrained")
    for card in cards:
        history = pd.read_csv(models_dir / card["name"] / "history.csv")
        if card.get("trained_on_publictest"):  # its "PublicTest" curve is a training curve
            loss.plot(history["epoch"], history["loss"], "--", color="gray",
                      label=f"{card['name']} (trained on PublicTest)")
            continue
        line, = top1.plot(history["epoch"], history["val_accuracy"], label=card["name"])
        loss.plot(history["epoch"], history["loss"], color=line.get_color(), label=card["name"])
    for axes, title in ((top1, "PublicTest top-1 (one view)"), (loss, "training loss")):
        axes.set(title=title, xlabel="epoch")
        axes.grid(alpha=0.3)
        axes.legend(fontsize=8)
    figure.savefig(path, dpi=90)
    plt.close(figure)


def ingest(folder: Path, data: str | None, models_dir: Path, doc: Path | None) -> None:
    """Back on the project's machine: unpacks a call's ``results.tar.gz`` into ``models_dir``,
    rejoins each model brought back in parts and loads it in safe mode, checks that it reproduces
    its PrivateTest probabilities from the call (with ``data``), and writes ``summary.md`` as a
    section of docs/benchmarks.md."""
    from _report import DOC, write_section

    from deepfer_kedro.core.data import build_image_index, select_split
    from deepfer_kedro.core.evaluation import average_probabilities
    from deepfer_kedro.core.saving import join_parts, load_keras_model
    from deepfer_kedro.fer2013 import load_faces

    models_dir.mkdir(parents=True, exist_ok=True)
    with tarfile.open(folder / "results.tar.gz") as tar:
        tar.extractall(models_dir, filter="data")  # no links out, no absolute paths, no devices
    summary = json.loads((models_dir / "summary.json").read_text())
    faces = load_faces(Path(data), progress=False) if data else None
    checks = []
    for first in sorted(folder.glob("*.keras.part0")):
        name = first.name.removesuffix(".keras.part0")
        model = load_keras_model(join_parts(first, models_dir / f"{name}.keras"))
        if faces is None:
            checks.append(f"- `{name}`: rejoined and loaded in safe mode (not compared: no --data)")
            continue
        card = json.loads((models_dir / name / "card.json").read_text())
        x, labels = select_split(faces.pixels, build_image_index(faces, 0.1, 0), "test", card.get("test_per_class"), 0)
        brought = np.load(models_dir / name / "probs.npz")
        if not np.array_equal(labels, brought["test_labels"]):
            sys.exit(f"{name}: the PrivateTest faces here are not the ones the call scored; "
                     "is --data the same archive?")
        difference = float(np.abs(average_probabilities([model], x) - brought["test_plain"].astype(float)).max())
        if difference > 5e-3:  # float16 weights and probabilities
            sys.exit(f"{name}: the rejoined model's PrivateTest probabilities differ from the call's "
                     f"by {difference:.4f}")
        checks.append(f"- `{name}`: rejoined, loaded in safe mode, and its {len(x)} PrivateTest probabilities "
                      f"match the call's within {difference:.4f}")
        log(checks[-1])
    doc = doc or DOC
    plot_curves(models_dir, summary["runs"], doc.parent / "gpu_search_curves.png")
    body = (folder / "summary.md").read_text().split("\n", 1)[1]  # its title becomes the section's
    body += "\n![PublicTest top-1 and training loss per epoch, every run](gpu_search_curves.png)\n"
    body += "\n**Models brought back** (in `" + str(models_dir) + "`):\n\n" + ("\n".join(checks) or "none") + "\n"
    if checks:
        body += ("\nEach scores again on all of PublicTest and PrivateTest with `deepfer evaluate --model "
                 f"{models_dir}/<run>.keras --runtime keras --tta --tta-shift 3` (conf/sota's ten views); an "
                 "ensemble with one `--model` per member, given as many times as its weight.\n")
    write_section("GPU recipe search: results", summary["command"], body,
                  where=f"{summary['device']}, data sha256 {summary.get('data_sha256', 'unknown')}", doc=doc)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", help="FER2013: a folder with train/ and test/, or the zip")
    parser.add_argument("--configs", default=str(ROOT / "benchmarks" / "search.yml"))
    parser.add_argument("--only", help="comma-separated run names (recipe-sSEED) to run")
    parser.add_argument("--budget-s", type=float, default=540, help="the whole call, from start to packed results")
    parser.add_argument("--parallel", type=int, default=4, help="runs side by side on the device")
    parser.add_argument("--min-run-s", type=float, default=120, help="skip a run with less training time left")
    parser.add_argument("--max-per-class", type=int, help="train/val subset per emotion (CPU rehearsal)")
    parser.add_argument("--test-per-class", type=int, help="val/test subset per emotion (CPU rehearsal)")
    parser.add_argument("--out", default=os.environ.get("OUT", "search_results"))
    parser.add_argument("--workdir", help="where runs write (default: a new temporary folder)")
    parser.add_argument("--ingest", help="a call's returned folder: unpack, rejoin, check the models, write the docs")
    parser.add_argument("--models-dir", default=str(ROOT / "data" / "06_models" / "gpu_search"))
    parser.add_argument("--doc", help="the Markdown file --ingest writes (default docs/benchmarks.md)")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--deadline", type=float, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        return worker(args)
    if args.ingest:
        return ingest(Path(args.ingest), args.data, Path(args.models_dir), Path(args.doc) if args.doc else None)

    started = time.time()
    deadline = started + args.budget_s - 30  # ensemble, summary and packing
    workdir = Path(args.workdir or tempfile.mkdtemp(prefix="deepfer-search-"))
    workdir.mkdir(parents=True, exist_ok=True)
    if any(workdir.glob("*/card.json")):
        sys.exit(f"{workdir} holds an earlier search's runs; give an empty --workdir")
    runs = yaml.safe_load(Path(args.configs).read_text())["runs"]
    if args.only:
        runs = [r for r in runs if run_name(r) in args.only.split(",")]
    misspelt = {run_name(r): unknown for r in runs
                if (unknown := unknown_overrides(parse_overrides(r.get("params")), load_parameters(r["env"])))}
    if misspelt:  # Kedro would ignore them, and the run would measure the recipe without them
        sys.exit(f"No such parameters: {misspelt} (conf/base and each run's env)")
    kinds = parameter_kinds()
    mistyped = {run_name(r): wrong for r in runs
                if (wrong := mistyped_overrides(parse_overrides(r.get("params")), kinds))}
    if mistyped:  # each would fail after its data is loaded, or misread the value
        sys.exit(f"Values of the wrong kind: {mistyped}")
    try:
        from deepfer_kedro.core.parameter_ranges import out_of_range
    except ImportError:  # the GPU machine has no Pydantic: the plan was checked where it was rehearsed
        out_of_range = None
    wrong = {run_name(r): bad for r in runs
             if out_of_range and (bad := out_of_range(load_parameters(r["env"], r.get("params"))))}
    if wrong:
        sys.exit(f"Values out of range: {wrong}")
    teachers = {run_name(r): parse_overrides(r.get("params")).get("training", {}).get("teacher_predictions")
                for r in runs}
    missing = {name: path for name, path in teachers.items() if path and not Path(path).exists()}
    if missing:  # seconds into the call, not after the other runs have used it up
        sys.exit(f"Teacher predictions not found: {missing}. Carry them to the device (docs/benchmarks.md, "
                 "'GPU: the recipe search'), or leave these runs out with --only")
    header = {"command": "python3 " + " ".join(sys.argv), "device": device_report()}
    log(f"device: {header['device']}; {len(runs)} runs, {args.parallel} at a time, {args.budget_s:.0f} s in all")
    header["data_sha256"] = prepare_data(args.data, workdir)
    log(f"data ready after {time.time() - started:.0f} s")
    skipped = run_all(runs, args, workdir, deadline)
    text, summary, keep = summarize(workdir, skipped, header)
    (workdir / "summary.json").write_text(json.dumps(summary, indent=2))
    pack(workdir, Path(args.out), text, keep)
    print(text, flush=True)
    log(f"done in {time.time() - started:.0f} s")


if __name__ == "__main__":
    main()
