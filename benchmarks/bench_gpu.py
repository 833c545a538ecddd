"""GPU throughput, unattended: embedding faces/s, detection frames/s, 1080p25 streams end to end.

    .venv/bin/python benchmarks/bench_gpu.py                     # cuda, then tensorrt if it loads
    .venv/bin/python benchmarks/bench_gpu.py --providers cuda --precision fp16
    .venv/bin/python benchmarks/bench_gpu.py --providers cpu --dry-run --out /tmp/x  # seconds

Every model opens through ``openlfr.vision.runtime`` with the provider asked for, so a GPU
provider that cannot load is refused there (never a silent CPU run): the script then says
why and exits with status 2, writing nothing. ``tensorrt`` is measured only when it loads
(its absence is recorded, not an error); ``cuda`` (or the first provider asked for) must.

Per provider and precision:

- **embedding**: ArcFace MBF faces/s at batch 1, 2, 4, ... 1024 (``--embed-batches``), on
  aligned 112x112 crops from the clip: the model alone (a prepared float32 batch) and with
  OpenLFR's preprocessing (``embed_aligned``: uint8 BGR crops in, unit vectors out). Each
  point runs for ``--seconds`` after a warm-up (TensorRT builds an engine per shape there).
- **detection**: SCRFD-500M frames/s at batch 1 ... 64 (``--detect-batches``) on the clip's
  frames at the 1080p input OpenLFR uses (640x384) and at 640x640 (the reference ceiling's
  shape): the model alone, and with preprocessing and decoding of every frame.
- **streams**: the clip decoded on the CPU by ``--decoders`` threads (one capture each,
  looping), each frame prepared, detected in batches of ``--stream-batch`` on the device,
  its faces aligned and embedded in one batch; sustained frames/s over ``--stream-seconds``,
  and the number of 25 fps streams that is. Decoding alone is measured beside it, so the
  figure says whether the CPU decode or the device is the limit.

Writes ``gpu-<provider>.json`` and ``gpu-<provider>.md`` per provider into ``--out``
(default docs/results/). Progress on stderr, the JSON of all providers on stdout.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import queue
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
REFERENCE = {"embed_faces_per_s_b1024": 24_000, "detect_640x640_frames_per_s_b64": 5_700,
             "what": "H100, PyTorch eager, fp16, same models (docs/benchmarks.md)"}


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def _ints(text: str) -> list[int]:
    return [int(x) for x in text.split(",") if x]


def _rate(fn, items: int, seconds: float) -> float:
    """Items per second of calling ``fn`` repeatedly for ``seconds`` (after one warm-up)."""
    fn()
    n, t0 = 0, time.perf_counter()
    while True:
        fn()
        n += 1
        took = time.perf_counter() - t0
        if took >= seconds:
            return round(n * items / took, 1)


def clip_frames(path: Path, count: int) -> list[np.ndarray]:
    import cv2

    cap = cv2.VideoCapture(str(path), cv2.CAP_FFMPEG)
    frames = []
    while len(frames) < count:
        ok, frame = cap.read()
        if not ok:
            break
        frames.append(frame)
    cap.release()
    if not frames:
        sys.exit(f"bench_gpu: no frames decoded from {path}")
    return frames


def build(provider: str, precision: str):
    """(detector, embedder) on ``provider``; raises ProviderUnavailable."""
    from openlfr.vision.detectors import ScrfdConfig, ScrfdDetector
    from openlfr.vision.embedders import ArcFaceConfig, ArcFaceEmbedder
    from openlfr.vision.runtime import RuntimeConfig

    rt = RuntimeConfig(provider=provider, precision=precision)
    return (ScrfdDetector(ScrfdConfig(runtime=rt)),
            ArcFaceEmbedder(ArcFaceConfig(runtime=rt, batch_size=1024)))


def face_crops(detector, frames: list[np.ndarray]) -> np.ndarray:
    from openlfr.vision.align import align

    crops = [align(f, d.landmarks) for f in frames if len(d := detector.detect(f))]
    if not crops:
        return np.full((1, 112, 112, 3), 128, np.uint8)
    return np.concatenate(crops)


def embedding(embedder, crops: np.ndarray, batches: list[int], seconds: float) -> list[dict]:
    out = []
    for b in batches:
        batch = crops[np.arange(b) % len(crops)]
        blob = np.ascontiguousarray((batch[..., ::-1].astype(np.float32) - 127.5)
                                    .transpose(0, 3, 1, 2) / 127.5)
        feed = {embedder._input: blob}
        model = _rate(lambda feed=feed: embedder.session.run([embedder._output], feed), b,
                      seconds)
        full = _rate(lambda batch=batch: embedder.embed_aligned(batch), b, seconds)
        out.append({"batch": b, "model_faces_per_s": model, "with_preprocessing": full})
        log(f"  embed batch {b}: {model} faces/s (model), {full} (with preprocessing)")
    return out


def detection(detector, frames: list[np.ndarray], batches: list[int],
              seconds: float) -> list[dict]:
    out = []
    for shape in ("native", "640x640"):
        for b in batches:
            pick = [frames[i % len(frames)] for i in range(b)]
            if shape == "native":
                blobs = [detector.prepare(f)[0] for f in pick]
            else:
                blobs = [np.zeros((1, 3, 640, 640), np.float32) for _ in pick]
                for blob, f in zip(blobs, pick, strict=True):
                    part = detector.prepare(f)[0]
                    blob[:, :, :part.shape[2], :part.shape[3]] = part
            feed = {detector._input: np.concatenate(blobs)}
            model = _rate(lambda feed=feed: detector.session.run(detector._outputs, feed), b,
                          seconds)
            row = {"shape": shape if shape != "native" else
                   f"{blobs[0].shape[3]}x{blobs[0].shape[2]}", "batch": b,
                   "model_frames_per_s": model}
            if shape == "native":
                row["with_pre_and_post"] = _rate(lambda pick=pick: detect_batch(detector, pick),
                                                 b, seconds)
            out.append(row)
            log(f"  detect {row}")
    return out


def detect_batch(detector, frames: list[np.ndarray]) -> list:
    """Prepare, run as one batch, decode each frame (frames of one size)."""
    prepared = [detector.prepare(f) for f in frames]
    blob = np.concatenate([p[0] for p in prepared])
    outs = detector.session.run(detector._outputs, {detector._input: blob})
    ph, pw = blob.shape[2:]
    return [detector.decode([o[i:i + 1] for o in outs], ph, pw, scale)
            for i, (_, scale) in enumerate(prepared)]


def _decoder(path: Path, out: queue.Queue, stop: threading.Event, prepare) -> None:
    import cv2

    cap = cv2.VideoCapture(str(path), cv2.CAP_FFMPEG)
    while not stop.is_set():
        ok, frame = cap.read()
        if not ok:
            cap.set(cv2.CAP_PROP_POS_FRAMES, 0)
            continue
        item = (frame, *prepare(frame)) if prepare else (frame,)
        try:
            out.put(item, timeout=0.5)
        except queue.Full:
            continue
    cap.release()


def _drain(frames: queue.Queue, stop: threading.Event, step) -> None:
    while not stop.is_set():
        try:
            items = [frames.get(timeout=0.5)]
        except queue.Empty:
            continue
        while len(items) < step.batch:
            try:
                items.append(frames.get_nowait())
            except queue.Empty:
                break
        step(items)


class _Pipeline:
    """One device consumer: detect a batch of prepared frames, embed all their faces."""

    def __init__(self, detector, embedder, batch: int) -> None:
        self.detector, self.embedder, self.batch = detector, embedder, batch
        self.frames = self.faces = 0

    def __call__(self, items: list) -> None:
        from openlfr.vision.align import align

        d = self.detector
        by_shape: dict[tuple, list] = {}
        for frame, blob, scale in items:
            by_shape.setdefault(blob.shape, []).append((frame, blob, scale))
        for group in by_shape.values():
            blob = np.concatenate([g[1] for g in group])
            outs = d.session.run(d._outputs, {d._input: blob})
            crops = []
            for i, (frame, _, scale) in enumerate(group):
                faces = d.decode([o[i:i + 1] for o in outs], blob.shape[2], blob.shape[3],
                                 scale)
                if len(faces):
                    crops.append(align(frame, faces.landmarks))
            if crops:
                self.embedder.embed_aligned(np.concatenate(crops))
                self.faces += sum(len(c) for c in crops)
            self.frames += len(group)


def streams(detector, embedder, clip: Path, decoders: int, batch: int,
            seconds: float) -> dict:
    """Sustained end-to-end frames/s with CPU decoding, and decoding alone."""
    result = {"decoders": decoders, "batch": batch, "seconds": seconds}
    for mode in ("decode_only", "end_to_end"):
        frames: queue.Queue = queue.Queue(maxsize=4 * batch)
        stop = threading.Event()
        prepare = detector.prepare if mode == "end_to_end" else None
        threads = [threading.Thread(target=_decoder, args=(clip, frames, stop, prepare),
                                    daemon=True) for _ in range(decoders)]
        pipe = _Pipeline(detector, embedder, batch)
        if mode == "decode_only":
            pipe = _Counter(batch)
        for t in threads:
            t.start()
        worker = threading.Thread(target=_drain, args=(frames, stop, pipe), daemon=True)
        worker.start()
        time.sleep(min(2.0, seconds / 4))  # warm-up: captures open, engines built
        f0, t0 = pipe.frames, time.perf_counter()
        time.sleep(seconds)
        fps = (pipe.frames - f0) / (time.perf_counter() - t0)
        stop.set()
        for t in [*threads, worker]:
            t.join(timeout=30)
        result[mode] = {"frames_per_s": round(fps, 1), "streams_1080p25": round(fps / 25, 1)}
        if mode == "end_to_end":
            result[mode]["faces"] = pipe.faces
        log(f"  streams {mode}: {result[mode]}")
    return result


class _Counter:
    def __init__(self, batch: int) -> None:
        self.batch, self.frames = batch, 0

    def __call__(self, items: list) -> None:
        self.frames += len(items)


def device_name() -> str:
    try:
        out = subprocess.run(["nvidia-smi", "--query-gpu=name,driver_version",
                              "--format=csv,noheader"], capture_output=True, text=True,
                             timeout=10, check=False).stdout.strip()
    except (OSError, subprocess.TimeoutExpired):
        out = ""
    return out or "no nvidia-smi"


def markdown(res: dict) -> str:
    lines = [f"# bench_gpu: {res['provider']} {res['precision']}", "",
             f"{res['date']}; device: {res['device']}; onnxruntime {res['onnxruntime']}; "
             f"clip {res['clip']}" + ("; **dry run, not a GPU figure**" if res["dry_run"]
                                      else ""), "",
             "| embedding batch | faces/s (model) | faces/s (with preprocessing) |",
             "|---|---|---|"]
    lines += [f"| {r['batch']} | {r['model_faces_per_s']:,} | {r['with_preprocessing']:,} |"
              for r in res["embedding"]]
    lines += ["", "| detection input | batch | frames/s (model) | frames/s (with pre/post) |",
              "|---|---|---|---|"]
    lines += [f"| {r['shape']} | {r['batch']} | {r['model_frames_per_s']:,} | "
              f"{r.get('with_pre_and_post', '')} |" for r in res["detection"]]
    s = res["streams"]
    lines += ["", f"Streams ({s['decoders']} decoding threads, detection batch {s['batch']}, "
              f"{s['seconds']} s): decoding alone {s['decode_only']['frames_per_s']} "
              f"frames/s ({s['decode_only']['streams_1080p25']} streams of 25 fps); end to "
              f"end {s['end_to_end']['frames_per_s']} frames/s = "
              f"**{s['end_to_end']['streams_1080p25']} streams of 1080p25**.", "",
              f"Reference ceilings ({REFERENCE['what']}): ArcFace MBF "
              f"{REFERENCE['embed_faces_per_s_b1024']:,} faces/s at batch 1024; SCRFD 640x640 "
              f"{REFERENCE['detect_640x640_frames_per_s_b64']:,} frames/s at batch 64.", ""]
    return "\n".join(lines)


def run_provider(args, provider: str, precision: str) -> dict:
    import onnxruntime as ort

    detector, embedder = build(provider, precision)
    log(f"{provider} {precision}: sessions on {detector.session.get_providers()[0]}")
    frames = clip_frames(args.clip, 16)
    crops = face_crops(detector, frames)
    res = {"provider": provider, "precision": precision, "dry_run": args.dry_run,
           "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
           "device": device_name(), "onnxruntime": ort.__version__,
           "cpus": os.cpu_count(), "clip": args.clip.name, "reference": REFERENCE,
           "embedding": embedding(embedder, crops, args.embed_batches, args.seconds),
           "detection": detection(detector, frames, args.detect_batches, args.seconds),
           "streams": streams(detector, embedder, args.clip, args.decoders,
                              args.stream_batch, args.stream_seconds)}
    args.out.mkdir(parents=True, exist_ok=True)
    stem = f"gpu-{provider}" + ("-fp16" if precision == "fp16" else "")
    (args.out / f"{stem}.json").write_text(json.dumps(res, indent=1) + "\n")
    (args.out / f"{stem}.md").write_text(markdown(res))
    log(f"wrote {args.out / stem}.json and .md")
    return res


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--providers", default="cuda,tensorrt",
                    help="comma-separated: cuda, tensorrt, cpu; the first must load")
    ap.add_argument("--precision", default="fp32", choices=("fp32", "fp16"))
    ap.add_argument("--clip", type=Path, help="video (default: the shared 1080p crowd clip)")
    ap.add_argument("--embed-batches", type=_ints,
                    default=[1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024])
    ap.add_argument("--detect-batches", type=_ints, default=[1, 2, 4, 8, 16, 32, 64])
    ap.add_argument("--seconds", type=float, default=2.0, help="per measured point")
    ap.add_argument("--decoders", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--stream-batch", type=int, default=32)
    ap.add_argument("--stream-seconds", type=float, default=20.0)
    ap.add_argument("--out", type=Path, default=ROOT / "docs" / "results")
    ap.add_argument("--dry-run", action="store_true",
                    help="tiny batches and short runs (checks the script, e.g. on cpu)")
    args = ap.parse_args(argv)
    from openlfr.settings import shared_data_dir
    from openlfr.vision.runtime import ProviderUnavailable

    if args.clip is None:
        data = shared_data_dir()
        if data is None:
            ap.error("no shared data folder: pass --clip PATH")
        args.clip = data / "video" / "crowd_royal_opera_house_1080p.mp4"
    if not args.clip.is_file():
        ap.error(f"--clip: no such file {args.clip}")
    if args.dry_run:
        args.embed_batches, args.detect_batches = [1, 4], [1, 2]
        args.seconds, args.stream_seconds, args.stream_batch = 0.2, 1.0, 2
        args.decoders = min(args.decoders, 2)
    providers = [p for p in args.providers.split(",") if p]
    results = []
    for i, provider in enumerate(providers):
        try:
            results.append(run_provider(args, provider, args.precision))
        except ProviderUnavailable as exc:
            if i == 0:
                log(f"bench_gpu: refused, provider {provider!r} does not load here, so "
                    f"there is nothing to measure and nothing was written: {exc}")
                return 2
            log(f"bench_gpu: {provider} skipped (does not load here): {exc}")
            results.append({"provider": provider, "skipped": str(exc)})
    print(json.dumps(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
