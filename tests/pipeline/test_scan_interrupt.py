"""Ctrl-C ends ``openlfr scan`` cleanly every time (issue 14, item 7): the process exits
normally with its JSON summary, ``interrupted`` set, and never aborts in native code
("terminate called without an active exception")."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from openlfr.demoscene import DemoScene, build_scene, sample_photo

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def scene(tmp_path_factory: pytest.TempPathFactory) -> DemoScene:
    return build_scene(tmp_path_factory.mktemp("scene"))


@pytest.mark.parametrize("attempt", range(3))
def test_ctrl_c_ends_a_scan_cleanly_with_its_summary(scene: DemoScene, attempt: int,
                                                      tmp_path: Path) -> None:
    env = {**os.environ, "OPENLFR_DATA_DIR": str(tmp_path / "data"), "PYTHONUNBUFFERED": "1"}
    cmd = [str(Path(sys.executable).with_name("openlfr")), "scan",
           f"file://{scene.video}?loop=1", "--live", "--watchlist",
           str(sample_photo("yaoming.jpg")), "--json"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=env)
    seen: list[str] = []
    try:
        assert proc.stderr is not None
        for line in proc.stderr:  # scanning: the subject in the demo clip raised an alert
            seen.append(line)
            if line.startswith("ALERT"):
                break
        assert seen and seen[-1].startswith("ALERT"), "".join(seen)
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    err = "".join(seen) + err
    assert proc.returncode == 0, err
    assert "terminate called" not in err and "Traceback" not in err
    summary = json.loads(out.strip().splitlines()[-1])
    assert summary["interrupted"] is True
    assert summary["frames"] > 0 and summary["alerts"] >= 1
