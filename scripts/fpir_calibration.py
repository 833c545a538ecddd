#!/usr/bin/env python
"""Measure an embedder's 1:1 impostor score distribution on LFW and check the size-aware
FPIR prediction against the open-set FPIR at 100, 420 and 840 enrolled.

Writes the packaged distribution (src/openlfr/evaluation/data/impostor-<name>.json, read at
run time by openlfr.evaluation.fpir) and the check (docs/results/fpir-check-<name>.json, read
by tests/evaluation/test_fpir.py). Uses the evaluation embedding cache, so after
``openlfr evaluate lfw-watchlist`` with the same embedder and flip it only does arithmetic.

    .venv/bin/python scripts/fpir_calibration.py --embedder arcface --no-flip
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SEEDS = 10  # watchlist split seeds pooled for the second check


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--embedder", default="arcface", choices=["arcface", "dlib"])
    ap.add_argument("--flip", action=argparse.BooleanOptionalAction, default=False)
    ap.add_argument("--data", type=Path, default=REPO.parent / "shared" / "data" / "lfw")
    ap.add_argument("--cache-dir", type=Path, default=None)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()

    from openlfr.evaluation.embedcache import EmbeddingCache, build_face_embedder
    from openlfr.evaluation.fpir import impostor_distribution
    from openlfr.evaluation.fpir_check import check_sizes, check_splits, lfw_splits, worst_ratio
    from openlfr.evaluation.lfw import lfw_root, read_people
    from openlfr.evaluation.protocols import watchlist_run
    from openlfr.settings import Settings

    images = lfw_root(args.data) / "images"
    cache_dir = args.cache_dir or Settings().cache_dir
    fe = build_face_embedder(args.embedder, flip=args.flip, threads=args.threads)
    run = watchlist_run(images, fe, cache_dir, seed=0, progress=True)
    people = read_people(images)
    files = [f for n in sorted(people) for f in people[n]]
    cache = EmbeddingCache(images, fe, cache_dir)
    emb = cache.ensure(files, progress=False)
    spec = cache.spec
    name = args.embedder + ("" if args.flip else "-noflip")
    command = "python scripts/fpir_calibration.py " + " ".join(sys.argv[1:])
    names = [f.parent.name for f in files]
    enrolment = [i for i, n in enumerate(names) if i == 0 or names[i - 1] != n]
    dist = impostor_distribution(
        emb.get([cache.relative(f) for f in files]), names, enrolment,
        embedder=args.embedder, model_sha256=spec["embedder_sha256"], flip=args.flip,
        embedding=spec, images=len(files), people=len(people),
        data="LFW deep-funneled: every image against the enrolment image (lowest-numbered) "
             "of every other person (names as filed; LFW files some people under two names)",
        command=command)
    out = REPO / "src" / "openlfr" / "evaluation" / "data" / f"impostor-{name}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(dist.as_dict(), separators=(",", ":")) + "\n")
    rows = check_sizes(run.scores, run.gallery_ids, run.probe_ids, dist)
    pooled = check_splits(lfw_splits(images, fe, cache_dir, range(SEEDS)), dist)
    result = {
        "protocol": "size-aware FPIR prediction 1 - (1 - FMR(t))^N from the packaged "
                    "impostor distribution vs the measured open-set FPIR on the LFW "
                    "watchlist split (seed 0), galleries drawn as openlfr calibrate draws "
                    "them (see openlfr.evaluation.fpir_check)",
        "embedding": spec, "impostor_pairs": dist.pairs, "distribution_file": str(
            out.relative_to(REPO)), **run.split.counts(), "rows": rows,
        "worst_factor": worst_ratio(rows),
        "pooled_over_split_seeds": {"seeds": list(range(SEEDS)), "rows": pooled,
                                    "worst_factor": worst_ratio(pooled)},
        "subset": _subset(images, fe, cache_dir, dist),
        "command": command}
    res = REPO / "docs" / "results" / f"fpir-check-{name}.json"
    res.write_text(json.dumps(result, indent=2) + "\n")
    for r in rows:
        print(f"N={r['watchlist_size']:4d} t={r['threshold']:.4f} measured "
              f"{r['measured_fpir']['count']}/{r['measured_fpir']['of']} = "
              f"{r['measured_fpir']['rate']:.5f}, predicted {r['predicted_fpir']:.5f}, "
              f"ratio {r['ratio']:.2f}")
    for r in pooled:
        print(f"seeds 0-{SEEDS - 1}: N={r['watchlist_size']:4d} t={r['threshold']:.4f} "
              f"measured {r['measured_fpir']['count']}/{r['measured_fpir']['of']}, predicted "
              f"{r['predicted_fpir']:.5f}, ratio {r['ratio']:.2f}")
    print(f"worst factor {result['worst_factor']:.2f} (seed 0), "
          f"{result['pooled_over_split_seeds']['worst_factor']:.2f} (pooled); wrote {out} "
          f"and {res}")
    return 0


def _subset(images: Path, fe: object, cache_dir: Path, dist: object) -> dict[str, object]:
    """The measured figures on the pinned subset (the test recomputes them from images)."""
    from openlfr.evaluation.fpir_check import subset_check

    return subset_check(images, Path(cache_dir) / "fpir-subset", fe, Path(cache_dir), dist)


if __name__ == "__main__":
    raise SystemExit(main())
