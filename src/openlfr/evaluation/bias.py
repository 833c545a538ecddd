"""Error rates per group at the operating threshold, from open-set results.

Input: a CSV with columns ``identity,group`` (one row per identity; e.g. a self-declared
demographic label where the data has one). OpenLFR never infers groups from faces.

Per group at threshold ``t``:
    FNIR = mated searches of the group's identities that miss (top-1 wrong or below t)
    FPIR = non-mated searches of the group's identities whose top-1 score >= t
each as a :class:`Proportion` with its Wilson 95% interval, then the differential between
groups: highest rate / lowest rate (undefined when the lowest is 0).

Conclusions are stated plainly and conservatively (:func:`conclusion`): a group with fewer
than ``min_searches`` searches is too small to say anything; overlapping intervals mean the
data cannot tell the groups apart (which is *not* evidence that they are equal); only
disjoint intervals are reported as a difference.
"""

from __future__ import annotations

import csv
import itertools
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from openlfr.errors import ConfigError
from openlfr.evaluation.openset import OpenSetScores
from openlfr.metrics import Proportion

__all__ = ["read_groups", "write_groups", "random_groups", "per_group", "conclusion",
           "bias_report", "MIN_SEARCHES"]

#: Below this many searches in a group, no statement about its rate is made.
MIN_SEARCHES = 100


def read_groups(path: Path) -> dict[str, str]:
    """identity -> group from a CSV with a header ``identity,group``."""
    path = Path(path)
    try:
        with path.open(newline="") as f:
            reader = csv.DictReader(f)
            if reader.fieldnames is None or not {"identity", "group"} <= set(reader.fieldnames):
                raise ConfigError(f"{path}: expected a header with columns identity,group, "
                                  f"got {reader.fieldnames}")
            out: dict[str, str] = {}
            for lineno, row in enumerate(reader, start=2):
                ident, group = (row["identity"] or "").strip(), (row["group"] or "").strip()
                if not ident or not group:
                    raise ConfigError(f"{path}:{lineno}: empty identity or group")
                if out.get(ident, group) != group:
                    raise ConfigError(f"{path}:{lineno}: {ident} is in two groups "
                                      f"({out[ident]} and {group})")
                out[ident] = group
    except OSError as exc:
        raise ConfigError(f"cannot read groups file {path}: {exc}") from None
    return out


def write_groups(path: Path, groups: dict[str, str]) -> None:
    with Path(path).open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["identity", "group"])
        for ident in sorted(groups):
            w.writerow([ident, groups[ident]])


def random_groups(identities: Sequence[str], k: int = 2, seed: int = 0) -> dict[str, str]:
    """Assign identities to ``k`` groups named g0..g{k-1} at random (for testing the report:
    such groups differ by chance only)."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, k, size=len(identities))
    return {ident: f"g{int(g)}" for ident, g in zip(sorted(identities), labels, strict=True)}


def per_group(scores: OpenSetScores, groups: dict[str, str], threshold: float
              ) -> dict[str, dict[str, Proportion]]:
    """group -> {"fnir": Proportion, "fpir": Proportion}; identities without a group are
    gathered under "(no group)"."""
    miss = ~(scores.mated_hit & (scores.mated_top >= threshold))
    false_hit = scores.non_mated_top >= threshold
    out: dict[str, dict[str, list[int]]] = {}
    for ident, m in zip(scores.mated_ids, miss, strict=True):
        g = out.setdefault(groups.get(ident, "(no group)"), {"fnir": [0, 0], "fpir": [0, 0]})
        g["fnir"][0] += int(m)
        g["fnir"][1] += 1
    for ident, fh in zip(scores.non_mated_ids, false_hit, strict=True):
        g = out.setdefault(groups.get(ident, "(no group)"), {"fnir": [0, 0], "fpir": [0, 0]})
        g["fpir"][0] += int(fh)
        g["fpir"][1] += 1
    return {g: {k: Proportion(*v) for k, v in d.items()} for g, d in sorted(out.items())}


def conclusion(rates: dict[str, Proportion], what: str,
               min_searches: int = MIN_SEARCHES) -> dict[str, Any]:
    """Differential (max/min rate) and a plain statement of what the data can support."""
    usable = {g: p for g, p in rates.items() if p.total > 0}
    small = sorted(g for g, p in usable.items() if p.total < min_searches)
    vals = {g: p.rate for g, p in usable.items() if p.rate is not None}
    ratio: float | None = None
    if len(vals) >= 2 and min(vals.values()) > 0:
        ratio = max(vals.values()) / min(vals.values())
    disjoint = []
    for (ga, pa), (gb, pb) in itertools.combinations(sorted(usable.items()), 2):
        (la, ha), (lb, hb) = pa.interval, pb.interval
        if ha < lb or hb < la:
            lo, hi = (ga, gb) if ha < lb else (gb, ga)
            disjoint.append((lo, hi))
    if len(usable) < 2:
        text = f"{what}: fewer than two groups with searches; nothing to compare."
        verdict = "no_comparison"
    elif small:
        text = (f"{what}: too few searches to conclude anything for {', '.join(small)} "
                f"(fewer than {min_searches} each).")
        verdict = "too_small"
    elif not disjoint:
        text = (f"{what}: the 95% intervals of all groups overlap; this data cannot tell the "
                f"groups apart (which is not evidence that they are equal).")
        verdict = "intervals_overlap"
    else:
        pairs = "; ".join(f"{lo} lower than {hi}" for lo, hi in disjoint)
        text = f"{what}: the 95% intervals do not overlap for: {pairs}."
        verdict = "difference"
    return {"max_min_ratio": ratio, "verdict": verdict, "statement": text,
            "min_searches": min_searches}


def bias_report(scores: OpenSetScores, groups: dict[str, str], threshold: float,
                min_searches: int = MIN_SEARCHES) -> dict[str, Any]:
    table = per_group(scores, groups, threshold)
    labelled = {g: v for g, v in table.items() if g != "(no group)"}
    return {
        "threshold": threshold, "watchlist_size": scores.watchlist_size,
        "groups": {g: {k: p.as_dict() for k, p in v.items()} for g, v in table.items()},
        "fnir": conclusion({g: v["fnir"] for g, v in labelled.items()}, "FNIR", min_searches),
        "fpir": conclusion({g: v["fpir"] for g, v in labelled.items()}, "FPIR", min_searches),
    }
