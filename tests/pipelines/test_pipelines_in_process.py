"""Every pipeline run in-process, the way Kedro's starters test them: a ``SequentialRunner`` over a
``DataCatalog`` of memory datasets holding a small subset of the real FER2013 faces and the quick
environment's parameters (one epoch). No files, no MLflow: only the nodes and their wiring."""

import dataclasses
import typing
from typing import Any

import numpy as np
import pytest
from kedro.io import DataCatalog, MemoryDataset
from kedro.runner import SequentialRunner

from deepfer_kedro.core.config import load_parameters
from deepfer_kedro.core.export import weights_sha256
from deepfer_kedro.fer2013 import FER2013Faces
from deepfer_kedro.pipeline_registry import register_pipelines

pytestmark = [pytest.mark.real_data, pytest.mark.slow]


def subset(real_faces: FER2013Faces, per_group: int) -> FER2013Faces:
    """The first ``per_group`` faces of each emotion in each usage, as ``FER2013Dataset`` loads them."""
    index = real_faces.index
    rows = index.groupby(["emotion", "usage"]).head(per_group).index.to_numpy()
    return dataclasses.replace(real_faces, pixels=real_faces.pixels[rows], index=index.loc[rows].reset_index(drop=True))


class KeptDataset(MemoryDataset):
    """A memory dataset that keeps its data after the run (the runner releases what it no longer needs)."""

    def _release(self) -> None:
        pass


def catalog_with(params: dict[str, Any], pipeline: Any, **data: Any) -> DataCatalog:
    catalog = DataCatalog({name: KeptDataset() for name in pipeline.datasets() if not name.startswith("param")})
    for name, value in data.items():
        catalog[name] = value

    def add(prefix: str, value: Any) -> None:
        catalog[f"params:{prefix}"] = value
        if isinstance(value, dict):
            for key, inner in value.items():
                add(f"{prefix}.{key}", inner)

    for key, value in params.items():
        add(key, value)
    catalog["parameters"] = params
    return catalog


@pytest.fixture(scope="module")
def outputs(real_faces):
    params = load_parameters("quick", "training.epochs=1,training.max_images_per_class=null,"
                                      "evaluation.max_images_per_class=null,export.calibration_faces=64")
    default = register_pipelines()["__default__"]
    catalog = catalog_with(params, default, fer2013_faces=subset(real_faces, 30))
    return SequentialRunner().run(default, catalog), catalog


def test_every_nodes_type_hints_resolve():
    """Kedro reads each node's type hints to check its parameters, and warns "Could not extract type
    hints" on every run for a name it cannot resolve (one imported for type checkers only)."""
    nodes = {node.func for pipeline in register_pipelines().values() for node in pipeline.nodes}
    assert len(nodes) > 10
    for func in nodes:
        typing.get_type_hints(func)


def test_the_default_pipeline_runs_end_to_end_on_memory_datasets(outputs):
    free, catalog = outputs
    assert {"served_model", "export_metrics_mlflow", "evaluation_report", "confusion_matrix_plot"} <= set(free)
    index = catalog.load("image_index")
    assert len(index) == 7 * 3 * 30 and set(index["split"]) == {"train", "val", "test"}
    assert catalog.load("face_pixels").shape == (len(index), 48, 48)
    assert catalog.load("class_weights") and catalog.load("training_history")["epoch"].tolist() == [1]
    metrics = catalog.load("evaluation_metrics")
    assert metrics["images"] == (index["split"] == "test").sum() and 0 <= metrics["accuracy"] <= 1
    assert set(catalog.load("val_predictions")["split"]) == {"val"} and metrics["temperature"] > 0


def test_the_export_and_the_served_model_hold_the_trained_network(outputs):
    _, catalog = outputs
    served, card, exported = catalog.load("served_model"), catalog.load("export_card"), catalog.load("exported_model")
    assert served.model is exported and served.publictest_accuracy == card["publictest"]["exported"]["top1"]
    assert card["source_model"]["weights_sha256"] == weights_sha256(catalog.load("trained_model"))
    assert set(served.settings) >= {"min_face_size", "detector", "max_image_pixels"}
    assert "annotate" not in served.settings
    assert served.settings["temperature"] == exported.calibration_temperature == card["publictest"]["temperature"]
    faces = catalog.load("face_pixels")[:16]
    keras_probabilities = catalog.load("trained_model").predict_on_batch(faces[..., None])
    agreement = (exported.predict_on_batch(faces).argmax(1) == np.asarray(keras_probabilities).argmax(1)).mean()
    assert agreement >= 0.8  # int8 calibrated on 64 faces of a one-epoch network: near-ties may flip


def test_the_litert_export_pipeline_writes_the_trained_network_as_tflite_with_its_card(outputs):
    from deepfer_kedro.core.litert import LiteRTEmotionModel

    _, trained = outputs
    pipeline = register_pipelines()["export_litert"]
    assert "export_litert_model" not in {node.name for node in register_pipelines()["__default__"].nodes}
    params = load_parameters("quick")
    catalog = catalog_with(params, pipeline, **{name: trained.load(name)
                                                for name in ("trained_model", "face_pixels", "image_index")})
    SequentialRunner().run(pipeline, catalog)
    model, card = catalog.load("litert_model"), catalog.load("litert_card")
    assert isinstance(model, LiteRTEmotionModel) and card["model_file"] == "deepfer.tflite"
    assert card["source_model"]["weights_sha256"] == weights_sha256(trained.load("trained_model"))
    assert card["precision"] == params["export"]["precision"] and card["publictest"]["faces"] == 7 * 30
    logged = catalog.load("litert_metrics_mlflow")  # what MLflow gets
    assert logged["litert_test_accuracy"]["value"] == card["privatetest"]["exported"]["top1"]
    faces = trained.load("face_pixels")[:16]
    keras_probabilities = np.asarray(trained.load("trained_model").predict_on_batch(faces[..., None]))
    np.testing.assert_allclose(model.predict_on_batch(faces), keras_probabilities, atol=0.1)


def test_the_inference_pipeline_classifies_a_folder_of_photos_and_videos(outputs, astronaut_rgb, tmp_path, caplog,
                                                                         capsys):
    import cv2
    from PIL import Image

    _, trained = outputs
    clip = tmp_path / "clip.avi"  # the astronaut for 6 frames at 10 frames/s
    writer = cv2.VideoWriter(str(clip), cv2.VideoWriter_fourcc(*"MJPG"), 10, (512, 512))
    for _ in range(6):
        writer.write(cv2.cvtColor(astronaut_rgb, cv2.COLOR_RGB2BGR))
    writer.release()
    photos = {"astronaut.jpg": lambda: Image.fromarray(astronaut_rgb),  # both datasets list the whole folder
              "blank.png": lambda: Image.new("L", (64, 64), 128), "blank.jpg": lambda: Image.new("L", (64, 64), 90),
              "clip.avi": lambda: Image.open(clip), ".DS_Store": lambda: Image.open(clip),
              "notes.txt": lambda: Image.open(clip)}
    videos = {name: lambda: "" for name in photos} | {"clip.avi": lambda: str(clip)}
    inference = register_pipelines()["inference"]
    catalog = catalog_with(load_parameters("quick"), inference, inference_model=trained.load("trained_model"),
                           inference_images=photos, inference_videos=videos)
    SequentialRunner().run(inference, catalog)
    table = catalog.load("inference_predictions")
    by_file = table.groupby("file")
    assert by_file.size().to_dict() == {"astronaut.jpg": 1, "blank.jpg": 1, "blank.png": 1, "clip.avi": 6}
    # other files are skipped as deepfer predict skips them: named, and hidden ones silently
    assert "Skipped 1 file(s) in the inference folder" in caplog.text and ": notes.txt (" in caplog.text
    photo_rows = table.set_index("file").loc[["astronaut.jpg", "blank.png"]]
    assert photo_rows["status"].tolist() == ["ok", "no_face"]
    frames = table[table["file"] == "clip.avi"]
    assert frames["frame"].tolist() == list(range(6)) and frames["time"].tolist() == pytest.approx(frames["frame"] / 10)
    # two photos of one name but their suffix: each keeps its annotated copy
    annotated = catalog.load("annotated_images")
    assert set(annotated) == {"astronaut", "blank_png", "blank_jpg"}
    # each is drawn when it is saved, not held in memory with the others; it is the photo with its box
    assert all(callable(draw) for draw in annotated.values())
    astronaut = np.asarray(annotated["astronaut"]())
    assert astronaut.shape == (*astronaut_rgb.shape[:2], 3) and not (astronaut[..., 0] == astronaut[..., 1]).all()
    summary = catalog.load("inference_face_summary").set_index("file")
    assert summary.loc["clip.avi", "frames"] == 6 and summary.loc["astronaut.jpg", "frames"] == 1
    assert set(catalog.load("video_timelines")) == {"clip_timeline.png"}
    assert "No face found in 2 of 3 image(s)" in caplog.text and "inference.detect_faces: false" in caplog.text
    assert "clip.avi frame 6/6" in capsys.readouterr().err  # a video's frames show in the progress bar
