"""Ranges and choices of the recipe's parameters: a value outside them fails a run only after the
data is loaded (epochs 0, batch size 0), or after training (an export precision misspelt), or
trains on nonsense without a word (dropout 1.5). Sections allow keys not listed here; misspelt keys
are ``core.config.unknown_overrides``' business. Apart from ``core.config`` because the GPU machine
has no Pydantic (``tests/test_gpu_search.py`` runs the search without it)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

Count = Annotated[int, Field(ge=1)]
Share = Annotated[float, Field(ge=0, lt=1)]
Probability = Annotated[float, Field(ge=0, le=1)]
NonNegative = Annotated[float, Field(ge=0)]
Positive = Annotated[float, Field(gt=0)]


class _Section(BaseModel):
    model_config = ConfigDict(extra="allow", strict=True)


class ModelParameters(_Section):
    architecture: Literal["vgg16", "vgg_fer", "resnet_fer"] = "vgg16"
    input_size: Count = 48
    fine_tune_blocks: Annotated[int, Field(ge=0, le=5)] | None = None
    dense_units: list[Count] = []
    dropout: Share = 0.0
    l2: NonNegative = 0.0
    base_filters: Count = 64
    stages: Count = 4
    convs_per_stage: Count = 2


class TrainingParameters(_Section):
    optimizer: Literal["adam", "adamw", "sgd"] = "adam"
    learning_rate: Positive = 1e-4
    lr_schedule: Literal["plateau", "cosine"] = "plateau"
    warmup_epochs: Annotated[int, Field(ge=0)] = 0
    momentum: Share = 0.9
    batch_size: Count = 64
    epochs: Count = 100
    label_smoothing: Share = 0.0
    max_images_per_class: Count | None = None
    steps_per_execution: Count = 1
    distribution: Literal["none", "data_parallel"] | None = "none"
    time_budget_s: Positive | None = None
    ema_momentum: Annotated[float, Field(gt=0, lt=1)] | None = None
    teacher_weight: Probability = 0.7


class AugmentationParameters(_Section):
    rotation_degrees: Annotated[float, Field(ge=0, le=180)] = 0
    width_shift: Share = 0.0
    height_shift: Share = 0.0
    zoom: Share = 0.0
    random_erasing: Probability = 0.0
    mixup_alpha: NonNegative = 0.0
    cutmix_alpha: NonNegative = 0.0
    mix_probability: Probability = 1.0


class DataProcessingParameters(_Section):
    val_fraction: Annotated[float, Field(gt=0, lt=1)] = 0.1
    near_duplicate_max_distance: Annotated[int, Field(ge=0, le=64)] = 6


class TestTimeAugmentation(_Section):
    shift_pixels: Annotated[int, Field(ge=0)] = 0


class EvaluationParameters(_Section):
    split: Literal["test", "val", "train"] = "test"
    batch_size: Count = 256
    max_images_per_class: Count | None = None
    tta: TestTimeAugmentation | None = None


class ExportParameters(_Section):
    precision: Literal["int8", "float32"] = "int8"
    calibration_faces: Count = 1024
    recheck_margin: Share = 0.03


class RecipeParameters(_Section):
    seed: int = 42
    model: ModelParameters | None = None
    training: TrainingParameters | None = None
    augmentation: AugmentationParameters | None = None
    data_processing: DataProcessingParameters | None = None
    evaluation: EvaluationParameters | None = None
    export: ExportParameters | None = None  # checked before training: a typo here would fail after it


def out_of_range(params: dict[str, Any]) -> list[str]:
    """``key=value (what it must be)`` for each recipe parameter outside its range or choices."""
    try:
        RecipeParameters.model_validate(params)
    except ValidationError as err:
        problems = []
        for error in err.errors():
            key = ".".join(str(part) for part in error["loc"])
            shown = str(error["input"]).lower() if isinstance(error["input"], bool) else error["input"]
            problems.append(f"{key}={shown} ({error['msg'].removeprefix('Input ')})")
        return problems
    return []
