"""The Kedro-free parameter loader gives exactly what Kedro's own loader gives."""

import pytest
import yaml
from kedro.config import OmegaConfigLoader

from deepfer_kedro.core.config import (
    load_parameters,
    mistyped_overrides,
    parameter_kinds,
    parse_overrides,
    unknown_overrides,
    unknown_overrides_sentence,
)
from deepfer_kedro.core.parameter_ranges import out_of_range
from tests.conftest import PROJECT_ROOT


@pytest.mark.parametrize("env", ["base", "quick", "sota"])
def test_parameters_match_kedros_loader(env):
    from deepfer_kedro.settings import CONFIG_LOADER_ARGS

    loader = OmegaConfigLoader(str(PROJECT_ROOT / "conf"), env=None if env == "base" else env,
                               **{k: v for k, v in CONFIG_LOADER_ARGS.items() if k != "default_run_env"},
                               default_run_env=env if env != "base" else "local")
    assert load_parameters(env) == loader["parameters"]


def test_overrides_in_kedros_params_syntax():
    assert parse_overrides("training.epochs=140,seed=1,model.dense_units=[16, 8],training.ema_momentum=0.999") == {
        "training": {"epochs": 140, "ema_momentum": 0.999}, "seed": 1, "model": {"dense_units": [16, 8]}}
    params = load_parameters("sota", "training.epochs=140,model.base_filters=96")
    assert params["training"]["epochs"] == 140 and params["training"]["optimizer"] == "sgd"
    assert params["model"]["base_filters"] == 96 and params["model"]["stages"] == 4
    # values read exactly as `kedro run --params` reads them
    from kedro.framework.cli.utils import _split_params
    text = "training.learning_rate=1e-4,a=3E+2,b=.5,c=yes,d=null,e=None,f=2026-01-01,g=,h=a b,i=1_000,j=-1.5e-3"
    assert parse_overrides(text) == _split_params(None, None, text)
    assert parse_overrides(text)["training"]["learning_rate"] == 0.0001
    with pytest.raises(ValueError, match="not KEY=VALUE"):
        parse_overrides("training.epochs")
    with pytest.raises(ValueError, match="No Kedro environment 'nope'"):
        load_parameters("nope")


def test_a_misspelt_override_is_named_with_the_parameter_it_is_close_to():
    params = load_parameters("quick")
    assert unknown_overrides(parse_overrides("training.epochs=2,seed=1,evaluation.tta.flip=false,"
                                             "model.weights=w.h5,training.teacher_predictions=t.csv"), params) == []
    assert params["model"]["weights"] is None and params["training"]["teacher_predictions"] is None
    assert unknown_overrides({"model": {"weights": {"path": "w.h5"}}}, params) == []  # below a null
    unknown = unknown_overrides(parse_overrides("training.epoch=2,seeds=1,evaluation.tta.flp=false,zzz=1"), params)
    assert unknown == ["training.epoch", "seeds", "evaluation.tta.flp", "zzz"]
    sentence = unknown_overrides_sentence(unknown, params, "quick")
    assert sentence.startswith("--params training.epoch (did you mean training.epochs?), seeds (did you mean seed?), "
                               "evaluation.tta.flp (did you mean evaluation.tta.flip?), zzz: no such parameter")


def test_an_override_of_the_wrong_kind_is_named_with_the_kind_its_parameter_takes():
    kinds = parameter_kinds()
    fitting = ("training.epochs=2,training.learning_rate=1e-4,seed=1,training.jit_compile=false,"
               "training.verbose=0,training.early_stopping=null,model.weights=w.h5,model.fine_tune_blocks=3,"
               "evaluation.ensemble=a/trained_model b/trained_model,model.dense_units=[16, 8],"
               "training.mixed_precision=yes,face_storage=shards")
    assert mistyped_overrides(parse_overrides(fitting), kinds) == []
    wrong = "training.epochs=abc,inference.align_faces=0,seed=true,model.dense_units=4,evaluation.tta.flip=[1]"
    assert mistyped_overrides(parse_overrides(wrong), kinds) == [
        "training.epochs=abc (takes a number, not text)",
        "inference.align_faces=0 (takes true or false, not a number)",
        "seed=true (takes a number, not true or false)",
        "model.dense_units=4 (takes a list or text, not a number)",
        "evaluation.tta.flip=[1] (takes true or false, not a list)"]
    # every override the docs and the search plan use fits
    plan = yaml.safe_load((PROJECT_ROOT / "benchmarks" / "search.yml").read_text())["runs"]
    for run in plan:
        assert mistyped_overrides(parse_overrides(run.get("params")), kinds) == [], run
        assert out_of_range(load_parameters(run["env"], run.get("params"))) == [], run


@pytest.mark.parametrize("env", ["base", "quick", "sota"])
def test_every_shipped_recipe_is_in_range(env):
    assert out_of_range(load_parameters(env)) == []


def test_recipe_numbers_and_choices_out_of_range_are_named_with_what_they_should_be():
    wrong = ("training.epochs=0,training.batch_size=-1,model.dropout=1.5,training.optimizer=adm,"
             "training.learning_rate=0,evaluation.tta.shift_pixels=-1,model.dense_units=[0],"
             "training.max_images_per_class=0,augmentation.zoom=1,training.lr_schedule=step,evaluation.split=tset,"
             "export.precision=fp16")
    assert sorted(out_of_range(load_parameters("quick", wrong))) == sorted([
        "training.epochs=0 (should be greater than or equal to 1)",
        "training.batch_size=-1 (should be greater than or equal to 1)",
        "model.dropout=1.5 (should be less than 1)",
        "training.optimizer=adm (should be 'adam', 'adamw' or 'sgd')",
        "training.learning_rate=0 (should be greater than 0)",
        "evaluation.tta.shift_pixels=-1 (should be greater than or equal to 0)",
        "model.dense_units.0=0 (should be greater than or equal to 1)",
        "training.max_images_per_class=0 (should be greater than or equal to 1)",
        "augmentation.zoom=1 (should be less than 1)",
        "training.lr_schedule=step (should be 'plateau' or 'cosine')",
        "evaluation.split=tset (should be 'test', 'val' or 'train')",
        "export.precision=fp16 (should be 'int8' or 'float32')"])
    assert out_of_range(load_parameters("quick", "training.epochs=2.5")) == [
        "training.epochs=2.5 (should be a valid integer)"]  # int() would train 2 epochs without a word
    # null where the recipe allows it; keys the schema does not list pass
    fitting = "training.max_images_per_class=null,model.fine_tune_blocks=null,training.ema_momentum=0.999,seed=7"
    assert out_of_range(load_parameters("sota", fitting)) == []
