"""Per-frame CPU floor on the 1080p crowd clip: detector preprocessing before/after, the
same faces found either way, the decode floor, and the scene-cut histogram's cost.

Run through ``benchmarks/bench_vision.py --preprocess`` (or this file alone: JSON on stdout).

- preprocessing: the former SCRFD input (``cv2.INTER_AREA`` resize, then numpy BGR->RGB,
  normalisation, transpose; reproduced here as :func:`legacy_prepare`) against the current
  one (one ``cv2.dnn.blobFromImage`` call, bilinear), interleaved on the same frames, CPU ms
  per frame and the ratio.
- same faces: both inputs through the same SCRFD session and decoder on every
  ``--step``-th frame of the crowd and Hamilton clips and on the group photo; YuNet with
  its former area resize against the current bilinear one. Faces at or above the detector's
  threshold are paired by IoU >= 0.5; ``gated_*`` counts only the faces the default quality
  gates could embed (score >= 0.55, at least 32 px).
- decode floor: ``VideoCapture.grab`` (demux + decode) and ``read`` (+ YUV -> BGR) CPU ms per
  1080p frame.
- scene cut: the worker's 160x90 histogram from the full 1080p frame (area resize) against
  a nearest-neighbour resize, and how far their frame-to-frame distances differ.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np


def legacy_prepare(image: np.ndarray, max_size: int) -> tuple[np.ndarray, float]:
    """SCRFD preprocessing as it was before issue 10 (for the before/after figure)."""
    import cv2

    h, w = image.shape[:2]
    scale = min(1.0, max_size / max(h, w))
    nh, nw = max(1, round(h * scale)), max(1, round(w * scale))
    resized = image if scale == 1.0 else cv2.resize(image, (nw, nh),
                                                    interpolation=cv2.INTER_AREA)
    ph, pw = -(-nh // 32) * 32, -(-nw // 32) * 32
    blob = np.zeros((1, 3, ph, pw), dtype=np.float32)
    rgb = resized[:, :, ::-1].astype(np.float32)
    rgb -= 127.5
    rgb *= 1.0 / 128.0
    blob[0, :, :nh, :nw] = rgb.transpose(2, 0, 1)
    return blob, scale


def _cpu_ms(fn: Callable[[], object]) -> float:
    c = time.process_time()
    fn()
    return (time.process_time() - c) * 1000


def clip(path: Path, limit: int, step: int = 1) -> list[np.ndarray]:
    import cv2

    cap = cv2.VideoCapture(str(path))
    frames, i = [], 0
    while len(frames) < limit:
        ok, frame = cap.read()
        if not ok:
            break
        if i % step == 0:
            frames.append(frame)
        i += 1
    cap.release()
    return frames


def preprocessing(scrfd, frames: list[np.ndarray], repeat: int) -> dict[str, float]:
    """Interleaved CPU ms per frame, former vs current SCRFD input."""
    before, after = [], []
    for _ in range(repeat):
        for f in frames:
            before.append(_cpu_ms(lambda f=f: legacy_prepare(f, scrfd.cfg.max_size)))
            after.append(_cpu_ms(lambda f=f: scrfd.prepare(f)))
    b, a = float(np.median(before)), float(np.median(after))
    return {"frames": len(frames), "before_cpu_ms": round(b, 2), "after_cpu_ms": round(a, 2),
            "after_over_before": round(a / b, 3) if b else float("nan")}


def _iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    x1 = np.maximum(a[:, None, 0], b[None, :, 0])
    y1 = np.maximum(a[:, None, 1], b[None, :, 1])
    x2 = np.minimum(a[:, None, 2], b[None, :, 2])
    y2 = np.minimum(a[:, None, 3], b[None, :, 3])
    inter = np.clip(x2 - x1, 0, None) * np.clip(y2 - y1, 0, None)
    area = lambda z: (z[:, 2] - z[:, 0]) * (z[:, 3] - z[:, 1])  # noqa: E731
    return inter / np.maximum(area(a)[:, None] + area(b)[None] - inter, 1e-9)


def _gated(faces):
    """The faces the default quality gates could embed (score >= 0.55, >= 32 px)."""
    return faces[(faces.scores >= 0.55) & (np.minimum(faces.widths, faces.heights) >= 32)]


def _pair(old, new) -> dict[str, float]:
    if len(old) == 0 or len(new) == 0:
        return {"before": len(old), "after": len(new), "paired": 0, "max_score_change": 0.0}
    iou = _iou(old.boxes, new.boxes)
    best = iou.argmax(axis=1)
    ok = iou[np.arange(len(old)), best] >= 0.5
    change = np.abs(old.scores[ok] - new.scores[best[ok]])
    return {"before": len(old), "after": len(new), "paired": int(ok.sum()),
            "max_score_change": float(change.max()) if ok.any() else 0.0}


def _pairs(old, new) -> dict[str, float]:
    """All faces, and the gate-passing ones (``gated_*``)."""
    gated = _pair(_gated(old), _gated(new))
    return {**_pair(old, new), **{f"gated_{k}": v for k, v in gated.items()
                                  if k != "max_score_change"}}


def same_faces(scrfd, yunet, named_frames: dict[str, list[np.ndarray]]) -> dict[str, object]:
    """Faces found with the former and the current preprocessing, per source."""
    import cv2

    from openlfr.vision.detectors import _clip  # the detector's own final clipping

    out: dict[str, object] = {}
    for name, frames in named_frames.items():
        totals = {"scrfd": np.zeros(6, int), "yunet": np.zeros(6, int)}
        worst = {"scrfd": 0.0, "yunet": 0.0}
        for f in frames:
            h, w = f.shape[:2]
            blob, scale = legacy_prepare(f, scrfd.cfg.max_size)
            raw = scrfd.session.run(scrfd._outputs, {scrfd._input: blob})
            old = _clip(scrfd.decode(raw, blob.shape[2], blob.shape[3], scale), w, h)
            pairs = {"scrfd": _pairs(old, scrfd.detect(f))}
            ys = min(1.0, yunet.cfg.max_size / max(h, w))
            small = f if ys == 1.0 else cv2.resize(f, (round(w * ys), round(h * ys)),
                                                   interpolation=cv2.INTER_AREA)
            yold = yunet.detect(small)
            yold = type(yold)(yold.boxes / ys, yold.scores, yold.landmarks / ys)
            pairs["yunet"] = _pairs(yold, yunet.detect(f))
            for k, p in pairs.items():
                totals[k] += [p[x] for x in ("before", "after", "paired", "gated_before",
                                             "gated_after", "gated_paired")]
                worst[k] = max(worst[k], p["max_score_change"])
        out[name] = {k: {"frames": len(frames), "faces_before": int(v[0]),
                         "faces_after": int(v[1]), "paired": int(v[2]),
                         "gated_before": int(v[3]), "gated_after": int(v[4]),
                         "gated_paired": int(v[5]), "max_score_change": round(worst[k], 4)}
                     for k, v in totals.items()}
    return out


def decode_floor(path: Path, frames: int) -> dict[str, float]:
    """CPU and wall ms per frame: grab (demux + decode) and read (+ colour conversion)."""
    import cv2

    res: dict[str, float] = {}
    for how in ("grab", "read"):
        cap = cv2.VideoCapture(str(path))
        n, c, t = 0, time.process_time(), time.perf_counter()
        while n < frames and (cap.grab() if how == "grab" else cap.read()[0]):
            n += 1
        res[f"{how}_cpu_ms"] = round((time.process_time() - c) * 1000 / max(n, 1), 2)
        res[f"{how}_wall_ms"] = round((time.perf_counter() - t) * 1000 / max(n, 1), 2)
        cap.release()
    res["frames"] = n
    return res


def scene_cut(frames: list[np.ndarray]) -> dict[str, float]:
    """The worker's histogram from the 1080p frame: area resize vs nearest neighbour."""
    import cv2

    def hist(image: np.ndarray, interp: int) -> np.ndarray:
        small = cv2.resize(image, (160, 90), interpolation=interp)
        h = cv2.calcHist([cv2.cvtColor(small, cv2.COLOR_BGR2HSV)], [0, 1], None, [30, 32],
                         [0, 180, 0, 256])
        return cv2.normalize(h, h)

    res: dict[str, float] = {}
    dists = {}
    for name, interp in (("area", cv2.INTER_AREA), ("nearest", cv2.INTER_NEAREST)):
        res[f"{name}_cpu_ms"] = round(float(np.median(
            [_cpu_ms(lambda f=f, i=interp: hist(f, i)) for f in frames])), 3)
        hs = [hist(f, interp) for f in frames]
        dists[name] = np.array([cv2.compareHist(a, b, cv2.HISTCMP_BHATTACHARYYA)
                                for a, b in zip(hs, hs[1:], strict=False)])
    res["max_distance_difference"] = round(float(np.abs(dists["area"] -
                                                        dists["nearest"]).max()), 4)
    res["max_distance_area"] = round(float(dists["area"].max()), 4)
    return res


def run(scrfd, yunet, shared: Path, clip_frames: int = 60, step: int = 3,
        repeat: int = 3, log: Callable[[str], None] | None = None) -> dict[str, object]:
    from openlfr.vision.image import load_image

    log = log or (lambda m: print(m, file=sys.stderr, flush=True))
    video = shared / "video"
    crowd = video / "crowd_royal_opera_house_1080p.mp4"
    if not crowd.is_file():
        return {"skipped": "the 1080p crowd clip is not in the shared data"}
    frames = clip(crowd, clip_frames)
    out: dict[str, object] = {"preprocessing_1080p": preprocessing(scrfd, frames[:20], repeat)}
    log(f"preprocessing: {out['preprocessing_1080p']}")
    sources = {"crowd_1080p": frames[::step],
               "hamilton_360p": clip(video / "hamilton_stage_360p.mp4", 400, step)}
    group = shared / "images" / "group_six_people.jpg"
    if group.is_file():
        sources["group_photo"] = [load_image(group)]
    out["same_faces"] = same_faces(scrfd, yunet, sources)
    log(f"same faces: {out['same_faces']}")
    out["decode_1080p"] = decode_floor(crowd, clip_frames)
    log(f"decode: {out['decode_1080p']}")
    out["scene_cut_1080p"] = scene_cut(frames)
    log(f"scene cut: {out['scene_cut_1080p']}")
    return out


if __name__ == "__main__":
    from openlfr.settings import shared_data_dir
    from openlfr.vision.detectors import ScrfdDetector, YunetDetector

    data = shared_data_dir()
    if data is None:
        sys.exit("vision_floor needs the shared data (../shared/data)")
    print(json.dumps(run(ScrfdDetector(), YunetDetector(), data)))
