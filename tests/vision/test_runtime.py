"""onnxruntime sessions: spinning off, threads as configured, unloadable files refused."""

from __future__ import annotations

from pathlib import Path

import pytest

from openlfr.errors import ModelFileError
from openlfr.vision import models
from openlfr.vision.runtime import RuntimeConfig, make_session


def test_session_options() -> None:
    sess = make_session(models.verified("scrfd_500m"), RuntimeConfig(intra_op_threads=1))
    opts = sess.get_session_options()
    assert opts.intra_op_num_threads == 1
    assert opts.get_session_config_entry("session.intra_op.allow_spinning") == "0"
    assert sess.get_providers() == ["CPUExecutionProvider"]
    spin = make_session(models.verified("scrfd_500m"), RuntimeConfig(spinning=True))
    assert spin.get_session_options().get_session_config_entry(
        "session.intra_op.allow_spinning") == "1"


def test_file_that_is_not_onnx_is_a_model_file_error(tmp_path: Path) -> None:
    bad = tmp_path / "model.onnx"
    bad.write_bytes(b"not a model at all")
    path = models.verified_path(bad, models.sha256_of(bad), "test model")  # hash matches
    with pytest.raises(ModelFileError, match="cannot load ONNX model"):
        make_session(path)
