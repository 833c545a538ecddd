"""The ``openlfr`` command.

Each area of the system registers its own commands from its ``cli`` module, which imports
heavy dependencies (models, database drivers) only inside the commands that need them.
Convention: every command that reports figures accepts ``--json`` and then prints exactly
one JSON object and nothing else on stdout (progress goes to stderr).
"""

from __future__ import annotations

import importlib
import logging
import sys

import typer

from openlfr.errors import OpenLFRError

app = typer.Typer(
    name="openlfr",
    help="OpenLFR: accountable live facial recognition for watchlist alerting.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)

# Areas whose ``register(app)`` adds their commands. Order is the order in --help.
AREAS = [
    "openlfr.vision.cli",
    "openlfr.governance.cli",
    "openlfr.pipeline.cli",
    "openlfr.reports.cli",
    "openlfr.evaluation.cli",
    "openlfr.api.cli",
    "openlfr.fleet.cli",
]


@app.callback()
def _root(verbose: bool = typer.Option(False, "--verbose", "-v", help="Log more detail.")) -> None:
    logging.basicConfig(level=logging.DEBUG if verbose else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr)


for _area in AREAS:
    importlib.import_module(_area).register(app)


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


if __name__ == "__main__":
    main()
