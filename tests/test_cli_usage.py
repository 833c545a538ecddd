"""A mistyped command line gets a one-line usage error and exit 2, never a traceback.

Table-driven: each row is a wrong invocation of one command group (a typo of a command, a
missing argument or option value, a value that does not parse, a choice that does not exist,
an unknown option) and a fragment the one line must contain. Nothing runs: every row fails
while the command line is parsed.
"""

from __future__ import annotations

import subprocess
import sys

import pytest

from openlfr.cli import main

CASES = [
    # (command line, what the error line names)
    (["detetc"], "No such command 'detetc'"),
    (["scna", "x.mp4"], "No such command 'scna'"),
    (["alert", "list"], "No such command 'alert'"),
    (["--no-such-global"], "No such option"),
    (["detect"], "Missing argument"),
    (["detect", "--no-such-option", "x.jpg"], "No such option"),
    (["detect", "x.jpg", "--detector", "foo"], "'--detector'"),
    (["compare", "a.jpg"], "Missing argument"),
    (["scan"], "Missing argument"),
    (["scan", "x.mp4", "--threshold", "abc"], "'--threshold'"),
    (["watchlist", "ad", "Jane"], "No such command 'ad'"),
    (["watchlist", "subject", "add"], "Missing"),
    (["watchlist", "snapshot", "create", "one"], "'deployment_id'"),
    (["deployment", "authorise"], "Missing argument"),
    (["deployment", "show", "abc"], "valid integer"),
    (["deployment", "lst"], "No such command 'lst'"),
    (["user", "add"], "Missing argument"),
    (["user", "token", "omar", "--expires-days", "soon"], "'--expires-days'"),
    (["alerts", "adjudicate", "7"], "Missing argument"),
    (["alerts", "list", "--deployment", "x"], "'--deployment'"),
    (["audit", "verfy"], "No such command 'verfy'"),
    (["audit", "export", "--bogus"], "No such option"),
    (["report", "deployment"], "Missing argument"),
    (["report", "deployment", "3", "--format", "docx"], "--format must be"),
    (["evaluate", "lfw", "--embedder", "foo"], "'--embedder'"),
    (["evaluate", "bias"], "Missing option '--groups'"),
    (["calibrate", "--target-fpir", "abc"], "'--target-fpir'"),
    (["baserate", "--crowd", "many"], "'--crowd'"),
    (["node", "--nats"], "requires an argument"),
    (["node", "--max-cameras", "x"], "'--max-cameras'"),
    (["serve", "--port", "notaport"], "'--port'"),
    (["retention", "run", "--bogus"], "No such option"),
    (["db", "updgrade"], "No such command 'updgrade'"),
]


@pytest.mark.parametrize(("args", "says"), CASES, ids=[" ".join(a) for a, _ in CASES])
def test_usage_errors_are_one_line(args: list[str], says: str, monkeypatch: pytest.MonkeyPatch,
                                   capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr(sys, "argv", ["openlfr", *args])
    with pytest.raises(SystemExit) as exit_:
        main()
    out, err = capsys.readouterr()
    assert exit_.value.code == 2
    assert out == ""
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("error: ") and says in lines[0], lines[0]
    assert "python" not in lines[0]  # the command is named openlfr however it was started
    assert "Traceback" not in err


def test_the_installed_entry_point_gives_the_same_line() -> None:
    r = subprocess.run([sys.executable, "-m", "openlfr.cli", "detect", "--detector", "foo",
                        "x.jpg"], capture_output=True, text=True, timeout=120)
    assert r.returncode == 2 and r.stdout == ""
    (line,) = r.stderr.strip().splitlines()
    assert line.startswith("error: Invalid value for '--detector'")
    assert line.endswith("detect --help')")
