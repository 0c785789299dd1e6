"""YAML recipes: one frozen dataclass per kind of run, read with strict keys."""

from __future__ import annotations

from dataclasses import fields
from pathlib import Path
from typing import Any, TypeVar

import yaml

from mochat.errors import ConfigError

R = TypeVar("R")


def read_recipe(cls: type[R], path: str | Path) -> R:
    """Build `cls` from a YAML file; unknown keys and bad values name the file."""
    try:
        raw: dict[str, Any] = yaml.safe_load(Path(path).read_text()) or {}
    except (OSError, yaml.YAMLError) as err:
        raise ConfigError(f"{path}: cannot read recipe: {err}") from None
    known = {f.name for f in fields(cls)}  # type: ignore[arg-type]
    unknown = sorted(set(raw) - known)
    if unknown:
        raise ConfigError(f"{path}: unknown recipe keys {unknown}; expected {sorted(known)}")
    try:
        return cls(**raw)
    except TypeError as err:
        raise ConfigError(f"{path}: {err}") from None
