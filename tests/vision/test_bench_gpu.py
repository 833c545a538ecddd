"""benchmarks/bench_gpu.py on a machine without a GPU: a clean refusal, and a CPU dry run."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

cv2 = pytest.importorskip("cv2")

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "bench_gpu.py"


@pytest.fixture(scope="module")
def clip(tmp_path_factory) -> Path:
    """A short 320x240 clip of moving noise (the dry run needs frames, not faces)."""
    path = tmp_path_factory.mktemp("clip") / "tiny.avi"
    out = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 25, (320, 240))
    rng = np.random.default_rng(0)
    for _ in range(20):
        out.write(rng.integers(0, 255, (240, 320, 3), dtype=np.uint8))
    out.release()
    assert path.stat().st_size > 0
    return path


def _run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(SCRIPT), *args], capture_output=True,
                          text=True, timeout=300, check=False)


def test_refuses_when_no_gpu_provider_loads(clip: Path, tmp_path: Path) -> None:
    import onnxruntime as ort

    if "CUDAExecutionProvider" in ort.get_available_providers():
        pytest.skip("this onnxruntime has the CUDA provider: the refusal is not reachable")
    done = _run("--providers", "cuda", "--clip", str(clip), "--out", str(tmp_path / "r"))
    assert done.returncode == 2, done.stderr
    assert "refused, provider 'cuda' does not load here" in done.stderr
    assert "onnxruntime-gpu" in done.stderr  # names what to install
    assert "Traceback" not in done.stderr
    assert done.stdout == ""
    assert not (tmp_path / "r").exists()  # nothing written


def test_cpu_dry_run_writes_json_and_markdown(clip: Path, tmp_path: Path) -> None:
    done = _run("--providers", "cpu", "--dry-run", "--clip", str(clip), "--out",
                str(tmp_path))
    assert done.returncode == 0, done.stderr
    [res] = json.loads(done.stdout)
    assert res["provider"] == "cpu" and res["dry_run"] is True
    assert [r["batch"] for r in res["embedding"]] == [1, 4]
    assert all(r["model_faces_per_s"] > 0 for r in res["embedding"])
    assert {r["batch"] for r in res["detection"]} == {1, 2}
    assert res["streams"]["end_to_end"]["frames_per_s"] > 0
    assert json.loads((tmp_path / "gpu-cpu.json").read_text()) == res
    md = (tmp_path / "gpu-cpu.md").read_text()
    assert "dry run, not a GPU figure" in md and "streams of 1080p25" in md
