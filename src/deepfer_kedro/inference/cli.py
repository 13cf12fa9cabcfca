"""``deepfer predict PATH...``: the emotion of every face in photos, folders, videos or a camera;
``deepfer export``: a trained model as an ONNX file for the fast CPU path, or a LiteRT file for
phones and edge boards, with its card;
``deepfer evaluate``: any model (or an ensemble) scored on PublicTest and PrivateTest;
``deepfer save-served-model DIR``: the same as an MLflow model for ``mlflow models serve``;
``deepfer serve``: the model over HTTP with a live demo page.

Defaults come from the project's ``conf/base/parameters_inference.yml``; options override them."""

from __future__ import annotations

import argparse
import csv
import json
import logging
import math
import shlex
import signal
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, Any

from tqdm import tqdm

from deepfer_kedro.core.errors import NotAModelError
from deepfer_kedro.core.export import EXPORT_FORMATS, RECHECK_MARGIN
from deepfer_kedro.inference.faces import DETECTORS, UnreadableImageError
from deepfer_kedro.inference.loading import RUNTIMES, ModelNotFoundError, load_model, load_predictor
from deepfer_kedro.inference.predict import (
    AnnotationFolder,
    expand_inputs,
    frame_count,
    is_stream,
    predict_paths,
    predict_video,
    shown_name,
)
from deepfer_kedro.inference.settings import inference_settings, project_parameters
from deepfer_kedro.inference.summary import FaceSummaries
from deepfer_kedro.labels import ROW_COLUMNS, Status

# deepfer evaluate --split: PublicTest and PrivateTest first (what people wait for), train last
EVALUATED_SPLITS = {"both": ("val", "test"), "val": ("val",), "test": ("test",), "train": ("train",),
                    "all": ("val", "test", "train")}

logger = logging.getLogger("deepfer")


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be 1 or more, not {value}")
    return value


def _camera_index(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"a camera index is 0 or more, not {value}")
    return value


def _margin(text: str) -> float:
    value = float(text)
    if not 0 <= value <= 1:
        raise argparse.ArgumentTypeError(f"must lie between 0 and 1, not {value}")
    return value


def _smoothing(text: str) -> float:
    value = float(text)
    if not 0 <= value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 0 and below 1, not {value}")
    return value


def _rate(text: str) -> float:
    value = float(text)
    if not 0 < value < math.inf:
        raise argparse.ArgumentTypeError(f"must be above 0 frames a second, not {value}")
    return value


def _seconds(text: str) -> float:
    value = float(text)
    if not 0 <= value:  # inf: for ever
        raise argparse.ArgumentTypeError(f"must be 0 or more seconds, not {value}")
    return value


EXAMPLES = """examples:
  deepfer predict photo.jpg holiday/ clip.mp4      the shipped model; one CSV row per face
  deepfer predict --camera 0 --annotate out/       a webcam, its annotated video and emotions over time in out/
  deepfer evaluate --model default                 the shipped model's PublicTest and PrivateTest numbers
  deepfer serve                                    http://127.0.0.1:5001: a photo, a video or a camera in the browser
  deepfer <command> --help                         every option of a command"""


def parser() -> argparse.ArgumentParser:
    main = argparse.ArgumentParser(prog="deepfer", description=__doc__.replace("``", ""), epilog=EXAMPLES,
                                   formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = main.add_subparsers(dest="command", required=True)
    predict = commands.add_parser("predict", help="classify the faces in images, folders, videos or a camera")
    predict.add_argument("inputs", nargs="*", help="image or video files, folders of them, or video stream URLs "
                         "(rtsp://, http(s)://, ...: an IP camera)")
    predict.add_argument("--camera", type=_camera_index, action="append", help="a camera index (e.g. 0); give it "
                         "again for more cameras: cameras and streams are read side by side, after the files")
    predict.add_argument("--model", help="a .keras, .onnx or .tflite file, an MLflow URI (runs:/..., "
                         "models:/deepfer@champion), or 'default' (the shipped model); default: the catalog's "
                         "latest trained_model of the project in the current folder, or the shipped model when it "
                         "has none or when the run's export card scores it lower on PublicTest")
    predict.add_argument("--runtime", choices=RUNTIMES, help="for a Keras model: onnx (ONNX Runtime, the fast "
                         "path) or keras; default: inference.runtime in conf/ (.onnx and .tflite files run in their "
                         "own runtime)")
    predict.add_argument("--detector", choices=sorted(DETECTORS), help="blazeface (MediaPipe's) or haar (OpenCV's "
                         "cascade); default: inference.detector.kind in conf/")
    predict.add_argument("--output", "-o", help="write the table here (.csv or .jsonl) row by row as faces are "
                         "classified; default: CSV on stdout")
    predict.add_argument("--format", choices=("csv", "jsonl"), help="the table's format: csv, or jsonl (a JSON "
                         "object a line, to pipe a camera's faces into jq or a queue); default: --output's suffix, "
                         "csv on stdout")
    predict.add_argument("--annotate", metavar="DIR", help="write annotated images / videos into DIR "
                         "(<name>_annotated.png / .mp4, <name> the input's stem, with its suffix or folders where "
                         "two inputs share one; a second run overwrites), and for each video or camera a plot of "
                         "its faces' emotions over time (<name>_timeline.png)")
    predict.add_argument("--summary", metavar="FILE", help="also write a table (.csv or .jsonl) with one row per "
                         "face of each file: for a video or camera, over all its frames (frames seen, start and end, "
                         "its emotion and each emotion's share of frames and mean probability)")
    predict.add_argument("--tta", action="store_true", default=None, help="average each face with its mirror image")
    predict.add_argument("--no-detect", action="store_true",
                         help="the images are already face crops (like FER2013's own 48x48 faces): classify each "
                         "whole image instead of searching it for faces")
    predict.add_argument("--min-face", type=_positive_int, help="smaller faces (px) are reported, not classified")
    predict.add_argument("--margin", type=_margin, help="share of the face box added on each side")
    predict.add_argument("--stretch-contrast", type=float, metavar="LEVELS", dest="stretch_contrast",
                         help="a face whose centre spans fewer gray levels than this is in poor light (dim, "
                         "backlit, hazy) and is stretched to FER2013's range first; 0: never "
                         "(default: inference.stretch_contrast_below, 100)")
    predict.add_argument("--no-align", action="store_true", help="classify each face as the detector boxed it, "
                         "without turning a tilted face upright by its eyes (inference.align_faces: false)")
    predict.add_argument("--every", type=_positive_int, default=1, help="video: classify every N-th frame")
    predict.add_argument("--detect-every", type=_positive_int, default=1,
                         help="video: detect faces every N-th classified frame, reusing the boxes between")
    predict.add_argument("--detector-width", type=_positive_int,
                         help="haar: search for faces in frames shrunk to this width (320 is faster for video)")
    predict.add_argument("--smooth", type=_smoothing, help="video or camera: weight of a face's earlier frames in "
                         "its probabilities (0: each frame on its own); default: inference.video_smoothing in conf/")
    predict.add_argument("--max-frames", type=_positive_int, help="video or camera: stop after this many frames")
    predict.add_argument("--all-frames", action="store_true", default=None, help="camera or live stream: "
                         "classify every frame, however far behind the camera that falls (default: the newest frame "
                         "each time, skipping those there was no time for; inference.live_all_frames)")
    predict.add_argument("--max-fps", type=_rate, metavar="FPS", help="camera or live stream: classify at most "
                         "this many frames a second, the newest each time (less work a camera); default: "
                         "inference.live_max_fps in conf/ (null: as many as classifying keeps up with)")
    predict.add_argument("--reconnect", type=_seconds, metavar="SECONDS", help="camera or live stream: when it "
                         "stops delivering frames, keep trying to reopen it for this long (0: end at once, inf: for "
                         "ever); default: inference.stream_reconnect_s in conf/")
    predict.add_argument("--workers", type=_positive_int, help="photos: read and search this many at once, each "
                         "on a thread (at most the CPU count; 1: one after another); default: inference.photo_workers "
                         "in conf/, 4")
    predict.add_argument("--max-pixels", type=_positive_int,
                         help="larger images (and videos whose frames are larger) are reported as unreadable "
                         "without being decoded")
    export = commands.add_parser("export", help="write a trained model as ONNX (int8 by default) or LiteRT, with a "
                                 "card measured on the exported file")
    export.add_argument("--model", help="as for predict (a Keras model)")
    export.add_argument("--out", required=True, help="the folder to write deepfer.onnx (or deepfer.tflite) and "
                        "card.json into")
    export.add_argument("--format", choices=EXPORT_FORMATS, default="onnx", help="onnx: for ONNX Runtime (deepfer's "
                        "own fast path, servers); litert: a .tflite file for phones and edge boards (Android, iOS, "
                        "Raspberry Pi), which deepfer predict runs too")
    export.add_argument("--precision", choices=("int8", "float32"), default="int8",
                        help="int8: about 4 times faster on a CPU, top-1 as the Keras model's; float32: the same "
                        "probabilities as Keras")
    export.add_argument("--data", default="data/01_raw", help="FER2013 (any layout): training faces calibrate "
                        "ONNX int8, PublicTest and PrivateTest measure the card")
    export.add_argument("--calibration-faces", type=_positive_int, default=1024)
    export.add_argument("--recheck-margin", type=float, default=RECHECK_MARGIN,
                        help="ONNX int8: faces whose two likeliest emotions are closer than this are re-run in "
                        "float inside the file, so its top-1 follows the Keras model's (0: never)")
    evaluate = commands.add_parser("evaluate", help="score a model, or the mean of several, on FER2013's PublicTest "
                                   "and PrivateTest with the evaluate pipeline's report")
    evaluate.add_argument("--model", action="append", help="as for predict; several --model are an ensemble "
                          "(probabilities averaged; one given twice counts twice)")
    evaluate.add_argument("--runtime", choices=RUNTIMES, help="as for predict (onnx: the int8 file users run; keras: "
                          "the trained network)")
    evaluate.add_argument("--data", default="data/01_raw", help="FER2013 in any layout (see README)")
    evaluate.add_argument("--split", choices=tuple(EVALUATED_SPLITS), default="both",
                          help="val is PublicTest (models are chosen on it), test is PrivateTest (reported), both is "
                          "the two; train (or all three) writes the probabilities that training.teacher_predictions "
                          "distils from")
    evaluate.add_argument("--tta", action="store_true", help="average each face with its mirror image")
    evaluate.add_argument("--tta-shift", type=_positive_int, metavar="PIXELS",
                          help="also average the four diagonal shifts by PIXELS (with --tta, their mirrors too: "
                          "--tta --tta-shift 3 is conf/sota's ten views)")
    evaluate.add_argument("--mlflow", action="store_true", help="also log the scores (and -o's files) as a run of "
                          "the deepfer experiment, beside the training runs: MLFLOW_TRACKING_URI, or ./mlflow.db")
    evaluate.add_argument("--output", "-o", metavar="DIR", help="write metrics.json, and per split the predictions "
                          "(<split>_predictions.csv), confusion matrix and reliability diagram (.png), into DIR")
    serve = commands.add_parser("serve", aliases=["serve-demo"],
                                help="serve the model over HTTP (MLflow's JSON, request size limits) with a live "
                                     "demo page at / (a photo or video uploaded, or a camera)")
    serve.add_argument("--model", help="as for predict")
    serve.add_argument("--runtime", choices=RUNTIMES, help="as for predict")
    serve.add_argument("--host", default="127.0.0.1", help="address to listen on (default: this machine only)")
    serve.add_argument("--port", type=_positive_int, default=5001, help="(default: 5001)")
    serve.add_argument("--max-request-bytes", type=_positive_int, default=32 * 2**20,
                       help="larger request bodies get a 413 before they are read into memory")
    served = commands.add_parser("save-served-model", help="write an MLflow model folder for `mlflow models serve`")
    served.add_argument("path", help="the folder to create")
    served.add_argument("--model", help="as for predict; default: the catalog's latest trained_model, or the "
                        "shipped model")
    served.add_argument("--runtime", choices=RUNTIMES, help="as for predict")
    return main


class RowWriter:
    """Writes each row as it comes (CSV or JSON Lines), so that an interrupted or failing batch
    keeps every row it finished. Opened before any work, so an unwritable path fails at once."""

    def __init__(self, output: str | None, table_format: str | None = None) -> None:
        self.file: IO[str] = sys.stdout if output is None else open(output, "w", newline="")  # noqa: SIM115
        self.jsonl = table_format == "jsonl" or (table_format is None and bool(output and output.endswith(".jsonl")))
        self.csv = None if self.jsonl else csv.DictWriter(self.file, ROW_COLUMNS, extrasaction="ignore")
        if self.csv:
            self.csv.writeheader()
        self.count = 0

    def write(self, row: dict[str, Any]) -> None:
        full = {column: _plain(row.get(column)) for column in ROW_COLUMNS}
        if self.jsonl:
            self.file.write(json.dumps(full) + "\n")
        else:
            self.csv.writerow({k: "" if v is None else v for k, v in full.items()})
        self.file.flush()  # every finished row is out at once: in the file, or down the pipe
        self.count += 1

    def close(self) -> None:
        if self.file is not sys.stdout:
            self.file.close()


def _plain(value: Any) -> Any:
    """JSON-safe: numpy scalars as Python numbers, NaN as None."""
    if hasattr(value, "item"):
        value = value.item()
    return None if isinstance(value, float) and math.isnan(value) else value


def _log_to_stderr() -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(levelname)s %(message)s"))
    for name in ("deepfer", "deepfer_kedro"):
        project_logger = logging.getLogger(name)
        project_logger.handlers = [handler]
        project_logger.setLevel(logging.INFO)
        project_logger.propagate = False


def save_served_model(args: argparse.Namespace) -> int:
    """``deepfer save-served-model DIR``: the model and its face detection as an MLflow model."""
    from deepfer_kedro.inference.serving import save_served_model as save

    if Path(args.path).exists():
        logger.error("%s already exists; give a new folder", args.path)
        return 2
    settings = inference_settings(overrides={"runtime": args.runtime})
    try:
        model = load_model(args.model, runtime=settings["runtime"])
    except (ModelNotFoundError, NotAModelError) as err:
        logger.error("%s", err)
        return 2
    save(model, settings, args.path)
    logger.info("Wrote %s: serve it with `mlflow models serve -m %s --env-manager local`", args.path, args.path)
    return 0


class Terminated(KeyboardInterrupt):
    """SIGTERM (``systemctl stop``, ``docker stop``, ``kill``): a run ends as with Ctrl-C, its rows,
    summary and timelines kept."""


def _sigterm_as_interrupt() -> Callable[[], None]:
    """Makes SIGTERM raise ``Terminated`` in this (the main) thread; returns what puts the handler it
    replaced back (nothing is changed where signals cannot be handled: not the main thread)."""
    def stop(signum: int, frame: Any) -> None:
        raise Terminated

    try:
        previous = signal.signal(signal.SIGTERM, stop)
    except ValueError:
        return lambda: None
    return lambda: signal.signal(signal.SIGTERM, signal.SIG_DFL if previous is None else previous)


def _rows_finished_before(rows: Iterator[dict], stop: KeyboardInterrupt) -> Iterator[dict]:
    """The rows that were finished when ``stop`` came while one was being written out: the stop is
    passed into ``rows`` (which stops its sources, ending their videos, and gives the rows still
    waiting: ``predict_side_by_side``)."""
    try:
        yield rows.throw(stop)  # type: ignore[attr-defined]
        yield from rows
    except (KeyboardInterrupt, StopIteration):
        return


def predict(args: argparse.Namespace) -> int:
    if not args.inputs and args.camera is None:
        parser().error("give image or video files, folders, or --camera N")
    if args.all_frames and args.max_fps:
        parser().error("--all-frames classifies every frame and --max-fps skips frames: give one of them")
    paths = expand_inputs(args.inputs, args.annotate)
    if args.inputs and not paths:
        logger.error("No image or video files in %s", ", ".join(args.inputs))
        return 2
    try:
        writer = RowWriter(args.output, args.format)
    except OSError as err:
        logger.error("Cannot write the output %s (%s); nothing was run", args.output, err.strerror or err)
        return 2
    if args.summary:
        try:  # an unwritable summary fails now, not after the batch
            Path(args.summary).open("w").close()
        except OSError as err:
            writer.close()
            logger.error("Cannot write the summary %s (%s); nothing was run", args.summary, err.strerror or err)
            return 2
    settings = {
        "runtime": args.runtime, "min_face_size": args.min_face, "margin": args.margin, "tta_flip": args.tta,
        "detect_faces": False if args.no_detect else None, "align_faces": False if args.no_align else None,
        "max_image_pixels": args.max_pixels, "stretch_contrast_below": args.stretch_contrast,
        "video_smoothing": args.smooth, "stream_reconnect_s": args.reconnect,
        "live_all_frames": args.all_frames, "live_max_fps": args.max_fps, "photo_workers": args.workers,
        "detector": {"kind": args.detector, "haar": {"max_width": args.detector_width}}}
    try:
        predictor = load_predictor(args.model, settings)
    except (ModelNotFoundError, NotAModelError) as err:
        writer.close()
        logger.error("%s", err)
        return 2
    except ValueError as err:  # a setting in conf/ out of its range
        writer.close()
        logger.error("%s (conf/base/parameters_inference.yml)", err)
        return 2
    cameras = list(dict.fromkeys(args.camera or []))  # one camera opened twice: the second would find it busy
    annotate_dir = AnnotationFolder(args.annotate, [*paths, *cameras]) if args.annotate else None
    rows: Iterator[dict] = (  # one camera alone that cannot be opened is an error of the command (exit 2)
        predict_video(predictor, cameras[0], annotate_dir, args.every, args.max_frames, args.detect_every)
        if cameras and not paths and len(cameras) == 1
        else predict_paths(predictor, paths, annotate_dir, args.every, args.max_frames, args.detect_every, cameras))
    counts: dict[str, int] = {}
    summaries = FaceSummaries()
    images_without_face = 0
    # on stdout the table shows the progress; into a file, a bar on stderr does (not for cameras or streams
    # read side by side: they end together, if ever)
    progress = tqdm(total=len(paths), desc="Classifying", unit="file", mininterval=0.5,
                    disable=not args.output or bool(cameras) or sum(map(is_stream, paths)) > 1)
    done_file, frames = None, None
    restore_sigterm = _sigterm_as_interrupt()

    def take(row: dict) -> None:
        writer.write(row)
        summaries.add(row)
        counts[row["status"]] = counts.get(row["status"], 0) + 1

    try:
        for row in rows:
            if row["file"] != done_file:
                progress.update(int(done_file is not None))
                done_file = row["file"]
                frames = frame_count(done_file) if not progress.disable and row["frame"] is not None else None
            if row["frame"] is not None and not progress.disable:  # a long video: its frames too
                progress.set_postfix_str(f"{Path(done_file).name} frame {row['frame'] + 1}"
                                         + (f"/{frames}" if frames else ""), refresh=False)
            take(row)
            if row["status"] == Status.NO_FACE and row["frame"] is None:
                images_without_face += 1
        progress.update(int(done_file is not None))
    except KeyboardInterrupt as stop:  # also how a camera run ends: its summary and timeline are still written
        for row in _rows_finished_before(rows, stop):
            take(row)
        logger.error("%s: the %d row(s) finished so far are in %s", "Stopped by SIGTERM" if isinstance(
            stop, Terminated) else "Interrupted", writer.count, args.output or "stdout")
        _write_summaries(summaries, args.summary, annotate_dir)
        return 143 if isinstance(stop, Terminated) else 130
    except UnreadableImageError as err:  # a camera that cannot be opened
        logger.error("%s", err)
        return 2
    finally:
        restore_sigterm()
        writer.close()
        progress.close()
    _write_summaries(summaries, args.summary, annotate_dir)
    if args.output:  # on stdout the table itself is the summary, and stays the last thing printed
        logger.info("%d face(s) classified, %d too small, %d image(s) or frame(s) without a face, %d unreadable",
                    counts.get(Status.OK, 0), counts.get(Status.FACE_TOO_SMALL, 0), counts.get(Status.NO_FACE, 0),
                    counts.get(Status.UNREADABLE, 0))
    if images_without_face and predictor.detect_faces:
        logger.warning("No face found in %d image(s); if they are already face crops (like FER2013's own "
                       "faces), --no-detect classifies each whole image", images_without_face)
    if counts.get(Status.UNREADABLE):
        return 1
    if len(paths) == 1 and args.camera is None and set(counts) == {Status.NO_FACE}:
        logger.error("No face found in %s", shown_name(paths[0]))
        return 1
    return 0


def _write_summaries(summaries: FaceSummaries, summary_file: str | None,
                     annotate_dir: AnnotationFolder | None) -> None:
    """The per-face table (``--summary``) and each video's timeline plot (into ``--annotate``'s folder)."""
    if summary_file:
        try:
            table = summaries.table()
            if summary_file.endswith(".jsonl"):
                table.to_json(summary_file, orient="records", lines=True)
            else:
                table.to_csv(summary_file, index=False)
            logger.info("Wrote the summary of %d face(s) to %s", len(summaries.faces), summary_file)
        except OSError as err:
            logger.error("Cannot write the summary %s (%s); the rows are kept", summary_file, err.strerror or err)
    if annotate_dir is not None:
        for video in summaries.videos():  # figures of their own: no pyplot, nothing to close
            summaries.timeline(video).savefig(annotate_dir.path(video, ".png", "timeline"), dpi=100)


def serve(args: argparse.Namespace) -> int:
    """``deepfer serve``: the model over HTTP on ``--host``:``--port``."""
    import uvicorn

    from deepfer_kedro.inference.server import create_app

    settings = inference_settings(overrides={"runtime": args.runtime})
    try:
        model = load_model(args.model, runtime=settings.get("runtime", "onnx"))
    except (ModelNotFoundError, NotAModelError) as err:
        logger.error("%s", err)
        return 2
    app = create_app(model, settings, args.max_request_bytes, model_name=args.model or "default")
    logger.info("Serving on http://%s:%d/ (the demo page), /invocations (POST), /ping (GET)", args.host, args.port)
    uvicorn.run(app, host=args.host, port=args.port, log_level="warning")
    return 0


def export(args: argparse.Namespace) -> int:
    """``deepfer export``: the model as ONNX or LiteRT with a card measured on the written file."""

    from deepfer_kedro.core.export import calibration_rows, export_model, sha256
    from deepfer_kedro.core.litert import LiteRTExportError, require_tensorflow_backend
    from deepfer_kedro.fer2013 import FER2013Error

    try:
        if args.format == "litert":
            require_tensorflow_backend()
        model = load_model(args.model, runtime="keras")
        faces, index = _faces_and_index(args.data, project_parameters())
    except (ModelNotFoundError, NotAModelError, FER2013Error, FileNotFoundError, LiteRTExportError) as err:
        logger.error("%s", err)
        return 2
    split = index["split"].to_numpy()
    chosen = calibration_rows(split, args.calibration_faces, seed=0)
    test = split == "test"
    source = {"model": args.model or "default"}
    if args.model and Path(args.model).is_file():
        source["sha256"] = sha256(args.model)
    elif not args.model or args.model == "default":
        from deepfer_kedro import default_model

        source |= {"file": default_model.MODEL_FILE.name, "sha256": sha256(default_model.MODEL_FILE)}
    source["data_sha256"] = faces.source_sha256
    val, labels = split == "val", index["label"].to_numpy()
    card = export_model(model, args.out, faces.pixels[chosen], faces.pixels[test], labels[test], args.precision,
                        source, val_faces=faces.pixels[val], val_labels=labels[val], recheck_margin=args.recheck_margin,
                        file_format=args.format)
    card["command"] = (f"deepfer export --model {args.model or 'default'} --out {args.out} --format {args.format} "
                       f"--precision {args.precision} --data {args.data}"
                       + (f" --calibration-faces {args.calibration_faces} --recheck-margin {args.recheck_margin}"
                          if args.format == "onnx" else ""))
    (Path(args.out) / "card.json").write_text(json.dumps(card, indent=2) + "\n")
    return 0


LATEST_OR_SHIPPED = "the project's latest trained_model, or the shipped default"


def _faces_and_index(data: str, params: dict[str, Any]) -> tuple[Any, Any]:
    """FER2013 from ``data`` (any layout) and its image index, split as ``kedro run`` with the project's
    ``params`` splits it (the fallbacks are conf/base's, for an installed package without conf/)."""
    from deepfer_kedro.core.data import build_image_index
    from deepfer_kedro.fer2013 import load_faces

    faces = load_faces(Path(data))
    val_fraction = params.get("data_processing", {}).get("val_fraction", 0.1)
    return faces, build_image_index(faces, val_fraction, params.get("seed", 42))


def evaluate(args: argparse.Namespace) -> int:
    """``deepfer evaluate``: the ``evaluate`` pipeline's nodes applied to any model, or to the mean of
    several, on PublicTest and/or PrivateTest, outside a Kedro run."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from deepfer_kedro.core.evaluation import fit_temperature
    from deepfer_kedro.fer2013 import FER2013Error
    from deepfer_kedro.pipelines.data_processing.nodes import build_quality_report
    from deepfer_kedro.pipelines.evaluate.nodes import (
        compute_evaluation_metrics,
        format_metrics_table,
        plot_confusion_matrix,
        plot_reliability_diagram,
        predict_emotions_ensemble,
        probabilities_and_labels,
    )

    if args.mlflow:  # an unreachable tracking server stops now, not after the scoring
        from deepfer_kedro.hooks import StartupChecksHook

        StartupChecksHook().check_tracking_server()
    params = project_parameters()
    runtime = args.runtime or params.get("inference", {}).get("runtime", "onnx")
    out = Path(args.output) if args.output else None
    try:
        members = [spec or LATEST_OR_SHIPPED for spec in args.model or [None]]  # repeated: weighted
        models = {name: load_model(None if name == LATEST_OR_SHIPPED else name, runtime=runtime)
                  for name in dict.fromkeys(members)}
        faces, index = _faces_and_index(args.data, params)
        if out:
            out.mkdir(parents=True, exist_ok=True)
    except (ModelNotFoundError, NotAModelError, FER2013Error, FileNotFoundError) as err:
        logger.error("%s", err)
        return 2
    except OSError as err:
        logger.error("Cannot write the output %s (%s); nothing was run", args.output, err.strerror or err)
        return 2
    tta = {"flip": args.tta, "shift_pixels": args.tta_shift or 0}
    splits = EVALUATED_SPLITS[args.split]
    # the leakage count is for scored splits; a teacher's training faces need none
    max_distance = params.get("data_processing", {}).get("near_duplicate_max_distance", 6)
    quality = build_quality_report(faces, index, max_distance) if set(splits) - {"train"} else None
    results: dict[str, Any] = {"models": members, "runtime": runtime, "tta": tta,
                               "data_sha256": faces.source_sha256, "command": "deepfer " + shlex.join(args.argv)}
    for split in splits:
        predictions = predict_emotions_ensemble(models, faces.pixels, index,
                                                {"split": split, "seed": 0, "batch_size": 256, "tta": tta,
                                                 "ensemble": members})
        if split == "val":  # confidences are calibrated on the selection split and checked on the others
            results["temperature"] = fit_temperature(*probabilities_and_labels(predictions))
        results[split] = compute_evaluation_metrics(predictions, quality if split != "train" else None,
                                                    temperature=results.get("temperature"))
        print(format_metrics_table(results[split]), flush=True)
        if split == "val":
            print(f"Temperature fitted on PublicTest: {results['temperature']:.3f} (its confidences scaled by it "
                  f"are calibrated: set inference.temperature to it to use them)\n", flush=True)
        if out:  # each split's files as soon as it is done: a later failure keeps them
            predictions.to_csv(out / f"{split}_predictions.csv", index=False)
            for name, plot in (("confusion_matrix", plot_confusion_matrix),
                               ("reliability_diagram", plot_reliability_diagram)):
                figure = plot(predictions)
                figure.savefig(out / f"{split}_{name}.png", dpi=100)
                plt.close(figure)
            (out / "metrics.json").write_text(json.dumps(results, indent=2) + "\n")
    if args.mlflow:
        logger.info("Logged to MLflow as run %s", _log_evaluation(results, out))
    return 0


def _log_evaluation(results: dict[str, Any], out: Path | None) -> str:
    """One run in the ``deepfer`` experiment (as in conf/base/mlflow.yml) with each split's metrics
    under the evaluate pipeline's names, so that `mlflow ui` compares the model with trained ones."""
    import mlflow

    from deepfer_kedro.hooks import _git_commit
    from deepfer_kedro.pipelines.evaluate.nodes import evaluation_metrics_for_mlflow

    client = mlflow.MlflowClient()  # MLFLOW_TRACKING_URI, or MLflow's own default: ./mlflow.db
    experiment = client.get_experiment_by_name("deepfer")
    experiment_id = experiment.experiment_id if experiment else client.create_experiment("deepfer")
    with mlflow.start_run(experiment_id=experiment_id, run_name="evaluate " + " + ".join(results["models"])) as run:
        mlflow.set_tags({"dataset_sha256": results["data_sha256"], "git_commit": _git_commit(),
                         "deepfer_command": results["command"]})
        mlflow.log_params({"models": " + ".join(results["models"]), "runtime": results["runtime"],
                           "tta.flip": results["tta"]["flip"], "tta.shift_pixels": results["tta"]["shift_pixels"]})
        for split in ("train", "val", "test"):
            if split in results:
                mlflow.log_metrics({name: value["value"]
                                    for name, value in evaluation_metrics_for_mlflow(results[split]).items()})
        if out:
            mlflow.log_artifacts(str(out), "evaluation")
    return run.info.run_id


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    args.argv = sys.argv[1:] if argv is None else argv
    _log_to_stderr()
    if args.command == "export":
        return export(args)
    if args.command == "evaluate":
        return evaluate(args)
    if args.command == "save-served-model":
        return save_served_model(args)
    if args.command in ("serve", "serve-demo"):
        return serve(args)
    return predict(args)


if __name__ == "__main__":
    sys.exit(main())
