"""Watchlist index at scale: one copy of the templates (float16 codes by default), the ivf
backend (FAISS inverted file) agrees with exact search on clustered data, sizes pick the backend."""

from __future__ import annotations

import numpy as np
import pytest

import openlfr.watchlist.index as mod
from openlfr.watchlist.index import AnnParams, WatchlistIndex


def _identities(rng, people: int, per: int, d: int = 64, spread: float = 0.05):
    """``per`` noisy variants of each of ``people`` random unit vectors (rows grouped)."""
    centres = rng.standard_normal((people, d)).astype(np.float32)
    centres /= np.linalg.norm(centres, axis=1, keepdims=True)
    x = np.repeat(centres, per, axis=0)
    x += spread * rng.standard_normal(x.shape).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def test_ivf_finds_what_exact_search_finds_with_the_same_scores():
    rng = np.random.default_rng(0)
    emb = _identities(rng, 400, 5)
    ids = [f"s{i}" for i in range(len(emb))]
    exact = WatchlistIndex(ids, ids, emb, backend="numpy")
    ivf = WatchlistIndex(ids, ids, emb, backend="ivf", ann=AnnParams(nlist=20, nprobe=4))
    assert ivf.storage == "fp16" and ivf.backend == "ivf"
    probes = emb[::7] + 0.03 * rng.standard_normal((len(emb[::7]), 64)).astype(np.float32)
    es, ei = exact.search_arrays(probes, k=1)
    vs, vi = ivf.search_arrays(probes, k=1)
    assert (ei == vi).mean() >= 0.98
    same = ei[:, 0] == vi[:, 0]
    np.testing.assert_allclose(vs[same, 0], es[same, 0], atol=2e-3)  # float16 rounding only


def test_ivf_reading_every_cluster_is_exact():
    rng = np.random.default_rng(1)
    emb = _identities(rng, 100, 4)
    ids = [str(i // 4) for i in range(len(emb))]  # four templates per subject
    exact = WatchlistIndex(ids, ids, emb, backend="numpy")
    full = WatchlistIndex(ids, ids, emb, backend="ivf", storage="fp32",
                          ann=AnnParams(nlist=8, nprobe=8))
    q = _identities(rng, 30, 1)
    a, b = exact.search_arrays(q, k=5), full.search_arrays(q, k=5)
    np.testing.assert_array_equal(a[1], b[1])
    np.testing.assert_allclose(a[0], b[0], atol=1e-5)
    assert len(set(b[1][0])) == 5  # one result per subject, not per template


def test_templates_are_held_once():
    rng = np.random.default_rng(2)
    emb = _identities(rng, 50, 4)
    n, d = emb.shape
    ids = [str(i) for i in range(n)]
    for backend, storage, width in (("numpy", "auto", 4), ("faiss", "fp32", 4),
                                    ("faiss", "auto", 2)):
        idx = WatchlistIndex(ids, ids, emb, backend=backend, storage=storage)
        assert idx.memory_bytes() == {"rows": n * 8, "templates": n * d * width}
        assert not np.shares_memory(idx.embeddings, emb)  # the index owns its copy
        np.testing.assert_allclose(idx.embeddings, emb, atol=1e-3)
    ivf = WatchlistIndex(ids, ids, emb, backend="ivf", ann=AnnParams(nlist=4))
    mem = ivf.memory_bytes()
    assert mem["templates"] == n * (2 * d + 8) and mem["centres"] == 4 * d * 4
    # the ivf lists are the copy; reading them back gives the input (to float16 precision)
    np.testing.assert_allclose(ivf.embeddings, emb, atol=1e-3)
    assert ivf.template_subjects == ids


def test_size_picks_the_backend(monkeypatch):
    monkeypatch.setattr(mod, "FAISS_MIN_TEMPLATES", 10)
    monkeypatch.setattr(mod, "EXACT_MAX_TEMPLATES", 100)
    rng = np.random.default_rng(3)
    kinds = []
    for n in (5, 100, 101):
        ids = [str(i) for i in range(n)]
        kinds.append(WatchlistIndex(ids, ids, _identities(rng, n, 1)).backend)
    assert kinds == ["numpy", "faiss", "refine"]


@pytest.mark.parametrize("backend, storage, message", [
    ("numpy", "fp16", "storage fp16 is for the faiss, refine and ivf backends"),
    ("ivf", "fp8", "storage: expected"),
    ("hnsw", "auto", "backend: expected"),
])
def test_bad_backend_or_storage(backend, storage, message):
    with pytest.raises(ValueError, match=message):
        WatchlistIndex(["a"], ["A"], np.eye(1, 4, dtype=np.float32), backend=backend,
                       storage=storage)


def test_empty_and_tiny_ivf_and_bad_templates():
    empty = WatchlistIndex([], [], np.zeros((0, 8), np.float32), backend="ivf")
    assert empty.search(np.ones(8, np.float32)) == [[]] and empty.n_templates == 0
    tiny = WatchlistIndex(["a", "b"], ["A", "B"], np.eye(2, 8, dtype=np.float32), backend="ivf")
    (res,) = tiny.search(np.eye(1, 8, 1, dtype=np.float32)[0], k=5)
    assert [m.subject_id for m in res] == ["b", "a"]
    with pytest.raises(ValueError, match="finite"):
        WatchlistIndex(["a"], ["A"], np.full((1, 8), np.nan, np.float32), backend="ivf")


def test_nprobe_is_a_search_time_knob():
    rng = np.random.default_rng(4)
    emb = _identities(rng, 60, 4)
    ids = [str(i) for i in range(len(emb))]
    ivf = WatchlistIndex(ids, ids, emb, backend="ivf", ann=AnnParams(nlist=6, nprobe=1))
    ivf.set_nprobe(99)  # capped at the cluster count: every cluster, i.e. exact
    exact = WatchlistIndex(ids, ids, emb, backend="numpy")
    q = _identities(rng, 20, 1)
    np.testing.assert_array_equal(ivf.search_arrays(q, 3)[1], exact.search_arrays(q, 3)[1])
    with pytest.raises(ValueError, match="no clusters"):
        exact.set_nprobe(4)
    with pytest.raises(ValueError, match="nprobe"):
        ivf.set_nprobe(0)


def test_default_nprobe_is_a_share_of_the_clusters():
    assert AnnParams().probes_for(840) == 252 and AnnParams().probes_for(1) == 1
    assert AnnParams(nprobe=1000).probes_for(316) == 316
    assert AnnParams(probe_share=0.6).probes_for(316) == 190


def test_refine_finds_the_exact_top_k_and_holds_the_templates_once():
    rng = np.random.default_rng(7)
    n = 3000
    emb = _identities(rng, n, 1)
    ids = [str(i) for i in range(n)]
    exact = WatchlistIndex(ids, ids, emb, backend="faiss", storage="fp32")
    ref = WatchlistIndex(ids, ids, emb, backend="refine")
    assert ref.backend == "refine" and ref.storage == "fp16"
    probes = emb[:50] + rng.normal(0, 0.02, (50, emb.shape[1])).astype(np.float32)
    es, ei = exact.search_arrays(probes, k=3)
    rs, ri = ref.search_arrays(probes, k=3)
    assert (ri[:, 0] == ei[:, 0]).mean() >= 0.98
    same = ri[:, 0] == ei[:, 0]
    np.testing.assert_allclose(rs[same, 0], es[same, 0], atol=1e-3)  # exact re-scoring
    mem = ref.memory_bytes()
    assert mem["templates"] == n * 2 * emb.shape[1]  # float16, once
    assert mem["screen_codes"] == n * emb.shape[1] // 8  # 4 bits per 4 dimensions
    np.testing.assert_allclose(ref.embeddings, exact.embeddings, atol=1e-3)
