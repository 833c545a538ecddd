"""One scan of one source against one watchlist: what ``openlfr scan`` runs.

:func:`build_watchlist` assembles the index from enrolment images (files, or a folder of
``Name/<images>``) plus optional LFW distractors; :func:`run_scan` runs a
:class:`~openlfr.pipeline.worker.CameraWorker` to the end of the input and returns its
summary. A scan inside a governed deployment gets its index, guard and recorder from
:func:`openlfr.fleet.camera.open_governed`.
"""

from __future__ import annotations

import logging
import signal
import sys
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from openlfr.alerts.model import AlertEvent
from openlfr.alerts.sinks import AlertSink
from openlfr.errors import ConfigError, ImageError
from openlfr.pipeline.sources import Mode, open_source
from openlfr.pipeline.worker import CameraWorker, Guard, WorkerConfig, write_preview_video
from openlfr.settings import shared_data_dir
from openlfr.vision.engine import VisionEngine
from openlfr.watchlist.distractors import lfw_distractors
from openlfr.watchlist.enrol import enrol_file, enrol_folder
from openlfr.watchlist.index import WatchlistIndex

__all__ = ["WatchlistBuild", "build_watchlist", "run_scan", "ScanResult"]

log = logging.getLogger(__name__)


@dataclass
class WatchlistBuild:
    index: WatchlistIndex
    enrolled: list[str]
    distractors: int
    failures: list[tuple[str, str]] = field(default_factory=list)


def build_watchlist(entries: Sequence[str | Path], *, engine: VisionEngine,
                    distractors: str | None = None, progress: bool = False) -> WatchlistBuild:
    """An in-memory watchlist from image files (label = file stem) and/or folders of
    ``Name/<images>`` (label = folder name), plus ``distractors`` (``lfw`` or ``lfw:N``,
    from the shared LFW folder). Templates are enrolled by ``engine`` (its enrolment flip
    setting), the engine the scan then runs."""
    ids: list[str] = []
    labels: list[str] = []
    vecs: list[np.ndarray] = []
    refs: list[str | None] = []
    failures: list[tuple[str, str]] = []
    for e in entries:
        p = Path(e)
        if p.is_dir():
            res = enrol_folder(engine, p, progress=progress)
            for name, t, src in zip(res.names, res.templates, res.sources, strict=True):
                ids.append(name)
                labels.append(name.replace("_", " "))
                vecs.append(t.embedding)
                refs.append(str(src))
            failures += [(str(f), why) for f, why in res.failures]
        elif p.is_file():
            t = enrol_file(engine, p)
            ids.append(p.stem)
            labels.append(p.stem.replace("-", " ").replace("_", " ").title())
            vecs.append(t.embedding)
            refs.append(str(p))
        else:
            raise ImageError(f"watchlist entry {p}: no such file or folder")
    enrolled = list(dict.fromkeys(ids))
    n_distractors = 0
    if distractors:
        kind, _, n = distractors.partition(":")
        if kind != "lfw":
            raise ConfigError(f"--distractors {distractors!r}: expected lfw or lfw:N")

        data = shared_data_dir()
        if data is None or not (data / "lfw").is_dir():
            raise ConfigError("--distractors lfw needs the LFW folder (set OPENLFR_SHARED_DATA)")
        names, dv = lfw_distractors(data / "lfw", int(n) if n else None, progress=progress)
        for name, v in zip(names, dv, strict=True):
            ids.append(f"lfw:{name}")
            labels.append(name)
            vecs.append(v)
            refs.append(None)
        n_distractors = len(names)
    if not vecs:
        raise ConfigError("the watchlist is empty: give enrolment images or a folder")
    index = WatchlistIndex(ids, labels, np.stack(vecs), image_refs=refs,
                           categories=["test_subject"] * len(ids))
    return WatchlistBuild(index, enrolled, n_distractors, failures)


@dataclass
class ScanResult:
    stats: dict[str, Any]
    alerts: list[AlertEvent]


def run_scan(source: str, index: WatchlistIndex, threshold: float, *, engine: VisionEngine,
             camera_id: str = "cam-1", mode: Mode = Mode.every_frame,
             sinks: list[AlertSink] | None = None, preview: Path | None = None,
             guard: Guard | None = None, on_alert: Callable[[AlertEvent], None] | None = None,
             on_counters: Callable[[dict[str, int]], None] | None = None,
             deployment_id: int | None = None, worker_options: dict[str, Any] | None = None
             ) -> ScanResult:
    """Scan ``source`` to its end (files/folders) or until interrupted (streams)."""
    src = open_source(source, mode)
    cfg = WorkerConfig(camera_id=camera_id, threshold=threshold, mode=mode,
                       evaluation=mode is Mode.every_frame or deployment_id is None,
                       deployment_id=deployment_id, **(worker_options or {}))
    close_preview: Callable[[], None] | None = None
    on_frame = None
    if preview is not None:
        # the source's fps is known once it is opened; open it here for that
        src.start()
        on_frame, close_preview = write_preview_video(Path(preview), src.fps or 25.0)
    worker = CameraWorker(src, engine, index, cfg, guard=guard, sinks=sinks,
                          on_alert=on_alert, on_counters=on_counters, on_frame=on_frame)
    # Ctrl-C asks the worker to stop instead of raising KeyboardInterrupt wherever the main
    # thread happens to be: the scan then always ends the same way, its threads joined
    # (none left inside native code at exit, which aborted the process: "terminate called
    # without an active exception"), its queued alerts delivered, and its summary says so.
    interrupted = threading.Event()

    def on_sigint(_signum: int, _frame: object) -> None:
        if interrupted.is_set():
            print("stopping: finishing the current frame and delivering queued alerts",
                  file=sys.stderr)
        interrupted.set()
        worker.request_stop()

    previous = None
    if threading.current_thread() is threading.main_thread():
        previous = signal.signal(signal.SIGINT, on_sigint)
    try:
        worker.start()
        while not worker.wait(0.2):
            pass
    finally:
        worker.stop()
        worker.wait()  # stop() waits a bounded time: never leave the thread running
        if previous is not None:
            signal.signal(signal.SIGINT, previous)
        if close_preview is not None:
            close_preview()
    if worker.error is not None:
        raise worker.error
    stats = worker.stats()
    if interrupted.is_set():
        stats["interrupted"] = True
    return ScanResult(stats, list(worker.alerts))
