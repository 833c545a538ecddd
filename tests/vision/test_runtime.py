"""onnxruntime sessions: spinning off, threads as configured, unloadable files refused;
GPU providers by config, refused (never a silent CPU) when they cannot load."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from openlfr.errors import ModelFileError
from openlfr.vision import models, runtime
from openlfr.vision.runtime import ProviderUnavailable, RuntimeConfig, make_session


def test_session_options() -> None:
    sess = make_session(models.verified("scrfd_500m"), RuntimeConfig(intra_op_threads=1))
    opts = sess.get_session_options()
    assert opts.intra_op_num_threads == 1
    assert opts.get_session_config_entry("session.intra_op.allow_spinning") == "0"
    assert sess.get_providers() == ["CPUExecutionProvider"]
    spin = make_session(models.verified("scrfd_500m"), RuntimeConfig(spinning=True))
    assert spin.get_session_options().get_session_config_entry(
        "session.intra_op.allow_spinning") == "1"
    assert opts.enable_cpu_mem_arena  # the default: one session, one shape, memory kept
    no_arena = make_session(models.verified("scrfd_500m"), RuntimeConfig(memory_arena=False))
    assert not no_arena.get_session_options().enable_cpu_mem_arena


def test_file_that_is_not_onnx_is_a_model_file_error(tmp_path: Path) -> None:
    bad = tmp_path / "model.onnx"
    bad.write_bytes(b"not a model at all")
    path = models.verified_path(bad, models.sha256_of(bad), "test model")  # hash matches
    with pytest.raises(ModelFileError, match="cannot load ONNX model"):
        make_session(path)


# -- providers ------------------------------------------------------------------------------


@pytest.mark.parametrize("provider, named", [("cuda", "CUDAExecutionProvider"),
                                             ("tensorrt", "TensorrtExecutionProvider")])
def test_gpu_provider_missing_from_the_build_is_refused_with_the_fix(provider, named,
                                                                     monkeypatch) -> None:
    import onnxruntime as ort

    monkeypatch.setattr(ort, "get_available_providers", lambda: ["CPUExecutionProvider"])
    with pytest.raises(ProviderUnavailable) as err:
        make_session(models.verified("scrfd_500m"), RuntimeConfig(provider=provider))
    msg = str(err.value)
    assert named in msg and "onnxruntime-gpu" in msg and "fallback: cpu" in msg


def test_fallback_cpu_runs_on_the_cpu_and_says_so(monkeypatch, caplog) -> None:
    import onnxruntime as ort

    monkeypatch.setattr(ort, "get_available_providers", lambda: ["CPUExecutionProvider"])
    with caplog.at_level("WARNING", logger="openlfr.vision.runtime"):
        sess = make_session(models.verified("scrfd_500m"),
                            RuntimeConfig(provider="cuda", fallback="cpu", precision="fp16"))
    assert sess.get_providers() == ["CPUExecutionProvider"]
    assert "running scrfd_500m_bnkps.onnx on the CPU" in caplog.text


class _SilentlyOnCpu:
    """What onnxruntime-gpu does when CUDA's libraries are missing: the session opens on the
    CPU with a log line, no exception."""

    def __init__(self, model: Any, sess_options: Any = None, providers: Any = None) -> None:
        self.asked = providers
        self.fallback_disabled = False

    def get_providers(self) -> list[str]:
        return ["CPUExecutionProvider"]

    def disable_fallback(self) -> None:
        self.fallback_disabled = True


def _no_cudnn(name: str) -> None:
    if name.startswith("libcudnn"):
        raise OSError(f"{name}: cannot open shared object file")


def test_provider_in_the_build_that_silently_falls_back_is_refused_naming_the_library(
        monkeypatch) -> None:
    import onnxruntime as ort

    monkeypatch.setattr(ort, "get_available_providers",
                        lambda: ["CUDAExecutionProvider", "CPUExecutionProvider"])
    monkeypatch.setattr(ort, "InferenceSession", _SilentlyOnCpu)
    with pytest.raises(ProviderUnavailable, match=r"do not load: libcudnn\.so\.9"):
        make_session(models.verified("scrfd_500m"), RuntimeConfig(provider="cuda"),
                     loader=_no_cudnn)


def test_provider_options_ask_for_the_gpu_then_the_cpu(monkeypatch) -> None:
    import onnxruntime as ort

    opened: list[_SilentlyOnCpu] = []

    class Opens(_SilentlyOnCpu):
        def __init__(self, *a: Any, **kw: Any) -> None:
            super().__init__(*a, **kw)
            opened.append(self)

        def get_providers(self) -> list[str]:
            return [p if isinstance(p, str) else p[0] for p in self.asked]

    monkeypatch.setattr(ort, "get_available_providers",
                        lambda: ["TensorrtExecutionProvider", "CUDAExecutionProvider",
                                 "CPUExecutionProvider"])
    monkeypatch.setattr(ort, "InferenceSession", Opens)
    make_session(models.verified("scrfd_500m"),
                 RuntimeConfig(provider="tensorrt", precision="fp16", device_id=1))
    (sess,) = opened
    trt, cuda, cpu = sess.asked
    assert trt[0] == "TensorrtExecutionProvider" and trt[1]["trt_fp16_enable"] == "True"
    assert trt[1]["device_id"] == "1" and cuda[0] == "CUDAExecutionProvider"
    assert cpu == "CPUExecutionProvider" and sess.fallback_disabled


def test_fp16_is_refused_on_the_cpu() -> None:
    with pytest.raises(ValueError, match="fp16 needs provider cuda or tensorrt"):
        RuntimeConfig(precision="fp16")


def test_vision_config_pushes_provider_into_both_models() -> None:
    from openlfr.vision.engine import VisionConfig

    cfg = VisionConfig(provider="cuda", fallback="cpu", precision="fp16").resolved()
    for stage in (cfg.detector, cfg.embedder):
        rt = stage.runtime
        assert (rt.provider, rt.fallback, rt.precision) == ("cuda", "cpu", "fp16")


def test_fp16_copy_of_arcface_embeds_like_fp32() -> None:
    pytest.importorskip("onnxconverter_common", reason="fp16 conversion needs the gpu extra "
                        "(onnxconverter-common)")
    import onnxruntime as ort

    path = models.verified("arcface_mbf")
    half = ort.InferenceSession(runtime.fp16_model(path), providers=["CPUExecutionProvider"])
    full = make_session(path, RuntimeConfig(intra_op_threads=1))
    x = np.random.default_rng(0).uniform(-1, 1, (1, 3, 112, 112)).astype(np.float32)
    name = full.get_inputs()[0].name
    a, b = full.run(None, {name: x})[0][0], half.run(None, {name: x})[0][0]
    assert float(a @ b / np.linalg.norm(a) / np.linalg.norm(b)) > 0.999


def test_a_camera_in_the_server_config_picks_the_provider_for_both_models() -> None:
    from openlfr.fleet.config import CameraSettings

    cfg = CameraSettings(provider="tensorrt", precision="fp16").vision_config().resolved()
    assert cfg.detector.runtime.provider == cfg.embedder.runtime.provider == "tensorrt"
    assert cfg.embedder.runtime.precision == "fp16" and cfg.embedder.runtime.fallback == "none"
    with pytest.raises(ValueError, match="'cpu', 'cuda' or 'tensorrt'"):
        CameraSettings(provider="gpu")
