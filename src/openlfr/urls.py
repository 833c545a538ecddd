"""URLs as they may be shown and logged: without their password.

Camera and sink URLs carry credentials (``rtsp://user:pw@host/...``); every name that reaches a
log, an error message, the console or the store's public fields goes through
:func:`redact_url`. It lives in the core layer so that sources, sinks and governance share
one definition (docs/architecture.md).
"""

from __future__ import annotations

from urllib.parse import urlsplit, urlunsplit

__all__ = ["redact_url"]


def redact_url(url: str) -> str:
    """A camera URL without its password (``rtsp://user:***@host/...``)."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "<invalid url>"
    if parts.password is None:
        return url
    netloc = f"{parts.username}:***@{parts.hostname}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit(parts._replace(netloc=netloc))
