"""Project settings (https://docs.kedro.org/en/stable/kedro_project_setup/settings.html)."""

from kedro_mlflow.framework.hooks import MlflowHook
from omegaconf.resolvers import oc

from deepfer_kedro.hooks import (
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
