"""Calibration at a watchlist size, and the held-out check, on synthetic scores."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from openlfr.errors import ConfigError
from openlfr.evaluation.calibration import calibrate, held_out, split_identities, write_calibration
from openlfr.evaluation.openset import open_set


def synthetic(n_ids: int = 60, probes_per_id: int = 3, n_others: int = 600, seed: int = 0):
    """A gallery of n_ids identities; mated probes score ~0.7 with their own template,
    everything else ~N(0.1, 0.08)."""
    rng = np.random.default_rng(seed)
    gallery = [f"id{i:03d}" for i in range(n_ids)]
    probes = [g for g in gallery for _ in range(probes_per_id)]
    probes += [f"other{i:04d}" for i in range(n_others)]
    s = rng.normal(0.1, 0.08, size=(len(probes), n_ids))
    for r, p in enumerate(probes[: n_ids * probes_per_id]):
        s[r, gallery.index(p)] = rng.normal(0.7, 0.08)
    return s, gallery, probes


def test_calibration_meets_target_on_its_data() -> None:
    s, g, p = synthetic()
    cal = calibrate(s, g, p, target_fpir=0.01)
    assert cal.draws == 1 and cal.watchlist_size == 60
    direct = open_set(s, g, p)
    assert direct.fpir(cal.threshold).rate <= 0.01
    assert cal.threshold == pytest.approx(cal.threshold_exact, abs=1e-4)
    assert cal.threshold >= cal.threshold_exact  # rounded up, never admits more
    assert cal.tpir.successes == direct.tpir(cal.threshold).successes


def test_smaller_watchlist_lower_threshold() -> None:
    s, g, p = synthetic()
    full = calibrate(s, g, p, 0.01)
    small = calibrate(s, g, p, 0.01, watchlist_size=10, repeats=10)
    assert small.draws == 10 and small.watchlist_size == 10
    # fewer templates -> lower impostor top-1 scores -> a lower threshold meets the target
    assert small.threshold < full.threshold
    # in each draw the probes of identities left out become non-mated
    assert small.non_mated_per_draw == 600 + 50 * 3
    assert small.mated_per_draw == (30, 30)


def test_watchlist_size_out_of_range() -> None:
    s, g, p = synthetic()
    with pytest.raises(ConfigError, match="outside 1..60"):
        calibrate(s, g, p, 0.01, watchlist_size=61)


def test_held_out_uses_disjoint_identities() -> None:
    s, g, p = synthetic(n_ids=80, n_others=2000)
    res = held_out(s, g, p, target_fpir=0.01, watchlist_size=40)
    split = res["split"]
    assert split["calibration_enrolled_identities"] + split["test_enrolled_identities"] == 80
    assert split["calibration_non_mated_identities"] + split["test_non_mated_identities"] \
        == 2000
    assert res["watchlist_size"] == 40
    test = res["test"]
    # test side: 40 enrolled x 3 mated probes; 1000 non-mated identities x 1 probe
    assert (test["mated_searches"], test["non_mated_searches"]) == (120, 1000)
    # with identically distributed identities the target transfers within sampling error
    assert res["target_within_test_interval"]
    assert test["fpir"]["rate"] < 0.03


def test_held_out_detects_a_shifted_population() -> None:
    # Same calibration side, but the test side's impostors score higher: the check must show it.
    s, g, p = synthetic(n_ids=80, n_others=2000)
    shifted = s.copy()
    rng = np.random.default_rng(5)
    res0 = held_out(s, g, p, 0.01, 40)
    assert res0["calibration"]["threshold"] == held_out(s, g, p, 0.01, 40)["test"]["threshold"]
    (enr_a, oth_a), (enr_b, oth_b) = split_identities(g, p, seed=0)
    assert not (enr_a & enr_b) and not (oth_a & oth_b) and not (oth_a & enr_b)
    test_others = [i for i, x in enumerate(p) if x in oth_b]
    shifted[test_others] += rng.normal(0.15, 0.01, size=(len(test_others), 1))
    res1 = held_out(shifted, g, p, 0.01, 40)
    assert res1["test"]["fpir"]["rate"] > 3 * max(res0["test"]["fpir"]["rate"], 0.005)
    assert not res1["test_fpir_at_most_target"]


def test_write_calibration_replaces_same_target(tmp_path: Path) -> None:
    path = tmp_path / "cal.json"
    write_calibration(path, "ab" * 32, {"target_fpir": 1e-3, "watchlist_size": 840,
                                         "threshold": 0.4, "options": {"flip": True}})
    write_calibration(path, "ab" * 32, {"target_fpir": 1e-2, "watchlist_size": 840,
                                         "threshold": 0.3, "options": {"flip": True}})
    doc = write_calibration(path, "ab" * 32, {"target_fpir": 1e-3, "watchlist_size": 840,
                                               "threshold": 0.41, "options": {"flip": True}})
    entries = json.loads(path.read_text())["models"]["ab" * 32]
    assert doc["models"]["ab" * 32] == entries
    assert sorted((e["target_fpir"], e["threshold"]) for e in entries) == [(1e-3, 0.41),
                                                                           (1e-2, 0.3)]
    assert all("date" in e for e in entries)


def test_scans_read_the_calibration_file(tmp_path: Path) -> None:
    from openlfr.vision.models import MODEL_FILES
    from openlfr.vision.thresholds import THRESHOLDS, default_threshold

    sha = MODEL_FILES["arcface_mbf"].sha256
    path = tmp_path / "calibration.json"
    shipped = default_threshold(sha, True, calibration_file=path)  # no file yet: shipped value
    assert shipped == THRESHOLDS[(sha, True)]
    write_calibration(path, sha, {"target_fpir": 1e-3, "watchlist_size": 100, "threshold": 0.4321,
                                  "options": {"flip": True}, "data": "synthetic",
                                  "held_out_fpir": {"count": 1, "of": 1000},
                                  "date": "2026-01-01T00:00:00+00:00"})
    write_calibration(path, sha, {"target_fpir": 1e-2, "watchlist_size": 100, "threshold": 0.35,
                                  "options": {"flip": True}, "data": "synthetic",
                                  "date": "2026-02-01T00:00:00+00:00"})
    t = default_threshold(sha, True, calibration_file=path)
    assert t.value == 0.35 and t.calibrated  # the most recent calibration is the operating one
    assert "FPIR 0.01 at watchlist size 100" in t.provenance
    # a calibration with flip fusion says nothing about the no-flip setting
    assert default_threshold(sha, False, calibration_file=path) == THRESHOLDS[(sha, False)]
