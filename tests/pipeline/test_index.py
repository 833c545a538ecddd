"""Watchlist index: exact top-k cosine, numpy and FAISS agree, several templates per subject."""

from __future__ import annotations

import numpy as np
import pytest

from openlfr.watchlist.index import WatchlistIndex


def _unit(rng, n, d=64):
    x = rng.standard_normal((n, d)).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def test_top_k_is_exact_and_sorted():
    rng = np.random.default_rng(0)
    emb = _unit(rng, 50)
    idx = WatchlistIndex([f"s{i}" for i in range(50)], [f"L{i}" for i in range(50)], emb)
    q = emb[7] + 0.05 * _unit(rng, 1)[0]
    (res,) = idx.search(q, k=5)
    assert res[0].subject_id == "s7" and res[0].label == "L7"
    scores = [m.score for m in res]
    assert scores == sorted(scores, reverse=True)
    brute = emb @ (q / np.linalg.norm(q))
    assert res[0].score == pytest.approx(brute.max(), abs=1e-5)
    assert [m.subject_id for m in res] == [f"s{i}" for i in np.argsort(-brute)[:5]]


def test_numpy_and_faiss_give_the_same_answer():
    rng = np.random.default_rng(1)
    emb = _unit(rng, 300)
    ids = [f"s{i % 200}" for i in range(300)]  # 100 subjects have two templates
    q = _unit(rng, 20)
    a = WatchlistIndex(ids, ids, emb, backend="numpy").search_arrays(q, k=4)
    b = WatchlistIndex(ids, ids, emb, backend="faiss", storage="fp32").search_arrays(q, k=4)
    np.testing.assert_allclose(a[0], b[0], atol=1e-5)
    np.testing.assert_array_equal(a[1], b[1])
    c = WatchlistIndex(ids, ids, emb, backend="faiss").search_arrays(q, k=4)  # float16 codes
    np.testing.assert_allclose(a[0], c[0], atol=1e-3)
    np.testing.assert_array_equal(a[1], c[1])


def test_several_templates_per_subject_give_one_result_with_the_best_score():
    e = np.eye(3, dtype=np.float32)
    idx = WatchlistIndex(["a", "a", "b"], ["A", "A", "B"], e)
    assert len(idx) == 2 and idx.n_templates == 3
    (res,) = idx.search(np.array([0.1, 1.0, 0.0], np.float32), k=3)
    assert [m.subject_id for m in res] == ["a", "b"]
    assert res[0].score == pytest.approx(1.0 / np.sqrt(1.01), abs=1e-5)


def test_empty_index_and_bad_input():
    idx = WatchlistIndex([], [], np.zeros((0, 8), np.float32))
    assert idx.search(np.ones(8, np.float32)) == [[]]
    with pytest.raises(ValueError, match="expected 2 entries"):
        WatchlistIndex(["a"], ["A", "B"], np.eye(2, dtype=np.float32))
    with pytest.raises(ValueError, match="finite"):
        WatchlistIndex(["a"], ["A"], np.full((1, 2), np.nan, np.float32))
    ok = WatchlistIndex(["a"], ["A"], np.eye(1, 4, dtype=np.float32))
    with pytest.raises(ValueError, match="expected shape"):
        ok.search(np.ones(3, np.float32))


def test_auto_backend_switches_at_documented_size(monkeypatch):
    import openlfr.watchlist.index as mod

    monkeypatch.setattr(mod, "FAISS_MIN_TEMPLATES", 10)
    rng = np.random.default_rng(2)
    small = WatchlistIndex(list("abcde"), list("abcde"), _unit(rng, 5))
    big = WatchlistIndex([str(i) for i in range(12)], [str(i) for i in range(12)],
                         _unit(rng, 12))
    assert small.backend == "numpy" and big.backend == "faiss"
