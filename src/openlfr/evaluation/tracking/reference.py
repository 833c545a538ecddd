"""The recorded tracks-per-person figure that reports show beside the false alert rate.

The false alert rate divides false alerts by *tracks*. A track is meant to be one
passer-by, but a tracker that splits one person into several tracks inflates the
denominator and makes the rate look better than it is per person. So every report that
shows "1 in N tracks" also says how many tracks the tracker makes per person on the
reference clips (``benchmarks/bench_tracking.py``: the generated clips and the demo pass,
real detector), for the tracker settings in use.

The figures live in ``evaluation/data/tracking-reference.json``, keyed by
:func:`tracker_fingerprint` (a hash of every tracker setting). Settings that were never
measured get no figure, and the reports say so ("not measured for these settings") rather
than show one measured for other settings.
"""

from __future__ import annotations

import functools
import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from openlfr.governance.counters import MIXED_TRACKERS
from openlfr.pipeline.tracker import settings_fingerprint

__all__ = ["ReferenceFragmentation", "REFERENCE_PATH", "tracker_fingerprint",
           "load_reference", "reference_for", "fragmentation_note", "record_reference"]

REFERENCE_PATH = Path(__file__).resolve().parent.parent / "data" / "tracking-reference.json"


@dataclass(frozen=True)
class ReferenceFragmentation:
    """Tracks per person measured on the reference clips for one set of tracker settings."""

    fingerprint: str
    tracker: str  # the tracker's type
    tracks_per_person: float  # all reference clips: tracks / appearances
    tracks: int
    appearances: int
    idf1: float
    clips: tuple[str, ...]
    detector: str
    measured_on: str  # ISO date
    settings: dict[str, Any]

    def as_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["clips"] = list(self.clips)
        return d


def tracker_fingerprint(config: Any = None) -> str:
    """The fingerprint of a tracker config (None: the defaults):
    :func:`openlfr.pipeline.tracker.settings_fingerprint`, the one a camera reports."""
    if config is not None and not isinstance(config, dict):
        config = config.model_dump(mode="json")
    return settings_fingerprint(config)


def load_reference(path: Path | None = None) -> dict[str, ReferenceFragmentation]:
    """The recorded figures by fingerprint (empty when none were recorded). Read once per
    version of the file: every report line asks for it."""
    p = path or REFERENCE_PATH
    if not p.is_file():
        return {}
    return dict(_read_reference(p, p.stat().st_mtime_ns))


@functools.lru_cache(maxsize=8)
def _read_reference(p: Path, _mtime_ns: int) -> dict[str, ReferenceFragmentation]:
    raw = json.loads(p.read_text(encoding="utf-8"))
    out = {}
    for fp, entry in raw.get("trackers", {}).items():
        entry = {**entry, "clips": tuple(entry["clips"])}
        out[fp] = ReferenceFragmentation(**entry)
    return out


def reference_for(config: Any = None, path: Path | None = None,
                  fingerprint: str | None = None) -> ReferenceFragmentation | None:
    """The figure for ``config`` (or a recorded ``fingerprint``), None if not measured."""
    fp = fingerprint or tracker_fingerprint(config)
    return load_reference(path).get(fp)


def fragmentation_note(fingerprint: str | None = None, path: Path | None = None) -> str:
    """What follows "1 in N tracks; " in a report. ``fingerprint``: the settings the
    deployment ran with; None when they were not recorded (the default settings are then
    assumed, and the note says so)."""
    if fingerprint == MIXED_TRACKERS:
        return "its cameras ran different tracker settings: tracks per person not measured"
    fp = fingerprint or tracker_fingerprint(None)
    ref = load_reference(path).get(fp)
    if ref is None:
        return "tracks per person not measured for these tracker settings"
    note = f"on reference clips {ref.tracks_per_person:.1f}x tracks per person"
    if fingerprint is None:
        note += " (default tracker settings; the settings in use were not recorded)"
    return note


def record_reference(entry: ReferenceFragmentation, path: Path | None = None) -> Path:
    """Add or replace ``entry`` in the reference file (written by the benchmark)."""
    p = path or REFERENCE_PATH
    raw: dict[str, Any] = {"about": __doc__.strip().splitlines()[0], "trackers": {}}
    if p.is_file():
        raw = json.loads(p.read_text(encoding="utf-8"))
    raw.setdefault("trackers", {})[entry.fingerprint] = entry.as_dict()
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_text(json.dumps(raw, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    return p
