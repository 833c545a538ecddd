"""The vision commands: JSON output, and clear errors (no traceback) for bad input."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
from typer.testing import CliRunner

from openlfr.cli import app

runner = CliRunner()


@pytest.fixture(scope="module")
def images(tmp_path_factory, astronaut: np.ndarray, players: np.ndarray) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("cli")
    paths = {"astronaut": d / "astronaut.png", "astronaut2": d / "astronaut2.jpg",
             "player": d / "player.jpg", "text": d / "notes.jpg", "truncated": d / "cut.jpg"}
    cv2.imwrite(str(paths["astronaut"]), astronaut)
    small = cv2.resize(astronaut[:, ::-1], None, fx=0.7, fy=0.7)
    cv2.imwrite(str(paths["astronaut2"]), small, [cv2.IMWRITE_JPEG_QUALITY, 60])
    cv2.imwrite(str(paths["player"]), players[400:520, 150:240])  # one player's head
    paths["text"].write_text("this is not an image\n")
    ok, buf = cv2.imencode(".jpg", astronaut)
    paths["truncated"].write_bytes(buf.tobytes()[:5000])
    return paths


def _json(result) -> dict:
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)  # exactly one JSON object, nothing else


@pytest.mark.parametrize("detector", ["scrfd", "yunet"])
def test_detect_json(images, detector: str, tmp_path: Path) -> None:
    drawn = tmp_path / "out.png"
    doc = _json(runner.invoke(app, ["detect", str(images["astronaut"]), "--detector", detector,
                                    "--draw", str(drawn), "--json"]))
    assert doc["detector"] == detector and len(doc["faces"]) == 1
    face = doc["faces"][0]
    assert len(face["box"]) == 4 and len(face["landmarks"]) == 5
    assert set(face["quality_parts"]) == {"size", "sharpness", "frontality", "detector"}
    assert face["passes_quality"] is True
    assert cv2.imread(str(drawn)).shape == (512, 512, 3)


def test_detect_text_output(images) -> None:
    result = runner.invoke(app, ["detect", str(images["astronaut"])])
    assert result.exit_code == 0 and "1 face(s)" in result.stdout


@pytest.mark.parametrize("embedder", ["arcface", "dlib"])
def test_compare_same_and_different(images, embedder: str) -> None:
    same = _json(runner.invoke(app, ["compare", str(images["astronaut"]),
                                     str(images["astronaut2"]), "-e", embedder, "--json"]))
    diff = _json(runner.invoke(app, ["compare", str(images["astronaut"]),
                                     str(images["player"]), "-e", embedder, "--json"]))
    assert same["same_person_likely"] is True and diff["same_person_likely"] is False
    assert same["similarity"] > diff["similarity"]
    assert same["threshold"] == diff["threshold"]
    assert "same person likely" in same["meaning"]
    # ArcFace compares with flip fusion by default (the calibrated enrolment setting)
    assert same["embedder"] == {"arcface": "arcface+flip", "dlib": "dlib"}[embedder]
    if embedder == "arcface":
        plain = _json(runner.invoke(app, ["compare", str(images["astronaut"]),
                                          str(images["astronaut2"]), "--no-flip", "--json"]))
        assert plain["embedder"] == "arcface" and plain["similarity"] != same["similarity"]


def test_demo_json(tmp_path: Path) -> None:
    doc = _json(runner.invoke(app, ["demo", "--out", str(tmp_path), "--json"]))
    assert doc["faces"] >= 15 and doc["embedding_dim"] == 512
    assert (tmp_path / "detections.png").is_file()


def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "openlfr.cli", *args], capture_output=True,
                          text=True, timeout=120)


@pytest.mark.parametrize("case", ["missing", "text", "truncated"])
def test_detect_bad_input_is_a_clear_error(images, case: str, tmp_path: Path) -> None:
    path = tmp_path / "nope.jpg" if case == "missing" else images[case]
    proc = _cli("detect", str(path), "--json")
    assert proc.returncode != 0
    assert proc.stdout == ""
    assert "error:" in proc.stderr and str(path) in proc.stderr
    assert "Traceback" not in proc.stderr


def test_compare_without_a_face_is_a_clear_error(images, tmp_path: Path) -> None:
    blank = tmp_path / "blank.png"
    cv2.imwrite(str(blank), np.full((200, 200, 3), 90, np.uint8))
    proc = _cli("compare", str(images["astronaut"]), str(blank))
    assert proc.returncode != 0
    assert "no face found" in proc.stderr and "Traceback" not in proc.stderr


def test_bad_config_is_a_clear_error(images, tmp_path: Path) -> None:
    cfg = tmp_path / "vision.yaml"
    cfg.write_text("detector:\n  type: scrfd\n  max_sise: 640\n")
    proc = _cli("detect", str(images["astronaut"]), "--config", str(cfg))
    assert proc.returncode != 0
    assert "detector.scrfd.max_sise" in proc.stderr and "Traceback" not in proc.stderr
