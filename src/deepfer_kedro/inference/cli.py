"""``deepfer predict PATH...``: the emotion of every face in photos, folders, videos or a camera."""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

import pandas as pd

from deepfer_kedro.core.saving import NotAModelError
from deepfer_kedro.inference.models import ModelNotFoundError, load_model
from deepfer_kedro.inference.predict import ROW_COLUMNS, EmotionPredictor, expand_inputs, predict_paths, predict_video

logger = logging.getLogger("deepfer")


def parser() -> argparse.ArgumentParser:
    main = argparse.ArgumentParser(prog="deepfer", description=__doc__)
    commands = main.add_subparsers(dest="command", required=True)
    predict = commands.add_parser("predict", help="classify the faces in images, folders, videos or a camera")
    predict.add_argument("inputs", nargs="*", help="image or video files, or folders of them")
    predict.add_argument("--camera", type=int, help="a camera index (e.g. 0) instead of files")
    predict.add_argument("--model", help="a .keras file, an MLflow URI, or 'default' (the shipped model); "
                         "default: the catalog's latest trained_model of the project in the current folder, "
                         "or the shipped model when it has none")
    predict.add_argument("--output", "-o", help="write the table here (.csv or .jsonl); default: CSV on stdout")
    predict.add_argument("--annotate", metavar="DIR", help="write annotated images / videos into DIR")
    predict.add_argument("--tta", action="store_true", help="average each face with its mirror image")
    predict.add_argument("--min-face", type=int, default=32, help="smaller faces (px) are reported, not classified")
    predict.add_argument("--margin", type=float, default=0.1, help="share of the face box added on each side")
    predict.add_argument("--every", type=int, default=1, help="video: classify every N-th frame")
    predict.add_argument("--detect-every", type=int, default=1,
                         help="video: detect faces every N-th classified frame, reusing the boxes between")
    predict.add_argument("--detector-width", type=int, default=640,
                         help="search for faces in frames shrunk to this width (320 is faster for video)")
    predict.add_argument("--max-frames", type=int, help="video or camera: stop after this many frames")
    served = commands.add_parser("save-served-model", help="write an MLflow model folder for `mlflow models serve`")
    served.add_argument("path", help="the folder to create")
    served.add_argument("--model", help="as for predict; default: the catalog's latest trained_model, or the "
                        "shipped model")
    return main


def write_table(rows: list[dict], output: str | None) -> None:
    table = pd.DataFrame(rows).reindex(columns=ROW_COLUMNS)
    if output is None:
        table.to_csv(sys.stdout, index=False)
    elif output.endswith(".jsonl"):
        with open(output, "w") as file:
            for row in table.to_dict(orient="records"):
                file.write(json.dumps({k: (None if pd.isna(v) else v) for k, v in row.items()}) + "\n")
    else:
        table.to_csv(output, index=False)


def _log_to_stderr() -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(levelname)s %(message)s"))
    for name in ("deepfer", "deepfer_kedro"):
        project_logger = logging.getLogger(name)
        project_logger.handlers = [handler]
        project_logger.setLevel(logging.INFO)
        project_logger.propagate = False


def save_served_model(args: argparse.Namespace) -> int:
    """``deepfer save-served-model DIR``: the model and its face detection as an MLflow pyfunc."""
    import mlflow.pyfunc

    from deepfer_kedro.inference.serving import package_served_model

    if Path(args.path).exists():
        logger.error("%s already exists; give a new folder", args.path)
        return 2
    try:
        model = load_model(args.model)
    except (ModelNotFoundError, NotAModelError) as err:
        logger.error("%s", err)
        return 2
    mlflow.pyfunc.save_model(args.path, python_model=package_served_model(model, {}))
    logger.info("Wrote %s: serve it with `mlflow models serve -m %s --env-manager local`", args.path, args.path)
    return 0


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    _log_to_stderr()
    if args.command == "save-served-model":
        return save_served_model(args)
    if not args.inputs and args.camera is None:
        parser().error("give image or video files, folders, or --camera N")
    paths = expand_inputs(args.inputs)
    if args.inputs and not paths:
        logger.error("No image or video files in %s", ", ".join(args.inputs))
        return 2
    try:
        model = load_model(args.model)
    except (ModelNotFoundError, NotAModelError) as err:
        logger.error("%s", err)
        return 2
    predictor = EmotionPredictor(model, {"min_face_size": args.min_face, "margin": args.margin,
                                         "tta_flip": args.tta, "detector": {"max_width": args.detector_width}})
    annotate_dir = Path(args.annotate) if args.annotate else None
    if args.camera is not None:
        rows = list(predict_video(predictor, args.camera, annotate_dir, args.every, args.max_frames,
                                  args.detect_every))
    else:
        rows = list(predict_paths(predictor, paths, annotate_dir, args.every, args.max_frames, args.detect_every))
    write_table(rows, args.output)
    statuses = pd.Series([row["status"] for row in rows])
    logger.info("%d face(s) classified, %d too small, %d image(s) or frame(s) without a face, %d unreadable",
                (statuses == "ok").sum(), (statuses == "face_too_small").sum(), (statuses == "no_face").sum(),
                (statuses == "unreadable").sum())
    if (statuses == "unreadable").any():
        return 1
    if len(paths) == 1 and args.camera is None and (statuses == "no_face").all():
        logger.error("No face found in %s", paths[0])
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
