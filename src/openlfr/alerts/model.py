"""The alert: a *possible match* between a tracked face and a watchlist subject.

An alert is not an identification: a human decides (safeguard 3). It carries what
that human needs side by side: the probe crop (JPEG bytes, in memory; the store encrypts
it at rest) and a reference to the watchlist image, the similarity score and the threshold
in force, the camera, time and track.

:meth:`AlertEvent.to_public` is the JSON form for sinks: the crop is referenced (sha256, size,
``probe_ref``), never inlined unless ``include_probe=True`` is asked for explicitly.

An alert rebuilt from the store for a sink that does not inline the crop carries no bytes:
``probe_jpeg=None`` with ``probe_digest`` (sha256 hex) and ``probe_size`` instead, so the
encrypted image is not decrypted for nothing; :meth:`to_public` reads the same.
"""

from __future__ import annotations

import base64
import hashlib
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

__all__ = ["AlertEvent"]


@dataclass(frozen=True, eq=False)
class AlertEvent:
    camera_id: str
    time: datetime  # UTC, when the frame that triggered it was analysed
    track_id: int
    subject_id: str
    label: str
    score: float  # cosine similarity of the best evidence
    threshold: float
    probe_jpeg: bytes | None = field(repr=False)  # None: a reference only (see below)
    frame_index: int = -1
    media_time_s: float | None = None  # position in the source (recorded footage)
    category: str | None = None
    watchlist_image_ref: str | None = None
    deployment_id: int | None = None
    evaluation: bool = False  # a test run on recorded footage (safeguard 1)
    alert_id: str = field(default_factory=lambda: uuid.uuid4().hex)
    latency_s: float | None = None  # frame decoded -> alert raised
    probe_digest: str | None = field(default=None, repr=False)  # when probe_jpeg is None
    probe_size: int | None = field(default=None, repr=False)  # when probe_jpeg is None

    def __post_init__(self) -> None:
        if self.time.tzinfo is None:
            raise ValueError("AlertEvent.time must be timezone-aware (UTC)")
        if self.probe_jpeg is None and (self.probe_digest is None or self.probe_size is None):
            raise ValueError("an AlertEvent without probe bytes needs probe_digest and probe_size")

    @property
    def probe_sha256(self) -> str:
        if self.probe_jpeg is None:
            return str(self.probe_digest)
        return hashlib.sha256(self.probe_jpeg).hexdigest()

    @property
    def probe_bytes(self) -> int:
        return len(self.probe_jpeg) if self.probe_jpeg is not None else int(self.probe_size or 0)

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
                      "bytes": self.probe_bytes, "media_type": "image/jpeg"},
        }
        if include_probe:
            if self.probe_jpeg is None:
                raise ValueError(f"alert {self.alert_id} carries no probe bytes to inline")
            d["probe"]["jpeg_base64"] = base64.b64encode(self.probe_jpeg).decode("ascii")
        return d
