"""The ``openlfr`` root: it lists every command group with its help line without importing
the groups' modules (so ``--help`` loads no model, database driver or web server), and each
group, once loaded, is what the root said it was."""

from __future__ import annotations

import importlib
import json
import pkgutil
import subprocess
import sys

import pytest
import typer
from typer.testing import CliRunner

import openlfr.cli
from openlfr.cli import COMMANDS, app, load


def first_paragraph(text: str | None) -> str:
    return " ".join((text or "").strip().split("\n\n")[0].split())


@pytest.mark.parametrize(("name", "module", "help"), COMMANDS, ids=[c[0] for c in COMMANDS])
def test_each_help_line_is_the_loaded_commands(name: str, module: str, help: str) -> None:
    command = load(name, module)
    assert first_paragraph(command.help) == help


def test_help_lists_every_group_in_order() -> None:
    res = CliRunner().invoke(app, ["--help"], env={"COLUMNS": "200"})
    assert res.exit_code == 0
    rows = [line[2:].split()[0] for line in res.output.splitlines()
            if line.startswith("│ ") and line[2] != " "]  # a wrapped help line is indented
    listed = [r for r in rows if not r.startswith("-")]
    assert listed == [name for name, _, _ in COMMANDS]


def test_help_imports_no_group_and_no_heavy_dependency() -> None:
    code = ("import sys, json\n"
            "sys.argv = ['openlfr', '--help']\n"
            "from openlfr.cli import main\n"
            "try:\n    main()\nexcept SystemExit:\n    pass\n"
            "print(json.dumps(sorted(sys.modules)), file=sys.stderr)\n")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                       timeout=120)
    assert r.returncode == 0, r.stderr
    loaded = set(json.loads(r.stderr.strip().splitlines()[-1]))
    assert "Usage: openlfr" in r.stdout
    assert {m for m in loaded if m.startswith("openlfr.cli.")} == set()
    heavy = {"onnxruntime", "cv2", "sqlalchemy", "fastapi", "uvicorn", "torch", "matplotlib"}
    assert loaded & heavy == set()


def test_a_group_runs_when_named() -> None:
    res = CliRunner().invoke(app, ["key", "generate"])
    assert res.exit_code == 0 and len(res.output.strip()) == 44  # base64 of 32 bytes


def cli_modules() -> list[str]:
    return [f"openlfr.cli.{m.name}" for m in pkgutil.iter_modules(openlfr.cli.__path__)
            if m.name != "__main__"]


@pytest.mark.parametrize("name", cli_modules())
def test_every_module_exports_what_it_names(name: str) -> None:
    mod = importlib.import_module(name)
    assert [n for n in mod.__all__ if not hasattr(mod, n)] == []
    if hasattr(mod, "app"):
        assert isinstance(mod.app, typer.Typer)


def test_every_root_entry_comes_from_a_module_of_the_package() -> None:
    assert {f"openlfr.cli.{module}" for _, module, _ in COMMANDS} <= set(cli_modules())
