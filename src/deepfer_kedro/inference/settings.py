"""The inference settings, read from the Kedro project's ``conf/`` like the pipeline's parameters:
the one settings object that `deepfer predict`, `deepfer serve`, the served model and the Kedro
inference pipeline share."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from deepfer_kedro.core.config import PROJECT_ROOT, load_parameters, merge

logger = logging.getLogger(__name__)

SETTINGS_FILE = Path("conf/base/parameters_inference.yml")


def project_parameters(project: Path | None = None, env: str = "base") -> dict[str, Any]:
    """The parameters of ``conf/<env>`` (over ``conf/base``) in ``project`` (default: the current
    folder), or in DeepFER's own project when that folder has none; {} for an installed package
    without a project, where the code's own defaults apply."""
    for root in dict.fromkeys((project or Path.cwd(), PROJECT_ROOT)):
        if (root / SETTINGS_FILE).is_file():
            return load_parameters(env, conf_dir=root / "conf")
    logger.info("No %s here; using the built-in settings", SETTINGS_FILE)
    return {}


def inference_settings(project: Path | None = None, overrides: dict[str, Any] | None = None,
                       env: str = "base") -> dict[str, Any]:
    """``inference`` of the project's parameters (``project_parameters``), with ``overrides`` (e.g.
    command-line options, None values skipped) merged over it."""
    return merge(project_parameters(project, env).get("inference", {}), _without_none(overrides or {}))


def _without_none(values: dict[str, Any]) -> dict[str, Any]:
    kept = {}
    for key, value in values.items():
        if isinstance(value, dict):
            value = _without_none(value)
            if value:
                kept[key] = value
        elif value is not None:
            kept[key] = value
    return kept
