"""Several cameras of the 1080p crowd clip on one node: separate engines against one shared
inference service, same run.

    flock -x /tmp/cpu.lock .venv/bin/python benchmarks/bench_cameras.py          # JSON on stdout
    ... bench_cameras.py --cameras 1,2,4,8 --seconds 30 --max-batch 8 --max-wait-ms 5

Each camera is its own process running the real :class:`~openlfr.pipeline.worker.CameraWorker`
in live mode on the clip, looped and played at its 25 frames/s (the latest frame analysed,
the rest dropped and counted), as a node runs it. Contenders, for each camera count:

- ``per_camera``: every camera process opens its own detector and embedder (today's node),
  onnxruntime intra-op threads ``--camera-threads`` per session (default 2, the shipped
  default; on 2 cores N cameras then run 4N threads);
- ``shared``: one :class:`~openlfr.inference.supervisor.InferenceService` holds the models
  and batches the cameras' calls (``--max-batch``, ``--max-wait-ms``, ``--workers`` calls at
  once on ``--service-threads`` threads each, default cores / workers; the cameras'
  analysis threads at ``--camera-nice``, their decoders at normal priority), as a node with
  ``inference.mode: shared`` runs it; the cameras decode, preprocess, track and match.

Contenders alternate per camera count, so load from other processes hits both alike. All
cameras start measuring together after ``--warmup`` s, for ``--seconds`` s. Reported: frames
analysed per second (aggregate and per camera), frames dropped, and the node's memory: the sum
of PSS (and RSS) over the camera processes and the service, sampled during the measurement
(the peak); PSS counts a page shared by k processes as 1/k in each, so the sum is what the
node really holds; the cameras' fork server (:func:`~openlfr.fleet.process.camera_context`,
whose imported pages the cameras share) is counted with them. CPU over the window, from
``/proc``: cores busy in the cameras and in the service, and CPU-ms per analysed frame; and
``decoded_fps``, the frames each camera decoded a second (25 while decoding keeps up with
the clip's real time: a contender whose decoders fall behind on a saturated node gains CPU
for analysis that a live camera would not have); and ``embedded_per_frame``, the faces
embedded per analysed frame, and ``tracks_per_camera_s``, the tracks that ended a second
per camera (more where tracks break between analysed frames).
The ratio ``shared / per_camera`` of aggregate frames/s is from one run (medians of the
runs of a camera count given more than once, with each alternating pair's ratio).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any

from bench_pipeline import crowd_clip  # same folder: run as a script, as every benchmark
from procstat import cpu_seconds, memory, parent_pid

ROOT = Path(__file__).resolve().parents[1]


def _camera(conn: Any, k: int, clip: str, vision: dict[str, Any],
            inference: dict[str, Any] | None, warmup: float, seconds: float) -> None:
    """One camera process: build the engine, run the worker, report the measured window."""
    import numpy as np

    from openlfr.inference.client import engine_for
    from openlfr.pipeline.sources import FileSourceConfig, Mode
    from openlfr.pipeline.worker import CameraWorker, WorkerConfig
    from openlfr.watchlist.index import WatchlistIndex

    engine = engine_for(vision, inference)
    rng = np.random.default_rng(k)
    vecs = rng.standard_normal((200, engine.embedder.dim)).astype(np.float32)
    index = WatchlistIndex([f"s{i}" for i in range(200)], [f"s{i}" for i in range(200)],
                           vecs / np.linalg.norm(vecs, axis=1, keepdims=True))
    worker = CameraWorker(FileSourceConfig(path=Path(clip), loop=True), engine, index,
                          WorkerConfig(camera_id=f"cam-{k}", threshold=0.99, mode=Mode.live))
    worker.start()
    conn.send({"ready": k})
    conn.recv()  # every camera starts its window together
    time.sleep(warmup)
    a = worker.stats()
    time.sleep(seconds)
    b = worker.stats()  # the worker's counts included
    worker.stop()
    lat = b.get("latency") or {}
    conn.send({"camera": k, "frames": b["frames"] - a["frames"],
               "p50_ms": {s: v["p50_ms"] for s, v in lat.items() if v.get("p50_ms")},
               "dropped": b["dropped"] - a["dropped"],
               "embedded": b["embedded"] - a["embedded"],
               "tracks_ended": b["tracks_ended"] - a["tracks_ended"],
               "errors": worker.counts["errors"],
               "error": str(worker.error) if worker.error else None})


def run_once(args: argparse.Namespace, clip: Path, cameras: int, mode: str) -> dict[str, Any]:
    from openlfr.fleet.process import camera_context
    from openlfr.inference import InferenceConfig, InferenceService

    threads = args.camera_threads if mode == "per_camera" else None
    vision = {"threads": threads} if threads else {}
    service = None
    if mode == "shared":
        service = InferenceService(InferenceConfig(
            mode="shared", max_batch=args.max_batch, max_wait_ms=args.max_wait_ms,
            threads=args.service_threads, workers=args.workers, camera_nice=args.camera_nice,
            timeout_s=60)).start()
    ctx = camera_context()  # as a node starts its cameras: forks of one preloaded server
    procs, conns = [], []
    try:
        for k in range(cameras):
            spec = service.client_spec(service.new_segment()) if service else None
            parent, child = ctx.Pipe()
            p = ctx.Process(target=_camera, args=(child, k, str(clip), vision, spec,
                                                  args.warmup, args.seconds))
            p.start()
            procs.append(p)
            conns.append(parent)
        for c in conns:
            if not c.poll(300):
                raise RuntimeError("a camera did not start")
            c.recv()
        for c in conns:
            c.send("go")
        pids = [p.pid for p in procs] + ([service.pid] if service else [])
        # the cameras' fork server holds what they share: its memory is the node's too
        server = parent_pid(procs[0].pid) if procs else None
        pids += [server] if server and server != os.getpid() else []
        peak_pss = peak_rss = service_pss = 0
        end = time.monotonic() + args.warmup + args.seconds
        cpu0: dict[int, float] | None = None
        cpu1: dict[int, float] = {}  # the last reading of each process inside the window
        while time.monotonic() < end:
            if time.monotonic() > end - args.seconds:  # sample inside the window
                now = {pid: cpu for pid in pids if (cpu := cpu_seconds(pid))}
                cpu0 = now if cpu0 is None else cpu0
                cpu1.update(now)
                each = {pid: memory([pid]) for pid in pids}  # one read of each process
                pss, rss = (sum(m[i] for m in each.values()) for i in (0, 1))
                peak_pss, peak_rss = max(peak_pss, pss), max(peak_rss, rss)
                if service is not None:
                    service_pss = max(service_pss, each[service.pid][0])
            time.sleep(1.0)
        cpu = {pid: cpu1[pid] - (cpu0 or {}).get(pid, cpu1[pid]) for pid in cpu1}
        results = []
        for c in conns:
            if not c.poll(120):
                raise RuntimeError("a camera did not report")
            results.append(c.recv())
        stats = service_stats(service) if service else None
    finally:
        for p in procs:
            p.join(30)
            if p.is_alive():
                p.kill()
        if service is not None:
            service.stop()
    fps = [r["frames"] / args.seconds for r in results]
    frames = max(1, sum(r["frames"] for r in results))
    service_cpu = cpu.get(service.pid, 0.0) if service else 0.0
    cameras_cpu = sum(cpu.values()) - service_cpu
    return {"cameras": cameras, "mode": mode, "aggregate_fps": round(sum(fps), 2),
            "per_camera_fps": [round(f, 2) for f in fps],
            "dropped": [r["dropped"] for r in results],
            # frames decoded a second per camera: 25 when decoding kept up with the clip's
            # real time, less when the node's CPU left the decoders behind
            "decoded_fps": round(sum(r["frames"] + r["dropped"] for r in results)
                                 / args.seconds / max(1, len(results)), 1),
            "stage_p50_ms": results[0]["p50_ms"] if results else {},
            # faces embedded per analysed frame: more where each carries more seconds of video
            "embedded_per_frame": round(sum(r["embedded"] for r in results) / frames, 2),
            # tracks ended a second per camera: more where tracks break between frames
            "tracks_per_camera_s": round(sum(r["tracks_ended"] for r in results)
                                         / args.seconds / max(1, len(results)), 2),
            "errors": sum(r["errors"] for r in results),
            "node_pss_mb": round(peak_pss / 2**20, 1), "node_rss_mb": round(peak_rss / 2**20, 1),
            "service_pss_mb": round(service_pss / 2**20, 1) if service else None,
            # CPU over (about) the measured window: cores busy, and CPU-ms per analysed frame
            "cores_cameras": round(cameras_cpu / args.seconds, 2),
            "cores_service": round(service_cpu / args.seconds, 2),
            "cpu_ms_per_frame": round(1000 * (cameras_cpu + service_cpu) / frames, 1),
            "batches": stats}


def service_stats(service: Any) -> dict[str, Any]:
    """How many model calls of each batch size the service ran (through a client)."""
    from openlfr.inference.client import ServiceClient

    client = ServiceClient.from_spec(service.client_spec(service.new_segment()))
    try:
        out: dict[str, dict[int, int]] = {}
        for model, size, count in client.stats()["batches"]:
            out.setdefault(model.split(":")[0], {})[size] = count
        return {m: {"calls": sum(s.values()), "mean_batch": round(
            sum(k * v for k, v in s.items()) / sum(s.values()), 2), "sizes": s}
            for m, s in out.items()}
    finally:
        client.close()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--clip", help="video (default: the shared 1080p crowd clip)")
    ap.add_argument("--cameras", default="1,2,4", help="camera counts, comma-separated")
    ap.add_argument("--seconds", type=float, default=30.0, help="measured window per run")
    ap.add_argument("--warmup", type=float, default=5.0)
    ap.add_argument("--max-batch", type=int, default=8)
    ap.add_argument("--max-wait-ms", type=float, default=5.0)
    ap.add_argument("--camera-threads", type=int, default=None,
                    help="per_camera: intra-op threads per session (default: the config's 2)")
    ap.add_argument("--service-threads", type=int, default=None,
                    help="shared: the service's intra-op threads (default: every core)")
    ap.add_argument("--workers", type=int, default=2, help="shared: batches run at once")
    ap.add_argument("--camera-nice", type=int, default=5,
                    help="shared: the camera processes' nice (inference.camera_nice)")
    ap.add_argument("--modes", default="per_camera,shared")
    args = ap.parse_args()
    clip = crowd_clip(args)
    if not clip.exists():
        sys.exit(f"clip not found: {clip}")
    modes = args.modes.split(",")
    runs: list[dict[str, Any]] = []
    for i, n in enumerate(int(x) for x in args.cameras.split(",")):
        for mode in modes if i % 2 == 0 else modes[::-1]:
            print(f"{n} camera(s), {mode} ...", file=sys.stderr, flush=True)
            runs.append(run_once(args, clip, n, mode))
            print(f"  {json.dumps(runs[-1])}", file=sys.stderr, flush=True)
    ratios = {}
    for n in sorted({r["cameras"] for r in runs}):
        fps = {m: [r["aggregate_fps"] for r in runs if r["cameras"] == n and r["mode"] == m]
               for m in ("shared", "per_camera")}
        pss = {m: [r["node_pss_mb"] for r in runs if r["cameras"] == n and r["mode"] == m]
               for m in ("shared", "per_camera")}
        if fps["shared"] and fps["per_camera"] and min(fps["per_camera"]) > 0:
            # a count given more than once (``--cameras 4,4``): medians, and each pair's ratio
            ratios[str(n)] = {
                "fps_shared_over_per_camera": round(
                    statistics.median(fps["shared"]) / statistics.median(fps["per_camera"]), 2),
                "fps_pairs": [round(a / b, 2) for a, b in
                              zip(fps["shared"], fps["per_camera"], strict=False)],
                "memory_shared_over_per_camera": round(
                    statistics.median(pss["shared"]) / statistics.median(pss["per_camera"]), 2)}
    print(json.dumps({"clip": clip.name, "cpus": os.cpu_count(), "seconds": args.seconds,
                      "max_batch": args.max_batch, "max_wait_ms": args.max_wait_ms,
                      "camera_threads": args.camera_threads,
                      "service_threads": args.service_threads, "workers": args.workers,
                      "camera_nice": args.camera_nice, "runs": runs,
                      "ratios": ratios}, indent=1))


if __name__ == "__main__":
    main()
