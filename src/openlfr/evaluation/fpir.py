"""Size-aware FPIR: what a threshold means for a watchlist of N people.

A live search compares each passer-by with all N enrolled people and alerts on the best
candidate at or above the threshold ``t``. Its false positive identification rate grows with
N: more templates, more chances for an impostor score to reach ``t``. Given the 1:1 false
match rate (the share of impostor pairs, two different people, scoring ``>= t``), and
treating the N comparisons as independent,

    FPIR(N, t) ~= 1 - (1 - FMR(t)) ** N          (~= N * FMR(t) while that is small)

Faces differ, though: a few resemble many others (twins, relatives, poor images), most
resemble nobody, and one FMR for everyone overstates FPIR as N grows (on LFW at 840
enrolled and FPIR 1e-3: 2.01x the measured rate; 3.5x when the FMR counts every pair of
images rather than images against enrolment images). The prediction therefore averages the
formula over searches,

    FPIR(N, t) ~= mean_i [1 - (1 - FMR_i(t)) ** N]

where ``FMR_i`` is search i's own share of impostor enrolment images at or above ``t`` (the
*per-search mixture*, :class:`SearchMixture`); it equals the plain formula when every face has
the same FMR, and never exceeds it. Both come from a packaged *impostor score distribution* per
embedder model and flip setting (``openlfr/evaluation/data/impostor-*.json``), measured once
by :func:`impostor_distribution` (``scripts/fpir_calibration.py``: every LFW image against the
enrolment image, the lowest-numbered, of every other person). The prediction is checked
against the measured open-set FPIR at the watchlist sizes LFW allows (docs/results/
fpir-check-*.json, tests/evaluation/test_fpir.py): within a factor of 2 at 100, 420 and 840
enrolled, pooled over ten watchlist splits (and on the seed-0 split alone without flip).

Resolution. The mean FMR is counted on a 0.0005 grid (log-linear in between) with the highest
impostor scores kept exactly; the mixture on a 0.0025 grid where the mean FMR is <= 2%
(below that range, the plain formula). Fewer than three pairs above ``t`` cannot show a rate
(rule of three, one-sided 95%): FMR is never taken below ``3 / pairs``, so the prediction is
conservative where the data runs out, and a target FPIR below what the data can show is
refused with a clear error.

What it is not: LFW is mostly adult, white, male press photos, and its impostor tail above
~0.45 (ArcFace) is twins, relatives and people filed under two spellings; a crowd in the
street is neither. The prediction says how FPIR scales with N for this model on this data;
the counts a force publishes after a deployment are the real figures.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from typing import Any

import numpy as np
import numpy.typing as npt

from openlfr.errors import ConfigError
from openlfr.evaluation.openset import round_up
from openlfr.reports.baserate import BaseRateScenario
from openlfr.vision.models import MODEL_FILES

__all__ = ["ImpostorDistribution", "SearchMixture", "impostor_distribution", "load_distribution",
           "predicted_fpir", "threshold_for_size", "expected_false_alerts", "fpir_from_fmr",
           "DATA_FILES", "MIN_PAIRS_ABOVE", "shipped_key"]

#: Packaged distributions: (model sha256, flip) -> file under openlfr/evaluation/data/.
DATA_FILES: dict[tuple[str, bool], str] = {
    ("9cc6e4a75f0e2bf0b1aed94578f144d15175f357bdc05e815e5c4a02b319eb4f", False):
        "impostor-arcface-noflip.json",
    ("9cc6e4a75f0e2bf0b1aed94578f144d15175f357bdc05e815e5c4a02b319eb4f", True):
        "impostor-arcface.json",
}
#: Rule of three: with fewer pairs above t the data cannot show a rate.
MIN_PAIRS_ABOVE = 3
GRID = (-1.0, 1.0, 4001)  # start, stop, points: step 0.0005 on cosine similarity
TAIL = 2000  # highest impostor scores kept exactly
MIX_STEP = 0.0025  # grid of the per-search mixture
MIX_MAX_FMR = 0.02  # the mixture is kept where the mean FMR is at most this


@dataclass(frozen=True)
class SearchMixture:
    """Per-search false match rates on a grid: at ``grid[i]``, ``bins[i]`` lists (FMR of a
    search, how many searches have it); searches with no impostor at or above are left out.
    Kept where the mean FMR is at most ``MIX_MAX_FMR`` (the range thresholds are set in)."""

    searches: int
    grid: npt.NDArray[np.float64]
    bins: tuple[npt.NDArray[np.float64], ...]  # (k, 2): fmr, searches

    def fpir(self, watchlist_size: int, t: float) -> float | None:
        """Mean over searches of 1 - (1 - FMR_i)^N, log-linear between grid points; None
        below the grid (the caller uses the mean FMR there)."""
        g = self.grid
        if t < g[0]:
            return None
        i = int(np.searchsorted(g, t, side="right")) - 1
        if i >= g.size - 1:
            return self._at(g.size - 1, watchlist_size) if t <= g[-1] else 0.0
        lo, hi = self._at(i, watchlist_size), self._at(i + 1, watchlist_size)
        w = (t - g[i]) / (g[i + 1] - g[i])
        if lo > 0 and hi > 0:
            return math.exp((1 - w) * math.log(lo) + w * math.log(hi))
        return (1 - w) * lo + w * hi

    def _at(self, i: int, n: int) -> float:
        b = self.bins[i]
        if b.size == 0:
            return 0.0
        return float((-np.expm1(n * np.log1p(-np.minimum(b[:, 0], 1 - 1e-16))) * b[:, 1]).sum()
                     / self.searches)

    def as_dict(self) -> dict[str, Any]:
        return {"searches": self.searches, "grid": [round(float(x), 6) for x in self.grid],
                "bins": [[[float(f"{f:.6g}"), int(n)] for f, n in b] for b in self.bins]}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> SearchMixture:
        return cls(int(d["searches"]), np.asarray(d["grid"], dtype=np.float64),
                   tuple(np.asarray(b, dtype=np.float64).reshape(-1, 2) for b in d["bins"]))


@dataclass(frozen=True)
class ImpostorDistribution:
    """How many impostor pairs score at or above each threshold."""

    pairs: int
    grid: npt.NDArray[np.float64]       # ascending thresholds
    at_or_above: npt.NDArray[np.int64]  # pairs scoring >= grid[i] (non-increasing)
    tail: npt.NDArray[np.float64]       # the highest scores, descending
    meta: dict[str, Any]
    mixture: SearchMixture | None = None  # per-search rates (with enrolment references)

    def __post_init__(self) -> None:
        if self.pairs < 1:
            raise ConfigError("an impostor distribution needs at least one pair")
        if self.grid.shape != self.at_or_above.shape or self.grid.ndim != 1:
            raise ConfigError(f"grid {self.grid.shape} and counts {self.at_or_above.shape} "
                              "must be the same 1-d shape")
        if np.any(np.diff(self.at_or_above) > 0) or np.any(np.diff(self.grid) <= 0):
            raise ConfigError("grid must ascend and counts must not increase")

    def count_at_or_above(self, t: float) -> float:
        """Impostor pairs scoring >= t: exact in the kept tail, interpolated below it."""
        if self.tail.size and t >= self.tail[-1]:
            return float(np.count_nonzero(self.tail >= t))
        g, c = self.grid, self.at_or_above
        if t <= g[0]:
            return float(self.pairs)
        i = int(np.searchsorted(g, t, side="right")) - 1
        if i >= g.size - 1:
            return float(c[-1])
        lo, hi = float(c[i]), float(c[i + 1])
        w = (t - g[i]) / (g[i + 1] - g[i])
        if lo > 0 and hi > 0:
            return math.exp((1 - w) * math.log(lo) + w * math.log(hi))
        return (1 - w) * lo + w * hi

    def fmr(self, t: float) -> float:
        """1:1 false match rate at ``t``, never below ``MIN_PAIRS_ABOVE / pairs``."""
        return max(self.count_at_or_above(t), MIN_PAIRS_ABOVE) / self.pairs

    @property
    def fmr_floor(self) -> float:
        return MIN_PAIRS_ABOVE / self.pairs

    def fpir(self, watchlist_size: int, t: float) -> float:
        """Predicted FPIR at ``t`` for N enrolled: per search where the mixture covers ``t``,
        else from the mean FMR; never below what ``MIN_PAIRS_ABOVE`` pairs would give."""
        floor = fpir_from_fmr(self.fmr_floor, watchlist_size)
        mixed = self.mixture.fpir(watchlist_size, t) if self.mixture is not None else None
        if mixed is None:
            return fpir_from_fmr(self.fmr(t), watchlist_size)
        return max(mixed, floor)

    def fpir_plain(self, watchlist_size: int, t: float) -> float:
        """1 - (1 - FMR(t))^N with the mean FMR (every face equally likely mistaken)."""
        return fpir_from_fmr(self.fmr(t), watchlist_size)

    def as_dict(self) -> dict[str, Any]:
        return {**self.meta, "pairs": self.pairs,
                "grid": {"start": float(self.grid[0]), "stop": float(self.grid[-1]),
                         "points": int(self.grid.size)},
                "at_or_above": self.at_or_above.tolist(),
                "tail": [round(float(x), 6) for x in self.tail],
                "mixture": None if self.mixture is None else self.mixture.as_dict()}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ImpostorDistribution:
        try:
            g = d["grid"]
            return cls(int(d["pairs"]), np.linspace(g["start"], g["stop"], int(g["points"])),
                       np.asarray(d["at_or_above"], dtype=np.int64),
                       np.asarray(d["tail"], dtype=np.float64),
                       {k: v for k, v in d.items()
                        if k not in ("pairs", "grid", "at_or_above", "tail", "mixture")},
                       None if d.get("mixture") is None else SearchMixture.from_dict(
                           d["mixture"]))
        except (KeyError, TypeError, ValueError) as exc:
            raise ConfigError(f"not an impostor score distribution: {exc}") from None


def _count_bins(references: int) -> npt.NDArray[np.float64]:
    """Edges for counting searches by their number of impostor hits: 1..32 exactly, then
    geometric (x1.25) up to every reference."""
    edges = list(range(1, 33))
    while edges[-1] <= references:
        edges.append(int(math.ceil(edges[-1] * 1.25)))
    return np.asarray(edges, dtype=np.float64)


class _MixtureCounts:
    """Accumulates, chunk by chunk, how many searches have how many hits at each threshold."""

    def __init__(self, references: int) -> None:
        self.references = references
        self.grid = np.round(np.arange(-1.0, 1.0 + 1e-9, MIX_STEP), 6)
        self.edges = _count_bins(references)
        shape = (self.grid.size, self.edges.size)
        self.n = np.zeros(shape, dtype=np.int64)
        self.hits = np.zeros(shape, dtype=np.float64)
        self.searches = 0

    def add(self, scores: npt.NDArray[np.float64], valid: npt.NDArray[np.bool_]) -> None:
        rows, g = scores.shape[0], self.grid.size
        idx = np.searchsorted(self.grid, scores, side="right") - 1  # bin of each pair
        idx = np.where(valid, idx, -1) + 1  # 0: below the grid or not an impostor pair
        flat = (np.arange(rows)[:, None] * (g + 1) + idx).ravel()
        per_row = np.bincount(flat, minlength=rows * (g + 1)).reshape(rows, g + 1)[:, 1:]
        counts = np.cumsum(per_row[:, ::-1], axis=1)[:, ::-1]  # hits >= grid[j], per row
        b = np.searchsorted(self.edges, counts, side="right") - 1
        keep = b >= 0
        cell = (np.broadcast_to(np.arange(g), counts.shape)[keep] * self.edges.size + b[keep])
        self.n += np.bincount(cell, minlength=self.n.size).reshape(self.n.shape)
        self.hits += np.bincount(cell, weights=counts[keep],
                                 minlength=self.n.size).reshape(self.n.shape)
        self.searches += rows

    def mixture(self, at_or_above: npt.NDArray[np.int64], grid: npt.NDArray[np.float64],
                pairs: int) -> SearchMixture | None:
        mean_fmr = np.interp(self.grid, grid, at_or_above) / pairs
        used = np.nonzero((mean_fmr <= MIX_MAX_FMR) & (self.n.sum(axis=1) > 0))[0]
        if used.size == 0:
            return None
        rows = range(int(used[0]), min(int(used[-1]) + 2, self.grid.size))
        bins = []
        for j in rows:
            nz = self.n[j] > 0
            bins.append(np.stack([self.hits[j, nz] / self.n[j, nz] / self.references,
                                  self.n[j, nz].astype(np.float64)], axis=1))
        return SearchMixture(self.searches, self.grid[list(rows)], tuple(bins))


def impostor_distribution(embeddings: npt.ArrayLike, identities: Sequence[str],
                          references: Sequence[int] | None = None, chunk: int = 512,
                          **meta: Any) -> ImpostorDistribution:
    """Impostor pairs counted on the grid (cosine similarity of L2-normalised rows).

    ``references`` None: every unordered pair of rows with different identities. Otherwise
    the rows that stand for enrolment images (one per identity): every row, as a search,
    against the reference of every other identity, as a watchlist search compares a face
    with one enrolled image per person; then the per-search mixture is kept too."""
    e = np.asarray(embeddings, dtype=np.float32)
    ids = np.asarray(list(identities), dtype=object)
    if e.ndim != 2 or e.shape[0] != ids.size:
        raise ConfigError(f"embeddings (n, D) and n identities, got {e.shape} and {ids.size}")
    e = e / np.maximum(np.linalg.norm(e, axis=1, keepdims=True), 1e-12)
    _, codes = np.unique(ids, return_inverse=True)
    refs = np.arange(e.shape[0]) if references is None else np.asarray(references, np.int64)
    if references is not None and np.unique(codes[refs]).size != refs.size:
        raise ConfigError("references: one row per identity")
    mix = None if references is None else _MixtureCounts(refs.size - 1)
    edges = np.linspace(*GRID[:2], GRID[2])
    hist = np.zeros(edges.size, dtype=np.int64)  # hist[i]: scores in [edges[i], edges[i+1])
    tail = np.empty(0, dtype=np.float64)
    pairs = 0
    for i in range(0, e.shape[0], chunk):
        rows = np.arange(i, min(i + chunk, e.shape[0]))
        keep = codes[rows][:, None] != codes[refs][None, :]
        if references is None:  # each unordered pair once
            keep &= refs[None, :] > rows[:, None]
        block = (e[rows] @ e[refs].T).astype(np.float64)
        if mix is not None:
            mix.add(block, keep)
        s = block[keep]
        pairs += s.size
        idx = np.searchsorted(edges, s, side="right") - 1
        hist += np.bincount(idx[idx >= 0], minlength=edges.size)[:edges.size]
        if s.size:
            top = np.partition(s, -min(TAIL, s.size))[-TAIL:]
            tail = np.sort(np.r_[tail, top])[::-1][:TAIL]
    at_or_above = np.cumsum(hist[::-1])[::-1]
    return ImpostorDistribution(pairs, edges, at_or_above, tail, dict(meta),
                                None if mix is None else mix.mixture(at_or_above, edges, pairs))


@lru_cache(maxsize=16)
def _packaged(name: str) -> ImpostorDistribution:
    text = (resources.files("openlfr.evaluation") / "data" / name).read_text()
    return ImpostorDistribution.from_dict(json.loads(text))


def _sha(embedder_key: str) -> str:
    sha = embedder_key.rsplit(":", 1)[-1].strip().lower()
    if not sha:
        raise ConfigError(f"embedder key {embedder_key!r} names no model (name:sha256)")
    return sha


def shipped_key(embedder: str) -> str:
    """``name:model_sha256`` of the model file shipped for ``embedder`` (arcface or dlib)."""
    file = {"arcface": "arcface_mbf", "dlib": "dlib_resnet"}[embedder]
    return f"{embedder}:{MODEL_FILES[file].sha256}"


def load_distribution(embedder_key: str, flip: bool = False) -> ImpostorDistribution:
    """The packaged distribution for ``name:model_sha256`` (or a bare sha256) and flip."""
    sha = _sha(embedder_key)
    name = DATA_FILES.get((sha, flip))
    if name is not None and not (resources.files("openlfr.evaluation") / "data" / name).is_file():
        name = None  # listed but not built (scripts/fpir_calibration.py writes it)
    if name is None:
        have = ", ".join(f"{s[:12]}... flip={f}" for (s, f), n in DATA_FILES.items()
                         if (resources.files("openlfr.evaluation") / "data" / n).is_file())
        raise ConfigError(
            f"no calibrated impostor score distribution for embedder {embedder_key!r} "
            f"(flip={flip}): the expected FPIR for a watchlist size cannot be computed. "
            f"Packaged: {have or 'none'}. Measure one on labelled data like your cameras' "
            f"(scripts/build_impostor_scores.py) before relying on this model")
    return _packaged(name)


def fpir_from_fmr(fmr: float, watchlist_size: int) -> float:
    """1 - (1 - FMR) ** N, computed without cancellation."""
    if watchlist_size < 1:
        raise ConfigError(f"watchlist size must be at least 1, got {watchlist_size}")
    if not 0 <= fmr <= 1:
        raise ConfigError(f"a false match rate lies in [0, 1], got {fmr}")
    if fmr == 1:
        return 1.0
    return float(-math.expm1(watchlist_size * math.log1p(-fmr)))


def predicted_fpir(watchlist_size: int, threshold: float, embedder_key: str,
                   flip: bool = False) -> float:
    """Expected FPIR of a watchlist of ``watchlist_size`` at ``threshold`` (module doc)."""
    if not -1 <= threshold <= 1 or math.isnan(threshold):
        raise ConfigError(f"a cosine threshold lies in [-1, 1], got {threshold}")
    if watchlist_size < 1:
        raise ConfigError(f"watchlist size must be at least 1, got {watchlist_size}")
    return load_distribution(embedder_key, flip).fpir(watchlist_size, threshold)


def threshold_for_size(watchlist_size: int, target_fpir: float, embedder_key: str,
                       flip: bool = False) -> float:
    """Lowest threshold (rounded up to 4 decimals) whose predicted FPIR at this size is
    <= ``target_fpir``; ConfigError when the data cannot show a rate that low."""
    if not 0 < target_fpir < 1:
        raise ConfigError(f"target FPIR must lie in (0, 1), got {target_fpir}")
    dist = load_distribution(embedder_key, flip)
    floor = fpir_from_fmr(dist.fmr_floor, watchlist_size)
    if target_fpir < floor:
        raise ConfigError(
            f"target FPIR {target_fpir:g} at watchlist size {watchlist_size:,} is below what "
            f"the calibration data can show ({floor:.3g}: {MIN_PAIRS_ABOVE} of "
            f"{dist.pairs:,} impostor pairs); choose a higher target or a smaller watchlist")
    lo, hi = -1.0, 1.0  # predicted FPIR is non-increasing in t; hi always meets the target
    while hi - lo > 1e-6:
        mid = (lo + hi) / 2
        if dist.fpir(watchlist_size, mid) <= target_fpir:
            hi = mid
        else:
            lo = mid
    return round_up(hi)


def expected_false_alerts(fpir: float, expected_crowd: int, present: int = 0) -> float:
    """False alerts expected from a crowd of ``expected_crowd`` faces, ``present`` of them on
    the watchlist: (C - m) * FPIR (:class:`openlfr.reports.baserate.BaseRateScenario`)."""
    if expected_crowd < 0 or not 0 <= present <= expected_crowd:
        raise ConfigError(f"crowd {expected_crowd} and people present {present}: need "
                          "0 <= present <= crowd")
    if not 0 <= fpir <= 1:
        raise ConfigError(f"FPIR lies in [0, 1], got {fpir}")
    return BaseRateScenario(crowd=expected_crowd, present=present, tpir=0.0,
                            fpir=fpir).expected_false
