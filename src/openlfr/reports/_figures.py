"""The values a deployment report is made of: :class:`DeploymentFigures` (with its rates,
:class:`RateCounts`), one :class:`AlertPoint` per alert, the outcome labels and the meanings
of the two rates. Plain typed values, validated on construction; rendered by
:mod:`openlfr.reports.deployment` (which re-exports them)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal, get_args

from openlfr.errors import ConfigError
from openlfr.evaluation.tracking.reference import fragmentation_note, reference_for
from openlfr.metrics import Proportion, alert_precision, false_alert_rate
from openlfr.reports._format import assume_utc

__all__ = ["AlertPoint", "DeploymentFigures", "RateCounts", "ReportStatus", "Kind",
           "REPORT_STATUSES",
           "OUTCOME_LABELS", "OUTCOME_STYLE", "EXTRA_LABELS", "extra_label", "RATE_MEANINGS"]

# Where an alert stands in a report: the values of `store.models.AlertStatus`, i.e. the three
# decisions (`store.models.Outcome`) plus disputed and pending.
ReportStatus = Literal["confirmed", "rejected", "not_engaged", "disputed", "pending"]
Kind = Literal["live", "evaluation"]
REPORT_STATUSES: tuple[ReportStatus, ...] = get_args(ReportStatus)

OUTCOME_LABELS: dict[str, str] = {
    "confirmed": "confirmed (true match)",
    "rejected": "rejected (false alert)",
    "not_engaged": "not engaged (person not stopped)",
    "disputed": "disputed (the two verifiers disagree)",
    "pending": "pending (no decision yet)",
}
# Okabe-Ito colours (distinguishable with colour-vision deficiency), plus distinct markers.
OUTCOME_STYLE: dict[str, tuple[str, str]] = {
    "confirmed": ("#009E73", "o"),
    "rejected": ("#D55E00", "X"),
    "not_engaged": ("#7F7F7F", "s"),
    "disputed": ("#CC79A7", "D"),
    "pending": ("#E69F00", "^"),
}

EXTRA_LABELS = {
    "legal_basis": "Legal basis",
    "dpia_reference": "DPIA reference",
    "cameras": "Cameras",
    "two_person_verification": "Two-person verification",
    "snapshot_hash": "Watchlist snapshot hash (SHA-256)",
    "end_reason": "End reason",
    "rule_profile": "Rule profile",
    "external_authorisation": "External authorisation",
    "urgent_use": "Urgent use",
}


def extra_label(key: str) -> str:
    return EXTRA_LABELS.get(key, key.replace("_", " ").capitalize())


RATE_MEANINGS = {
    "false_alert_rate": (
        "How often a passer-by who is not on the watchlist is wrongly flagged: rejected "
        "alerts divided by tracks (one track is meant to be one passer-by). This is the "
        "\"1 in N\" figure. Beside it: how many tracks the tracker makes per person on "
        "reference clips with known truth, for these tracker settings; at 2x tracks per "
        "person the rate per passer-by is twice as high as the rate per track."),
    "alert_precision": (
        "How often an alert turned out to be right: confirmed alerts divided by the alerts "
        "an officer decided on (confirmed + rejected). Alerts not engaged, disputed or still "
        "pending are left out. One minus this is the share of alerts that were wrong; it "
        "depends on how many watchlisted people actually passed, not only on the system."),
}


@dataclass(frozen=True)
class AlertPoint:
    """One alert on the timeline: when it was raised and how it ended."""

    at: datetime
    outcome: ReportStatus
    camera: str | None = None
    category: str | None = None
    score: float | None = None
    #: who decided (both verifiers under two-person verification), and their notes
    decided_by: str | None = None
    note: str | None = None

    def __post_init__(self) -> None:
        if self.outcome not in REPORT_STATUSES:
            raise ConfigError(f"alert outcome must be one of {', '.join(REPORT_STATUSES)}, "
                              f"got {self.outcome!r}")


class RateCounts:
    """The two headline rates of anything that counts confirmed and rejected alerts and
    tracks (one deployment's figures, or a period's totals)."""

    confirmed: int
    rejected: int
    tracks: int

    @property
    def adjudicated(self) -> int:
        return self.confirmed + self.rejected

    @property
    def false_alert_rate(self) -> Proportion | None:
        """None when the track counters are incomplete (fewer tracks than false alerts)."""
        if self.rejected > self.tracks:
            return None
        return false_alert_rate(self.rejected, self.tracks)

    @property
    def alert_precision(self) -> Proportion:
        return alert_precision(self.confirmed, self.adjudicated)


@dataclass(frozen=True)
class DeploymentFigures(RateCounts):
    """Everything the per-deployment report shows, as plain values."""

    deployment_id: str
    name: str
    purpose: str
    place: str
    kind: Kind
    window_start: datetime
    window_end: datetime | None
    frames_analysed: int
    frames_dropped: int
    faces_detected: int
    tracks: int
    watchlist_size: int | None
    watchlist_categories: Mapping[str, int | None]
    threshold: float | None
    model: str
    alerts: int
    confirmed: int
    rejected: int
    not_engaged: int
    disputed: int = 0
    timeline: tuple[AlertPoint, ...] = ()
    state: str | None = None
    started_at: datetime | None = None
    ended_at: datetime | None = None
    #: More facts to show, keyed in snake_case (labels in EXTRA_LABELS), e.g. legal_basis.
    extra: Mapping[str, str] = field(default_factory=dict)
    #: The tracker settings the deployment ran with (``tracker_fingerprint``); None when not
    #: recorded: the reference figure of the default settings is shown, and says so.
    tracker_fingerprint: str | None = None
    #: who authorised the deployment (``officer_label``), and when
    authorising_officer: str | None = None
    authorised_at: datetime | None = None
    #: the cameras deliver frames at their own pace (live cameras, or a clip played in a
    #: loop as the demo's is): frames the analysis cannot keep up with are dropped
    paced: bool = False

    def __post_init__(self) -> None:
        if self.kind not in get_args(Kind):
            raise ConfigError(f"deployment kind must be 'live' or 'evaluation', got {self.kind!r}")
        for name in ("frames_analysed", "frames_dropped", "faces_detected", "tracks",
                     "alerts", "confirmed", "rejected", "not_engaged", "disputed"):
            if getattr(self, name) < 0:
                raise ConfigError(f"{name} must not be negative, got {getattr(self, name)}")
        if self.watchlist_size is not None and self.watchlist_size < 0:
            raise ConfigError(f"watchlist_size must not be negative, got {self.watchlist_size}")
        if any(v is not None and v < 0 for v in self.watchlist_categories.values()):
            raise ConfigError("watchlist category counts must not be negative")
        end, start = assume_utc(self.window_end), assume_utc(self.window_start)
        if end is not None and end < start:
            raise ConfigError("the deployment window ends before it starts")
        if self.pending < 0:
            raise ConfigError(f"{self.alerts} alerts cannot have {self.decided_or_disputed} "
                              f"outcomes (confirmed + rejected + not engaged + disputed)")
        object.__setattr__(self, "timeline",
                           tuple(sorted(self.timeline, key=lambda a: assume_utc(a.at))))

    @classmethod
    def from_timeline(cls, timeline: Sequence[AlertPoint], **fields: Any) -> DeploymentFigures:
        """Figures whose outcome counts are those of a complete ``timeline``."""
        c = Counter(a.outcome for a in timeline)
        return cls(alerts=len(timeline), confirmed=c["confirmed"], rejected=c["rejected"],
                   not_engaged=c["not_engaged"], disputed=c["disputed"],
                   timeline=tuple(timeline), **fields)

    @property
    def decided_or_disputed(self) -> int:
        return self.confirmed + self.rejected + self.not_engaged + self.disputed

    @property
    def pending(self) -> int:
        """Alerts with no outcome yet."""
        return self.alerts - self.decided_or_disputed

    @property
    def outcome_counts(self) -> dict[str, int]:
        return {"confirmed": self.confirmed, "rejected": self.rejected,
                "not_engaged": self.not_engaged, "disputed": self.disputed,
                "pending": self.pending}

    @property
    def alert_count(self) -> int:
        return self.alerts

    @property
    def tracks_per_person(self) -> dict[str, Any]:
        """The measured fragmentation behind the denominator (see the module doc)."""
        ref = reference_for(fingerprint=self.tracker_fingerprint)
        return {"note": fragmentation_note(self.tracker_fingerprint),
                "fingerprint": self.tracker_fingerprint,
                "reference": None if ref is None else ref.as_dict()}

    @property
    def timeline_complete(self) -> bool:
        return len(self.timeline) == self.alerts

    @property
    def warnings(self) -> list[str]:
        """Inconsistencies a reader must know about (the report shows them)."""
        out = []
        if self.rejected > self.tracks:
            out.append(f"The counters record fewer tracks ({self.tracks:,}) than false alerts "
                       f"({self.rejected:,}), so the false alert rate is undefined: the track "
                       f"counter is incomplete.")
        if len(self.timeline) < self.alerts:
            out.append(f"The timeline shows {len(self.timeline):,} of {self.alerts:,} alerts; "
                       f"the records of the others were deleted under the retention policy "
                       f"(their outcomes remain in the counts).")
        elif len(self.timeline) > self.alerts:
            out.append(f"The store holds {len(self.timeline):,} alert records but the counters "
                       f"only {self.alerts:,} alerts: the counters lag behind.")
        return out
