"""The streaming input path against the in-memory one, in the same run, on the real FER2013 faces.

Both stores are written from the same decoded faces: ``face_pixels.npz`` (what ``kedro run``
loads whole) and ArrayRecord shards (``face_storage=shards``). Each store is then read in a fresh
process, which reports images per second for one epoch of the train split's batches, alone
(input only) and through one epoch of the quick recipe's ``fit``, and its memory: the peak
resident size above the process's size before the faces were opened (sampled every 10 ms).
Usage:

  python benchmarks/streaming_input.py
"""

import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _report import table, write_section  # noqa: E402

from deepfer_kedro.core.config import PROJECT_ROOT  # noqa: E402

BATCH = 64
PROBE = """
import json, sys, threading, time, resource
import numpy as np, pandas as pd
import grain.sources  # the readers' code: imported before the baseline in both modes
from deepfer_kedro.core.batches import EpochOrder, FaceBatches
from deepfer_kedro.core.config import load_parameters
from deepfer_kedro.core.data import split_rows
from deepfer_kedro.core.training import build_compiled_model
from deepfer_kedro.datasets import FaceShardsDataset, NpzDataset

def rss_mb():
    return int(open("/proc/self/statm").read().split()[1]) * 4096 / 2**20

mode, folder, batch = sys.argv[1], sys.argv[2], int(sys.argv[3])
index = pd.read_csv(f"{folder}/image_index.csv")
params = load_parameters("quick", f"training.batch_size={batch},training.verbose=0")
classifier = build_compiled_model(params["model"], params["training"], params["augmentation"], 42, 28709, 1)
baseline = rss_mb()
peak = [baseline]
def sample():
    while True:
        peak[0] = max(peak[0], rss_mb())
        time.sleep(0.01)
threading.Thread(target=sample, daemon=True).start()
faces = (NpzDataset(filepath=f"{folder}/face_pixels.npz", key="pixels").load() if mode == "memory"
         else FaceShardsDataset(filepath=f"{folder}/face_shards.json").load())
rows = split_rows(index, "train")
labels = index["label"].to_numpy("int64")
batches = FaceBatches(faces, rows, labels[rows], batch, seed=42)
start = time.perf_counter()
for i in range(len(batches)):
    batches[i]
input_only = len(rows) / (time.perf_counter() - start)
time.sleep(0.05)
input_peak = peak[0] - baseline
batches.set_epoch(1)
classifier.fit(batches, epochs=1, steps_per_epoch=20, verbose=0, shuffle=False)  # compiles
start = time.perf_counter()
classifier.fit(batches, epochs=1, verbose=0, shuffle=False, callbacks=[EpochOrder(batches)])
training = len(rows) / (time.perf_counter() - start)
time.sleep(0.05)
print(json.dumps({"input_only": input_only, "training": training, "input_peak_mb": input_peak,
                  "peak_mb": peak[0] - baseline,
                  "maxrss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def reader_rows(manifest: str, index_csv: str) -> list[dict]:
    """Input only, the train split's shards read two ways: our batches (``__getitems__`` of a batch's
    rows, the order from (seed, epoch)) and grain's own per-record pipeline (shuffle, map, batch,
    read threads). tf.data is not measured: its record files are read in sequence through a shuffle
    buffer, so it cannot give the in-memory path's batches."""
    import grain
    import numpy as np
    import pandas as pd

    from deepfer_kedro.core.batches import FaceBatches
    from deepfer_kedro.core.data import split_rows
    from deepfer_kedro.datasets import FaceShardsDataset

    shards = FaceShardsDataset(filepath=manifest).load()
    rows = split_rows(pd.read_csv(index_csv), "train")
    batches = FaceBatches(shards, rows, np.zeros(len(rows), np.int64), BATCH, seed=42)
    start = time.perf_counter()
    for i in range(len(batches)):
        batches[i]
    found = [{"reader": "FaceBatches (Keras PyDataset) over ArrayRecordDataSource, a batch's rows at once",
              "faces/s": len(rows) / (time.perf_counter() - start)}]
    source = shards._source
    for threads in (1, 4):
        pipeline = (grain.MapDataset.source(rows).shuffle(seed=42).map(lambda row: source[int(row)])
                    .map(lambda record: np.frombuffer(record, np.uint8).reshape(48, 48)).batch(BATCH)
                    .to_iter_dataset(grain.ReadOptions(num_threads=threads, prefetch_buffer_size=256)))
        start = time.perf_counter()
        count = sum(len(batch) for batch in pipeline)
        found.append({"reader": f"grain MapDataset -> IterDataset, per record, {threads} read thread(s)",
                      "faces/s": count / (time.perf_counter() - start)})
    return [{**r, "faces/s": f"{r['faces/s']:,.0f}"} for r in found]


def main() -> None:
    from deepfer_kedro.core.data import build_image_index
    from deepfer_kedro.datasets import FaceShardsDataset, NpzDataset
    from deepfer_kedro.fer2013 import load_faces

    faces = load_faces(PROJECT_ROOT / "data/01_raw", progress=False)
    with tempfile.TemporaryDirectory(prefix="deepfer-streaming-") as folder:
        build_image_index(faces, 0.1, 42).to_csv(f"{folder}/image_index.csv", index=False)
        writes = {}
        for name, dataset in (("memory", NpzDataset(filepath=f"{folder}/face_pixels.npz", key="pixels",
                                                    compress=True)),
                              ("shards", FaceShardsDataset(filepath=f"{folder}/face_shards.json"))):
            start = time.perf_counter()
            dataset.save(faces.pixels)
            writes[name] = time.perf_counter() - start
        sizes = {"memory": Path(f"{folder}/face_pixels.npz").stat().st_size,
                 "shards": sum(p.stat().st_size for p in Path(folder).glob("*.array_record"))}
        readers = reader_rows(f"{folder}/face_shards.json", f"{folder}/image_index.csv")
        print(readers, flush=True)
        results = {}
        for mode in ("memory", "shards"):
            probe = subprocess.run([sys.executable, "-c", PROBE, mode, folder, str(BATCH)], capture_output=True,
                                   text=True, timeout=1800, cwd=PROJECT_ROOT)
            if probe.returncode:
                raise SystemExit(probe.stderr[-3000:])
            results[mode] = json.loads(probe.stdout.strip().splitlines()[-1])
            print(mode, results[mode], flush=True)
    base = results["memory"]
    rows = [{"input": "in memory (face_pixels.npz)" if mode == "memory" else "streaming (ArrayRecord shards)",
             "stored MB": f"{sizes[mode] / 2**20:.0f}", "write s": f"{writes[mode]:.1f}",
             "input only, images/s": f"{r['input_only']:,.0f}",
             "training, images/s": f"{r['training']:,.0f}",
             "vs in memory": f"{r['training'] / base['training']:.2f}x",
             "peak RSS added, input only, MB": f"{r['input_peak_mb']:.0f}",
             "peak RSS added, with training, MB": f"{r['peak_mb']:.0f}"} for mode, r in results.items()]
    body = (table(rows, list(rows[0])) + f"\n\nFER2013's train split (28,709 faces, batch {BATCH}), the same "
            "batches from both stores (`deepfer_kedro.core.batches.FaceBatches`, seed 42). Training is one epoch of "
            "the quick recipe's network (`conf/quick`) on the CPU. Peak RSS added: the peak resident size above the "
            "process's size before the faces were opened, during the input-only epoch (the whole decoded array, "
            "and the decompression's buffers, for the in-memory path; the shard readers and a few batches for "
            "streaming, which does not grow with the dataset) and then through training, which adds the same "
            "working memory of the network to both "
            "(`tests/datasets/test_face_shards.py` checks two epochs over 110 MB of faces).\n\n"
            "How the shards are read, chosen by measurement (input only, train split, batch 64, 2 cores):\n\n"
            + table(readers, ["reader", "faces/s"]) + "\n\ntf.data is not in the table: its record files are read "
            "in sequence through a shuffle buffer, so it cannot give the in-memory path's batches for the same seed.")
    print(body)
    write_section("Streaming input", "python benchmarks/streaming_input.py", body)


if __name__ == "__main__":
    main()
