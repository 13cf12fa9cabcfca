"""Parameters of a Kedro environment without Kedro: ``conf/base/parameters*.yml`` with
``conf/<env>/parameters*.yml`` merged over it key by key (the project's ``soft`` merge strategy),
then ``--params``-style overrides, exactly as ``kedro run --env <env> --params <overrides>``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

PROJECT_ROOT = Path(__file__).resolve().parents[3]


def merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    """``override`` over ``base``, recursing into dicts (Kedro's ``soft`` merge)."""
    merged = dict(base)
    for key, value in override.items():
        merged[key] = merge(base[key], value) if isinstance(value, dict) and isinstance(base.get(key), dict) else value
    return merged


def parse_overrides(overrides: str | dict[str, Any] | None) -> dict[str, Any]:
    """``"training.epochs=140,seed=1"`` (Kedro's ``--params`` syntax, values read as YAML) or a
    flat ``{"training.epochs": 140}`` dict, as a nested dict."""
    if not overrides:
        return {}
    if isinstance(overrides, str):
        pairs = {}
        for item in _split_top_level(overrides):
            key, sep, value = item.partition("=")
            if not sep or not key.strip():
                raise ValueError(f"Parameter override {item!r} is not KEY=VALUE")
            pairs[key.strip()] = yaml.safe_load(value.strip()) if value.strip() else None
        overrides = pairs
    nested: dict[str, Any] = {}
    for dotted, value in overrides.items():
        *parents, leaf = dotted.split(".")
        node = nested
        for part in parents:
            node = node.setdefault(part, {})
        node[leaf] = value
    return nested


def _split_top_level(text: str) -> list[str]:
    """Splits on commas that are not inside brackets, so ``a=[1,2],b=3`` gives two items."""
    items, depth, current = [], 0, ""
    for char in text:
        depth += char in "[{"
        depth -= char in "]}"
        if char == "," and depth == 0:
            items.append(current)
            current = ""
        else:
            current += char
    return [item for item in [*items, current] if item.strip()]


def load_parameters(env: str = "base", overrides: str | dict[str, Any] | None = None,
                    conf_dir: Path | None = None) -> dict[str, Any]:
    """The parameters ``kedro run --env <env> --params <overrides>`` runs with."""
    conf_dir = conf_dir or PROJECT_ROOT / "conf"
    if env != "base" and not (conf_dir / env).is_dir():
        known = sorted(p.name for p in conf_dir.iterdir() if p.is_dir())
        raise ValueError(f"No Kedro environment {env!r} in {conf_dir} (there are {known})")
    params: dict[str, Any] = {}
    for folder in dict.fromkeys(("base", env)):
        for path in sorted((conf_dir / folder).glob("parameters*.yml")):
            params = merge(params, yaml.safe_load(path.read_text()) or {})
    return merge(params, parse_overrides(overrides))
