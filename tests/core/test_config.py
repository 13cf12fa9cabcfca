"""The Kedro-free parameter loader gives exactly what Kedro's own loader gives."""

import pytest
from kedro.config import OmegaConfigLoader

from deepfer_kedro.core.config import load_parameters, parse_overrides
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
    with pytest.raises(ValueError, match="not KEY=VALUE"):
        parse_overrides("training.epochs")
    with pytest.raises(ValueError, match="No Kedro environment 'nope'"):
        load_parameters("nope")
