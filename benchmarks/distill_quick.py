"""Distillation (``training.teacher_predictions``) rehearsed on the CPU through ``kedro run --env quick``:
the quick network trained with and without a teacher's probabilities, three seeds each, every model
scored by ``deepfer evaluate`` on all of PublicTest and PrivateTest.

  python benchmarks/distill_quick.py [--teacher benchmarks/teachers/deepfer_sota_seed42_train_tta10.csv.gz]

The default teacher is the committed one (docs/benchmarks.md, "GPU: the recipe search"); any folder
that ``deepfer evaluate --model TEACHER --split train -o DIR`` writes also serves. About 9 minutes
on 2 cores.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _report import table, write_section  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
SEEDS = (42, 1, 2)
TEACHER = "benchmarks/teachers/deepfer_sota_seed42_train_tta10.csv.gz"


def run(command: list[str]) -> None:
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, check=False)
    if done.returncode:
        sys.exit(f"{' '.join(command)} failed:\n{done.stdout[-2000:]}{done.stderr[-3000:]}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--teacher", default=TEACHER)
    args = parser.parse_args()
    if not (ROOT / args.teacher).exists():
        sys.exit(f"No teacher at {args.teacher}: write one with `deepfer evaluate --model TEACHER --split train "
                 "-o DIR` and pass --teacher DIR")
    run([str(BIN / "kedro"), "run", "--env", "quick", "--pipeline", "data_processing"])
    run([str(BIN / "kedro"), "run", "--env", "quick", "--pipeline", "class_analysis"])
    models = ROOT / "data" / "06_models" / "trained_model.keras"
    rows = []
    with tempfile.TemporaryDirectory() as scores:
        for seed in SEEDS:
            for kind, extra in (("labels only", ""), ("distilled", f",training.teacher_predictions={args.teacher}")):
                run([str(BIN / "kedro"), "run", "--env", "quick", "--pipeline", "training", "--params",
                     f"seed={seed}{extra}"])
                version = max(p.name for p in models.iterdir())
                out = Path(scores) / f"{seed}-{len(rows)}"
                run([str(BIN / "deepfer"), "evaluate", "--model", str(models / version / "trained_model.keras"),
                     "--runtime", "keras", "-o", str(out)])
                metrics = json.loads((out / "metrics.json").read_text())
                rows.append({"targets": kind, "seed": seed, "model version": version,
                             "PublicTest top-1": round(metrics["val"]["accuracy"], 4),
                             "PrivateTest top-1": round(metrics["test"]["accuracy"], 4),
                             "PrivateTest macro-F1": round(metrics["test"]["macro_f1"], 4)})
                print(rows[-1], flush=True)
    columns = ["PublicTest top-1", "PrivateTest top-1", "PrivateTest macro-F1"]
    for kind in ("labels only", "distilled"):
        mine = [r for r in rows if r["targets"] == kind]
        rows.append({"targets": f"**{kind}, mean ± sd**", "seed": "", "model version": "",
                     **{c: f"{statistics.mean(r[c] for r in mine):.4f} ± {statistics.stdev(r[c] for r in mine):.4f}"
                        for c in columns}})
    body = (f"The quick network (`conf/quick`: 16-64 filters, 800 faces per emotion, six epochs) trained on the "
            f"labels alone and on 0.7 of the teacher's probabilities (`{args.teacher}`: deepfer_sota_seed42.keras, "
            "its mean over ten views) and 0.3 of the label, `kedro run --env quick --pipeline training --params "
            "\"seed=SEED[,training.teacher_predictions=TEACHER]\"`; each model scored with `deepfer evaluate "
            "--model MODEL --runtime keras` on all 3,589 PublicTest and 3,589 PrivateTest faces. CPU-only "
            "numbers of a small network: they show the option works through `kedro run`, not what it gives the "
            "GPU recipe.\n\n" + table(rows, ["targets", "seed", "model version", *columns]))
    command = "python benchmarks/distill_quick.py" + (f" --teacher {args.teacher}" if args.teacher != TEACHER else "")
    write_section("Distillation rehearsed on the CPU (kedro run --env quick)", command, body)


if __name__ == "__main__":
    main()
