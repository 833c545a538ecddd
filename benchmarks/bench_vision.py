"""Per-stage costs of the vision engine on this machine.

    .venv/bin/python benchmarks/bench_vision.py            # table
    .venv/bin/python benchmarks/bench_vision.py --json     # one JSON object on stdout
    .venv/bin/python benchmarks/bench_vision.py --preprocess --clip 60   # the 1080p floor

Detection: ms per frame at 640x360, 640x480, 1280x720 and 1920x1080 for each detector, both
with the default ``max_size`` 640 (frames scaled down to 640 on the long side, as the
pipeline runs) and at native resolution. Frames are real image content: the shared group
photo (or the packaged team photo when the shared data is absent), cropped to the aspect
ratio and resized. Alignment and quality: ms per face. Embedding: ms per face at batch 1, 8
and 32 for ArcFace (with and without flip fusion) and dlib. Each figure is the median of
``--repeat`` timed runs after a warm-up, as wall-clock ms and as process CPU ms (all threads);
on a shared machine the wall clock includes waiting for the cores, so the load average is
reported with the figures and CPU ms is the steadier measure of the work done.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

SIZES = [(640, 360), (640, 480), (1280, 720), (1920, 1080)]


CPU_MS: list[float] = []  # CPU time (all threads) of the latest _median_ms call, ms


def _median_ms(fn: Callable[[], object], repeat: int, warmup: int = 2) -> float:
    """Median wall-clock ms of ``fn``; its median process CPU ms goes to CPU_MS[-1]."""
    for _ in range(warmup):
        fn()
    times, cpu = [], []
    for _ in range(repeat):
        c = time.process_time()
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
        cpu.append(time.process_time() - c)
    CPU_MS.append(float(np.median(cpu) * 1000))
    return float(np.median(times) * 1000)


def _frame(source: np.ndarray, w: int, h: int) -> np.ndarray:
    import cv2

    sh, sw = source.shape[:2]
    if sw / sh > w / h:  # source wider: crop width
        cw = int(sh * w / h)
        x0 = (sw - cw) // 2
        crop = source[:, x0:x0 + cw]
    else:
        ch = int(sw * h / w)
        y0 = (sh - ch) // 2
        crop = source[y0:y0 + ch]
    return cv2.resize(crop, (w, h), interpolation=cv2.INTER_AREA if w < sw else cv2.INTER_LINEAR)


def _source() -> tuple[np.ndarray, str]:
    from openlfr.settings import shared_data_dir
    from openlfr.vision.demo import sample_image_path
    from openlfr.vision.image import load_image

    shared = shared_data_dir()
    if shared is not None and (shared / "images" / "group_six_people.jpg").is_file():
        path = shared / "images" / "group_six_people.jpg"
    else:
        path = sample_image_path("players.jpg")
    return load_image(path), Path(path).name


def _clip_frames(limit: int) -> list[np.ndarray]:
    """The first ``limit`` frames of the shared 1080p crowd clip (empty when absent)."""
    import cv2

    from openlfr.settings import shared_data_dir

    shared = shared_data_dir()
    path = shared / "video" / "crowd_royal_opera_house_1080p.mp4" if shared else None
    if path is None or not path.is_file():
        return []
    cap = cv2.VideoCapture(str(path))
    frames = []
    while len(frames) < limit:
        ok, frame = cap.read()
        if not ok:
            break
        frames.append(frame)
    cap.release()
    return frames


def _floor(args: argparse.Namespace) -> dict[str, object]:
    """The per-frame floor figures of issue 10 (see benchmarks/vision_floor.py)."""
    sys.path.insert(0, str(Path(__file__).parent))
    import vision_floor

    from openlfr.settings import shared_data_dir
    from openlfr.vision.detectors import ScrfdConfig, ScrfdDetector, YunetDetector
    from openlfr.vision.runtime import RuntimeConfig

    shared = shared_data_dir()
    if shared is None:
        return {"skipped": "no shared data (../shared/data)"}
    scrfd = ScrfdDetector(ScrfdConfig(runtime=RuntimeConfig(intra_op_threads=args.threads)))
    out = vision_floor.run(scrfd, YunetDetector(), shared, clip_frames=max(args.clip, 20),
                           repeat=max(1, args.repeat // 5))
    out["loadavg"] = [round(x, 2) for x in os.getloadavg()]
    return out


def _frame_costs(kind: str, threads: int, repeat: int, clip: int) -> dict[str, float]:
    """Median ms of detection and of detection + embedding on one 640x480 frame, and frames/s
    over the crowd clip's first ``clip`` frames (detect at 640, embed every face), for the
    naive pipeline (square 640x640 letterboxed detector input, onnxruntime sessions with
    default options, i.e. intra-op spinning on, one embedder call per face) or ours."""
    import cv2
    import onnxruntime as ort

    from openlfr.vision import models
    from openlfr.vision.align import align
    from openlfr.vision.detectors import ScrfdConfig, ScrfdDetector
    from openlfr.vision.embedders import ArcFaceConfig, ArcFaceEmbedder
    from openlfr.vision.runtime import RuntimeConfig

    source, _ = _source()
    frame = _frame(source, 640, 480)
    rt = RuntimeConfig(intra_op_threads=threads)
    if kind == "ours":
        scrfd = ScrfdDetector(ScrfdConfig(runtime=rt))
        arc = ArcFaceEmbedder(ArcFaceConfig(runtime=rt))

        def detect(img: np.ndarray):
            return scrfd.detect(img)

        def whole(img: np.ndarray) -> int:
            faces = scrfd.detect(img)
            arc.embed_aligned(align(img, faces.landmarks))
            return len(faces)
    else:
        def default_session(path: Path) -> ort.InferenceSession:
            opts = ort.SessionOptions()
            opts.intra_op_num_threads = threads
            opts.log_severity_level = 3
            return ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])

        det_sess = default_session(models.verified("scrfd_500m"))
        emb_sess = default_session(models.verified("arcface_mbf"))
        decoder = ScrfdDetector(ScrfdConfig(), session=det_sess)
        outs = [f"{k}_{st}" for k in ("score", "bbox", "kps") for st in (8, 16, 32)]

        def detect(img: np.ndarray):
            h, w = img.shape[:2]
            scale = 640 / max(h, w)
            resized = cv2.resize(img, (round(w * scale), round(h * scale)))
            square = np.zeros((640, 640, 3), np.uint8)
            square[:resized.shape[0], :resized.shape[1]] = resized
            blob = cv2.dnn.blobFromImage(square, 1 / 128, (640, 640), (127.5,) * 3, swapRB=True)
            return decoder.decode(det_sess.run(outs, {"input.1": blob}), 640, 640, scale)

        def whole(img: np.ndarray) -> int:
            faces = detect(img)
            for crop in align(img, faces.landmarks):
                blob = cv2.dnn.blobFromImage(crop, 1 / 127.5, (112, 112), (127.5,) * 3,
                                             swapRB=True)
                emb_sess.run(None, {"input.1": blob})
            return len(faces)
    out = {"detect": _median_ms(lambda: detect(frame), repeat),
           "frame": _median_ms(lambda: whole(frame), repeat), "faces": len(detect(frame))}
    frames = _clip_frames(clip)
    if frames:
        whole(frames[0])
        t = time.perf_counter()
        out["clip_faces"] = sum(whole(f) for f in frames)
        out["clip_fps"] = len(frames) / (time.perf_counter() - t)
        out["clip_frames"] = len(frames)
    return out


def _naive_vs_ours(args, log) -> dict[str, object]:
    """Naive and OpenLFR pipelines in separate processes, alternated A B A B so both see the
    same machine load (in one process the naive sessions' spinning threads would slow ours)."""
    import subprocess

    runs: dict[str, list[dict[str, float]]] = {"naive": [], "ours": []}
    for _ in range(3):
        for kind in ("naive", "ours"):
            out = subprocess.run([sys.executable, __file__, "--frame-costs", kind, "--threads",
                                  str(args.threads), "--repeat", str(args.repeat),
                                  "--clip", str(args.clip)],
                                 capture_output=True, text=True, check=True)
            runs[kind].append(json.loads(out.stdout))
    res: dict[str, object] = {"frame": "640x480", "faces": int(runs["ours"][0]["faces"])}
    for kind, rows in runs.items():
        res[f"{kind}_detect"] = round(float(np.median([r["detect"] for r in rows])), 2)
        res[f"{kind}_frame"] = round(float(np.median([r["frame"] for r in rows])), 2)
        if "clip_fps" in rows[0]:
            res[f"{kind}_clip_fps"] = round(float(np.median([r["clip_fps"] for r in rows])), 2)
            res["clip_frames"] = int(rows[0]["clip_frames"])
            res["clip_faces"] = int(rows[0]["clip_faces"])
    log(f"naive vs openlfr, 640x480 frame with {res['faces']} faces: detect "
        f"{res['naive_detect']} vs {res['ours_detect']} ms; detect+embed {res['naive_frame']} "
        f"vs {res['ours_frame']} ms; crowd clip {res.get('naive_clip_fps')} vs "
        f"{res.get('ours_clip_fps')} frames/s")
    return res


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--json", action="store_true", help="print one JSON object")
    ap.add_argument("--repeat", type=int, default=15, help="timed runs per figure")
    ap.add_argument("--threads", type=int, default=2, help="onnxruntime intra-op threads")
    ap.add_argument("--no-dlib", action="store_true", help="skip dlib (slow: ~75 ms a face)")
    ap.add_argument("--no-naive", action="store_true",
                    help="skip the naive reference (square 640x640 input, default sessions)")
    ap.add_argument("--clip", type=int, default=25,
                    help="crowd-clip frames for the naive vs OpenLFR frames/s (0: skip)")
    ap.add_argument("--preprocess", action="store_true",
                    help="only the 1080p floor (benchmarks/vision_floor.py): detector "
                         "preprocessing before/after, same faces found, decode, scene cut")
    ap.add_argument("--frame-costs", choices=["naive", "ours"], help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.frame_costs:
        print(json.dumps(_frame_costs(args.frame_costs, args.threads, args.repeat, args.clip)))
        return
    if args.preprocess:
        print(json.dumps(_floor(args), indent=None if args.json else 1))
        return

    from openlfr.vision.align import align
    from openlfr.vision.detectors import ScrfdConfig, ScrfdDetector, YunetConfig, YunetDetector
    from openlfr.vision.embedders import ArcFaceConfig, ArcFaceEmbedder, DlibEmbedder
    from openlfr.vision.quality import QualityAssessor
    from openlfr.vision.runtime import RuntimeConfig

    def log(msg: str) -> None:
        print(msg, file=sys.stderr, flush=True)

    rt = RuntimeConfig(intra_op_threads=args.threads)
    source, source_name = _source()
    results: dict[str, object] = {
        "machine": {"cpus": os.cpu_count(), "processor": platform.processor() or platform.machine(),
                    "loadavg_start": [round(x, 2) for x in os.getloadavg()]},
        "threads": args.threads, "repeat": args.repeat, "frame_source": source_name,
    }

    # -- detection -----------------------------------------------------------------------
    detection = []
    scrfd = ScrfdDetector(ScrfdConfig(runtime=rt))
    for w, h in SIZES:
        frame = _frame(source, w, h)
        for name, det in [
            ("scrfd", scrfd),
            ("scrfd", ScrfdDetector(ScrfdConfig(max_size=max(w, h)), session=scrfd.session)),
            ("yunet", YunetDetector(YunetConfig())),
            ("yunet", YunetDetector(YunetConfig(max_size=min(960, max(w, h))))),
        ]:
            if any(r["detector"] == name and r["frame"] == f"{w}x{h}"
                   and r["max_size"] == det.cfg.max_size for r in detection):
                continue
            ms = _median_ms(lambda d=det, f=frame: d.detect(f), args.repeat)
            row = {"detector": name, "frame": f"{w}x{h}", "max_size": det.cfg.max_size,
                   "ms": round(ms, 2), "cpu_ms": round(CPU_MS[-1], 2),
                   "faces": len(det.detect(frame))}
            detection.append(row)
            log(f"detect {name:5} {w}x{h} max_size {det.cfg.max_size}: {ms:.2f} ms "
                f"({row['faces']} faces)")
    results["detection"] = detection

    # -- alignment and quality -------------------------------------------------------------
    from openlfr.vision.demo import sample_image_path
    from openlfr.vision.image import load_image

    team = load_image(sample_image_path("players.jpg"))
    faces = scrfd.detect(team)
    n = len(faces)
    import cv2

    align_ms = _median_ms(lambda: align(team, faces.landmarks), args.repeat) / n
    default_cv_threads = cv2.getNumThreads()
    cv2.setNumThreads(1)
    align1_ms = _median_ms(lambda: align(team, faces.landmarks), args.repeat) / n
    cv2.setNumThreads(default_cv_threads)
    crops = align(team, faces.landmarks)
    qa = QualityAssessor()
    quality_ms = _median_ms(lambda: qa.assess(team, faces, crops=crops), args.repeat) / n
    results["alignment_ms_per_face"] = round(align_ms, 4)
    results["alignment_ms_per_face_opencv_1_thread"] = round(align1_ms, 4)
    results["quality_ms_per_face"] = round(quality_ms, 4)
    log(f"align {align_ms:.4f} ms/face ({align1_ms:.4f} with 1 OpenCV thread), "
        f"quality {quality_ms:.4f} ms/face ({n} faces)")

    # -- embedding -------------------------------------------------------------------------
    pool = np.concatenate([crops] * (32 // n + 1))[:32]
    embedding = []
    arc = ArcFaceEmbedder(ArcFaceConfig(runtime=rt))
    arc_flip = ArcFaceEmbedder(ArcFaceConfig(runtime=rt, flip=True), session=arc.session)
    for name, emb in [("arcface", arc), ("arcface+flip", arc_flip)]:
        for batch in (1, 8, 32):
            chunk = pool[:batch]
            ms = _median_ms(lambda e=emb, c=chunk: e.embed_aligned(c),
                            max(3, args.repeat // (1 + batch // 8)))
            embedding.append({"embedder": name, "batch": batch,
                              "ms_per_face": round(ms / batch, 2), "ms_per_call": round(ms, 2),
                              "cpu_ms_per_face": round(CPU_MS[-1] / batch, 2)})
            log(f"embed {name} batch {batch}: {ms / batch:.2f} ms/face")
    if not args.no_dlib:
        dl = DlibEmbedder()
        for batch in (1, 8, 32):
            sub = faces[np.arange(batch) % n]
            ms = _median_ms(lambda s=sub: dl.embed(team, s), 3, warmup=1)
            embedding.append({"embedder": "dlib", "batch": batch,
                              "ms_per_face": round(ms / batch, 2), "ms_per_call": round(ms, 2),
                              "cpu_ms_per_face": round(CPU_MS[-1] / batch, 2)})
            log(f"embed dlib batch {batch}: {ms / batch:.2f} ms/face")
    results["embedding"] = embedding

    # -- naive reference, same machine and moment --------------------------------------------
    if not args.no_naive:
        results["naive_vs_openlfr"] = _naive_vs_ours(args, log)
    results["machine"]["loadavg_end"] = [round(x, 2) for x in os.getloadavg()]  # type: ignore[index]

    if args.json:
        print(json.dumps(results))
        return
    m = results["machine"]
    print(f"vision stage costs: {m['cpus']} CPUs, {args.threads} onnxruntime threads, "  # type: ignore[index]
          f"median of {args.repeat}, load average {m['loadavg_start'][0]} -> "  # type: ignore[index]
          f"{m['loadavg_end'][0]}, frames from {source_name}")  # type: ignore[index]
    print()
    print("| detector | frame | max_size | ms/frame | CPU ms/frame | faces |")
    print("|---|---|---|---|---|---|")
    for r in detection:
        print(f"| {r['detector']} | {r['frame']} | {r['max_size']} | {r['ms']:.1f} | "
              f"{r['cpu_ms']:.1f} | {r['faces']} |")
    print()
    print(f"alignment: {align_ms:.3f} ms/face ({align1_ms:.3f} with 1 OpenCV thread); "
          f"quality: {quality_ms:.3f} ms/face")
    print()
    if "naive_vs_openlfr" in results:
        nv = results["naive_vs_openlfr"]
        print(f"naive vs OpenLFR on the same {nv['frame']} frame ({nv['faces']} faces), "  # type: ignore[index]
              f"interleaved: detection {nv['naive_detect']} -> {nv['ours_detect']} ms; "  # type: ignore[index]
              f"detection + embedding {nv['naive_frame']} -> {nv['ours_frame']} ms")  # type: ignore[index]
        if "ours_clip_fps" in nv:  # type: ignore[operator]
            print(f"crowd clip, first {nv['clip_frames']} frames of 1080p ({nv['clip_faces']} "  # type: ignore[index]
                  f"faces), detect at 640 and embed every face: {nv['naive_clip_fps']} -> "  # type: ignore[index]
                  f"{nv['ours_clip_fps']} frames/s")  # type: ignore[index]
        print()
    print("| embedder | batch | ms/face | CPU ms/face | ms/call |")
    print("|---|---|---|---|---|")
    for r in embedding:
        print(f"| {r['embedder']} | {r['batch']} | {r['ms_per_face']:.2f} | "
              f"{r['cpu_ms_per_face']:.2f} | {r['ms_per_call']:.1f} |")


if __name__ == "__main__":
    main()
