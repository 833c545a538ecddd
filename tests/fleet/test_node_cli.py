"""``openlfr node`` refuses a wrong setup with one clear line and exit code 2."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest


@pytest.mark.parametrize(("args", "dev", "message"), [
    (["--nats", "http://host:4222", "--name", "n1"], True,
     "NATS url: expected nats://host:port"),
    (["--nats", "nats://127.0.0.1:4222", "--name", "mast.1"], True, "node name 'mast.1'"),
    (["--nats", "nats://127.0.0.1:4222", "--name", "n1"], False, "no fleet key"),
])
def test_node_refuses_a_wrong_setup(tmp_path: Path, args: list[str], dev: bool,
                                    message: str) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPENLFR_")}
    env["OPENLFR_DATA_DIR"] = str(tmp_path)
    r = subprocess.run([sys.executable, "-m", "openlfr.cli", "node", *args,
                        *(["--dev"] if dev else [])], env=env, capture_output=True,
                       text=True, timeout=120)
    assert r.returncode == 2, r.stderr
    assert message in r.stderr and "Traceback" not in r.stderr
