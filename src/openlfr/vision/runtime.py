"""onnxruntime sessions tuned for small CPU machines.

Every ONNX model in OpenLFR is opened through :func:`make_session`, so thread counts and
spinning are set in one place. Intra-op spinning is OFF: with spinning on, two sessions
(detector + embedder) busy-wait on the same two cores and a 6-face 640x480 frame took
111-125 ms instead of 69 ms on the reference machine.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, model_validator

from openlfr.errors import ModelFileError

__all__ = ["RuntimeConfig", "OnnxModelConfig", "make_session", "open_model"]


class RuntimeConfig(BaseModel):
    """How onnxruntime runs the vision models."""

    model_config = ConfigDict(extra="forbid")

    intra_op_threads: int = Field(
        2, ge=1, le=256,
        description="Threads one model uses for one call. More threads cut latency on an idle "
                    "machine but compete with the decoder, the other model and other cameras; "
                    "set to the number of physical cores you can give the vision stage.")
    spinning: bool = Field(
        False,
        description="Let idle worker threads busy-wait for the next call. Slightly lower "
                    "latency for a single session on a dedicated machine; with several sessions "
                    "on few cores it wastes CPU and slows everything. Leave off.")


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
                                   description="onnxruntime threads and spinning.")

    @model_validator(mode="after")
    def _path_needs_hash(self) -> OnnxModelConfig:
        if self.model_path is not None and self.model_sha256 is None:
            raise ValueError("model_path needs model_sha256 (sha256sum of the file)")
        return self


def open_model(cfg: OnnxModelConfig, default_key: str, what: str):  # -> (session, sha256)
    """Verify the configured model file (else the packaged ``default_key``) and open it;
    returns the session and the file's sha256."""
    from openlfr.vision import models

    if cfg.model_path is not None:
        path = models.verified_path(cfg.model_path, cfg.model_sha256, what)
    else:
        path = models.verified(default_key)
    return make_session(path, cfg.runtime), models.sha256_of(path)


def make_session(path: Path, cfg: RuntimeConfig | None = None):  # -> ort.InferenceSession
    """Open an ONNX model on the CPU with graph optimisation ALL and the configured threads.

    ``path`` must already be verified (see :mod:`openlfr.vision.models`).
    """
    import onnxruntime as ort

    cfg = cfg or RuntimeConfig()
    opts = ort.SessionOptions()
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    opts.intra_op_num_threads = cfg.intra_op_threads
    opts.inter_op_num_threads = 1
    opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    opts.log_severity_level = 3
    spin = "1" if cfg.spinning else "0"
    opts.add_session_config_entry("session.intra_op.allow_spinning", spin)
    opts.add_session_config_entry("session.inter_op.allow_spinning", spin)
    try:
        return ort.InferenceSession(str(path), sess_options=opts,
                                    providers=["CPUExecutionProvider"])
    except Exception as exc:  # onnxruntime raises its own Fail/InvalidProtobuf types
        raise ModelFileError(f"cannot load ONNX model {path}: {exc}") from exc
