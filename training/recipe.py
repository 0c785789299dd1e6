"""YAML recipes: one frozen dataclass per kind of run, read with strict keys.

A recipe may start from another (`base: other.yaml`, relative to the recipe's folder) and
override some of its keys, torchtune style: mappings merge key by key, everything else is
replaced. So a smoke run is its full recipe with fewer steps, not a copy.
"""

from __future__ import annotations

from dataclasses import fields
from pathlib import Path
from typing import Any, TypeVar

import yaml

from mochat.errors import ConfigError

R = TypeVar("R")


def merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    """`override` on top of `base`: nested mappings merge, other values replace."""
    out = dict(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merge(out[key], value)
        else:
            out[key] = value
    return out


def load_yaml(path: str | Path, *, _seen: tuple[Path, ...] = ()) -> dict[str, Any]:
    """A recipe file's keys with its `base:` chain resolved (cycles are an error)."""
    path = Path(path).resolve()
    if path in _seen:
        raise ConfigError(f"{path}: `base:` chain loops back to itself")
    try:
        raw = yaml.safe_load(path.read_text()) or {}
    except (OSError, yaml.YAMLError) as err:
        raise ConfigError(f"{path}: cannot read recipe: {err}") from None
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: a recipe is a mapping of keys, got {type(raw).__name__}")
    base = raw.pop("base", None)
    if base is None:
        return raw
    return merge(load_yaml(path.parent / str(base), _seen=(*_seen, path)), raw)


def read_recipe(cls: type[R], path: str | Path) -> R:
    """Build `cls` from a YAML file (and its `base:`); unknown keys and bad values name
    the file."""
    raw = load_yaml(path)
    known = {f.name for f in fields(cls)}  # type: ignore[arg-type]
    unknown = sorted(set(raw) - known)
    if unknown:
        raise ConfigError(f"{path}: unknown recipe keys {unknown}; expected {sorted(known)}")
    try:
        return cls(**raw)
    except TypeError as err:
        raise ConfigError(f"{path}: {err}") from None
