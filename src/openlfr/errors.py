"""Errors a user can act on. The CLI prints their message without a traceback."""

from __future__ import annotations

import importlib
from types import ModuleType

__all__ = ["OpenLFRError", "ConfigError", "ModelFileError", "ImageError", "SourceError",
           "PermissionDenied", "StateError", "NotFound", "missing_backend",
           "import_backend"]


class OpenLFRError(Exception):
    """Base class: the message says what is wrong and what to do."""

    exit_code = 2


class ConfigError(OpenLFRError):
    """A configuration file or option is invalid."""


class ModelFileError(OpenLFRError):
    """A model file is missing, unreadable or does not match its recorded sha256."""


class ImageError(OpenLFRError):
    """An image could not be decoded, or holds no usable face where one is required."""


class SourceError(OpenLFRError):
    """A video source cannot be opened or read."""


class PermissionDenied(OpenLFRError):
    """The acting user's role does not allow the action."""

    exit_code = 3


class StateError(OpenLFRError):
    """The action is not allowed in the object's current state."""


class NotFound(OpenLFRError):
    """The named object does not exist."""


def missing_backend(exc: ImportError, needed_for: str, install: str) -> ConfigError:
    """The error for a heavy optional backend, imported only where it is used, that is not
    installed: which module is missing, what needs it, how to install it (raise it ``from exc``)."""
    return ConfigError(f"{needed_for} needs {exc.name or 'a module'}, which is not installed: "
                       f"{install}")


def import_backend(module: str, needed_for: str, install: str) -> ModuleType:
    """Import a heavy backend where it is used; missing, it raises :func:`missing_backend`.
    A submodule (``matplotlib.cbook``) is imported through its package, so a package that
    is gone is reported even when the submodule was loaded before."""
    try:
        importlib.import_module(module.partition(".")[0])
        return importlib.import_module(module)
    except ImportError as exc:
        raise missing_backend(exc, needed_for, install) from exc
