"""What nodes report about themselves and their cameras (the control room's view).

A node puts a :class:`NodeStatus` into the bus's key-value bucket every second; the centre
reads them for leases and failover, and the API (``GET /api/nodes``), the console's nodes page
and ``/metrics`` show them. Only operational figures: nothing about faces or people.
"""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["CameraStatus", "InferenceStatus", "NodeStatus"]


class CameraStatus(BaseModel):
    """One camera process on a node."""

    model_config = ConfigDict(extra="forbid")

    deployment_id: int
    camera_id: str
    state: str = Field(description="starting | running | restarting | stopped | failed")
    pid: int | None = None
    frames: int = 0
    dropped: int = 0
    faces: int = 0
    alerts_raised: int = 0
    alerts_pending: int = Field(0, description="Raised but not yet acknowledged by the "
                                "stream (held in the camera process until they are).")
    frames_per_s: float = 0.0
    decoded_per_s: float = Field(0.0, description="Frames decoded a second; below "
                                 "``source_fps`` the decoder falls behind its camera (an "
                                 "overloaded node: a live stream then loses packets).")
    source_fps: float | None = Field(None, description="The source's own frame rate.")
    lag_s: float | None = Field(None, description="Seconds between a frame's decoding and "
                                "the end of its analysis (recent median).")
    restarts: int = 0
    reconnects: int = 0
    error: str | None = None
    started_at: datetime | None = None


class InferenceStatus(BaseModel):
    """A node's shared inference service (``inference.mode: shared``)."""

    model_config = ConfigDict(extra="forbid")

    running: bool = Field(description="The service process is alive.")
    pid: int | None = None
    restarts: int = Field(0, description="Times the node restarted a dead service.")
    error: str | None = Field(None, description="Why it is down, until it runs again.")
    cameras: int = Field(0, description="Camera processes attached (shared-memory segments).")
    max_batch: int
    max_wait_ms: float
    workers: int


class NodeStatus(BaseModel):
    """A camera node as it last reported itself."""

    model_config = ConfigDict(extra="forbid")

    name: str
    host: str
    pid: int
    max_cameras: int
    started_at: datetime
    reported_at: datetime
    cameras: list[CameraStatus] = Field(default_factory=list)
    inference: InferenceStatus | None = Field(None, description="The node's shared inference "
                                              "service; None: each camera opens its own "
                                              "models.")
    alive: bool = Field(True, description="Set by the reader: reported within the "
                        "liveness window.")
