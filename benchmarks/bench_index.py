"""Watchlist index at scale: memory, time per probe and recall@1 against exact search.

    .venv/bin/python benchmarks/bench_index.py                      # 10k and 100k
    .venv/bin/python benchmarks/bench_index.py --sizes 10000,100000,1000000
    .venv/bin/python benchmarks/bench_index.py --nprobe 8,32,64 --json

What the gallery is made of (the output says it too):

- **real**: LFW deep-funneled embeddings from the evaluation embedding cache (ArcFace MBF with
  flip fusion, the enrolment configuration): every image of every person except each
  multi-image person's last image, which is held out as a probe source (about 11,550 rows).
- **filler** above that size: *synthetic* templates, each the normalised sum of three real
  gallery embeddings with random positive weights plus Gaussian noise (a tenth of the
  embeddings' per-dimension spread). They lie near the real embeddings' region of the sphere
  (random Gaussian vectors do not, and make every index look perfect), but they are not
  faces: no set of a million real face embeddings is available here.

Probes: the held-out images of ``--people`` LFW people whose other images are in the gallery,
each as is and four augmented versions (mirrored, cropped to the central 80 % and resized
back, darkened to 60 %, Gaussian blur sigma 2), detected and embedded as a camera's probe
(SCRFD, ArcFace without flip). Probe embeddings are cached in the cache folder (evaluation
data, not live faces).

Per size: build seconds, bytes held (``WatchlistIndex.memory_bytes``) and resident memory
added, ms per probe searched alone (median), for the exact scan with float16 codes (the
default) and with float32 (the reference), and for ``refine`` (the default above 50,000)
and ``ivf`` recall@1 against exact search:
over all probes, and over the probes whose exact top score reaches the scan threshold (the
ones that would alert). Progress goes to stderr, the JSON object to stdout.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

AUGMENTS = ("none", "mirror", "crop80", "dark60", "blur2")


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def _rss() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def augment(image: np.ndarray, kind: str) -> np.ndarray:
    """One of :data:`AUGMENTS` applied to a BGR image."""
    import cv2

    if kind == "none":
        return image
    if kind == "mirror":
        return np.ascontiguousarray(image[:, ::-1])
    if kind == "crop80":
        h, w = image.shape[:2]
        y, x = int(h * 0.1), int(w * 0.1)
        return cv2.resize(image[y:h - y, x:w - x], (w, h), interpolation=cv2.INTER_LINEAR)
    if kind == "dark60":
        return (image.astype(np.float32) * 0.6).astype(np.uint8)
    if kind == "blur2":
        return cv2.GaussianBlur(image, (0, 0), 2.0)
    raise ValueError(f"unknown augmentation {kind!r}")


def lfw_split(lfw: Path) -> tuple[list[Path], list[str], list[Path], list[str]]:
    """(gallery paths, their names, held-out probe sources, their names)."""
    from openlfr.evaluation.lfw import lfw_root, read_people

    people = read_people(lfw_root(lfw) / "images")
    gallery, gnames, held, hnames = [], [], [], []
    for name in sorted(people):
        imgs = people[name]
        keep = imgs[:-1] if len(imgs) > 1 else imgs
        gallery += keep
        gnames += [name] * len(keep)
        if len(imgs) > 1:
            held.append(imgs[-1])
            hnames.append(name)
    return gallery, gnames, held, hnames


def real_gallery(paths: list[Path], images: Path, cache_dir: Path) -> np.ndarray:
    from openlfr.evaluation.embedcache import EmbeddingCache, build_face_embedder

    cache = EmbeddingCache(images, build_face_embedder("arcface", flip=True), cache_dir)
    emb = cache.ensure(paths, progress=True)
    return emb.get([cache.relative(p) for p in paths]).astype(np.float32)


def probe_embeddings(sources: list[Path], cache_dir: Path) -> tuple[np.ndarray, np.ndarray]:
    """(embeddings (n, 512), source index of each row) of the augmented probes; cached."""
    from openlfr.evaluation.embedcache import FaceChoice, build_face_embedder, choose_face
    from openlfr.vision.image import load_image

    key = hashlib.sha256(json.dumps([str(p) for p in sources] + list(AUGMENTS)).encode())
    path = cache_dir / "bench_index" / f"probes_{key.hexdigest()[:16]}.npz"
    if path.is_file():
        with np.load(path) as z:
            return z["vectors"], z["source"]
    fe = build_face_embedder("arcface", flip=False)
    vecs, src = [], []
    for i, p in enumerate(sources):
        base = load_image(p)
        for kind in AUGMENTS:
            img = augment(base, kind)
            faces = fe.detect(img)
            j = choose_face(faces, img.shape[1], img.shape[0], FaceChoice())
            if j is None:
                continue
            vecs.append(fe.embed([img], [faces[j]])[0])
            src.append(i)
        if i % 50 == 0:
            log(f"probes: {i + 1}/{len(sources)} images")
    out = np.stack(vecs).astype(np.float32), np.asarray(src, np.int64)
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez(path, vectors=out[0], source=out[1])
    return out


def filler(real: np.ndarray, n: int, seed: int) -> np.ndarray:
    """``n`` synthetic templates: normalised sums of three real rows (random positive
    weights) plus Gaussian noise of a tenth of the rows' per-dimension spread."""
    rng = np.random.default_rng(seed)
    out = np.empty((n, real.shape[1]), np.float32)
    spread = float(real.std(axis=0).mean())
    for i in range(0, n, 65_536):
        m = min(65_536, n - i)
        pick = rng.integers(0, len(real), (m, 3))
        w = rng.uniform(0.2, 1.0, (m, 3, 1)).astype(np.float32)
        block = (real[pick] * w).sum(axis=1)
        block /= np.linalg.norm(block, axis=1, keepdims=True)
        block += rng.standard_normal(block.shape).astype(np.float32) * (0.1 * spread)
        out[i:i + m] = block / np.linalg.norm(block, axis=1, keepdims=True)
    return out


def timed_probes(index, probes: np.ndarray, count: int) -> float:
    """Median ms of searching one probe alone (top-1), over ``count`` probes."""
    times = []
    index.search_arrays(probes[0], k=1)  # warm-up
    for q in probes[:count]:
        t = time.perf_counter()
        index.search_arrays(q, k=1)
        times.append(time.perf_counter() - t)
    return round(float(np.median(times)) * 1000, 3)


def measure(size: int, gallery: np.ndarray, probes: np.ndarray, args, threshold: float
            ) -> dict[str, object]:
    from openlfr.watchlist.index import EXACT_MAX_TEMPLATES, AnnParams, WatchlistIndex

    ids = [str(i) for i in range(size)]
    row: dict[str, object] = {"templates": size, "real_rows": min(size, args.real_rows),
                              "filler_rows": max(0, size - args.real_rows),
                              "auto_backend": "numpy" if size < 2000 else
                              "faiss" if size <= EXACT_MAX_TEMPLATES else "refine"}
    for storage in ("fp16", "fp32"):  # the exact scan over float16 codes (default), float32
        rss0 = _rss()
        t = time.perf_counter()
        exact = WatchlistIndex(ids, ids, gallery, backend="faiss", storage=storage)
        row[f"exact_{storage}"] = {"build_s": round(time.perf_counter() - t, 2),
                                   "bytes": exact.memory_bytes(), "rss_added": _rss() - rss0,
                                   "ms_per_probe": timed_probes(exact, probes, args.timed)}
        log(f"{size}: exact {storage} {row[f'exact_{storage}']}")
        if storage == "fp16":
            fs, fi = exact.search_arrays(probes, k=1)
        else:  # the reference: float32, every template
            truth_s, truth_i = exact.search_arrays(probes, k=1)
        del exact
    row["exact_fp16_recall_at_1"] = round(float((fi[:, 0] == truth_i[:, 0]).mean()), 5)
    row["exact_fp16_max_score_error"] = round(float(np.abs(fs - truth_s).max()), 6)
    alerting = truth_s[:, 0] >= threshold
    row["probes_at_or_above_threshold"] = int(alerting.sum())
    row["refine"] = []
    for factor in args.refine_factor:
        rss0 = _rss()
        t = time.perf_counter()
        ref = WatchlistIndex(ids, ids, gallery, backend="refine",
                             ann=AnnParams(seed=args.seed, refine_factor=factor))
        build, added = time.perf_counter() - t, _rss() - rss0
        s, i = ref.search_arrays(probes, k=1)
        hit = i[:, 0] == truth_i[:, 0]
        run = {"refine_factor": factor, "build_s": round(build, 2),
               "bytes": ref.memory_bytes(), "rss_added": added,
               "ms_per_probe": timed_probes(ref, probes, args.timed),
               "recall_at_1": round(float(hit.mean()), 5),
               "recall_at_1_alerting": round(float(hit[alerting].mean()), 5)
               if alerting.any() else None}
        row["refine"].append(run)
        log(f"{size}: refine {run}")
        del ref
    runs = []
    for storage in (s for s in args.storage if s != "none"):
        rss0 = _rss()
        t = time.perf_counter()
        ivf = WatchlistIndex(ids, ids, gallery, backend="ivf", storage=storage,
                             ann=AnnParams(seed=args.seed))
        build, added = time.perf_counter() - t, _rss() - rss0
        for nprobe in args.nprobe:
            ivf.set_nprobe(nprobe)
            s, i = ivf.search_arrays(probes, k=1)
            hit = i[:, 0] == truth_i[:, 0]
            run = {"storage": storage, "nprobe": nprobe, "nlist": ivf.ivf_lists,
                   "build_s": round(build, 2), "bytes": ivf.memory_bytes(),
                   "rss_added": added, "ms_per_probe": timed_probes(ivf, probes, args.timed),
                   "recall_at_1": round(float(hit.mean()), 5),
                   "recall_at_1_alerting": round(float(hit[alerting].mean()), 5)
                   if alerting.any() else None,
                   "max_score_error_same_top1": round(float(
                       np.abs(s[hit, 0] - truth_s[hit, 0]).max()), 6) if hit.any() else None}
            runs.append(run)
            log(f"{size}: ivf {run}")
        del ivf
    row["ivf"] = runs
    return row


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sizes", default="10000,100000",
                    help="comma-separated template counts (1000000 takes some minutes)")
    ap.add_argument("--nprobe", default="32", help="comma-separated ivf nprobe values")
    ap.add_argument("--refine-factor", default="64",
                    help="comma-separated refine factors (candidates re-scored per result)")
    ap.add_argument("--storage", default="fp16",
                    help="ivf storages, comma-separated: fp16, fp32 (none: exact only)")
    ap.add_argument("--people", type=int, default=300, help="held-out probe people")
    ap.add_argument("--timed", type=int, default=50, help="probes timed one by one")
    ap.add_argument("--max-probes", type=int, default=0,
                    help="use an evenly spaced subset of the probes (0: all)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--json", action="store_true", help="JSON only on stdout")
    args = ap.parse_args()
    args.nprobe = [int(x) for x in args.nprobe.split(",")]
    args.storage = args.storage.split(",")
    args.refine_factor = [int(x) for x in args.refine_factor.split(",") if x]

    from openlfr.evaluation.lfw import lfw_root
    from openlfr.settings import Settings, shared_data_dir
    from openlfr.vision.thresholds import default_threshold

    shared = shared_data_dir()
    if shared is None or not (shared / "lfw").is_dir():
        sys.exit("bench_index needs LFW under the shared data folder (../shared/data/lfw)")
    cache_dir = Settings().cache_dir
    gpaths, _, held, _ = lfw_split(shared / "lfw")
    real = real_gallery(gpaths, lfw_root(shared / "lfw") / "images", cache_dir)
    args.real_rows = len(real)
    rng = np.random.default_rng(args.seed)
    chosen = sorted(rng.choice(len(held), size=min(args.people, len(held)), replace=False))
    probes, _ = probe_embeddings([held[i] for i in chosen], cache_dir)
    if 0 < args.max_probes < len(probes):
        probes = probes[np.linspace(0, len(probes) - 1, args.max_probes).astype(int)]
    from openlfr.vision.models import MODEL_FILES

    threshold = float(default_threshold(MODEL_FILES["arcface_mbf"].sha256, False).value)
    results: dict[str, object] = {
        "gallery": f"real: {len(real)} LFW embeddings (ArcFace MBF + flip; every image but "
                   f"each multi-image person's last); above that, synthetic filler: "
                   f"normalised sums of three real rows with random weights plus noise",
        "probes": f"{len(probes)}: the held-out image of {len(chosen)} LFW people whose other "
                  f"images are in the gallery, x {', '.join(AUGMENTS)} (ArcFace, no flip)",
        "threshold": threshold, "cpus": os.cpu_count(),
        "loadavg_start": [round(x, 2) for x in os.getloadavg()], "sizes": []}
    for size in (int(s) for s in args.sizes.split(",")):
        if size <= len(real):
            gallery = real[np.sort(rng.choice(len(real), size=size, replace=False))]
        else:
            gallery = np.concatenate([real, filler(real, size - len(real), args.seed)])
        results["sizes"].append(measure(size, gallery, probes, args, threshold))  # type: ignore[union-attr]
        del gallery
    results["loadavg_end"] = [round(x, 2) for x in os.getloadavg()]
    print(json.dumps(results, indent=None if args.json else 1))


if __name__ == "__main__":
    main()
