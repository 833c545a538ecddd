"""Threshold calibration for a target FPIR at a given watchlist size, and its held-out check.

Method (``calibrate``)
    FPIR grows with the watchlist size, so the threshold is calibrated at the size asked for.
    When that size equals the number of enrolled identities, the whole gallery is used once.
    When it is smaller, ``repeats`` galleries of that size are drawn without replacement from
    the enrolled identities (``numpy.random.default_rng(seed)``); for each, the probes of the
    drawn identities are mated searches and every other probe (including the probes of
    enrolled identities left out of that draw) is non-mated. The non-mated top-1 scores of all
    draws are pooled and the threshold is the lowest one whose pooled FPIR is <= the target
    (:func:`openset.threshold_for_fpir`), rounded *up* to 4 decimals. The expected TPIR is
    the pooled TPIR at that threshold, with the range over draws. Pooled counts repeat
    searches across draws, so their Wilson interval is only indicative; the held-out check
    below counts each search once.

Held-out check (``held_out``)
    The enrolled identities are split in two disjoint halves A and B, and so are the non-mated
    identities (both with ``default_rng(seed + 1)`` permutations, first half to A). The
    threshold is calibrated on A (gallery from A's enrolled identities, searches of A's
    identities only) at size ``min(size, |A|, |B|)`` and applied to B, whose gallery (one draw
    of that size, or all of B) and searches share no identity with A. B's FPIR and TPIR are
    reported with their Wilson intervals: every search of B is counted once.

The target is met on the calibration data by construction; the held-out FPIR says how well it
transfers to people the calibration never saw.
"""

from __future__ import annotations

import datetime as _dt
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from openlfr.errors import ConfigError
from openlfr.evaluation.openset import OpenSetScores, open_set, round_up, threshold_for_fpir
from openlfr.metrics import Proportion

__all__ = ["Calibration", "calibrate", "held_out", "write_calibration",
           "split_identities"]


@dataclass(frozen=True)
class Calibration:
    target_fpir: float
    watchlist_size: int
    threshold: float            # rounded up to 4 decimals
    threshold_exact: float
    draws: int
    fpir: Proportion            # pooled over draws
    tpir: Proportion            # pooled over draws
    tpir_range: tuple[float, float]
    non_mated_per_draw: int | None
    mated_per_draw: tuple[int, int]

    def as_dict(self) -> dict[str, object]:
        return {"target_fpir": self.target_fpir, "watchlist_size": self.watchlist_size,
                "threshold": self.threshold, "threshold_exact": self.threshold_exact,
                "galleries_drawn": self.draws, "fpir_pooled": self.fpir.as_dict(),
                "expected_tpir_pooled": self.tpir.as_dict(),
                "tpir_range_over_draws": list(self.tpir_range),
                "non_mated_searches_per_draw": self.non_mated_per_draw,
                "mated_searches_per_draw_range": list(self.mated_per_draw)}


def _draws(n: int, size: int, repeats: int, seed: int) -> list[npt.NDArray[np.int64]]:
    if size < 1 or size > n:
        raise ConfigError(f"watchlist size {size} is outside 1..{n}: this data has {n} "
                          f"enrolled identities to draw galleries from")
    if size == n:
        return [np.arange(n)]
    rng = np.random.default_rng(seed)
    return [np.sort(rng.choice(n, size=size, replace=False)) for _ in range(repeats)]


def _runs(scores: npt.ArrayLike, gallery_ids: Sequence[str], probe_ids: Sequence[str],
          size: int, repeats: int, seed: int) -> list[OpenSetScores]:
    return [open_set(scores, gallery_ids, probe_ids, columns=c)
            for c in _draws(len(gallery_ids), size, repeats, seed)]


def calibrate(scores: npt.ArrayLike, gallery_ids: Sequence[str], probe_ids: Sequence[str],
              target_fpir: float, watchlist_size: int | None = None, repeats: int = 20,
              seed: int = 0) -> Calibration:
    """Calibrate on a (probes x gallery) similarity matrix; see the module docstring."""
    size = len(gallery_ids) if watchlist_size is None else watchlist_size
    runs = _runs(scores, gallery_ids, probe_ids, size, repeats, seed)
    nm = np.concatenate([r.non_mated_top for r in runs])
    exact = threshold_for_fpir(nm, target_fpir)
    t = round_up(exact)
    fp = sum(int((r.non_mated_top >= t).sum()) for r in runs)
    tps = [r.tpir(t) for r in runs]
    rates = [p.rate for p in tps if p.rate is not None]
    nm_sizes = {r.n_non_mated for r in runs}
    return Calibration(
        target_fpir=target_fpir, watchlist_size=size, threshold=t, threshold_exact=exact,
        draws=len(runs), fpir=Proportion(fp, int(nm.size)),
        tpir=Proportion(sum(p.successes for p in tps), sum(p.total for p in tps)),
        tpir_range=(min(rates, default=float("nan")), max(rates, default=float("nan"))),
        non_mated_per_draw=nm_sizes.pop() if len(nm_sizes) == 1 else None,
        mated_per_draw=(min(r.n_mated for r in runs), max(r.n_mated for r in runs)))


def _halves(items: Sequence[str], rng: np.random.Generator) -> tuple[set[str], set[str]]:
    order = rng.permutation(len(items))
    half = len(items) // 2
    return ({items[i] for i in order[:half]}, {items[i] for i in order[half:]})


def split_identities(gallery_ids: Sequence[str], probe_ids: Sequence[str], seed: int = 0
                     ) -> tuple[tuple[set[str], set[str]], tuple[set[str], set[str]]]:
    """((enrolled A, non-enrolled A), (enrolled B, non-enrolled B)): disjoint halves."""
    rng = np.random.default_rng(seed + 1)
    enrolled = sorted(set(gallery_ids))
    others = sorted(set(probe_ids) - set(gallery_ids))
    if len(enrolled) < 2 or len(others) < 2:
        raise ConfigError("the held-out check needs at least two enrolled and two non-enrolled "
                          "identities")
    enr_a, enr_b = _halves(enrolled, rng)
    oth_a, oth_b = _halves(others, rng)
    return (enr_a, oth_a), (enr_b, oth_b)


def held_out(scores: npt.ArrayLike, gallery_ids: Sequence[str], probe_ids: Sequence[str],
             target_fpir: float, watchlist_size: int | None = None, repeats: int = 20,
             seed: int = 0) -> dict[str, Any]:
    """Calibrate on identities A, test on disjoint identities B; see the module docstring."""
    s = np.asarray(scores)
    gids = list(gallery_ids)
    pids = list(probe_ids)
    (enr_a, oth_a), (enr_b, oth_b) = split_identities(gids, pids, seed)
    size = min(watchlist_size or len(gids), len(enr_a), len(enr_b))

    def side(enr: set[str], oth: set[str]) -> tuple[np.ndarray, list[str], list[str]]:
        cols = [i for i, g in enumerate(gids) if g in enr]
        rows = [i for i, p in enumerate(pids) if p in enr or p in oth]
        return s[np.ix_(rows, cols)], [gids[i] for i in cols], [pids[i] for i in rows]

    sa, ga, pa = side(enr_a, oth_a)
    sb, gb, pb = side(enr_b, oth_b)
    cal = calibrate(sa, ga, pa, target_fpir, size, repeats, seed)
    (test_cols,) = _draws(len(gb), size, 1, seed + 2)
    test = open_set(sb, gb, pb, columns=test_cols)
    fpir = test.fpir(cal.threshold)
    lo, hi = fpir.interval
    return {
        "split": {"method": "enrolled and non-enrolled identities each split in two halves by "
                            f"numpy default_rng({seed + 1}).permutation; first half "
                            "calibrates (A), second half tests (B); no identity in both",
                  "calibration_enrolled_identities": len(enr_a),
                  "test_enrolled_identities": len(enr_b),
                  "calibration_non_mated_identities": len(oth_a),
                  "test_non_mated_identities": len(oth_b)},
        "watchlist_size": size,
        "calibration": cal.as_dict(),
        "test": {"threshold": cal.threshold, "watchlist_size": test.watchlist_size,
                 "mated_searches": test.n_mated, "non_mated_searches": test.n_non_mated,
                 "fpir": fpir.as_dict(), "tpir": test.tpir(cal.threshold).as_dict()},
        "target_within_test_interval": bool(lo <= target_fpir <= hi),
        "test_fpir_at_most_target": bool(fpir.rate is not None and fpir.rate <= target_fpir),
    }


def write_calibration(path: Path, model_sha256: str, record: dict[str, Any]) -> dict[str, Any]:
    """Add (or replace, for the same target FPIR and watchlist size) a calibration record for
    ``model_sha256`` in the calibration JSON file at ``path``; returns the whole file."""
    path = Path(path)
    doc: dict[str, Any] = {"version": 1, "models": {}}
    if path.exists():
        try:
            doc = json.loads(path.read_text())
        except json.JSONDecodeError as exc:
            raise ConfigError(f"{path}: not a calibration JSON file ({exc})") from None
    record = {**record, "date": record.get("date")
              or _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds")}
    entries = [r for r in doc.setdefault("models", {}).get(model_sha256, [])
               if not (r.get("target_fpir") == record.get("target_fpir")
                       and r.get("watchlist_size") == record.get("watchlist_size")
                       and r.get("options") == record.get("options"))]
    entries.append(record)
    doc["models"][model_sha256] = entries
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(doc, indent=2) + "\n")
    tmp.replace(path)
    return doc
