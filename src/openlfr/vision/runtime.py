"""onnxruntime sessions: execution provider by config, tuned for small CPU machines.

Every ONNX model in OpenLFR is opened through :func:`make_session`, so providers, thread
counts and spinning are set in one place. Intra-op spinning is OFF: with spinning on, two
sessions (detector + embedder) busy-wait on the same two cores and a 6-face 640x480 frame
took 111-125 ms instead of 69 ms on the reference machine.

Providers (``RuntimeConfig.provider``): ``cpu`` (default), ``cuda`` and ``tensorrt``. The GPU
ones need the ``onnxruntime-gpu`` build (the ``gpu`` extra; the CPU wheel, a base dependency,
installs the same module, so remove both and reinstall the GPU one: docs/inference.md)
and NVIDIA's libraries (CUDA 12 runtime, cuBLAS, cuDNN 9; TensorRT 10 for ``tensorrt``).
onnxruntime itself falls back to the CPU silently when a provider's libraries do not load;
here a session that did not get the provider asked for is refused with the name of what is
missing, unless ``fallback: cpu`` is set, which logs a warning and runs on the CPU.
"""

from __future__ import annotations

import ctypes
import logging
import warnings
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from openlfr.errors import ConfigError, ModelFileError
from openlfr.vision import models

__all__ = ["RuntimeConfig", "OnnxModelConfig", "make_session", "open_model", "PROVIDERS",
           "ProviderUnavailable", "missing_libraries", "session_providers", "fp16_model"]

log = logging.getLogger(__name__)

#: Config name -> onnxruntime provider name.
PROVIDERS = {"cpu": "CPUExecutionProvider", "cuda": "CUDAExecutionProvider",
             "tensorrt": "TensorrtExecutionProvider"}
#: Shared libraries each GPU provider loads (Linux names, onnxruntime-gpu 1.2x for CUDA 12);
#: the first one that does not load is named in the error.
PROVIDER_LIBRARIES = {
    "cuda": ("libcudart.so.12", "libcublasLt.so.12", "libcublas.so.12", "libcufft.so.11",
             "libcudnn.so.9"),
    "tensorrt": ("libcudart.so.12", "libcublas.so.12", "libcudnn.so.9", "libnvinfer.so.10",
                 "libnvinfer_plugin.so.10", "libnvonnxparser.so.10"),
}
_GPU_INSTALL = ("pip install 'openlfr[gpu]' && pip uninstall -y onnxruntime onnxruntime-gpu "
                "&& pip install onnxruntime-gpu (the CPU and GPU wheels install the same "
                "module: keep only the GPU one)")


class ProviderUnavailable(ConfigError):
    """The configured execution provider cannot run here (and no CPU fall-back is allowed)."""


class RuntimeConfig(BaseModel):
    """How onnxruntime runs the vision models."""

    model_config = ConfigDict(extra="forbid")

    provider: Literal["cpu", "cuda", "tensorrt"] = Field(
        "cpu",
        description="Execution provider. cuda and tensorrt need onnxruntime-gpu (the gpu "
                    "extra) and NVIDIA's libraries; tensorrt builds an engine per input shape "
                    "on first use (slow start, fastest steady state), cuda starts at once. "
                    "A provider that cannot load is an error unless fallback is cpu.")
    fallback: Literal["none", "cpu"] = Field(
        "none",
        description="What to do when the provider cannot load: none refuses to start (a "
                    "camera sized for a GPU would silently run many times slower on the CPU); "
                    "cpu logs a warning and runs on the CPU.")
    precision: Literal["fp32", "fp16"] = Field(
        "fp32",
        description="fp16 halves GPU memory and roughly doubles tensor-core throughput; "
                    "tensorrt builds fp16 kernels itself, cuda runs a converted copy of the "
                    "model (needs onnxconverter-common, in the gpu extra). Not on cpu. The "
                    "recorded thresholds were calibrated in fp32: re-run the LFW evaluation "
                    "with fp16 before relying on it.")
    device_id: int = Field(0, ge=0, le=63, description="GPU index for cuda and tensorrt.")
    intra_op_threads: int = Field(
        1, ge=1, le=256,
        description="Threads one model uses for one call. More threads cut one call's latency "
                    "on an idle machine but cost CPU in synchronisation and compete with the "
                    "decoder, the other model and other cameras: on the 2-core reference "
                    "machine 2 threads took 15.8 instead of 14.5 CPU-ms a 1080p detection and "
                    "19.8 instead of 17.4 a face embedding, no faster in wall time under load "
                    "(docs/benchmarks.md). Raise it for one camera on an idle many-core CPU.")
    spinning: bool = Field(
        False,
        description="Let idle worker threads busy-wait for the next call. Slightly lower "
                    "latency for a single session on a dedicated machine; with several sessions "
                    "on few cores it wastes CPU and slows everything. Leave off.")
    memory_arena: bool = Field(
        True,
        description="Keep the memory of a call's intermediate tensors in onnxruntime's CPU "
                    "arena for the next call (no allocation per call). The arena holds the "
                    "peak of every input shape and concurrent call it has seen: a session "
                    "that runs one shape keeps it; the node's inference service, which runs "
                    "batches of several sizes two at a time, turns it off (each call's memory "
                    "then goes back when the call ends; docs/inference.md).")

    @model_validator(mode="after")
    def _fp16_needs_gpu(self) -> RuntimeConfig:
        if self.precision == "fp16" and self.provider == "cpu":
            raise ValueError("precision fp16 needs provider cuda or tensorrt (onnxruntime's "
                             "CPU provider has no fp16 kernels for these models)")
        return self


class OnnxModelConfig(BaseModel):
    """Fields every ONNX-backed stage shares: an optional own model file, and the runtime."""

    model_config = ConfigDict(extra="forbid")

    model_path: Path | None = Field(
        None, description="Your own ONNX file instead of the packaged default. Requires "
                          "model_sha256; the file is checked before it is loaded.")
    model_sha256: str | None = Field(
        None, pattern=r"^[0-9a-fA-F]{64}$",
        description="sha256 of model_path (sha256sum FILE).")
    runtime: RuntimeConfig = Field(default_factory=RuntimeConfig,
                                   description="onnxruntime provider, precision and threads.")

    @model_validator(mode="after")
    def _path_needs_hash(self) -> OnnxModelConfig:
        if self.model_path is not None and self.model_sha256 is None:
            raise ValueError("model_path needs model_sha256 (sha256sum of the file)")
        return self


def open_model(cfg: OnnxModelConfig, default_key: str, what: str):  # -> (session, sha256)
    """Verify the configured model file (else the packaged ``default_key``) and open it;
    returns the session and the file's sha256."""
    if cfg.model_path is not None:
        path = models.verified_path(cfg.model_path, cfg.model_sha256, what)
    else:
        path = models.verified(default_key)
    return make_session(path, cfg.runtime), models.sha256_of(path)


def missing_libraries(provider: str, loader: Any = ctypes.CDLL) -> list[str]:
    """The shared libraries ``provider`` needs that do not load here (empty for cpu)."""
    missing = []
    for lib in PROVIDER_LIBRARIES.get(provider, ()):
        try:
            loader(lib)
        except OSError:
            missing.append(lib)
    return missing


def _provider_list(cfg: RuntimeConfig) -> list[Any]:
    """onnxruntime's ``providers`` argument: the configured one (with its options), then
    the CPU for the operators a GPU provider does not implement."""
    dev = {"device_id": str(cfg.device_id)}
    if cfg.provider == "cpu":
        return ["CPUExecutionProvider"]
    if cfg.provider == "cuda":
        return [("CUDAExecutionProvider", dev), "CPUExecutionProvider"]
    trt = {**dev, "trt_fp16_enable": "True" if cfg.precision == "fp16" else "False",
           "trt_engine_cache_enable": "True"}
    cuda = [("CUDAExecutionProvider", dev)]  # TensorRT hands unsupported nodes to CUDA
    return [("TensorrtExecutionProvider", trt), *cuda, "CPUExecutionProvider"]


def _unavailable(cfg: RuntimeConfig, path: Path, available: list[str],
                 loader: Any) -> str:
    """Why ``cfg.provider`` cannot run, naming the missing build or libraries."""
    name = PROVIDERS[cfg.provider]
    if name not in available:
        return (f"provider {cfg.provider!r} ({name}) is not in this onnxruntime build "
                f"(it has {', '.join(available)}); install the GPU build: {_GPU_INSTALL}")
    missing = missing_libraries(cfg.provider, loader)
    libs = (f"these libraries do not load: {', '.join(missing)}" if missing else
            "its libraries loaded but onnxruntime did not use it (driver or GPU missing? "
            "see nvidia-smi)")
    return (f"provider {cfg.provider!r} ({name}) could not start for {path.name}: {libs}; "
            f"install CUDA 12 and cuDNN 9 (pip install nvidia-cudnn-cu12 nvidia-cublas-cu12 "
            f"nvidia-cuda-runtime-cu12 works) and TensorRT 10 for tensorrt, or put them on "
            f"LD_LIBRARY_PATH")


def _model_bytes(path: Path, cfg: RuntimeConfig) -> bytes | str:
    """The model to load: the file, or for cuda + fp16 a float16 copy made in memory."""
    if not (cfg.provider == "cuda" and cfg.precision == "fp16"):
        return str(path)
    return fp16_model(path)


def fp16_model(path: Path) -> bytes:
    """A float16 copy of a (verified) ONNX file, inputs and outputs kept float32, made with
    onnxconverter-common (Microsoft's maintained converter). Weights below fp16's range
    are clamped to its smallest normal value, which the converter warns about per weight;
    those warnings are dropped here (ArcFace MobileFaceNet: cosine to fp32 > 0.9999)."""
    try:
        import onnx
        from onnxconverter_common import float16
    except ImportError as exc:
        raise ProviderUnavailable(
            f"precision fp16 on cuda converts the model on load with onnxconverter-common, "
            f"which is not installed ({exc.name}); pip install 'openlfr[gpu]'") from exc
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        model = float16.convert_float_to_float16(onnx.load(str(path)), keep_io_types=True)
    return model.SerializeToString()


def session_providers(session: Any) -> list[str]:
    """The providers a session actually runs on."""
    return list(session.get_providers())


def make_session(path: Path, cfg: RuntimeConfig | None = None, *,
                 loader: Any = ctypes.CDLL):  # -> ort.InferenceSession
    """Open an ONNX model with graph optimisation ALL, the configured provider and threads.

    ``path`` must already be verified (see :mod:`openlfr.vision.models`). Raises
    :class:`ProviderUnavailable` when the provider cannot run and ``fallback`` is none.
    ``loader`` opens a shared library (tests pass a fake).
    """
    import onnxruntime as ort

    cfg = cfg or RuntimeConfig()
    opts = ort.SessionOptions()
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    opts.intra_op_num_threads = cfg.intra_op_threads
    opts.inter_op_num_threads = 1
    opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    opts.enable_cpu_mem_arena = cfg.memory_arena
    opts.log_severity_level = 3
    spin = "1" if cfg.spinning else "0"
    opts.add_session_config_entry("session.intra_op.allow_spinning", spin)
    opts.add_session_config_entry("session.inter_op.allow_spinning", spin)
    wanted = PROVIDERS[cfg.provider]
    available = list(ort.get_available_providers())
    if wanted not in available:
        return _refuse_or_fall_back(cfg, path, _unavailable(cfg, path, available, loader))
    try:
        session = ort.InferenceSession(_model_bytes(path, cfg), sess_options=opts,
                                       providers=_provider_list(cfg))
    except ProviderUnavailable:
        raise
    except Exception as exc:  # onnxruntime raises its own Fail/InvalidProtobuf/EP types
        if cfg.provider != "cpu" and "provider" in str(exc).lower():
            return _refuse_or_fall_back(cfg, path, f"provider {cfg.provider!r} failed to "
                                        f"start for {path.name}: {exc}")
        raise ModelFileError(f"cannot load ONNX model {path}: {exc}") from exc
    if cfg.provider != "cpu":
        session.disable_fallback()  # no silent switch to the CPU on a failing run either
        if wanted not in session_providers(session):
            return _refuse_or_fall_back(cfg, path, _unavailable(cfg, path, available, loader))
    return session


def _refuse_or_fall_back(cfg: RuntimeConfig, path: Path, why: str):
    if cfg.fallback != "cpu":
        raise ProviderUnavailable(f"{why}. Set runtime.fallback: cpu to run on the CPU "
                                  f"instead (much slower).")
    log.warning("%s; fallback is cpu: running %s on the CPU", why, path.name)
    return make_session(path, cfg.model_copy(update={"provider": "cpu", "precision": "fp32"}))
