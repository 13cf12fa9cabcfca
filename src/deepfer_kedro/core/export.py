"""Exporting a trained Keras model to ONNX (float32, or int8 for the fast CPU path) and running
the exported file with ONNX Runtime. The exported graph takes the same (N, 48, 48, 1) uint8 faces as
the Keras model and does its own scaling, so nothing outside the file needs to know the
preprocessing. ONNX files hold no code: loading one never runs anything from the file."""

from __future__ import annotations

import hashlib
import json
import logging
import os
import tempfile
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from deepfer_kedro.core.errors import NotAModelError
from deepfer_kedro.core.evaluation import calibration, calibration_at_temperature, fit_temperature, scores
from deepfer_kedro.labels import EMOTIONS, IMAGE_SIZE, NUM_CLASSES

__all__ = ["OnnxEmotionModel", "calibration_rows", "export_model", "scores", "to_onnx"]

logger = logging.getLogger(__name__)

INPUT_NAME = "faces"
# An exported file larger than this is not a DeepFER model (ours is 8-42 MB); refused before parsing.
MAX_ONNX_BYTES = 512 * 2**20
# What `export_model` promises, and the tests check, on real PrivateTest faces.
FLOAT32_TOLERANCE = 1e-4  # max |p_onnx - p_keras| per probability
INT8_MIN_TOP1_AGREEMENT = 0.995
INT8_TOLERANCE = 0.1  # max |p_onnx - p_keras| per probability outside the re-checked near ties (0.075 measured)
# int8 rounding flips near ties between the two likeliest emotions: the int8 export re-runs in
# float32 the faces whose top two are closer than this (about 2.5% of FER2013 faces, docs/benchmarks.md).
RECHECK_MARGIN = 0.03
# The re-check keeps in float16 the smallest weight tensors up to this share of all weights (the first
# layers): with int8 weights throughout it disagreed with Keras on 0.42% of PrivateTest, 0.22% with
# these in float16 (docs/benchmarks.md), for 0.6 MB more.
RECHECK_FLOAT16_SHARE = 0.05
# ONNX Runtime's kOrtSessionOptionsAvx2PrecisionMode: exact int8 on x86 CPUs without VNNI (see session_options)
X64_EXACT_INT8 = "session.x64quantprecision"


class NotAnOnnxModelError(NotAModelError):
    """A file that is not an ONNX emotion model this project can run."""


def to_onnx(model: Any, path: str | Path) -> Path:
    """``model`` (a Keras emotion model) as a float32 ONNX file taking uint8 faces named ``faces``."""
    path = Path(path)
    with warnings.catch_warnings():
        # Keras's numpy-2 patch of tf2onnx asks numpy for `np.object`, which numpy warns about.
        warnings.filterwarnings("ignore", message="In the future `np.object`", category=FutureWarning)
        uint8_model(model).export(str(path), format="onnx", verbose=False, input_signature=uint8_signature())
    return path


def uint8_model(model: Any) -> Any:
    """``model`` without its training-time augmentation, taking uint8 faces named ``faces``, traced
    (as an export needs)."""
    import keras

    from deepfer_kedro.core.saving import without_augmentation

    model = without_augmentation(model)
    faces = keras.Input((IMAGE_SIZE, IMAGE_SIZE, 1), dtype="uint8", name=INPUT_NAME)
    wrapped = keras.Model(faces, model(keras.ops.cast(faces, "float32")), name="deepfer")
    wrapped.predict_on_batch(np.zeros((1, IMAGE_SIZE, IMAGE_SIZE, 1), np.uint8))
    return wrapped


def uint8_signature() -> list[Any]:
    import tensorflow as tf

    return [tf.TensorSpec((None, IMAGE_SIZE, IMAGE_SIZE, 1), tf.uint8, name=INPUT_NAME)]


def quantize_int8(float_path: str | Path, int8_path: str | Path, calibration_faces: np.ndarray) -> Path:
    """Static int8 quantization (per-channel weights, activations calibrated on ``calibration_faces``,
    real training faces): about 4 times faster on a CPU with VNNI, and a quarter of the size."""
    from onnxruntime.quantization import (
        CalibrationDataReader,
        QuantFormat,
        QuantType,
        quant_pre_process,
        quantize_static,
    )

    class Faces(CalibrationDataReader):
        def __init__(self) -> None:
            self.batches = iter(np.array_split(as_face_batch(calibration_faces), max(1, len(calibration_faces) // 32)))

        def get_next(self) -> dict[str, np.ndarray] | None:
            batch = next(self.batches, None)
            return None if batch is None else {INPUT_NAME: batch}

    with tempfile.TemporaryDirectory() as tmp:
        prepared = Path(tmp) / "prepared.onnx"
        quant_pre_process(str(float_path), str(prepared), skip_symbolic_shape=True)
        import onnx

        # The softmax stays float: quantized, every probability would be a multiple of 1/255.
        softmax = [node.name for node in onnx.load(str(prepared)).graph.node if node.op_type == "Softmax"]
        quantize_static(str(prepared), str(int8_path), Faces(), quant_format=QuantFormat.QDQ, per_channel=True,
                        activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8, nodes_to_exclude=softmax)
    return Path(int8_path)


def add_float_recheck(int8_path: str | Path, float_path: str | Path, out_path: str | Path,
                      margin: float = RECHECK_MARGIN, float16_share: float = RECHECK_FLOAT16_SHARE) -> Path:
    """One ONNX file that answers with the int8 graph and re-runs in float32 arithmetic only the faces
    whose two likeliest emotions are within ``margin`` of each other (the near ties int8 rounding of
    activations can flip; 2-3% of faces), so its top-1 follows the float model's. The re-check reuses
    the int8 file's weights, except the smallest tensors (``float16_share`` of the weights, the first
    layers, where rounding errors grow most), which it stores as float16: the file stays about the
    size of the int8 graph alone (1: every weight in float16, 0: none)."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    fast, float_model = onnx.load(str(int8_path)), onnx.load(str(float_path))
    graph = fast.graph
    output = graph.output[0].name
    fast_probabilities = "int8/probabilities"
    stored = {weight.name: numpy_helper.to_array(weight) for weight in graph.initializer}
    float_weights = {weight.name: weight for weight in float_model.graph.initializer}
    quantized = [node for node in graph.node if node.op_type == "DequantizeLinear" and node.input[0] in stored]
    in_float16, budget = set(), float16_share * sum(stored[node.input[0]].size for node in quantized)
    for node in sorted(quantized, key=lambda node: stored[node.input[0]].size):
        if node.input[0].removesuffix("_quantized") in float_weights and stored[node.input[0]].size <= budget:
            in_float16.add(node.input[0])
            budget -= stored[node.input[0]].size

    producers = {name: node for node in graph.node for name in node.output}
    renamed: dict[str, str] = {INPUT_NAME: "recheck/faces"}

    def recheck_name(name: str) -> str:
        return renamed.get(name, name if name in stored or not name else f"recheck/{name}")

    nodes = [helper.make_node("Gather", [INPUT_NAME, "recheck/rows"], ["recheck/faces"], axis=0)]
    for node in graph.node:
        if node.op_type == "QuantizeLinear":
            continue  # activations stay float: each QuantizeLinear/DequantizeLinear pair is bypassed
        if node.op_type == "DequantizeLinear" and node.input[0] not in stored:
            source = producers[node.input[0]].input[0]
            zero_point = stored[node.input[2]] if len(node.input) > 2 and node.input[2] else np.uint8(0)
            if zero_point == np.iinfo(zero_point.dtype).min:  # the quantizer folded a ReLU into this pair
                nodes.append(helper.make_node("Relu", [recheck_name(source)], [recheck_name(node.output[0])]))
            else:
                renamed[node.output[0]] = recheck_name(source)
        elif node.op_type == "DequantizeLinear" and node.input[0] in in_float16:
            weight = float_weights[node.input[0].removesuffix("_quantized")]
            kept = f"recheck/{weight.name}/float16"
            graph.initializer.append(numpy_helper.from_array(numpy_helper.to_array(weight).astype(np.float16), kept))
            nodes.append(helper.make_node("Cast", [kept], [recheck_name(node.output[0])], to=TensorProto.FLOAT))
        elif node.op_type == "DequantizeLinear":
            # Cast and Mul rather than DequantizeLinear: ONNX Runtime fuses a weight's DequantizeLinear
            # into its consumer and fails when the weight lives outside the branch.
            values, scale = stored[node.input[0]], stored[node.input[1]]
            if len(node.input) > 2 and np.any(stored[node.input[2]]):
                raise ValueError(f"{int8_path}: {node.input[0]} has a nonzero zero point; weights are symmetric")
            axis = next((attribute.i for attribute in node.attribute if attribute.name == "axis"), 1)
            shape = [1] * values.ndim
            if scale.ndim:
                shape[axis] = -1
            if f"recheck/{node.input[1]}" not in stored:
                stored[f"recheck/{node.input[1]}"] = scale.reshape(shape).astype(np.float32)
                graph.initializer.append(numpy_helper.from_array(stored[f"recheck/{node.input[1]}"],
                                                                 f"recheck/{node.input[1]}"))
            nodes.append(helper.make_node("Cast", [node.input[0]], [f"recheck/{node.input[0]}/float"],
                                          to=TensorProto.FLOAT))
            nodes.append(helper.make_node("Mul", [f"recheck/{node.input[0]}/float", f"recheck/{node.input[1]}"],
                                          [recheck_name(node.output[0])]))
        else:
            copy = onnx.NodeProto()
            copy.CopyFrom(node)
            copy.input[:] = [recheck_name(name) for name in node.input]
            copy.output[:] = [recheck_name(name) for name in node.output]
            copy.name = f"recheck/{node.name}"
            nodes.append(copy)
    for node in graph.node:
        node.output[:] = [fast_probabilities if name == output else name for name in node.output]
    nodes.append(helper.make_node("ScatterND", [fast_probabilities, "recheck/rows_2d", recheck_name(output)],
                                  ["recheck/merged"]))
    probabilities = helper.make_tensor_value_info("recheck/merged", TensorProto.FLOAT, None)
    recheck = helper.make_graph(nodes, "recheck_near_ties", [], [probabilities])
    keep = helper.make_graph([helper.make_node("Identity", [fast_probabilities], ["recheck/kept"])], "keep_int8",
                             [], [helper.make_tensor_value_info("recheck/kept", TensorProto.FLOAT, None)])
    graph.initializer.extend([numpy_helper.from_array(np.array([2], np.int64), "recheck/two"),
                              numpy_helper.from_array(np.array(margin, np.float32), "recheck/margin"),
                              numpy_helper.from_array(np.array([-1], np.int64), "recheck/flat"),
                              numpy_helper.from_array(np.array([-1, 1], np.int64), "recheck/column"),
                              numpy_helper.from_array(np.array(0, np.int64), "recheck/zero")])
    graph.node.extend([
        helper.make_node("TopK", [fast_probabilities, "recheck/two"], ["recheck/top2", "recheck/top2_index"], axis=1),
        helper.make_node("ReduceMax", ["recheck/top2"], ["recheck/first"], axes=[1], keepdims=0),
        helper.make_node("ReduceMin", ["recheck/top2"], ["recheck/second"], axes=[1], keepdims=0),
        helper.make_node("Sub", ["recheck/first", "recheck/second"], ["recheck/gap"]),
        helper.make_node("Less", ["recheck/gap", "recheck/margin"], ["recheck/near_tie"]),
        helper.make_node("NonZero", ["recheck/near_tie"], ["recheck/nonzero"]),
        helper.make_node("Reshape", ["recheck/nonzero", "recheck/flat"], ["recheck/rows"]),
        helper.make_node("Reshape", ["recheck/nonzero", "recheck/column"], ["recheck/rows_2d"]),
        helper.make_node("Size", ["recheck/rows"], ["recheck/count"]),
        helper.make_node("Greater", ["recheck/count", "recheck/zero"], ["recheck/any"]),
        helper.make_node("If", ["recheck/any"], [output], then_branch=recheck, else_branch=keep),
    ])
    onnx.save(fast, str(out_path))
    return Path(out_path)


def calibration_rows(split: np.ndarray, count: int, seed: int) -> np.ndarray:
    """Rows of ``count`` training faces drawn at random (``seed``) for int8 calibration."""
    train = np.flatnonzero(split == "train")
    return np.random.default_rng(seed).choice(train, min(count, train.size), replace=False)


def as_face_batch(faces: np.ndarray) -> np.ndarray:
    faces = np.asarray(faces)
    return (faces if faces.ndim == 4 else faces[..., None]).astype(np.uint8)


def read_model_file(source: str | Path | bytes, max_bytes: int, refusal: type[Exception]) -> bytes:
    """The bytes of an exported model given as a path (or already as bytes); a file over ``max_bytes``
    is refused with ``refusal`` before it is read."""
    if isinstance(source, bytes):
        return source
    path = Path(source)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such model file")
    if path.stat().st_size > max_bytes:
        raise refusal(f"{path}: {path.stat().st_size:,} bytes, over the {max_bytes:,} a DeepFER model can be; "
                      "refused without reading it")
    return path.read_bytes()


def session_options(threads: int, exact_int8: bool = True, spin: bool = False) -> Any:
    """ONNX Runtime's session options for an emotion model (the defaults: ``OnnxEmotionModel``'s; the
    benchmarks turn one at a time back to ONNX Runtime's own default)."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.log_severity_level = 3
    # idle threads would spin after each run, taking the cores from the face detector that runs next
    options.add_session_config_entry("session.intra_op.allow_spinning", "1" if spin else "0")
    # On x86 CPUs without VNNI (AVX2 only, or AVX-512 without VNNI) ONNX Runtime's default int8 kernel
    # adds pairs of products in 16 bits, which saturate: the shipped int8 file lost 0.5 points of top-1
    # there. This makes those CPUs use exact unsigned-unsigned arithmetic (nothing changes on CPUs with
    # VNNI, or for a float32 file).
    options.add_session_config_entry(X64_EXACT_INT8, "1" if exact_int8 else "0")
    return options


class OnnxEmotionModel:
    """An exported emotion model run by ONNX Runtime; ``predict_on_batch`` takes (N, 48, 48, 1) or
    (N, 48, 48) uint8 faces like the Keras model's, so either can drive ``EmotionPredictor``.
    ``source`` is a file path or the file's bytes; ``name`` says where it came from, for messages."""

    def __init__(self, source: str | Path | bytes, name: str | None = None, threads: int | None = None) -> None:
        import onnxruntime as ort

        self.name = name or ("ONNX model" if isinstance(source, bytes) else str(source))
        self.model_bytes = read_model_file(source, MAX_ONNX_BYTES, NotAnOnnxModelError)
        options = session_options(threads or min(4, os.cpu_count() or 1))
        try:
            self.session = ort.InferenceSession(self.model_bytes, options, providers=["CPUExecutionProvider"])
        except Exception as err:  # ONNX Runtime raises its own kinds for a damaged or foreign file
            raise NotAnOnnxModelError(f"{self.name}: cannot be loaded as an ONNX model ({err})") from err
        inputs, outputs = self.session.get_inputs(), self.session.get_outputs()
        shape_in, shape_out = tuple(inputs[0].shape[1:]), tuple(outputs[0].shape[1:])
        if (len(inputs) != 1 or inputs[0].type != "tensor(uint8)" or shape_in != (IMAGE_SIZE, IMAGE_SIZE, 1)
                or shape_out != (NUM_CLASSES,)):
            raise NotAnOnnxModelError(
                f"{self.name}: takes {[(i.name, i.type, i.shape) for i in inputs]} and gives {shape_out}; a DeepFER "
                f"ONNX model takes one uint8 tensor of (N, {IMAGE_SIZE}, {IMAGE_SIZE}, 1) faces and gives "
                f"{NUM_CLASSES} probabilities (make one with `deepfer export`)")
        self.input_name = inputs[0].name
        if "deepfer.temperature" in self.metadata:  # fitted on PublicTest: EmotionPredictor scales by it
            self.calibration_temperature = float(self.metadata["deepfer.temperature"])

    @property
    def metadata(self) -> dict[str, str]:
        """What ``export_model`` wrote into the file: ``deepfer.labels``, ``deepfer.publictest_top1``,
        ``deepfer.temperature``."""
        return dict(self.session.get_modelmeta().custom_metadata_map)

    @property
    def publictest_accuracy(self) -> float | None:
        value = self.metadata.get("deepfer.publictest_top1")
        return float(value) if value else None

    @classmethod
    def from_keras(cls, model: Any) -> OnnxEmotionModel:
        """A float32 conversion of a Keras model (a few seconds; ``deepfer export`` makes the int8 one)."""
        with tempfile.TemporaryDirectory() as tmp:
            return cls(to_onnx(model, Path(tmp) / "model.onnx").read_bytes(), name=f"{model.name} as float32 ONNX")

    def predict_on_batch(self, faces: np.ndarray) -> np.ndarray:
        faces = as_face_batch(faces)
        if not len(faces):  # ONNX Runtime's int8 kernels crash the process on an empty batch
            return np.zeros((0, NUM_CLASSES), np.float32)
        return self.session.run(None, {self.input_name: faces})[0]

    def predict(self, faces: np.ndarray, batch_size: int = 256, verbose: int = 0) -> np.ndarray:
        """Keras' ``predict``, so that evaluation code takes either model."""
        return predict_all(self, faces, batch_size)

    def save(self, path: str | Path) -> None:
        Path(path).write_bytes(self.model_bytes)

    def __deepcopy__(self, memo: dict) -> OnnxEmotionModel:
        return self  # immutable; a Kedro MemoryDataset copies what it holds

    def __repr__(self) -> str:
        return f"OnnxEmotionModel({self.name!r})"


def compare(reference: np.ndarray, probabilities: np.ndarray) -> dict[str, float]:
    """How closely ``probabilities`` follow ``reference`` (the Keras model's) on the same faces."""
    return {"max_abs_difference": float(np.abs(probabilities - reference).max()),
            "top1_agreement": float((probabilities.argmax(1) == reference.argmax(1)).mean())}


def predict_all(model: Any, faces: np.ndarray, batch_size: int = 256) -> np.ndarray:
    return np.concatenate([np.asarray(model.predict_on_batch(as_face_batch(faces[i:i + batch_size])))
                           for i in range(0, len(faces), batch_size)])


def weights_sha256(model: Any) -> str:
    """sha256 of a model's weights (shapes and float32 bytes, in order): which network an export
    came from, when there is no file to hash (a Kedro node gets the model, not its file)."""
    digest = hashlib.sha256()
    for weight in model.get_weights():
        array = np.asarray(weight, dtype=np.float32)
        digest.update(str(array.shape).encode())
        digest.update(array.tobytes())
    return digest.hexdigest()


def sha256(path: str | Path) -> str:
    digest = hashlib.sha256()
    with Path(path).open("rb") as file:
        for chunk in iter(lambda: file.read(2**20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def write_metadata(path: Path, values: dict[str, str]) -> None:
    """Stores ``values`` in the ONNX file's metadata, read back by ``OnnxEmotionModel.metadata``."""
    import onnx

    graph = onnx.load(str(path))
    for key, value in values.items():
        graph.metadata_props.append(onnx.StringStringEntryProto(key=key, value=value))
    onnx.save(graph, str(path))


EXPORT_FORMATS = ("onnx", "litert")


def export_model(model: Any, out_dir: str | Path, calibration_faces: np.ndarray, test_faces: np.ndarray,
                 test_labels: np.ndarray, precision: str = "int8", source: dict[str, Any] | None = None,
                 val_faces: np.ndarray | None = None, val_labels: np.ndarray | None = None,
                 recheck_margin: float = RECHECK_MARGIN, file_format: str = "onnx") -> dict:
    """Writes ``out_dir/deepfer.onnx`` (``file_format`` onnx) or ``out_dir/deepfer.tflite`` (litert, for
    phones and edge boards), ``precision`` int8 or float32, and ``out_dir/card.json``, the card's numbers
    measured on the written file itself: PrivateTest top-1, macro-F1, recall and calibration error, and how
    closely it follows the Keras model on the same faces. With ``val_faces`` its PublicTest top-1 too, which an
    ONNX file also stores (the registry's champion is chosen on it), and the temperature fitted on it
    that calibrates the file's confidences (``EmotionPredictor`` scales by it). An int8 ONNX file re-runs in float
    the near ties closer than ``recheck_margin`` (0: never). Returns the card."""
    if precision not in ("int8", "float32"):
        raise ValueError(f"precision must be int8 or float32, not {precision!r}")
    if file_format not in EXPORT_FORMATS:
        raise ValueError(f"file_format must be one of {EXPORT_FORMATS}, not {file_format!r}")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    if file_format == "litert":
        from deepfer_kedro.core.litert import LiteRTEmotionModel, to_litert

        target = to_litert(model, out_dir / "deepfer.tflite", precision)
        load, rechecked = LiteRTEmotionModel, None
        described = {"format": "LiteRT (TensorFlow Lite flatbuffer)", "runtime": "LiteRT interpreter (ai-edge-litert)"}
    else:
        target, rechecked = write_onnx(model, out_dir / "deepfer.onnx", calibration_faces, test_faces, precision,
                                       recheck_margin)
        load = OnnxEmotionModel
        described = {"format": "ONNX", "runtime": "onnxruntime (CPUExecutionProvider)"}
    quantization = None if precision == "float32" else (
        "int8 weights, activations quantized on the fly (dynamic range), softmax in float" if file_format == "litert"
        else "int8 weights (per channel) and activations (calibrated), softmax in float")
    publictest = temperature = None
    if val_faces is not None and len(val_faces):
        val_probabilities = predict_all(load(target), val_faces)
        publictest = scores(val_probabilities, val_labels)
        temperature = round(fit_temperature(val_probabilities, val_labels), 4)
    if file_format == "onnx":
        metadata = {"deepfer.labels": ",".join(EMOTIONS), "deepfer.precision": precision}
        if publictest is not None:
            metadata["deepfer.publictest_top1"] = f"{publictest['top1']:.4f}"
            metadata["deepfer.temperature"] = str(temperature)
        write_metadata(target, metadata)
    exported = load(target)
    if file_format == "litert":  # the names a phone app calls the file by
        described["signatures"] = exported.interpreter.get_signature_list()
    reference = predict_all(model, test_faces)
    probabilities = predict_all(exported, test_faces)
    agreement = compare(reference, probabilities)
    scaled = calibration_at_temperature(probabilities, test_labels, temperature)
    scaled.pop("temperature", None)  # the card keeps it under publictest
    card = {
        "model_file": target.name, "sha256": sha256(target), "bytes": target.stat().st_size,
        **described, "precision": precision, "labels": list(EMOTIONS),
        "input": {"name": INPUT_NAME, "shape": [None, IMAGE_SIZE, IMAGE_SIZE, 1], "dtype": "uint8",
                  "scaling": "gray 0-255 faces; the file scales them to [0, 1] itself"},
        "output": "7 probabilities in the order of labels",
        "source_model": {**(source or {}), "weights_sha256": weights_sha256(model)},
        "calibration": (f"{len(calibration_faces)} FER2013 training faces"
                        if precision == "int8" and file_format == "onnx" else None),
        "quantization": quantization,
        "near_ties_rerun_in_float": rechecked,
        "publictest": None if publictest is None else {"faces": int(len(val_faces)), "exported": publictest,
                                                       "temperature": temperature},
        "privatetest": {"faces": int(len(test_faces)), "exported": scores(probabilities, test_labels),
                        "keras": scores(reference, test_labels), "agreement_with_keras": agreement,
                        "expected_calibration_error": round(
                            calibration(probabilities, test_labels)["expected_calibration_error"], 4),
                        **{name: round(value, 4) for name, value in scaled.items()}},
    }
    (out_dir / "card.json").write_text(json.dumps(card, indent=2) + "\n")
    logger.info("Exported %s (%s, %.1f MB): PrivateTest top-1 %.4f (Keras %.4f), top-1 agreement %.4f",
                target, precision, card["bytes"] / 1e6, card["privatetest"]["exported"]["top1"],
                card["privatetest"]["keras"]["top1"], agreement["top1_agreement"])
    return card


def write_onnx(model: Any, target: Path, calibration_faces: np.ndarray, test_faces: np.ndarray, precision: str,
               recheck_margin: float) -> tuple[Path, dict[str, Any] | None]:
    """The ONNX file of ``export_model``, and what its int8 near-tie re-check covers (None: none)."""
    rechecked = None
    with tempfile.TemporaryDirectory() as tmp:
        float_path = to_onnx(model, Path(tmp) / "float32.onnx")
        if precision == "int8" and recheck_margin > 0:
            int8_only = quantize_int8(float_path, Path(tmp) / "int8.onnx", calibration_faces)
            top2 = np.sort(predict_all(OnnxEmotionModel(int8_only), test_faces), axis=1)[:, -2:]
            rechecked = {"margin": recheck_margin,
                         "share_of_privatetest": round(float(np.mean(top2[:, 1] - top2[:, 0] < recheck_margin)), 4),
                         "weights": f"the int8 file's, the smallest {RECHECK_FLOAT16_SHARE:.0%} in float16"}
            add_float_recheck(int8_only, float_path, target, recheck_margin)
        elif precision == "int8":
            quantize_int8(float_path, target, calibration_faces)
        else:
            target.write_bytes(float_path.read_bytes())
    return target, rechecked
