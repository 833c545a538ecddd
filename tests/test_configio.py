"""Every YAML config is read the same strict way: the key and its line, duplicates refused."""

from __future__ import annotations

from pathlib import Path

import pytest

from openlfr.errors import ConfigError
from openlfr.pipeline.config import ScanConfig
from openlfr.vision.engine import VisionConfig


def test_a_vision_config_names_the_line_of_a_bad_key(tmp_path: Path) -> None:
    bad = tmp_path / "vision.yaml"
    bad.write_text("detector: {type: scrfd}\nquality:\n  min_face_pxx: 40\n")
    with pytest.raises(ConfigError, match=r"quality\.min_face_pxx \(line 3\)"):
        VisionConfig.from_yaml(bad)


def test_a_key_given_twice_is_refused(tmp_path: Path) -> None:
    twice = tmp_path / "scan.yaml"
    twice.write_text("threshold: 0.4\nmin_hits: 2\nthreshold: 0.9\n")
    with pytest.raises(ConfigError, match=r"threshold \(line 3\): given twice"):
        ScanConfig.from_yaml(twice)
