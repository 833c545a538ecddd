"""The worker's statistics: recent per-stage latencies and the :meth:`stats` summary of
:class:`openlfr.pipeline.worker.CameraWorker` (counters, rates, latencies; aggregates only,
nothing about a face)."""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable
from typing import Any

import numpy as np

__all__ = ["STAGES", "Latency", "summarize"]

STAGES = ("detect", "quality", "track", "embed", "match", "preview", "total")


class Latency:
    """Recent per-stage timings; written by the analysis thread, read by any (stats())."""

    def __init__(self, n: int = 2000) -> None:
        self.values: dict[str, deque[float]] = {s: deque(maxlen=n) for s in STAGES}
        self.totals: dict[str, float] = dict.fromkeys(STAGES, 0.0)
        self._lock = threading.Lock()

    def add(self, stage: str, seconds: float) -> None:
        with self._lock:
            self.values[stage].append(seconds)
            self.totals[stage] += seconds

    def summary(self) -> dict[str, dict[str, float]]:
        with self._lock:
            values = {s: list(v) for s, v in self.values.items()}
        out = {}
        for s, v in values.items():
            if v:
                a = np.asarray(v, float) * 1000
                out[s] = {"p50_ms": round(float(np.percentile(a, 50)), 2),
                          "p95_ms": round(float(np.percentile(a, 95)), 2),
                          "total_s": round(self.totals[s], 3)}
        return out


def summarize(*, camera_id: str, mode: str, counts: dict[str, int], tracks: int, src: Any,
              elapsed: float, latency: Latency, alert_latency: list[float],
              delivery: Callable[[], Any], threshold: float, best_non_alert: float,
              watchlist_subjects: int) -> dict[str, Any]:
    """The worker's stats() dict; ``src`` is the source's stats, ``delivery`` returns the
    dispatcher's."""
    c = dict(counts)
    fps_in = src.fps or 0.0
    analysed_fps = c["frames"] / elapsed if elapsed > 0 else 0.0
    media_s = (src.decoded / fps_in) if fps_in else 0.0
    lat = np.asarray(list(alert_latency)) * 1000
    return {
        "camera_id": camera_id,
        "mode": mode,
        **c,
        "tracks": tracks,
        "decoded": src.decoded,
        "dropped": src.dropped,
        "reconnects": src.reconnects,
        "source_fps": round(fps_in, 3),
        "elapsed_s": round(elapsed, 3),
        "frames_per_s": round(analysed_fps, 3),
        # frames decoded a second: below source_fps, a live decoder falls behind its camera
        "decoded_per_s": round(src.decoded / elapsed, 3) if elapsed > 0 else 0.0,
        "faces_per_s": round(c["faces"] / elapsed, 3) if elapsed > 0 else 0.0,
        # seconds of video analysed per second of wall time (1.0 = keeps up with live)
        "real_time_factor": round(media_s / elapsed, 3) if elapsed > 0 and media_s else None,
        "latency": latency.summary(),
        "alert_latency_ms": ({"p50": round(float(np.percentile(lat, 50)), 1),
                              "p95": round(float(np.percentile(lat, 95)), 1),
                              "n": int(lat.size)} if lat.size else None),
        "delivery": delivery(),
        "threshold": threshold,
        # margin below the threshold of everyone who did not alert (aggregate only)
        "best_score_without_alert": (round(best_non_alert, 4)
                                     if best_non_alert > -1 else None),
        "watchlist_subjects": watchlist_subjects,
    }
