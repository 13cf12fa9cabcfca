"""Project settings (https://docs.kedro.org/en/stable/kedro_project_setup/settings.html)."""

from omegaconf.resolvers import oc

from deepfer_kedro.hooks import MlflowArtifactsHook, ReproducibilityTagsHook

HOOKS = (ReproducibilityTagsHook(), MlflowArtifactsHook())

CONFIG_LOADER_ARGS = {
    "base_env": "base",
    "default_run_env": "local",
    # Environments such as conf/quick override only the keys they name.
    "merge_strategy": {"parameters": "soft", "mlflow": "soft"},
    # mlflow.yml reads MLFLOW_TRACKING_URI with ${oc.env:...}.
    "custom_resolvers": {"oc.env": oc.env},
}
