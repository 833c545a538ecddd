"""Watchlist search: top-k cosine similarity of probe embeddings against enrolled templates.

Templates are L2-normalised, so cosine similarity is an inner product. The index holds the
templates **once** (float32, or float16 codes in FAISS). Every returned score is a full
inner product on those stored values; ``refine`` and ``ivf`` approximate only which
templates are scored. Backends, by template count (``backend="auto"``):

- ``numpy`` below :data:`FAISS_MIN_TEMPLATES`: matrix products in blocks.
- ``faiss`` up to :data:`EXACT_MAX_TEMPLATES`: exact, every template scored (fp16: a FAISS
  ``IndexScalarQuantizer``, half the bytes read; fp32: ``faiss.knn`` on the array).
- ``refine`` above: every template screened through 4-bit product-quantiser codes
  (``IndexPQFastScan``, 64 bytes a 512-d template), the best ``refine_factor`` x k
  re-scored exactly from the float16 templates (``IndexRefine``). 100,000 templates:
  recall@1 1.000 against exact search in 0.34 ms a probe (exact: 5.8 ms).
- ``ivf`` on request: an inverted file (``IndexIVFScalarQuantizer``; ``IndexIVFFlat`` for
  fp32) over about sqrt(n) spherical k-means clusters, ``nprobe`` of them read per probe.

How each FAISS backend's index is built, and the approximate backends' knobs
(:class:`AnnParams`): :mod:`openlfr.watchlist.faiss_stores`. Recall, time and memory at 10k,
100k and 1M on LFW embeddings and augmented LFW probes:
``benchmarks/bench_index.py``, docs/inference.md.

A subject may have several templates (several enrolment images): results are per
**subject**, its score the best over its templates.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from openlfr.watchlist.faiss_stores import (
    BLOCK,
    AnnParams,
    build_ivf,
    build_refine,
    exact_store,
    faiss_module,
    fill,
    unit,
)

__all__ = ["Match", "WatchlistIndex", "AnnParams", "FAISS_MIN_TEMPLATES",
           "EXACT_MAX_TEMPLATES", "BACKENDS"]
BACKENDS = ("numpy", "faiss", "refine", "ivf")

#: Template count from which FAISS is used (2-core machine, 2 queries: 100 templates numpy
#: 0.04 ms vs FAISS 8 ms; 3,000: 16 vs 2.3 ms; the crossover is noisy under load).
FAISS_MIN_TEMPLATES = 2_000
#: Largest template count searched exactly by default. The exact scan over float16 codes
#: reads 1 KB a template a probe: 5.8 ms at 100,000 on one core of the 2-core machine,
#: against a 5 ms budget at that size; 50,000 take about 3 ms. Above it, ``refine``:
#: docs/inference.md has the measured time, memory and recall at 10k, 100k and 1M.
EXACT_MAX_TEMPLATES = 50_000
#: FAISS threads for fewer than :data:`_BATCH` probes (on the loaded 2-core machine a second
#: OpenMP thread cost more than it saved: 10,000 templates 0.49 ms a probe, 50 ms with two).
SEARCH_THREADS = 1
_BATCH = 20


@dataclass(frozen=True)
class Match:
    subject_id: str
    label: str
    score: float
    category: str | None = None
    image_ref: str | None = None


def _topk_sorted(scores: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Top-k columns of each row of ``scores``, descending (ties: lower column first)."""
    if k < scores.shape[1]:
        part = np.argpartition(-scores, k - 1, axis=1)[:, :k]
    else:
        part = np.tile(np.arange(scores.shape[1]), (scores.shape[0], 1))
    ps = np.take_along_axis(scores, part, axis=1)
    order = np.lexsort((part, -ps), axis=1)
    return np.take_along_axis(ps, order, axis=1), np.take_along_axis(part, order, axis=1)


class WatchlistIndex:
    """Top-k cosine search over templates (rows of ``embeddings``).

    subject_ids[i], labels[i] (and optionally categories[i], image_refs[i]) describe
    template row i. Rows of the same subject may repeat. ``backend``: auto or one of
    :data:`BACKENDS`; ``storage``: auto | fp32 | fp16.
    """

    def __init__(self, subject_ids: Sequence[str], labels: Sequence[str],
                 embeddings: np.ndarray, *, categories: Sequence[str | None] | None = None,
                 image_refs: Sequence[str | None] | None = None,
                 backend: str = "auto", storage: str = "auto",
                 ann: AnnParams | None = None) -> None:
        emb = np.asarray(embeddings)
        if emb.ndim != 2:
            raise ValueError(f"embeddings: expected shape (n, D), got {emb.shape}")
        n = emb.shape[0]
        for name, seq in (("subject_ids", subject_ids), ("labels", labels),
                          ("categories", categories), ("image_refs", image_refs)):
            if seq is not None and len(seq) != n:
                raise ValueError(f"{name}: expected {n} entries (one per template), "
                                 f"got {len(seq)}")
        if backend == "auto":
            backend = ("numpy" if n < FAISS_MIN_TEMPLATES else
                       "faiss" if n <= EXACT_MAX_TEMPLATES else "refine")
        if backend not in BACKENDS:
            raise ValueError(f"backend: expected 'auto', 'numpy', 'faiss', 'refine' or "
                             f"'ivf', got {backend!r}")
        if storage == "auto":
            storage = "fp32" if backend == "numpy" else "fp16"
        if storage not in ("fp32", "fp16"):
            raise ValueError(f"storage: expected 'auto', 'fp32' or 'fp16', got {storage!r}")
        if storage == "fp16" and backend == "numpy":
            raise ValueError("storage fp16 is for the faiss, refine and ivf backends (numpy "
                             "reads float32)")
        self.backend, self.storage = backend, storage
        self.ann = ann or AnnParams()
        self._subject_table(subject_ids, labels, categories, image_refs)
        self._ivf = None
        self._quantizer = None  # ivf: the coarse quantizer the IVF index points at
        self._refine = None  # refine: (IndexRefine, its PQ screen, its exact templates)
        self._flat16 = None  # faiss + fp16: the exact scan over float16 codes
        self.store: np.ndarray | None = None  # the float32 one copy
        self._n, self._d = emb.shape
        if backend == "ivf":
            if n:
                self._ivf, self._quantizer = build_ivf(emb, storage, self.ann)
        elif backend == "refine":
            self._refine = build_refine(emb, storage, self.ann) if n else None
        elif storage == "fp16":
            self._flat16 = fill(exact_store(self._d, storage), emb)
        else:
            self.store = np.empty(emb.shape, dtype=np.float32)
            for i in range(0, n, BLOCK):  # no float32 temporary of the whole array
                self.store[i:i + BLOCK] = unit(emb[i:i + BLOCK])

    def _subject_table(self, subject_ids: Sequence[str], labels: Sequence[str],
                       categories: Sequence[str | None] | None,
                       image_refs: Sequence[str | None] | None) -> None:
        self._subjects: list[str] = []
        self._labels: list[str] = []
        self._categories: list[str | None] = []
        self._image_refs: list[str | None] = []
        pos: dict[str, int] = {}
        rows = np.empty(len(subject_ids), dtype=np.int64)
        for i, s in enumerate(subject_ids):
            s = str(s)
            p = pos.get(s)
            if p is None:
                p = pos[s] = len(self._subjects)
                self._subjects.append(s)
                self._labels.append(str(labels[i]))
                self._categories.append(None if categories is None else categories[i])
                self._image_refs.append(None if image_refs is None else image_refs[i])
            rows[i] = p
        self._position = pos
        self._row_subject = rows
        # templates of the most-enrolled subject: how many rows a top-k search must take
        self._per_subject = int(np.bincount(rows).max()) if len(rows) else 1

    # -- size ------------------------------------------------------------------------------
    def __len__(self) -> int:
        """Number of subjects."""
        return len(self._subjects)

    @property
    def n_templates(self) -> int:
        return self._n

    @property
    def dim(self) -> int:
        return self._d

    @property
    def embeddings(self) -> np.ndarray:
        """The templates as float32 unit rows, in input order (the stored array itself for
        the exact backends; decoded from the inverted lists for ivf)."""
        if self.store is not None:
            return self.store
        if self._n == 0:
            return np.zeros((0, self._d), np.float32)
        if self._flat16 is not None:
            return self._flat16.reconstruct_n(0, self._n)
        if self._refine is not None:
            return self._refine[2].reconstruct_n(0, self._n)
        assert self._ivf is not None
        self._ivf.make_direct_map()
        return self._ivf.reconstruct_n(0, self._n)

    def set_nprobe(self, nprobe: int) -> None:
        """Clusters the ivf backend reads per probe from now on (a search-time knob)."""
        if self._ivf is None:
            raise ValueError(f"set_nprobe: the {self.backend} backend has no clusters")
        if nprobe < 1:
            raise ValueError(f"nprobe: expected >= 1, got {nprobe}")
        self._ivf.nprobe = min(int(nprobe), self._ivf.nlist)

    @property
    def ivf_lists(self) -> int:
        """Clusters of the ivf backend (0 for the exact ones)."""
        return int(self._ivf.nlist) if self._ivf is not None else 0

    @property
    def template_subjects(self) -> list[str]:
        """The subject id of each template, in input order."""
        return [self._subjects[p] for p in self._row_subject]

    @property
    def subject_ids(self) -> list[str]:
        return list(self._subjects)

    def label(self, subject_id: str) -> str:
        return self._labels[self._position[subject_id]]

    def memory_bytes(self) -> dict[str, int]:
        """Bytes held per part: the templates (array, or the ivf codes and their ids), the
        row -> subject table, and the ivf cluster centres. Python strings are not counted."""
        out = {"rows": int(self._row_subject.nbytes)}
        if self.store is not None:
            out["templates"] = int(self.store.nbytes)
        elif self._flat16 is not None:
            out["templates"] = int(self._n * self._flat16.code_size)
        elif self._refine is not None:
            _, screen, store = self._refine
            out["templates"] = int(self._n * store.code_size)
            out["screen_codes"] = int(self._n * screen.code_size)
        elif self._ivf is not None:
            out["templates"] = int(self._n * (self._ivf.code_size + 8))  # code + id
            out["centres"] = int(self._ivf.nlist * self._d * 4)
        return out

    # -- search ----------------------------------------------------------------------------
    def search_arrays(self, queries: np.ndarray, k: int = 5) -> tuple[np.ndarray, np.ndarray]:
        """Top-k per query as arrays: scores (q, k) descending, subject positions (q, k).

        Positions index :attr:`subject_ids`; missing entries (fewer subjects than k) have
        position -1 and score -inf.
        """
        q = np.asarray(queries, dtype=np.float32)
        if q.ndim == 1:
            q = q[None, :]
        if q.ndim != 2 or (self.n_templates and q.shape[1] != self.dim):
            raise ValueError(f"queries: expected shape (q, {self.dim}), got {q.shape}")
        nq = q.shape[0]
        k = max(1, int(k))
        out_s = np.full((nq, k), -np.inf, dtype=np.float32)
        out_i = np.full((nq, k), -1, dtype=np.int64)
        if nq == 0 or self.n_templates == 0:
            return out_s, out_i
        norms = np.linalg.norm(q, axis=1, keepdims=True)
        q = np.ascontiguousarray(q / np.where(norms > 0, norms, 1))
        # several templates per subject: take enough rows, keep the best row per subject
        kk = min(self.n_templates, k * self._per_subject)
        s, rows = self._top_rows(q, kk)
        for r in range(nq):
            seen: set[int] = set()
            j = 0
            for score, row in zip(s[r], rows[r], strict=True):
                if row < 0:
                    break
                subj = int(self._row_subject[row])
                if subj in seen:
                    continue
                seen.add(subj)
                out_s[r, j], out_i[r, j] = score, subj
                j += 1
                if j == k:
                    break
        return out_s, out_i

    def _top_rows(self, q: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Top-k template rows per query, descending; rows -1 past the end."""
        if self.backend == "numpy":
            return self._exact_rows(q, k)
        faiss = faiss_module()
        index = (self._ivf if self._ivf is not None else
                 self._refine[0] if self._refine is not None else self._flat16)
        threads = faiss.omp_get_max_threads()
        if len(q) < _BATCH:  # per calling thread (an OpenMP ICV): other threads unaffected
            faiss.omp_set_num_threads(SEARCH_THREADS)
        try:
            if index is not None:
                s, rows = index.search(q, k)
            else:
                s, rows = faiss.knn(q, self.store, k, faiss.METRIC_INNER_PRODUCT)
        finally:
            faiss.omp_set_num_threads(threads)
        return s.astype(np.float32), rows.astype(np.int64)

    def _exact_rows(self, q: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """numpy: score block by block, merging each block's top-k."""
        assert self.store is not None
        best_s = np.full((len(q), 0), -np.inf, np.float32)
        best_r = np.zeros((len(q), 0), np.int64)
        few = len(q) < _BATCH
        for i in range(0, self.n_templates, BLOCK):
            block = self.store[i:i + BLOCK]
            # few probes: not BLAS, whose threads busy-wait after each call (docs/benchmarks)
            scores = np.einsum("qd,nd->qn", q, block) if few else q @ block.T
            s, cols = _topk_sorted(scores, min(k, len(block)))
            both_s = np.concatenate([best_s, s], axis=1)
            both_r = np.concatenate([best_r, cols + i], axis=1)
            top_s, pick = _topk_sorted(both_s, min(k, both_s.shape[1]))
            best_s, best_r = top_s, np.take_along_axis(both_r, pick, axis=1)
        return best_s, best_r

    def search(self, queries: np.ndarray, k: int = 5) -> list[list[Match]]:
        """Top-k :class:`Match` per query, best first."""
        scores, pos = self.search_arrays(queries, k)
        out = []
        for srow, prow in zip(scores, pos, strict=True):
            out.append([Match(self._subjects[p], self._labels[p], float(s),
                              self._categories[p], self._image_refs[p])
                        for s, p in zip(srow, prow, strict=True) if p >= 0])
        return out

    def match_for(self, position: int, score: float) -> Match:
        return Match(self._subjects[position], self._labels[position], float(score),
                     self._categories[position], self._image_refs[position])
