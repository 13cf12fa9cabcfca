"""Writes one benchmark's section of docs/benchmarks.md, leaving the others as they are."""

import datetime
import os
import platform
import re
import statistics
import sys
import time
from pathlib import Path

DOC = Path(__file__).resolve().parents[1] / "docs" / "benchmarks.md"
HEADER = "# Benchmarks\n\nEach section is written by the script it names; rerun it to refresh the numbers.\n"


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        lines = Path("/proc/cpuinfo").read_text().splitlines()
        cpu = next(line.split(":", 1)[1].strip() for line in lines if line.startswith("model name"))
        flags = set(next(line for line in lines if line.startswith("flags")).split(":", 1)[1].split())
        # "AMD EPYC" names CPUs with and without VNNI, which int8 inference runs very differently on
        vnni = "VNNI" if flags & {"avx512_vnni", "avx_vnni"} else "no VNNI"
        cpu = f"{cpu}, {'AVX-512' if 'avx512f' in flags else 'AVX2' if 'avx2' in flags else 'no AVX2'}, {vnni}"
    except (OSError, StopIteration):
        pass
    return f"{os.cpu_count()} cores ({cpu}), Python {sys.version.split()[0]}"


def write_section(name: str, command: str, body: str, where: str | None = None, doc: Path = DOC) -> None:
    """``where``: the machine the numbers come from, when it is not this one (a GPU call's results)."""
    stamp = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")
    section = (f"<!-- {name}:start -->\n## {name}\n\n`{command}` — {stamp}, {where or machine()}\n\n"
               f"{body.strip()}\n<!-- {name}:end -->")
    text = doc.read_text() if doc.exists() else HEADER
    pattern = re.compile(rf"<!-- {re.escape(name)}:start -->.*?<!-- {re.escape(name)}:end -->", re.S)
    text = pattern.sub(lambda _: section, text) if pattern.search(text) else f"{text.rstrip()}\n\n{section}\n"
    doc.parent.mkdir(exist_ok=True)
    doc.write_text(text)
    print(f"wrote the '{name}' section of {doc}")


def table(rows: list[dict], columns: list[str]) -> str:
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(str(row[c]) for c in columns) + " |" for row in rows]
    return "\n".join(lines)


def median_seconds(call, repeats: int) -> float:
    call()  # warm-up
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        call()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def fer2013_splits(data: str):
    """FER2013 under ``data`` decoded, with each face's split (train / val = PublicTest / test =
    PrivateTest) and label, as the pipelines index them."""
    from deepfer_kedro.core.data import build_image_index
    from deepfer_kedro.fer2013 import load_faces

    faces = load_faces(Path(data), progress=False)
    index = build_image_index(faces, 0.1, 42)
    return faces, index["split"].to_numpy(), index["label"].to_numpy()
