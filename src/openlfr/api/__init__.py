"""The OpenLFR server: REST API, live channels, operator console, metrics.

``create_app(settings)`` (in :mod:`openlfr.api.app`) builds one app; ``openlfr serve`` runs it.
Importing this package imports nothing heavy (the CLI registers ``serve`` at start-up).
"""

from __future__ import annotations

from typing import Any

__all__ = ["create_app"]


def __getattr__(name: str) -> Any:
    if name == "create_app":
        from openlfr.api.app import create_app

        return create_app
    raise AttributeError(name)
