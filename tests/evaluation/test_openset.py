"""Open-set figures on a synthetic score matrix with exactly known counts."""

from __future__ import annotations

import numpy as np
import pytest

from openlfr.evaluation.openset import open_set, round_up, similarity_matrix, threshold_for_fpir

GALLERY = ["A", "B", "C"]
#            A     B     C        probe identity
SCORES = np.array([
    [0.90, 0.10, 0.20],  # A: right, 0.90
    [0.30, 0.70, 0.10],  # B: right, 0.70
    [0.60, 0.20, 0.50],  # C: wrong top-1 (A at 0.60)
    [0.40, 0.10, 0.45],  # C: right, 0.45
    [0.20, 0.65, 0.10],  # X: non-mated, top 0.65
    [0.35, 0.30, 0.20],  # Y: non-mated, top 0.35
    [0.10, 0.15, 0.55],  # Z: non-mated, top 0.55
    [0.05, 0.02, 0.01],  # Z: non-mated, top 0.05
])
PROBES = ["A", "B", "C", "C", "X", "Y", "Z", "Z"]


def test_counts_at_thresholds() -> None:
    r = open_set(SCORES, GALLERY, PROBES)
    assert (r.watchlist_size, r.n_mated, r.n_non_mated) == (3, 4, 4)
    assert (r.rank1().successes, r.rank1().total) == (3, 4)
    for t, tp, fp in [(0.0, 3, 4), (0.5, 2, 2), (0.6, 2, 1), (0.66, 2, 0), (0.8, 1, 0),
                      (0.95, 0, 0)]:
        assert (r.tpir(t).successes, r.tpir(t).total) == (tp, 4), t
        assert (r.fnir(t).successes, r.fnir(t).total) == (4 - tp, 4), t
        assert (r.fpir(t).successes, r.fpir(t).total) == (fp, 4), t


def test_threshold_for_target_fpir() -> None:
    r = open_set(SCORES, GALLERY, PROBES)
    t = r.threshold_for_fpir(0.25)  # one false positive of four allowed: just above 0.55
    assert 0.55 < t < 0.5500001
    assert r.fpir(t).successes == 1
    assert r.fpir(0.55).successes == 2  # the exact score would let a second one in
    t0 = r.threshold_for_fpir(0.0)
    assert r.fpir(t0).successes == 0 and t0 > 0.65
    summary = r.summary((0.25,))
    assert summary["at_fpir"][0]["tpir"]["count"] == 2


def test_threshold_ties_fall_below() -> None:
    t = threshold_for_fpir([0.5, 0.5, 0.5, 0.1], 0.25)
    assert t > 0.5


def test_curves_match_pointwise() -> None:
    r = open_set(SCORES, GALLERY, PROBES)
    t, fpir, fnir = r.curves()
    for ti, fp, fn in zip(t, fpir, fnir, strict=True):
        assert fp == r.fpir(ti).rate
        assert fn == pytest.approx(r.fnir(ti).rate)


def test_subset_gallery_turns_probes_non_mated() -> None:
    r = open_set(SCORES, GALLERY, PROBES, columns=[0, 1])  # C not enrolled
    assert (r.watchlist_size, r.n_mated, r.n_non_mated) == (2, 2, 6)
    assert r.rank1().successes == 2
    assert sorted(r.non_mated_ids) == ["C", "C", "X", "Y", "Z", "Z"]


def test_similarity_matrix_is_cosine() -> None:
    rng = np.random.default_rng(0)
    p, g = rng.normal(size=(5, 8)), rng.normal(size=(3, 8))
    s = similarity_matrix(p * 3, g, chunk=2)
    ref = (p / np.linalg.norm(p, axis=1, keepdims=True)) @ (
        g / np.linalg.norm(g, axis=1, keepdims=True)).T
    np.testing.assert_allclose(s, ref, rtol=1e-5, atol=1e-6)


def test_round_up() -> None:
    assert round_up(0.38001) == 0.3801
    assert round_up(0.38) == 0.38
    assert round_up(-0.12345) == -0.1234
