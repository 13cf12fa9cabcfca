"""Parameters of a Kedro environment without Kedro: ``conf/base/parameters*.yml`` with
``conf/<env>/parameters*.yml`` merged over it key by key (the project's ``soft`` merge strategy),
then ``--params``-style overrides, exactly as ``kedro run --env <env> --params <overrides>``."""

from __future__ import annotations

import datetime
import difflib
import re
from pathlib import Path
from typing import Any

import yaml

PROJECT_ROOT = Path(__file__).resolve().parents[3]
EXPONENT_FLOAT = re.compile(r"^[-+]?(\d+\.?\d*|\.\d+)[eE][-+]?\d+$")  # YAML 1.1 wants a dot, OmegaConf does not


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
            pairs[key.strip()] = _value(value.strip())
        overrides = pairs
    nested: dict[str, Any] = {}
    for dotted, value in overrides.items():
        *parents, leaf = dotted.split(".")
        node = nested
        for part in parents:
            node = node.setdefault(part, {})
        node[leaf] = value
    return nested


def _value(text: str) -> Any:
    """A ``--params`` value read as Kedro reads it (YAML as OmegaConf reads it: ``1e-4`` is a
    number, ``2026-01-01`` stays text)."""
    value = yaml.safe_load(text) if text else None
    if isinstance(value, str) and EXPONENT_FLOAT.match(value):
        return float(value)
    return text if isinstance(value, datetime.date) else value


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


def unknown_overrides(overrides: dict[str, Any], params: dict[str, Any], prefix: str = "") -> list[str]:
    """The dotted keys of ``overrides`` that name no parameter in ``params``: Kedro would add them
    unread, so a misspelt ``--params training.epoch=5`` would train for the configured epochs. Keys
    below a parameter that is not a mapping, or is an empty one, count as known."""
    unknown = []
    for key, value in overrides.items():
        if key not in params:
            unknown.append(f"{prefix}{key}")
        elif isinstance(value, dict) and isinstance(params[key], dict) and params[key]:
            unknown += unknown_overrides(value, params[key], f"{prefix}{key}.")
    return unknown


def dotted_keys(params: dict[str, Any], prefix: str = "") -> list[str]:
    """Every parameter's dotted name (``training.epochs``), mappings included."""
    keys = []
    for key, value in params.items():
        keys.append(f"{prefix}{key}")
        if isinstance(value, dict):
            keys += dotted_keys(value, f"{prefix}{key}.")
    return keys


def unknown_overrides_sentence(unknown: list[str], params: dict[str, Any], env: str) -> str:
    known = dotted_keys(params)
    names = []
    for key in unknown:
        close = difflib.get_close_matches(key, known, n=1)
        names.append(f"{key} (did you mean {close[0]}?)" if close else key)
    return (f"--params {', '.join(names)}: no such parameter in conf/base or conf/{env}, so it would be "
            "ignored. The parameters are in conf/base/parameters*.yml (README: the recipe).")
