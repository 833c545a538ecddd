"""The alert: a *possible match* between a tracked face and a watchlist subject.

An alert is not an identification: a human decides (DESIGN safeguard 3). It carries what
that human needs side by side: the probe crop (JPEG bytes, in memory; the store encrypts
it at rest) and a reference to the watchlist image, the similarity score and the threshold
in force, the camera, time and track.

:meth:`Alert.to_public` is the JSON form for sinks: the crop is referenced (sha256, size,
``probe_ref``), never inlined unless ``include_probe=True`` is asked for explicitly.
"""

from __future__ import annotations

import base64
import hashlib
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

__all__ = ["Alert"]


@dataclass(frozen=True, eq=False)
class Alert:
    camera_id: str
    time: datetime  # UTC, when the frame that triggered it was analysed
    track_id: int
    subject_id: str
    label: str
    score: float  # cosine similarity of the best evidence
    threshold: float
    probe_jpeg: bytes = field(repr=False)
    frame_index: int = -1
    media_time_s: float | None = None  # position in the source (recorded footage)
    category: str | None = None
    watchlist_image_ref: str | None = None
    deployment_id: int | None = None
    evaluation: bool = False  # a test run on recorded footage (DESIGN safeguard 1)
    alert_id: str = field(default_factory=lambda: uuid.uuid4().hex)
    latency_s: float | None = None  # frame decoded -> alert raised

    def __post_init__(self) -> None:
        if self.time.tzinfo is None:
            raise ValueError("Alert.time must be timezone-aware (UTC)")

    @property
    def probe_sha256(self) -> str:
        return hashlib.sha256(self.probe_jpeg).hexdigest()

    @property
    def probe_ref(self) -> str:
        """Where the probe image can be fetched by someone allowed to see it."""
        return f"alert:{self.alert_id}/probe.jpg"

    def to_public(self, *, include_probe: bool = False) -> dict[str, Any]:
        d: dict[str, Any] = {
            "alert_id": self.alert_id,
            "kind": "possible_match",
            "camera_id": self.camera_id,
            "time": self.time.astimezone(UTC).isoformat(),
            "frame_index": self.frame_index,
            "media_time_s": self.media_time_s,
            "track_id": self.track_id,
            "subject_id": self.subject_id,
            "label": self.label,
            "category": self.category,
            "score": round(float(self.score), 6),
            "threshold": round(float(self.threshold), 6),
            "watchlist_image_ref": self.watchlist_image_ref,
            "deployment_id": self.deployment_id,
            "evaluation": self.evaluation,
            "probe": {"ref": self.probe_ref, "sha256": self.probe_sha256,
                      "bytes": len(self.probe_jpeg), "media_type": "image/jpeg"},
        }
        if include_probe:
            d["probe"]["jpeg_base64"] = base64.b64encode(self.probe_jpeg).decode("ascii")
        return d
