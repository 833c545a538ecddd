"""The evaluation runs behind ``openlfr evaluate`` and ``openlfr calibrate``.

Each run embeds what it needs through the shared :class:`EmbeddingCache` (verification and
the watchlist protocol use the same cached embeddings of the same folder), computes its
figures, and returns a JSON-ready dict; :func:`write_outputs` writes it with its plot.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from openlfr.evaluation.embedcache import EmbeddingCache, Embeddings, FaceEmbedder
from openlfr.evaluation.lfw import (
    LFW_NOTE,
    WatchlistSplit,
    image_path,
    lfw_root,
    pair_images,
    parse_pairs,
    read_people,
    watchlist_split,
)
from openlfr.evaluation.openset import OpenSetScores, open_set, similarity_matrix
from openlfr.evaluation.verification import kfold, roc_points
from openlfr.metrics import Proportion

__all__ = ["verification_run", "WatchlistRun", "watchlist_run", "watchlist_report",
           "write_outputs", "fallback_summary", "subset_pairs", "split_sensitivity"]



def table_thresholds(res: OpenSetScores, n: int = 21) -> list[float]:
    """Thresholds for the open-set table: ``n`` evenly spaced values (3 decimals) from the
    median non-mated top-1 score to the median mated top-1 score, so the table covers the
    useful range whatever the embedder's score scale."""
    lo = float(np.median(res.non_mated_top)) if res.n_non_mated else 0.0
    hi = float(np.median(res.mated_top)) if res.n_mated else 1.0
    return sorted({round(x, 3) for x in np.linspace(lo, max(hi, lo + 1e-3), n)})


def fallback_summary(emb: Embeddings, rels: Sequence[str], limit: int = 50) -> dict[str, Any]:
    fb = emb.fallbacks(rels)
    return {"fallbacks": Proportion(len(fb), len(rels)).as_dict(),
            "fallback_images": fb[:limit], "fallback_images_listed": min(len(fb), limit)}


def subset_pairs(pairs: list[Any], folds: int | None, per_fold: int | None) -> list[Any]:
    """The first ``per_fold`` matched and first ``per_fold`` mismatched pairs of each of the
    first ``folds`` folds (None: all)."""
    out = []
    counts: dict[tuple[int, bool], int] = {}
    for p in pairs:
        if folds is not None and p.fold >= folds:
            continue
        k = (p.fold, p.same)
        if per_fold is not None and counts.get(k, 0) >= per_fold:
            continue
        counts[k] = counts.get(k, 0) + 1
        out.append(p)
    return out


def verification_run(data: Path, fe: FaceEmbedder, cache_dir: Path, folds: int | None = None,
                     per_fold: int | None = None, progress: bool = True
                     ) -> tuple[dict[str, Any], dict[str, npt.NDArray[np.float64]]]:
    """LFW View 2 10-fold verification; returns (JSON dict, arrays for the plot)."""
    root = lfw_root(data)
    images = root / "images"
    pairs = subset_pairs(parse_pairs(root / "pairs.txt"), folds, per_fold)
    cache = EmbeddingCache(images, fe, cache_dir)
    emb = cache.ensure(pair_images(images, pairs), progress=progress)
    a = emb.get([cache.relative(image_path(images, p.name1, p.n1)) for p in pairs])
    b = emb.get([cache.relative(image_path(images, p.name2, p.n2)) for p in pairs])
    scores = (a * b).sum(axis=1).astype(np.float64)
    same = np.array([p.same for p in pairs])
    fold_ids = np.array([p.fold for p in pairs])
    res = kfold(scores, same, fold_ids)
    t, far, frr = roc_points(scores, same)
    tar_at = {}
    for target in (1e-3, 1e-2):
        ok = far <= target
        tar_at[str(target)] = float(1 - frr[ok].min()) if ok.any() else 0.0
    rels = [cache.relative(p) for p in pair_images(images, pairs)]
    out = {
        "protocol": "LFW verification (View 2, pairs.txt, k-fold: threshold from the other "
                    "folds, max accuracy)",
        "data": str(root), "note": LFW_NOTE, "embedding": cache.spec,
        "pairs": len(pairs), "matched_pairs": int(same.sum()),
        "mismatched_pairs": int((~same).sum()), "fold_count": int(np.unique(fold_ids).size),
        **res.as_dict(),
        "tar_at_far_pooled": tar_at,
        **fallback_summary(emb, rels),
    }
    arrays = {"far": far, "frr": frr, "thresholds": t, "scores": scores,
              "same": same.astype(np.float64)}
    return out, arrays


@dataclass(frozen=True)
class WatchlistRun:
    split: WatchlistSplit
    scores: npt.NDArray[np.float32]  # (probes, enrolled)
    gallery_ids: tuple[str, ...]
    probe_ids: tuple[str, ...]
    embedding: dict[str, Any]
    fallbacks: dict[str, Any]
    data: str

    def open_set(self) -> OpenSetScores:
        return open_set(self.scores, self.gallery_ids, self.probe_ids)

    def highest_non_mated(self, k: int = 12) -> list[dict[str, Any]]:
        """The non-mated searches with the highest top-1 scores: the ones that set the
        threshold at low FPIR (on LFW: people filed under two names, relatives, mislabels)."""
        probes = [p for p, _ in self.split.mated] + [p for p, _ in self.split.non_mated]
        enrolled = set(self.gallery_ids)
        rows = np.array([i for i, n in enumerate(self.probe_ids) if n not in enrolled])
        best = np.argmax(self.scores[rows], axis=1)
        top = self.scores[rows, best]
        order = np.argsort(-top, kind="stable")[:k]
        return [{"image": probes[rows[i]].name, "top_candidate": self.gallery_ids[best[i]],
                 "score": float(top[i])} for i in order]


def watchlist_run(images: Path, fe: FaceEmbedder, cache_dir: Path, seed: int = 0,
                  progress: bool = True) -> WatchlistRun:
    """Embed (cached) and score the seeded watchlist split of a folder of ``Name/<images>``."""
    images = Path(images)
    split = watchlist_split(read_people(images), seed)
    cache = EmbeddingCache(images, fe, cache_dir)
    emb = cache.ensure(split.images(), progress=progress)
    s, probe_ids = _searches(split, emb, cache)
    rels = [cache.relative(p) for p in split.images()]
    return WatchlistRun(split, s, split.watchlist, probe_ids, cache.spec,
                        fallback_summary(emb, rels), str(images))


def _searches(split: WatchlistSplit, emb: Embeddings, cache: EmbeddingCache
              ) -> tuple[npt.NDArray[np.float32], tuple[str, ...]]:
    """Scores of every search (mated, then non-mated) against every enrolled image, and the
    searches' true identities."""
    probes = list(split.mated) + list(split.non_mated)
    s = similarity_matrix(emb.get([cache.relative(p) for p, _ in probes]),
                          emb.get([cache.relative(p) for p in split.enrol]))
    return s, tuple(n for _, n in probes)


def watchlist_report(run: WatchlistRun, targets: Sequence[float] = (1e-2, 1e-3)
                     ) -> tuple[dict[str, Any], dict[str, npt.NDArray[np.float64]]]:
    res = run.open_set()
    t, fpir, fnir = res.curves()
    keep = _thin(fpir, fnir)
    out = {
        "protocol": "open-set 1:N watchlist: of the people with 2+ images, half (seeded, by "
                    "sorted name) enrolled from their lowest-numbered image; their other images "
                    "are mated searches; every image of everyone else is non-mated; top-1 "
                    "cosine search",
        "data": run.data, "seed": run.split.seed, "embedding": run.embedding,
        **run.split.counts(),
        **res.summary(targets),
        "table": res.table(table_thresholds(res)),
        "highest_non_mated": run.highest_non_mated(),
        "det_curve": {"threshold": t[keep].tolist(), "fpir": fpir[keep].tolist(),
                      "fnir": fnir[keep].tolist()},
        **run.fallbacks,
    }
    return out, {"thresholds": t, "fpir": fpir, "fnir": fnir}


def split_sensitivity(images: Path, fe: FaceEmbedder, cache_dir: Path, seeds: Sequence[int],
                      targets: Sequence[float] = (1e-2, 1e-3)) -> dict[str, Any]:
    """The same protocol over other seeds of the split: how much the figures owe to which
    identities happen to be enrolled. At FPIR 1e-3 only the few highest impostor scores set
    the threshold, so one split can be lucky or unlucky (twins, siblings, and LFW's people
    filed under two names land on either side of the split)."""
    people = read_people(Path(images))
    cache = EmbeddingCache(Path(images), fe, cache_dir)
    everything = [f for n in sorted(people) for f in people[n]]
    emb = cache.ensure(everything, progress=False)
    rows = []
    for seed in seeds:
        split = watchlist_split(people, seed)
        s, probe_ids = _searches(split, emb, cache)
        res = open_set(s, split.watchlist, probe_ids)
        row: dict[str, Any] = {"seed": seed, "mated_searches": res.n_mated,
                               "non_mated_searches": res.n_non_mated,
                               "rank1": res.rank1().rate}
        for t in targets:
            th = res.threshold_for_fpir(t)
            row[f"threshold_at_fpir_{t:g}"] = th
            row[f"tpir_at_fpir_{t:g}"] = res.tpir(th).rate
        rows.append(row)
    summary = {}
    for key in ["rank1"] + [f"tpir_at_fpir_{t:g}" for t in targets]:
        vals = np.array([r[key] for r in rows])
        summary[key] = {"min": float(vals.min()), "median": float(np.median(vals)),
                        "max": float(vals.max())}
    return {"seeds": list(seeds), "per_seed": rows, "summary": summary}


def _thin(fpir: npt.NDArray[np.float64], fnir: npt.NDArray[np.float64], n: int = 300
          ) -> npt.NDArray[np.int64]:
    """Indices of at most ~n curve points, spread over the curve, keeping every change near
    low FPIR (where the figures are read)."""
    idx = np.unique(np.r_[np.linspace(0, fpir.size - 1, n).astype(np.int64),
                          np.nonzero(fpir <= 0.02)[0][:: max(1, int((fpir <= 0.02).sum()) // n)]])
    return idx


def write_outputs(out_dir: Path | None, name: str, result: dict[str, Any],
                  plot: Any | None = None) -> dict[str, str]:
    """Write ``<name>.json`` and, given a plot function, ``<name>.png`` under ``out_dir``."""
    if out_dir is None:
        return {}
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    files = {"json": str(out_dir / f"{name}.json")}
    if plot is not None:
        files["plot"] = str(out_dir / f"{name}.png")
        plot(Path(files["plot"]))
    result["files"] = files
    result.setdefault("command", "openlfr " + " ".join(sys.argv[1:]))
    Path(files["json"]).write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {files['json']}" + (f" and {files['plot']}" if plot else ""),
          file=sys.stderr)
    return files
