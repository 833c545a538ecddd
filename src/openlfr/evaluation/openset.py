"""Open-set 1:N identification figures (NIST/NPL style; docs/accuracy.md).

Every search (probe) is compared with every enrolled template by cosine similarity; only the
top-1 candidate counts. A search is *mated* when its identity is enrolled, *non-mated*
otherwise. At threshold ``t``:

    TPIR(t) = mated searches whose top-1 candidate is the right identity with score >= t
    FNIR(t) = 1 - TPIR(t)
    FPIR(t) = non-mated searches whose top-1 score >= t
    rank-1  = TPIR(-inf): mated searches whose top-1 candidate is the right identity

FPIR grows with the watchlist size (more templates, more chances for a high impostor score):
every figure carries the watchlist size it was measured at.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from openlfr.metrics import Proportion

__all__ = ["similarity_matrix", "OpenSetScores", "open_set", "threshold_for_fpir",
           "round_up"]

F64 = npt.NDArray[np.float64]


def similarity_matrix(probes: npt.ArrayLike, gallery: npt.ArrayLike,
                      chunk: int = 4096) -> npt.NDArray[np.float32]:
    """Cosine similarity of every probe row with every gallery row (rows L2-normalised here)."""
    p = np.asarray(probes, dtype=np.float32)
    g = np.asarray(gallery, dtype=np.float32)
    if p.ndim != 2 or g.ndim != 2 or p.shape[1] != g.shape[1]:
        raise ValueError(f"probes (n, D) and gallery (m, D) must share D, got {p.shape} and "
                         f"{g.shape}")
    g = g / np.maximum(np.linalg.norm(g, axis=1, keepdims=True), 1e-12)
    out = np.empty((p.shape[0], g.shape[0]), dtype=np.float32)
    for i in range(0, p.shape[0], chunk):
        block = p[i:i + chunk]
        block = block / np.maximum(np.linalg.norm(block, axis=1, keepdims=True), 1e-12)
        out[i:i + chunk] = block @ g.T
    return out


def round_up(x: float, decimals: int = 4) -> float:
    """``x`` rounded up to ``decimals`` places: a stored threshold never admits more than the
    exact one did."""
    q = 10 ** decimals
    return math.ceil(x * q - 1e-9) / q


def threshold_for_fpir(non_mated_top: npt.ArrayLike, target: float) -> float:
    """Lowest threshold whose FPIR on these non-mated top-1 scores is <= ``target``.

    With N non-mated searches at most ``floor(target * N)`` may reach the threshold: the
    threshold is placed just above the next highest score (ties all fall below it).
    """
    s = np.sort(np.asarray(non_mated_top, dtype=np.float64))[::-1]
    if s.size == 0:
        raise ValueError("no non-mated searches: FPIR cannot be calibrated")
    if not 0 <= target < 1:
        raise ValueError(f"target FPIR must be in [0, 1), got {target}")
    allowed = int(math.floor(target * s.size + 1e-9))
    return float(np.nextafter(s[allowed], np.inf))


@dataclass(frozen=True)
class OpenSetScores:
    """Top-1 outcome of every search of one open-set run."""

    watchlist_size: int
    mated_top: F64            # top-1 score of each mated search
    mated_hit: npt.NDArray[np.bool_]  # its top-1 candidate is the right identity
    mated_ids: tuple[str, ...]
    non_mated_top: F64
    non_mated_ids: tuple[str, ...]

    @property
    def n_mated(self) -> int:
        return int(self.mated_top.size)

    @property
    def n_non_mated(self) -> int:
        return int(self.non_mated_top.size)

    def tpir(self, t: float) -> Proportion:
        return Proportion(int((self.mated_hit & (self.mated_top >= t)).sum()), self.n_mated)

    def fnir(self, t: float) -> Proportion:
        tp = self.tpir(t)
        return Proportion(tp.total - tp.successes, tp.total)

    def fpir(self, t: float) -> Proportion:
        return Proportion(int((self.non_mated_top >= t).sum()), self.n_non_mated)

    def rank1(self) -> Proportion:
        return Proportion(int(self.mated_hit.sum()), self.n_mated)

    def threshold_for_fpir(self, target: float) -> float:
        return threshold_for_fpir(self.non_mated_top, target)

    def curves(self) -> tuple[F64, F64, F64]:
        """(thresholds ascending, FPIR, FNIR) at every distinct score."""
        t = np.unique(np.r_[self.mated_top, self.non_mated_top])
        nm = np.sort(self.non_mated_top)
        hits = np.sort(self.mated_top[self.mated_hit])
        fpir = (nm.size - np.searchsorted(nm, t, side="left")) / max(nm.size, 1)
        tpir = (hits.size - np.searchsorted(hits, t, side="left")) / max(self.n_mated, 1)
        return t, fpir, 1 - tpir

    def at_fpir(self, target: float) -> dict[str, object]:
        """Threshold for ``target`` FPIR with the TPIR, FNIR and FPIR it gives here."""
        t = self.threshold_for_fpir(target)
        return {"target_fpir": target, "threshold": t, "tpir": self.tpir(t).as_dict(),
                "fnir": self.fnir(t).as_dict(), "fpir": self.fpir(t).as_dict()}

    def summary(self, targets: Sequence[float] = (1e-2, 1e-3)) -> dict[str, object]:
        return {"watchlist_size": self.watchlist_size, "mated_searches": self.n_mated,
                "non_mated_searches": self.n_non_mated, "rank1": self.rank1().as_dict(),
                "at_fpir": [self.at_fpir(x) for x in targets]}

    def table(self, thresholds: Sequence[float]) -> list[dict[str, object]]:
        return [{"threshold": float(t), "tpir": self.tpir(t).as_dict(),
                 "fnir": self.fnir(t).as_dict(), "fpir": self.fpir(t).as_dict()}
                for t in thresholds]


def open_set(scores: npt.ArrayLike, gallery_ids: Sequence[str], probe_ids: Sequence[str],
             columns: npt.ArrayLike | None = None) -> OpenSetScores:
    """Top-1 outcomes from a (probes x gallery) similarity matrix.

    ``columns`` restricts the gallery to a subset (e.g. a sampled watchlist of another size);
    a probe is mated when its identity is among the enrolled identities in use. One template
    per identity is the usual case; with several, the top-1 template's identity counts.
    """
    s = np.asarray(scores)
    gids = np.asarray(list(gallery_ids), dtype=object)
    pids = np.asarray(list(probe_ids), dtype=object)
    if s.ndim != 2 or s.shape != (pids.size, gids.size):
        raise ValueError(f"scores must be (probes, gallery) = ({pids.size}, {gids.size}), "
                         f"got {s.shape}")
    if columns is not None:
        cols = np.asarray(columns, dtype=np.int64)
        s, gids = s[:, cols], gids[cols]
    if gids.size == 0:
        raise ValueError("empty gallery")
    best = np.argmax(s, axis=1)
    top = s[np.arange(s.shape[0]), best].astype(np.float64)
    enrolled = set(gids.tolist())
    mated = np.array([p in enrolled for p in pids.tolist()], dtype=bool)
    hit = gids[best] == pids
    return OpenSetScores(
        watchlist_size=len(enrolled),
        mated_top=top[mated], mated_hit=np.asarray(hit[mated], dtype=bool),
        mated_ids=tuple(pids[mated].tolist()),
        non_mated_top=top[~mated], non_mated_ids=tuple(pids[~mated].tolist()))
