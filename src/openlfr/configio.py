"""Reading configuration: YAML files and pydantic validation errors as clear messages.

Every configuration model in OpenLFR refuses unknown keys; these helpers turn what goes
wrong into a :class:`ConfigError` that names the file, the offending key and its line
(``cameras.gate-1.quality.min_face_px (line 12): ...``), refuse a key given twice (YAML
keeps the last silently), and never repeat the values, which may be secrets.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from openlfr.errors import ConfigError

__all__ = ["validation_lines", "problem_lines", "read_yaml_mapping", "load_yaml_model"]

M = TypeVar("M", bound=BaseModel)


def validation_lines(exc: ValidationError) -> list[str]:
    """One ``key.path: message`` line per error (``input: message`` for an error of the
    whole input; never the input values, which may be secrets)."""
    return [f"{'.'.join(str(p) for p in e['loc']) or 'input'}: {e['msg']}"
            for e in exc.errors()]


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
    """Validate a YAML file against ``model``; errors name the file, the key and its line."""
    path = Path(path)
    data = read_yaml_mapping(path, what)
    root = _key_lines(path.read_text())
    twice = list(_duplicates(root))
    if twice:
        raise ConfigError(f"{path}: invalid {what}:\n  " + "\n  ".join(twice))
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(f"{path}: invalid {what}:\n  " +
                          "\n  ".join(problem_lines(exc, root))) from None


def _key_lines(text: str) -> yaml.Node | None:
    try:
        return yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError:
        return None


def _line_of(root: yaml.Node | None, loc: Sequence[Any]) -> int | None:
    """1-based line of the deepest node of ``loc`` found in the YAML tree. Components that
    are not in the file (a union's tag, a default's key) are skipped."""
    if root is None:
        return None
    node, line = root, None
    for part in loc:
        if isinstance(node, yaml.MappingNode):
            for k, v in node.value:
                if isinstance(k, yaml.ScalarNode) and k.value == str(part):
                    node, line = v, k.start_mark.line + 1
                    break
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) and \
                0 <= part < len(node.value):
            node = node.value[part]
            line = node.start_mark.line + 1
    return line


def _duplicates(node: yaml.Node | None, path: tuple[str, ...] = ()) -> Iterator[str]:
    """``key.path (line N)`` of every key given twice in one mapping (YAML keeps the last
    silently; a strict file refuses)."""
    if isinstance(node, yaml.MappingNode):
        seen: set[str] = set()
        for k, v in node.value:
            key = str(k.value) if isinstance(k, yaml.ScalarNode) else "?"
            if key in seen:
                yield f"{'.'.join((*path, key))} (line {k.start_mark.line + 1}): given twice"
            seen.add(key)
            yield from _duplicates(v, (*path, key))
    elif isinstance(node, yaml.SequenceNode):
        for i, v in enumerate(node.value):
            yield from _duplicates(v, (*path, str(i)))


def problem_lines(exc: ValidationError, root: yaml.Node | None = None) -> list[str]:
    """``key.path (line N): message`` per error (like :func:`validation_lines`, with the
    line, and the precise place a check of ours reports in its context as ``at``)."""
    lines = []
    for e in exc.errors():
        loc = (*e["loc"], *((e.get("ctx") or {}).get("at", ())))
        key = ".".join(str(p) for p in loc) or "(top level)"
        line = _line_of(root, loc)
        lines.append(f"{key}{f' (line {line})' if line else ''}: {e['msg']}")
    return lines
