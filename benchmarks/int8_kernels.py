"""The shipped int8 ONNX file on this machine's CPU, with ONNX Runtime's default int8 kernels
(the baseline) and with the exact ones DeepFER's sessions ask for (``session.x64quantprecision``).

On x86 CPUs without VNNI (AVX2 only, or AVX-512 without VNNI) the default kernel multiplies uint8
activations by int8 weights and adds pairs of products in 16 bits, which saturate; the option makes
ONNX Runtime turn the weights unsigned and use exact arithmetic there. On a CPU with VNNI both rows
are the same. For each: PublicTest and PrivateTest top-1, top-1 agreement with the Keras model on
PrivateTest, ms per face at batch 1 and faces/s at batch 256.

Usage: python benchmarks/int8_kernels.py [--data data/01_raw]"""

from __future__ import annotations

import argparse
import copy
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from _report import fer2013_splits, median_seconds, table, write_section  # noqa: E402

from deepfer_kedro.core.export import X64_EXACT_INT8, OnnxEmotionModel, predict_all, session_options  # noqa: E402
from deepfer_kedro.default_model import ONNX_FILE  # noqa: E402
from deepfer_kedro.inference.loading import load_default_model  # noqa: E402

FLAGS = ("avx2", "avx512f", "avx512_vnni", "avx_vnni", "amx_int8")


def cpu_flags() -> list[str]:
    try:
        line = next(x for x in Path("/proc/cpuinfo").read_text().splitlines() if x.startswith("flags"))
    except (OSError, StopIteration):
        return []
    present = set(line.split(":", 1)[1].split())
    return [flag for flag in FLAGS if flag in present]


def with_kernels(model: OnnxEmotionModel, exact: bool) -> OnnxEmotionModel:
    """``model`` in a session with the same threads and ``session.x64quantprecision`` on or off."""
    import onnxruntime as ort

    options = session_options(model.session.get_session_options().intra_op_num_threads, exact_int8=exact)
    changed = copy.copy(model)
    changed.session = ort.InferenceSession(model.model_bytes, options, providers=["CPUExecutionProvider"])
    return changed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", default="data/01_raw")
    args = parser.parse_args()

    decoded, splits, labels = fer2013_splits(args.data)
    faces = decoded.pixels
    val, test = splits == "val", splits == "test"
    keras_top1 = predict_all(load_default_model("keras"), faces[test]).argmax(axis=1)
    shipped = OnnxEmotionModel(ONNX_FILE)
    batch = faces[test][:256]
    rows = []
    for name, exact in (("ONNX Runtime's default int8 kernels (baseline)", False),
                        (f"exact int8 kernels (`{X64_EXACT_INT8}`: DeepFER's sessions)", True)):
        model = with_kernels(shipped, exact)
        private = predict_all(model, faces[test]).argmax(axis=1)
        public = predict_all(model, faces[val]).argmax(axis=1)
        one = median_seconds(lambda m=model: m.predict_on_batch(batch[:1]), 50)
        many = median_seconds(lambda m=model: m.predict_on_batch(batch), 5)
        rows.append({"kernels": name, "PublicTest top-1": f"{np.mean(public == labels[val]):.4f}",
                     "PrivateTest top-1": f"{np.mean(private == labels[test]):.4f}",
                     "top-1 agreement with Keras": f"{np.mean(private == keras_top1):.2%}",
                     "ms per face, batch 1": f"{one * 1000:.2f}", "faces/s, batch 256": f"{len(batch) / many:.0f}"})
        print(rows[-1], flush=True)
    flags = ", ".join(cpu_flags()) or "none of " + ", ".join(FLAGS)
    card = json.loads((ONNX_FILE.parent / "card.json").read_text())
    body = (table(rows, list(rows[0])) + "\n\n"
            f"The shipped file `{ONNX_FILE.relative_to(ONNX_FILE.parents[4])}` (its card: PublicTest "
            f"{card['publictest']['exported']['top1']:.4f}, PrivateTest {card['privatetest']['exported']['top1']:.4f}, "
            f"what exact int8 arithmetic gives). This CPU's int8 instructions: {flags}. Without "
            "VNNI, ONNX Runtime's default uint8 x int8 kernel adds pairs of products in 16 bits, which saturate "
            f"and change answers; `{X64_EXACT_INT8}` makes it use exact arithmetic on such CPUs and changes "
            "nothing on CPUs with VNNI. `OnnxEmotionModel` (predict, evaluate, serve, the served model, the "
            "export card) always sets it; set it in your own ONNX Runtime code too.")
    write_section("int8 on CPUs without VNNI", "python benchmarks/int8_kernels.py", body)


if __name__ == "__main__":
    main()
