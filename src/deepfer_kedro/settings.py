"""Project settings (https://docs.kedro.org/en/stable/kedro_project_setup/settings.html)."""

import warnings

# Library-internal notices a user cannot act on, printed six times at the top of every run:
# OmegaConf's deprecation of the call Kedro and kedro-mlflow make, and MLflow's advice to add type
# hints to kedro-mlflow's own pipeline model (MLflow forces that one through with a "once" filter,
# so it is caught at kedro-mlflow's import, here, before its CLI plugin imports it).
warnings.filterwarnings("ignore", message=r"register_new_resolver\(\) is deprecated", category=UserWarning)
with warnings.catch_warnings(record=True):
    import kedro_mlflow.mlflow  # noqa: F401

from kedro_mlflow.framework.hooks import MlflowHook  # noqa: E402
from omegaconf.resolvers import oc  # noqa: E402

from deepfer_kedro.hooks import (  # noqa: E402
    ExpectedErrorHook,
    MlflowArtifactsHook,
    ReproducibilityTagsHook,
    RunMarkerHook,
    StartupChecksHook,
    ThisRunsVersionsHook,
)

# Hooks are called last-registered first. kedro-mlflow's hook is registered here rather than by
# its plugin entry point, so that the server check runs before it and the tags after it.
DISABLE_HOOKS_FOR_PLUGINS = ("kedro-mlflow", "kedro_mlflow")
HOOKS = (ExpectedErrorHook(), RunMarkerHook(), ThisRunsVersionsHook(), ReproducibilityTagsHook(),
         MlflowArtifactsHook(), MlflowHook(), StartupChecksHook())

CONFIG_LOADER_ARGS = {
    "base_env": "base",
    "default_run_env": "local",
    # Environments such as conf/quick override only the keys they name.
    "merge_strategy": {"parameters": "soft", "mlflow": "soft"},
    # kedro-mlflow's own patterns, declared here so the startup hook can read mlflow.yml before it
    "config_patterns": {"mlflow": ["mlflow*", "mlflow*/**", "**/mlflow*"]},
    # mlflow.yml reads MLFLOW_TRACKING_URI with ${oc.env:...}.
    "custom_resolvers": {"oc.env": oc.env},
}
