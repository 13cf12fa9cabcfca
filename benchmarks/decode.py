"""How long FER2013 takes to become arrays: one PIL thread (baseline) against our loader, cold and
cached. Usage: python benchmarks/decode.py [path to fer2013.zip]"""

import io
import sys
import tempfile
import time
import zipfile
from pathlib import Path

import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).parent))
from _report import table, write_section  # noqa: E402

from deepfer_kedro.datasets import FER2013Dataset  # noqa: E402
from deepfer_kedro.fer2013 import load_faces  # noqa: E402

ZIP = Path(sys.argv[1] if len(sys.argv) > 1 else Path(__file__).resolve().parents[2] / "shared/datasets/fer2013.zip")


def pil_one_thread() -> int:
    with zipfile.ZipFile(ZIP) as archive:
        names = [n for n in archive.namelist() if n.endswith(".jpg")]
        images = [np.asarray(Image.open(io.BytesIO(archive.read(n))).convert("L")) for n in names]
    return len(images)


def best_of(runs: int, work) -> tuple[float, int]:
    times, count = [], 0
    for _ in range(runs):
        start = time.perf_counter()
        count = work()
        times.append(time.perf_counter() - start)
    return min(times), count


def main() -> None:
    rows = []
    base, n = best_of(3, pil_one_thread)
    rows.append({"what": "baseline: PIL, one thread (read zip + decode)", "images": n, "seconds": f"{base:.2f}",
                 "vs baseline": "1.00x"})
    ours, n = best_of(3, lambda: len(load_faces(ZIP, progress=False).pixels))
    rows.append({"what": "ours, cold: read zip + OpenCV on all cores + sha256", "images": n,
                 "seconds": f"{ours:.2f}", "vs baseline": f"{base / ours:.2f}x faster"})
    with tempfile.TemporaryDirectory() as cache:
        dataset = FER2013Dataset(path=str(ZIP), cache_dir=cache, progress=False)
        dataset.load()
        cached, n = best_of(3, lambda: len(dataset.load().pixels))
    rows.append({"what": "ours, later runs: decoded cache (sha256 check + .npz read)", "images": n,
                 "seconds": f"{cached:.2f}", "vs baseline": f"{base / cached:.2f}x faster"})
    body = table(rows, ["what", "images", "seconds", "vs baseline"])
    body += "\n\nBest of 3 runs each, same process, same archive (`../shared/datasets/fer2013.zip`)."
    print(body)
    write_section("Decoding FER2013", "python benchmarks/decode.py", body)


if __name__ == "__main__":
    main()
