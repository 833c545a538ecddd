"""A mistyped command line gets a one-line usage error and exit 2, never a traceback."""

from __future__ import annotations

import subprocess
import sys

import pytest


@pytest.mark.parametrize("args", [
    ["detetc"], ["detect"], ["scan", "x.mp4", "--threshold", "abc"], ["node", "--nats"],
    ["serve", "--port", "notaport"], ["detect", "--no-such-option", "x.jpg"],
])
def test_usage_errors_are_one_line(args: list[str]) -> None:
    r = subprocess.run([sys.executable, "-m", "openlfr.cli", *args], capture_output=True,
                       text=True, timeout=120)
    assert r.returncode == 2
    assert "Traceback" not in r.stderr and "Error:" in r.stderr
