"""What camera processes put on the bus, as typed messages.

An alert travels as the camera raised it: the one :class:`~openlfr.alerts.model.AlertEvent` type,
its ``alert_id`` (a uuid hex) unchanged from the camera to the stream (``Nats-Msg-Id``), the
store (``alerts.uid``), the sinks and the console. The probe crop rides inside the alert
message (the only face image that leaves a camera process, and only for a possible match).

Counters travel as :class:`CountersEvent`: the *cumulative* figures of one camera run
(``run_id``, one per process lifetime) with a sequence number, so the centre can apply a
redelivered or reordered message without counting anything twice.
"""

from __future__ import annotations

import base64
import json
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from openlfr.alerts.model import AlertEvent
from openlfr.errors import ConfigError

__all__ = ["AlertWire", "CountersEvent", "alert_to_wire", "alert_from_wire",
           "counters_from_wire", "MAX_PROBE_BYTES"]

MAX_PROBE_BYTES = 10 * 1024 * 1024


class AlertWire(BaseModel):
    """The JSON shape of an alert on the bus (validated on arrival: the bus is a boundary)."""

    model_config = ConfigDict(extra="forbid")

    alert_id: str = Field(min_length=8, max_length=32, pattern=r"^[0-9a-f]+$")
    deployment_id: int = Field(ge=1, lt=2**63)
    camera_id: str = Field(min_length=1, max_length=64)
    time: datetime
    track_id: int = Field(ge=0, lt=2**63)
    subject_id: str = Field(min_length=1, max_length=64)
    label: str = Field(max_length=200)
    score: float = Field(ge=-1.0, le=1.0)
    threshold: float = Field(ge=-1.0, le=1.0)
    probe_jpeg_b64: str = Field(min_length=4, max_length=MAX_PROBE_BYTES * 4 // 3 + 8)
    frame_index: int = -1
    media_time_s: float | None = None
    category: str | None = Field(None, max_length=64)
    watchlist_image_ref: str | None = Field(None, max_length=300)
    evaluation: bool = False
    latency_s: float | None = None


class CountersEvent(BaseModel):
    """Cumulative counters of one camera run, and how far it got through recorded footage."""

    model_config = ConfigDict(extra="forbid")

    run_id: str = Field(min_length=8, max_length=32, pattern=r"^[0-9a-f]+$")
    seq: int = Field(ge=0)
    deployment_id: int = Field(ge=1, lt=2**63)
    camera_id: str = Field(min_length=1, max_length=64)
    frames: int = Field(0, ge=0)
    dropped: int = Field(0, ge=0)
    faces: int = Field(0, ge=0)
    tracks: int = Field(0, ge=0)
    frame_index: int | None = Field(None, ge=0, lt=2**62, description="Next frame of a "
                                    "recorded clip: where a restarted camera resumes.")
    next_track_id: int | None = Field(None, ge=1, lt=2**62, description="The first track id "
                                      "of a run resumed at frame_index.")
    finished: bool = Field(False, description="A recorded clip reached its end.")
    tracker: str | None = Field(None, pattern=r"^sha256:[0-9a-f]{16}$", description="The "
                                "tracker settings the run's tracks come from "
                                "(openlfr.pipeline.tracker.settings_fingerprint).")
    at: datetime

    @property
    def totals(self) -> dict[str, int]:
        return {"frames": self.frames, "dropped": self.dropped, "faces": self.faces,
                "tracks": self.tracks}

    def to_wire(self) -> bytes:
        return self.model_dump_json().encode()


def alert_to_wire(alert: AlertEvent) -> bytes:
    if alert.deployment_id is None:
        raise ConfigError("an alert on the bus needs its deployment id")
    d: dict[str, Any] = {
        "alert_id": alert.alert_id, "deployment_id": alert.deployment_id,
        "camera_id": alert.camera_id, "time": alert.time.isoformat(),
        "track_id": int(alert.track_id), "subject_id": str(alert.subject_id),
        "label": alert.label, "score": float(alert.score),
        "threshold": float(alert.threshold),
        "probe_jpeg_b64": base64.b64encode(alert.probe_jpeg).decode("ascii"),
        "frame_index": int(alert.frame_index), "media_time_s": alert.media_time_s,
        "category": alert.category, "watchlist_image_ref": alert.watchlist_image_ref,
        "evaluation": bool(alert.evaluation), "latency_s": alert.latency_s}
    return json.dumps(d).encode()


def alert_from_wire(data: bytes) -> AlertEvent:
    """The alert in a bus message; ConfigError (a message that can never be recorded) for
    anything malformed."""
    try:
        w = AlertWire.model_validate_json(data)
        probe = base64.b64decode(w.probe_jpeg_b64, validate=True)
    except (ValidationError, ValueError) as exc:
        raise ConfigError(f"malformed alert message: {_first_error(exc)}") from None
    if w.time.tzinfo is None:
        raise ConfigError("malformed alert message: time without a timezone")
    fields = w.model_dump(exclude={"probe_jpeg_b64"})
    return AlertEvent(probe_jpeg=probe, **fields)


def counters_from_wire(data: bytes) -> CountersEvent:
    try:
        ev = CountersEvent.model_validate_json(data)
    except ValidationError as exc:
        raise ConfigError(f"malformed counters message: {_first_error(exc)}") from None
    if ev.at.tzinfo is None:
        raise ConfigError("malformed counters message: time without a timezone")
    return ev


def _first_error(exc: Exception) -> str:
    if isinstance(exc, ValidationError):
        e = exc.errors()[0]
        return f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}"
    return str(exc)
