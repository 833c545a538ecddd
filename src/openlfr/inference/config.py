"""The node's inference settings (``node: {inference: {...}}`` in the server config)."""

from __future__ import annotations

from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["InferenceConfig", "InferenceMode"]


class InferenceMode(StrEnum):
    shared = "shared"
    per_camera = "per_camera"


class InferenceConfig(BaseModel):
    """How the cameras of one node run their models."""

    model_config = ConfigDict(extra="forbid")

    mode: InferenceMode = Field(
        InferenceMode.per_camera,
        description="shared: one inference service per node holds one copy of the detector "
                    "and embedder and batches the cameras' requests; per_camera: every camera "
                    "process opens its own models (no batching, one copy per camera).")
    max_batch: int = Field(
        8, ge=1, le=1024,
        description="Most requests (frames for the detector, one frame's faces for the "
                    "embedder) in one model call. Larger batches cost less per item on a "
                    "GPU; on a small CPU the gain is small and a full batch makes every "
                    "camera in it wait for the whole call.")
    max_wait_ms: float = Field(
        5.0, ge=0.0, le=1000.0,
        description="How long the first request of a batch waits for others before the "
                    "batch runs anyway. Longer forms larger batches (throughput) and adds "
                    "up to this much latency to every frame; 0 runs whatever has arrived.")
    workers: int = Field(
        2, ge=1, le=64,
        description="Batches the service runs at once (onnxruntime runs one session from "
                    "several threads). On a CPU, calls side by side on one thread each use "
                    "the cores better than one call on all of them (small models gain "
                    "little from intra-op threads); on a GPU, 1-2.")
    threads: int | None = Field(
        None, ge=1, le=256,
        description="onnxruntime intra-op threads of each model call in the service (null: "
                    "the machine's cores / workers). Overrides each model's "
                    "runtime.intra_op_threads.")
    camera_nice: int = Field(
        5, ge=0, le=19,
        description="A camera's analysis thread (preprocessing, tracking, matching) runs "
                    "at this nice value when it uses the service, so on a saturated machine "
                    "the service's model calls go first; its decoder keeps the normal "
                    "priority, so a live stream is still read in real time. 0 treats them "
                    "alike.")
    timeout_s: float = Field(
        10.0, gt=0.0, le=600.0,
        description="A camera's request that the service has not answered in this many "
                    "seconds fails with a clear error (the camera skips the frame); also "
                    "how long a camera waits for a restarted service.")
    segment_mb: float = Field(
        16.0, ge=1.0, le=4096.0,
        description="Shared memory per camera for one request and its outputs: the "
                    "detector input (4 bytes x 3 x the detector's input pixels: 2.9 MB at "
                    "max_size 640 on a 16:9 frame) and its outputs, or a frame's aligned "
                    "faces (147 kB each, twice with flip).")
