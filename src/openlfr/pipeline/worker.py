"""The per-camera worker: source -> detect -> quality -> track -> embed (when needed) ->
match -> alert, with statistics, a privacy-preserving preview and a scan guard.

Threads: the source decodes in its own thread (latest frame in live mode, every frame in
every-frame mode); one analysis thread owns the tracker, matcher and all per-track state;
alert delivery runs in the sinks' own threads (:class:`openlfr.alerts.sinks.Dispatcher`).
A slow analysis stage therefore drops frames at the source (counted) instead of falling
behind a live camera.

Embedding it (e.g. in ``openlfr serve``)::

    worker = CameraWorker(source_cfg, engine, index, WorkerConfig(camera_id="cam1",
                          threshold=0.38), guard=lambda cam, now: may_scan(dep, cam, now),
                          on_alert=push_to_console, on_counters=save_counters)
    worker.start()
    ...
    jpeg = worker.latest_preview_jpeg()   # blurred live view (None until a frame is shown)
    worker.stats()                        # dict of counters and latencies
    worker.stop()

Privacy (DESIGN safeguard 2): crops and embeddings exist only in the analysis thread's
memory: aligned crops for the frame being analysed, embeddings inside per-track evidence,
cleared when the track ends. An alert takes a JPEG of its probe crop with it (the store
encrypts it). Nothing else derived from a face leaves the worker; the preview blurs every
face that is not an alert. Frames the guard refuses are not analysed at all (counted as
``refused``).
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import numpy as np

from openlfr.alerts.model import AlertEvent
from openlfr.alerts.sinks import AlertSink, Dispatcher
from openlfr.errors import SourceError
from openlfr.faces import FaceMatch, Frame
from openlfr.pipeline.matcher import MatcherConfig, TrackMatcher
from openlfr.pipeline.preview import SceneCut, preview_jpeg, render_preview, write_preview_video
from openlfr.pipeline.privacy import crop_face, encode_jpeg
from openlfr.pipeline.sources import Mode, Source, SourceConfig, open_source
from openlfr.pipeline.tracker import make_tracker
from openlfr.pipeline.tracking import TrackStage
from openlfr.pipeline.trackstate import TrackState
from openlfr.pipeline.workerconfig import WorkerConfig
from openlfr.pipeline.workerstats import STAGES, Latency, summarize
from openlfr.vision.engine import Need, VisionEngine
from openlfr.watchlist.index import WatchlistIndex

__all__ = ["WorkerConfig", "CameraWorker", "Guard", "STAGES", "write_preview_video"]

log = logging.getLogger(__name__)

#: A scan guard: may camera ``camera_id`` be analysed at ``now`` (UTC)?
Guard = Callable[[str, datetime], bool]

_ALERT_NAMESPACE = uuid.UUID("5b0c3f4e-8d7a-4c1e-9f2b-0a6d1e3c7b55")


class _Lap:
    """Times the stages of one frame: ``lap(stage, frame)`` adds the time since the last
    lap to ``stage`` and hands the frame on."""

    def __init__(self, latency: Latency) -> None:
        self._latency = latency
        self._t = time.perf_counter()

    def __call__(self, stage: str, frame: Frame) -> Frame:
        now = time.perf_counter()
        self._latency.add(stage, now - self._t)
        self._t = now
        return frame

    def restart(self) -> None:
        self._t = time.perf_counter()

class CameraWorker:
    """Scans one camera. See the module docstring for the embedding API."""

    def __init__(self, source: Source | SourceConfig | str, engine: VisionEngine,
                 index: WatchlistIndex,
                 config: WorkerConfig, *, guard: Guard | None = None,
                 sinks: list[AlertSink] | None = None,
                 on_alert: Callable[[AlertEvent], None] | None = None,
                 on_counters: Callable[[dict[str, int]], None] | None = None,
                 on_frame: Callable[[np.ndarray], None] | None = None,
                 clock: Callable[[], datetime] | None = None) -> None:
        self.config = config
        self.camera_id = config.camera_id
        self.source = source if isinstance(source, Source) else open_source(source, config.mode)
        self.engine = engine
        self.index = index
        self.guard = guard
        self.on_alert = on_alert
        self.on_counters = on_counters
        self.on_frame = on_frame  # receives each redacted preview frame (e.g. a video writer)
        self._clock = clock or (lambda: datetime.now(UTC))
        self._dispatcher = Dispatcher(list(sinks or []))
        self._tracker = make_tracker(config.tracker, first_id=config.first_track_id)
        self._tracking = TrackStage(self._tracker)
        self._matcher = TrackMatcher(index, MatcherConfig(threshold=config.threshold,
                                                          min_hits=config.min_hits),
                                     self._tracking.state)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._preview: bytes | None = None
        self.alerts: deque[AlertEvent] = deque(maxlen=1000)
        self.error: BaseException | None = None
        self.counts = dict(frames=0, refused=0, faces=0, faces_gated=0, embedded=0,
                           tracks_ended=0, tracks_compared=0, alerts=0, errors=0, scene_cuts=0)
        self._reported = dict(frames=0, dropped=0, faces=0, tracks=0)
        self._last_report = time.monotonic()
        self.latency = Latency()
        self.alert_latency: list[float] = []  # frame decoded -> alert raised (s)
        self.analysis_latency: list[float] = []  # analysis of the frame began -> alert
        self._started_at: float | None = None
        self._finished_at: float | None = None
        self._scene_cut = SceneCut(config.scene_cut)
        self._best_non_alert = -1.0  # highest rank-1 score of a track that did not alert
        #: index of the last frame analysed (not refused, not failed); None before the first
        self.last_frame_index: int | None = None
        # where a resumed run of recorded footage may start, and the track id it starts at:
        # the frame after the last one analysed with no track left open, so a run resumed
        # there analyses what follows exactly as this run did (same tracks, same alert ids)
        self._resume = (int(getattr(self.source, "start_frame", 0) or 0),
                        config.first_track_id)

    # -- lifecycle -----------------------------------------------------------------------
    def start(self) -> CameraWorker:
        """Open the source (SourceError if it cannot be) and start the analysis thread."""
        if self._thread is not None:
            return self
        self.source.start()
        self._started_at = time.monotonic()
        self._thread = threading.Thread(target=self._run, name=f"worker:{self.camera_id}",
                                        daemon=True)
        self._thread.start()
        return self

    def stop(self, timeout: float = 10.0) -> None:
        """Stop scanning: ends all tracks (their evidence is dropped), flushes counters and
        delivers queued alerts (up to ``timeout``)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
        self.source.stop()
        self._dispatcher.close(timeout)

    def request_stop(self) -> None:
        """Ask the analysis thread to end after its current frame (returns at once; call
        :meth:`stop` to wait for it). Safe from a signal handler."""
        self._stop.set()

    def wait(self, timeout: float | None = None) -> bool:
        """Wait for the end of the input (files, folders); True when finished."""
        if self._thread is None:
            return True
        self._thread.join(timeout)
        return not self._thread.is_alive()

    def run(self) -> dict[str, Any]:
        """Start, process until the input ends (or stop() from another thread), stop, and
        return :meth:`stats`. Re-raises a failure of the analysis thread."""
        self.start()
        try:
            while not self.wait(0.2):
                pass
        finally:
            self.stop()
        if self.error is not None:
            raise self.error
        return self.stats()

    @property
    def resume_point(self) -> tuple[int, int]:
        """``(frame index, first track id)`` a later run of this recorded footage can resume
        from: after the last frame analysed with no track open (the start frame until then).
        Frames between it and :attr:`last_frame_index` are analysed again by the resumed run,
        which raises the same alerts with the same ids (``stable_alert_ids``)."""
        return self._resume

    @property
    def open_tracks(self) -> int:
        """Tracks open now: 0 once the input has ended, or the guard refused a frame (their
        evidence and match state are gone with them)."""
        return len(self._tracker.live_tracks)

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def latest_preview_jpeg(self) -> bytes | None:
        """JPEG of the latest analysed frame with every non-alert face blurred."""
        with self._lock:
            return self._preview

    # -- statistics ----------------------------------------------------------------------
    def stats(self) -> dict[str, Any]:
        elapsed = ((self._finished_at or time.monotonic()) - self._started_at
                   if self._started_at else 0.0)
        return summarize(camera_id=self.camera_id, mode=self.config.mode.value,
                         counts=self.counts, tracks=self._tracker.tracks_started,
                         src=self.source.stats, elapsed=elapsed, latency=self.latency,
                         alert_latency=self.alert_latency, delivery=self._dispatcher.stats,
                         threshold=self.config.threshold, best_non_alert=self._best_non_alert,
                         watchlist_subjects=len(self.index))

    # -- analysis thread -----------------------------------------------------------------
    def _run(self) -> None:
        consecutive = 0
        try:
            while not self._stop.is_set():
                try:
                    frame = self.source.read(timeout=0.5)
                except TimeoutError:
                    continue
                if frame is None:
                    break
                try:
                    self._process(frame)
                    consecutive = 0
                except Exception as exc:
                    consecutive += 1
                    self.counts["errors"] += 1
                    # the message names the stage's error, never frame or face data
                    log.warning("camera %s: frame %d skipped: %s: %s", self.camera_id,
                                frame.index, type(exc).__name__, exc)
                    if consecutive >= self.config.max_consecutive_errors:
                        raise
                self._maybe_report()
        except SourceError as exc:
            self.error = exc
            log.error("camera %s: %s", self.camera_id, exc)
        except Exception as exc:
            self.error = exc
            log.exception("camera %s: analysis failed", self.camera_id)
        finally:
            self._tracker.end_all()
            self._drop_ended()
            self._finished_at = time.monotonic()
            self._maybe_report(force=True)

    def _process(self, frame: Frame) -> None:
        now = self._clock()
        if self.guard is not None and not self.guard(self.camera_id, now):
            self.counts["refused"] += 1
            if self._tracker.live_tracks:  # scanning stopped: forget everyone at once
                self._tracker.end_all()
                self._drop_ended()
            with self._lock:
                self._preview = None
            return
        t_begin = time.perf_counter()
        if self.config.scene_cut is not None and self._scene_cut.is_cut(frame.image):
            self.counts["scene_cuts"] += 1
            self._tracker.end_all()  # a new shot: nobody carries over
            self._drop_ended()
        lap = _Lap(self.latency)
        frame = lap("detect", self.engine.analyse(frame, Need.FACES, floor=self._floor()))
        # the cheap gates first: only a face that may pass is aligned
        frame = lap("quality", self.engine.analyse(frame, Need.QUALITY, gate=True))
        frame = lap("track", self._tracking.track(frame))
        faces, needs = frame.analysed, frame.needs
        assert needs is not None and frame.passes is not None
        self.counts["frames"] += 1
        self.counts["faces"] += len(faces)
        self.counts["faces_gated"] += int(frame.passes.sum())
        if needs.any():
            frame = lap("embed", self.engine.analyse(frame, Need.EMBEDDINGS))
            self.counts["embedded"] += int(needs.sum())
            frame = self._matcher.observe(self._tracking.keep(frame))
            for m in frame.matches:
                self._raise_alert(frame, m, t_begin)
            lap("match", frame)
        frame = frame.without_crops()
        self._drop_ended()
        self.last_frame_index = frame.index
        if not self._tracker.live_tracks:
            self._resume = (frame.index + 1, self._tracker.next_id)
        lap.restart()
        if self.config.preview or self.on_frame is not None:
            self._make_preview(frame)
        lap("preview", frame)
        self.latency.add("total", time.perf_counter() - t_begin)

    def _raise_alert(self, frame: Frame, m: FaceMatch, t_begin: float) -> None:
        crop = crop_face(frame.image, frame.analysed.boxes[m.face])
        alert = AlertEvent(camera_id=self.camera_id, time=self._clock(), track_id=m.track_id,
                      subject_id=m.subject_id, label=m.label, score=m.score,
                      threshold=self.config.threshold, probe_jpeg=encode_jpeg(crop),
                      frame_index=frame.index, media_time_s=round(frame.timestamp, 3),
                      category=m.category, watchlist_image_ref=m.image_ref,
                      deployment_id=self.config.deployment_id,
                      evaluation=self.config.evaluation,
                      latency_s=time.monotonic() - frame.decoded_at,
                      **self._alert_id(frame.index, m.track_id, m.subject_id))
        self.counts["alerts"] += 1
        self.alert_latency.append(alert.latency_s or 0.0)
        self.analysis_latency.append(time.perf_counter() - t_begin)
        self._tracking.state(m.track_id).alert_label = f"{m.label} {m.score:.2f}"
        self.alerts.append(alert)
        log.info("camera %s: possible match track %d subject %s score %.3f (t=%.3f)",
                 self.camera_id, m.track_id, m.subject_id, m.score, self.config.threshold)
        if self.on_alert is not None:
            try:
                self.on_alert(alert)
            except Exception:
                log.exception("camera %s: on_alert callback failed", self.camera_id)
        self._dispatcher.submit(alert)

    def _alert_id(self, frame_index: int, track_id: int, subject_id: str) -> dict[str, str]:
        if not self.config.stable_alert_ids:
            return {}
        name = (f"{self.config.deployment_id}/{self.camera_id}/{frame_index}/{track_id}/"
                f"{subject_id}")
        return {"alert_id": uuid.uuid5(_ALERT_NAMESPACE, name).hex}

    def _drop_ended(self) -> None:
        for t in self._tracker.pop_ended():
            st: TrackState = t.state
            if st.compared and not st.alerted:
                self._best_non_alert = max(self._best_non_alert, st.best_score)
            self.counts["tracks_ended"] += 1
            self.counts["tracks_compared"] += int(st.compared)
            st.clear()  # the embeddings and matches of this passer-by are gone

    def _floor(self) -> float | None:
        """The lowest confidence to detect down to: the preview also blurs detections down
        to ``preview_blur_score`` (when a preview is made), and the tracker's second stage
        uses those down to its ``low_score``; the engine keeps the ones below its
        threshold apart (``frame.low``)."""
        wants_preview = self.config.preview or self.on_frame is not None
        blur = self.config.preview_blur_score if wants_preview else None
        floors = [f for f in (blur, self.config.tracker.low_score) if f is not None]
        return min(floors) if floors else None

    def _make_preview(self, frame: Frame) -> None:
        n = self.counts["frames"]
        want_jpeg = self.config.preview and (n - 1) % self.config.preview_every == 0
        if not want_jpeg and self.on_frame is None:
            return
        blur = self.config.preview_blur_score
        unsure = None if blur is None or frame.low is None else frame.low[frame.low.scores >= blur]
        shown = render_preview(frame.image, frame.analysed, unsure, self._tracker.track)
        if self.on_frame is not None:
            self.on_frame(shown)
        if want_jpeg:
            jpeg = preview_jpeg(shown, self.config.preview_max_width)
            with self._lock:
                self._preview = jpeg

    def _maybe_report(self, force: bool = False) -> None:
        if self.on_counters is None:
            return
        now = time.monotonic()
        if not force and now - self._last_report < self.config.counters_every_s:
            return
        self._last_report = now
        current = dict(frames=self.counts["frames"], dropped=self.source.stats.dropped,
                       faces=self.counts["faces"], tracks=self._tracker.tracks_started)
        delta = {k: current[k] - self._reported[k] for k in current}
        self._reported = current
        changed = any(delta.values())
        if self.config.mode is Mode.every_frame:  # how far it got (see resume_point)
            delta["frame_index"], delta["next_track_id"] = self._resume
        if force or changed:
            try:
                self.on_counters(delta)
            except Exception:
                log.exception("camera %s: saving counters failed", self.camera_id)

