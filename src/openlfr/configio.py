"""Reading configuration: YAML files and pydantic validation errors as clear messages.

Every configuration model in OpenLFR refuses unknown keys; these helpers turn what goes
wrong into a :class:`ConfigError` that names the file and the offending key.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from openlfr.errors import ConfigError

__all__ = ["validation_lines", "read_yaml_mapping", "load_yaml_model"]

M = TypeVar("M", bound=BaseModel)


def validation_lines(exc: ValidationError) -> list[str]:
    """One ``key.path: message`` line per error (never the input values, which may be
    secrets)."""
    return [f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()]


def read_yaml_mapping(path: str | Path, what: str = "settings") -> dict[str, Any]:
    """The mapping at the top of a YAML file (empty file: ``{}``)."""
    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read ({exc.strerror})") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping of {what} at the top level")
    return data


def load_yaml_model(model: type[M], path: str | Path, what: str) -> M:
    """Validate a YAML file against ``model``; errors name the file and the key."""
    data = read_yaml_mapping(path, what)
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(f"{path}: invalid {what}:\n  " + "\n  ".join(validation_lines(exc))
                          ) from None
