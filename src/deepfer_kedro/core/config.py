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


def dotted_items(params: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """Every parameter by its dotted name (``training.epochs``), mappings included."""
    items = {}
    for key, value in params.items():
        items[f"{prefix}{key}"] = value
        if isinstance(value, dict):
            items.update(dotted_items(value, f"{prefix}{key}."))
    return items


def dotted_keys(params: dict[str, Any], prefix: str = "") -> list[str]:
    """Every parameter's dotted name (``training.epochs``), mappings included."""
    return list(dotted_items(params, prefix))


def _kind(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return "true or false"
    if isinstance(value, int | float):
        return "a number"
    return {str: "text", list: "a list"}.get(type(value), "a mapping")


def parameter_kinds(conf_dir: Path | None = None) -> dict[str, set[str]]:
    """The kinds of value (a number, text, ...) each dotted parameter has in any environment of
    ``conf_dir``; ``null`` counts as none."""
    conf_dir = conf_dir or PROJECT_ROOT / "conf"
    kinds: dict[str, set[str]] = {}
    for env in sorted(p.name for p in conf_dir.iterdir() if p.is_dir()):
        for key, value in dotted_items(load_parameters(env, conf_dir=conf_dir)).items():
            kinds.setdefault(key, set()).add(_kind(value))
    return {key: {kind for kind in found if kind} for key, found in kinds.items()}


def mistyped_overrides(overrides: dict[str, Any], kinds: dict[str, set[str]]) -> list[str]:
    """``key=value (takes a number, not text)`` for each override whose value is of a kind its parameter
    never has: ``--params training.epochs=abc`` would fail after the data is loaded, or
    ``inference.align_faces=0`` be read as a flag. ``null`` always passes (it switches things off);
    parameters that are text somewhere (paths, ``auto``) take anything, and lists take text too
    (Kedro's ``--params`` cuts a list at its commas, so ``evaluation.ensemble`` takes ids
    separated by spaces)."""
    wrong = []
    for key, value in dotted_items(overrides).items():
        allowed = set(kinds.get(key, ()))
        kind = _kind(value)
        if kind in (None, "a mapping") or not allowed or "text" in allowed:
            continue
        allowed |= {"text"} if "a list" in allowed else set()
        if kind not in allowed:
            shown = str(value).lower() if isinstance(value, bool) else value
            wrong.append(f"{key}={shown} (takes {' or '.join(sorted(allowed))}, not {kind})")
    return wrong


def unknown_overrides_sentence(unknown: list[str], params: dict[str, Any], env: str) -> str:
    known = dotted_keys(params)
    names = []
    for key in unknown:
        close = difflib.get_close_matches(key, known, n=1)
        names.append(f"{key} (did you mean {close[0]}?)" if close else key)
    return (f"--params {', '.join(names)}: no such parameter in conf/base or conf/{env}, so it would be "
            "ignored. The parameters are in conf/base/parameters*.yml (README: the recipe).")

