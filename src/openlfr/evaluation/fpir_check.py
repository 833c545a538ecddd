"""The size-aware FPIR prediction against the measured open-set FPIR (LFW sizes).

For each watchlist size the galleries are drawn exactly as ``openlfr calibrate
--watchlist-size`` draws them (:mod:`openlfr.evaluation.calibration`: the whole enrolled set
at its own size, else ``repeats`` seeded draws without replacement, every probe of an
identity not drawn counting as non-mated). The non-mated top-1 scores of all draws are
pooled; at the thresholds where the pooled FPIR meets each target (1e-2, 1e-3) the measured
FPIR (counts, Wilson interval) is set beside the prediction
(:meth:`~openlfr.evaluation.fpir.ImpostorDistribution.fpir`, per search) and the plain
``1 - (1 - mean FMR)^N``, with their ratios to the measurement. :func:`check_splits` pools
the searches of several watchlist splits (seeds), :func:`lfw_splits` makes them.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from openlfr.evaluation.calibration import _runs
from openlfr.evaluation.embedcache import EmbeddingCache, FaceEmbedder
from openlfr.evaluation.fpir import ImpostorDistribution
from openlfr.evaluation.lfw import read_people, watchlist_split
from openlfr.evaluation.openset import threshold_for_fpir
from openlfr.evaluation.protocols import _searches, watchlist_run
from openlfr.metrics import Proportion

__all__ = ["SIZES", "TARGETS", "check_sizes", "check_splits", "lfw_splits", "worst_ratio",
           "pinned_subset", "subset_check", "SUBSET_PEOPLE", "SUBSET_SINGLES", "SUBSET_SIZE"]

SIZES = (100, 420, 840)
TARGETS = (1e-2, 1e-3)
SUBSET_PEOPLE, SUBSET_SINGLES, SUBSET_SIZE = 40, 60, 20


Split = tuple[npt.ArrayLike, Sequence[str], Sequence[str], int]  # scores, gallery, probes, seed


def check_sizes(scores: npt.ArrayLike, gallery_ids: Sequence[str], probe_ids: Sequence[str],
                dist: ImpostorDistribution, sizes: Sequence[int] = SIZES,
                targets: Sequence[float] = TARGETS, repeats: int = 20, seed: int = 0
                ) -> list[dict[str, Any]]:
    """One row per (size, target): threshold, measured FPIR, predicted FPIR, ratio."""
    return check_splits([(scores, gallery_ids, probe_ids, seed)], dist, sizes, targets,
                        repeats)


def check_splits(splits: Sequence[Split], dist: ImpostorDistribution,
                 sizes: Sequence[int] = SIZES, targets: Sequence[float] = TARGETS,
                 repeats: int = 20) -> list[dict[str, Any]]:
    """As :func:`check_sizes`, the non-mated top-1 scores pooled over several splits (who is
    enrolled): at 840 each split gives one gallery, so one split's 1e-3 rests on 8 searches."""
    out = []
    for size in sizes:
        runs = [r for sc, g, p, seed in splits for r in _runs(sc, g, p, size, repeats, seed)]
        nm = np.concatenate([r.non_mated_top for r in runs])
        for target in targets:
            t = threshold_for_fpir(nm, target)
            measured = Proportion(int((nm >= t).sum()), int(nm.size))
            predicted = dist.fpir(size, t)
            plain = dist.fpir_plain(size, t)
            rate = measured.rate
            out.append({"watchlist_size": size, "splits": len(splits),
                        "galleries_drawn": len(runs), "target_fpir": target, "threshold": t,
                        "measured_fpir": measured.as_dict(), "predicted_fpir": predicted,
                        "ratio": predicted / rate if rate else None, "mean_fmr": dist.fmr(t),
                        "plain_fpir": plain, "plain_ratio": plain / rate if rate else None})
    return out


def lfw_splits(images: Path, fe: FaceEmbedder, cache_dir: Path, seeds: Sequence[int]
               ) -> list[Split]:
    """The watchlist split of ``images`` for each seed, scored from the embedding cache."""
    people = read_people(Path(images))
    cache = EmbeddingCache(Path(images), fe, cache_dir)
    emb = cache.ensure([f for n in sorted(people) for f in people[n]], progress=False)
    out: list[Split] = []
    for seed in seeds:
        split = watchlist_split(people, seed)
        scores, probe_ids = _searches(split, emb, cache)
        out.append((scores, split.watchlist, probe_ids, seed))
    return out


def worst_ratio(rows: Sequence[dict[str, Any]]) -> float:
    """The largest factor between prediction and measurement, either way (1 = exact)."""
    return max(max(r["ratio"], 1 / r["ratio"]) for r in rows)


def pinned_subset(images: Path, folder: Path) -> Path:
    """A folder of symlinks to the pinned subset: people sorted by name, the first
    ``SUBSET_PEOPLE`` with 2+ images (up to 3 images each) and the first ``SUBSET_SINGLES``
    with one."""
    people = read_people(Path(images))
    multi = [n for n in sorted(people) if len(people[n]) >= 2][:SUBSET_PEOPLE]
    single = [n for n in sorted(people) if len(people[n]) == 1][:SUBSET_SINGLES]
    for n in multi + single:
        (folder / n).mkdir(parents=True, exist_ok=True)
        for f in people[n][:3]:
            link = folder / n / f.name
            if not link.exists():
                link.symlink_to(f)
    return folder


def subset_check(images: Path, folder: Path, fe: FaceEmbedder, cache_dir: Path,
                 dist: ImpostorDistribution) -> dict[str, Any]:
    """The measured figures on the pinned subset at ``SUBSET_SIZE`` enrolled, FPIR 5%."""
    run = watchlist_run(pinned_subset(images, folder), fe, cache_dir, seed=0, progress=False)
    rows = check_sizes(run.scores, run.gallery_ids, run.probe_ids, dist,
                       sizes=(SUBSET_SIZE,), targets=(0.05,))
    return {"people_with_2_or_more": SUBSET_PEOPLE, "people_with_1": SUBSET_SINGLES,
            "images_each_at_most": 3, **run.split.counts(), "rows": rows}
