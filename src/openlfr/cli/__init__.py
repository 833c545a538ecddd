"""The ``openlfr`` command.

Each command group lives in its own module of this package, whose ``app`` holds it under its
name. The root knows every group's name and help line (:data:`COMMANDS`) and imports a
group's module only when that group runs, so ``openlfr --help`` lists them all without
loading models, the database or the web server, and each module imports what it uses at
its top. The options the groups share are defined once, in :mod:`openlfr.cli.options`.
"""

from __future__ import annotations

import importlib
import logging
import sys
from typing import Any

import typer
from typer.core import TyperCommand, TyperGroup

from openlfr.errors import OpenLFRError

__all__ = ["app", "main", "usage_line", "COMMANDS"]

#: The root's commands and groups in the order --help lists them: the name, the module of
#: this package whose ``app`` holds it, and its help line (the first paragraph of its help;
#: tests/test_cli_root.py checks that each matches).
COMMANDS: list[tuple[str, str, str]] = [
    ("models", "vision", "List model files: role, location, sha256 check and licence."),
    ("detect", "vision", "Find faces in an image: boxes, detector scores, landmarks and "
                         "quality."),
    ("compare", "vision", "Cosine similarity of the faces in two images, and what it means "
                          "at the default threshold."),
    ("demo", "vision", "Run the detector, quality gate and embedder on a sample photograph "
                       "and draw the faces."),
    ("scan", "scan", "Scan a source against a watchlist: print possible matches live and a "
                     "summary."),
    ("baserate", "reports", "Expected alerts from a base rate, or observed rates from "
                            "published counts."),
    ("calibrate", "calibrate", "Threshold for a target FPIR at a watchlist size, its expected "
                               "TPIR, and a held-out check on disjoint identities; recorded "
                               "in the calibration file scans read. With --predicted, the "
                               "threshold for any size from the packaged distribution "
                               "(records nothing)."),
    ("serve", "serve", "Run the server: migrate the store, run the centre of the camera fleet "
                       "(and a local camera node), serve the console at http://HOST:PORT/ "
                       "and the API under /api."),
    ("node", "node", "Run the cameras the centre leases to this node, each in its own "
                     "process, until interrupted. Needs the fleet key (OPENLFR_FLEET_KEY or "
                     "OPENLFR_FLEET_KEY_FILE)."),
    ("db", "db", "Create or migrate the database."),
    ("key", "keys", "Encryption keys."),
    ("user", "users", "Users, roles and API tokens."),
    ("deployment", "deployment", "Deployments: authorise, start, stop, review (draft -> "
                                 "authorised -> active -> ended -> reviewed)."),
    ("watchlist", "watchlist", "Watchlist subjects (accountable entries), enrolment and the "
                               "frozen snapshots deployments check against."),
    ("alerts", "alerts", "Alerts and their adjudication."),
    ("retention", "retention", "Retention: purge what the policy says."),
    ("audit", "audit", "The tamper-evident audit log."),
    ("report", "reports", "Per-deployment and transparency reports (HTML, PDF, JSON)."),
    ("evaluate", "evaluate", "Accuracy on labelled data: LFW verification, open-set "
                             "watchlist, bias per group."),
]


def load(name: str, module: str) -> Any:
    """The click command or group ``name`` from ``openlfr.cli.<module>`` (imports it)."""
    group = typer.main.get_group(importlib.import_module(f"{__name__}.{module}").app)
    return group.commands[name]


class _LazyCommand(TyperCommand):
    """A root entry that stands for its command in the root's help and loads the real one
    when the command line reaches it."""

    def __init__(self, name: str, module: str, help: str) -> None:
        super().__init__(name, help=help, add_help_option=False)
        self.module = module

    def make_context(self, info_name: str | None, args: list[str], parent: Any = None,
                     **extra: Any) -> Any:
        return load(self.name or "", self.module).make_context(info_name, args, parent,
                                                               **extra)


class RootGroup(TyperGroup):
    """The ``openlfr`` group: every entry of :data:`COMMANDS`, loaded on use."""

    def __init__(self, **attrs: Any) -> None:
        super().__init__(**attrs)
        for name, module, help in COMMANDS:
            self.add_command(_LazyCommand(name, module, help))


app = typer.Typer(
    name="openlfr",
    cls=RootGroup,
    help="OpenLFR: accountable live facial recognition for watchlist alerting.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)


@app.callback()
def _root(verbose: bool = typer.Option(False, "--verbose", "-v", help="Log more detail.")) -> None:
    logging.basicConfig(level=logging.DEBUG if verbose else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr)


def main() -> None:
    """Entry point: runs the app and turns OpenLFRError into a clear message and exit code."""
    try:
        rc = app(prog_name="openlfr", standalone_mode=False)
        # Without standalone mode, click returns typer.Exit(code)'s code instead of exiting.
        if isinstance(rc, int) and rc:
            sys.exit(rc)
    except OpenLFRError as exc:
        typer.secho(f"error: {exc}", err=True, fg=typer.colors.RED)
        sys.exit(exc.exit_code)
    except typer.Abort:
        typer.secho("aborted", err=True)
        sys.exit(1)
    except (typer.Exit, SystemExit) as exc:
        code = getattr(exc, "exit_code", getattr(exc, "code", 0))
        sys.exit(code or 0)
    except Exception as exc:  # usage errors: typer raises its own bundled click's exceptions
        if callable(getattr(exc, "format_message", None)) and isinstance(
                getattr(exc, "exit_code", None), int):
            typer.secho(usage_line(exc), err=True, fg=typer.colors.RED)
            sys.exit(exc.exit_code)
        raise


def usage_line(exc: Exception) -> str:
    """A click usage error as one line: the message and where to find the command's help."""
    message = " ".join(str(exc.format_message()).split())  # type: ignore[attr-defined]
    ctx = getattr(exc, "ctx", None)
    path = ctx.command_path if ctx is not None else "openlfr"
    return f"error: {message} (see '{path} --help')"
