"""One scan of one source against one watchlist: what ``openlfr scan`` runs.

:func:`build_watchlist` assembles the index from enrolment images (files, or a folder of
``Name/*.jpg``) plus optional LFW distractors; :func:`run_scan` runs a
:class:`~openlfr.pipeline.worker.CameraWorker` to the end of the input and returns its
summary. With a governed store and a deployment id, the scan uses the deployment's approved
snapshot as its watchlist, its scan guard (only while the deployment may scan this camera),
records alerts through governance (encrypted probe, audit entry) and adds its counters.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from openlfr.alerts.model import Alert
from openlfr.alerts.sinks import AlertSink
from openlfr.errors import ConfigError, ImageError, StateError
from openlfr.pipeline.sources import Mode
from openlfr.pipeline.worker import CameraWorker, Guard, WorkerConfig, write_preview_video
from openlfr.watchlist.index import WatchlistIndex

__all__ = ["WatchlistBuild", "build_watchlist", "run_scan", "ScanResult", "Governed",
           "open_governed", "snapshot_index"]

log = logging.getLogger(__name__)


@dataclass
class WatchlistBuild:
    index: WatchlistIndex
    enrolled: list[str]
    distractors: int
    failures: list[tuple[str, str]] = field(default_factory=list)


def build_watchlist(entries: Sequence[str | Path], *, engine: Any | None = None,
                    distractors: str | None = None, progress: bool = False) -> WatchlistBuild:
    """An in-memory watchlist from image files (label = file stem) and/or folders of
    ``Name/*.jpg`` (label = folder name), plus ``distractors`` (``lfw`` or ``lfw:N``,
    from the shared LFW folder). Templates use flip fusion (the enrolment engine)."""
    from openlfr.watchlist.enrol import enrol_file, enrol_folder, enrolment_engine

    engine = engine or enrolment_engine()
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
        from openlfr.settings import shared_data_dir
        from openlfr.watchlist.distractors import lfw_distractors

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
    alerts: list[Alert]


def run_scan(source: str, index: WatchlistIndex, threshold: float, *, engine: Any | None = None,
             camera_id: str = "cam-1", mode: Mode = Mode.evaluation,
             sinks: list[AlertSink] | None = None, preview: Path | None = None,
             guard: Guard | None = None, on_alert: Callable[[Alert], None] | None = None,
             on_counters: Callable[[dict[str, int]], None] | None = None,
             deployment_id: int | None = None, worker_options: dict[str, Any] | None = None
             ) -> ScanResult:
    """Scan ``source`` to its end (files/folders) or until interrupted (streams)."""
    from openlfr.pipeline.sources import open_source

    if engine is None:
        from openlfr.vision.engine import VisionEngine

        engine = VisionEngine.from_config()
    src = open_source(source, mode)
    cfg = WorkerConfig(camera_id=camera_id, threshold=threshold, mode=mode,
                       evaluation=mode is Mode.evaluation or deployment_id is None,
                       deployment_id=deployment_id, **(worker_options or {}))
    close_preview: Callable[[], None] | None = None
    on_frame = None
    if preview is not None:
        # the source's fps is known once it is opened; open it here for that
        src.start()
        on_frame, close_preview = write_preview_video(Path(preview), src.fps or 25.0)
    worker = CameraWorker(src, engine, index, cfg, guard=guard, sinks=sinks,
                          on_alert=on_alert, on_counters=on_counters, on_frame=on_frame)
    try:
        stats = worker.run()
    except KeyboardInterrupt:
        worker.stop()
        stats = worker.stats()
        stats["interrupted"] = True
    finally:
        if close_preview is not None:
            close_preview()
    return ScanResult(stats, list(worker.alerts))


@dataclass
class Governed:
    """What a scan inside a governed deployment needs. ``close()`` when done."""

    store: Any
    index: WatchlistIndex
    guard: Guard
    on_alert: Callable[[Alert], None]
    on_counters: Callable[[dict[str, int]], None]
    threshold: float
    info: dict[str, Any]

    def close(self) -> None:
        self.store.close()


def snapshot_index(session: Any, dep: Any, engine: Any, keyring: Any = None
                   ) -> WatchlistIndex:
    """The deployment's approved snapshot as a search index, for ``engine``; StateError if
    the deployment was authorised for another embedder. Used by ``openlfr scan`` and by the
    server's cameras, so both search the same thing."""
    from openlfr.governance.watchlist import load_snapshot
    from openlfr.watchlist.enrol import embedder_key

    key = embedder_key(engine)
    if dep.embedder_key != key:
        raise StateError(f"deployment {dep.id} uses embedder {dep.embedder_key}, "
                         f"this engine is {key}")
    snap = load_snapshot(session, dep.id, keyring, key)
    return WatchlistIndex([str(int(x)) for x in snap.subject_ids], snap.labels,
                          snap.embeddings,
                          categories=[getattr(c, "value", c) for c in snap.categories],
                          image_refs=[f"snapshot:{dep.id}/subject:{int(x)}"
                                      for x in snap.subject_ids])


def open_governed(deployment_id: int, engine: Any, camera_id: str, *, recorded: bool,
                  settings: Any = None, dev: bool = False) -> Governed:
    """The deployment's approved snapshot as an index, its scan guard (reloaded every 2 s,
    so a stop takes effect), and recorders for alerts (``record_alert``: encrypted probe,
    audit entry) and counters (``add_counters``). Refuses recorded footage unless the
    deployment is of kind ``evaluation``, and an engine whose embedder differs from the
    deployment's."""
    import threading
    from datetime import UTC, datetime

    from openlfr.governance import alerts as GA
    from openlfr.governance import deployments as GD
    from openlfr.governance.runtime import open_store
    from openlfr.settings import Settings
    from openlfr.store.models import DeploymentKind

    store = open_store(settings or Settings(), dev=True if dev else None, need_key=True)
    try:
        with store.session() as s:
            dep = GD.get_deployment(s, deployment_id)
            if recorded and dep.kind != DeploymentKind.EVALUATION:
                raise StateError(f"deployment {deployment_id} is of kind {dep.kind.value}: "
                                 "recorded footage is scanned only in a deployment of kind "
                                 "'evaluation' (DESIGN safeguard 1)")
            index = snapshot_index(s, dep, engine, store.keyring)
            threshold = float(dep.threshold)
            info = {"id": dep.id, "name": dep.name, "kind": dep.kind.value,
                    "status": dep.status.value}
    except BaseException:
        store.close()
        raise
    lock = threading.Lock()
    # reloads itself every 2 s (a stop from the console takes effect); fails closed
    guard = GD.LiveScanGuard(store.sessions, deployment_id, refresh_s=2.0)

    def on_alert(alert: Any) -> None:
        try:
            with lock, store.session() as s2:
                GA.record_alert(s2, deployment_id, camera_id, str(alert.track_id),
                                int(alert.subject_id), float(alert.score), alert.probe_jpeg,
                                alert.time)
        except Exception as exc:  # the alert is still printed and sent to the sinks
            log.error("alert %s not recorded in the store: %s", alert.alert_id, exc)

    def on_counters(delta: dict[str, int]) -> None:
        with lock, store.session() as s2:
            GA.add_counters(s2, deployment_id, camera_id, delta["frames"], delta["dropped"],
                            delta["faces"], delta["tracks"], datetime.now(UTC))

    return Governed(store, index, guard, on_alert, on_counters, threshold, info)
