"""Watchlist search: top-k cosine similarity of probe embeddings against enrolled templates.

Templates are L2-normalised, so cosine similarity is an inner product. Small watchlists
are searched exactly with one numpy matrix product; from :data:`FAISS_MIN_TEMPLATES`
templates on, a FAISS ``IndexFlatIP`` does the same exact search with its own blocked top-k
(no full score matrix held in memory, faster selection). Both give the same results;
the threshold only changes speed and memory, never the answer.

A subject may have several templates (several enrolment images): results are per
**subject**, its score the best over its templates.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

__all__ = ["Match", "WatchlistIndex", "FAISS_MIN_TEMPLATES"]

#: Template count from which FAISS is used. Measured on the 2-core development machine
#: (512-d, 2 queries, busy machine): 100 templates numpy 0.04 ms vs FAISS 8 ms (FAISS's
#: thread start-up dominates); 3,000: numpy 16 ms vs FAISS 2.3 ms; 5,749: 12.5 vs 5.8 ms;
#: 100,000 (4 queries): 164 vs 76 ms. Numbers are noisy under load; the crossover lies
#: between a few hundred and a couple of thousand templates.
FAISS_MIN_TEMPLATES = 2_000


@dataclass(frozen=True)
class Match:
    subject_id: str
    label: str
    score: float
    category: str | None = None
    image_ref: str | None = None


class WatchlistIndex:
    """Exact top-k cosine search over templates (rows of ``embeddings``).

    subject_ids[i], labels[i] (and optionally categories[i], image_refs[i]) describe
    template row i. Rows of the same subject may repeat.
    """

    def __init__(self, subject_ids: Sequence[str], labels: Sequence[str],
                 embeddings: np.ndarray, *, categories: Sequence[str | None] | None = None,
                 image_refs: Sequence[str | None] | None = None,
                 backend: str = "auto") -> None:
        emb = np.asarray(embeddings, dtype=np.float32)
        if emb.ndim != 2:
            raise ValueError(f"embeddings: expected shape (n, D), got {emb.shape}")
        n = emb.shape[0]
        for name, seq in (("subject_ids", subject_ids), ("labels", labels),
                          ("categories", categories), ("image_refs", image_refs)):
            if seq is not None and len(seq) != n:
                raise ValueError(f"{name}: expected {n} entries (one per template), "
                                 f"got {len(seq)}")
        if n and not np.isfinite(emb).all():
            raise ValueError("embeddings: templates must be finite")
        norms = np.linalg.norm(emb, axis=1, keepdims=True)
        if n and (norms < 1e-6).any():
            raise ValueError("embeddings: zero-length template")
        emb = emb / np.where(norms > 0, norms, 1)
        self.embeddings = np.ascontiguousarray(emb)
        self.template_subjects = [str(s) for s in subject_ids]
        # subject table
        self._subjects: list[str] = []
        pos: dict[str, int] = {}
        rows = np.empty(n, dtype=np.int64)
        self._labels: list[str] = []
        self._categories: list[str | None] = []
        self._image_refs: list[str | None] = []
        for i, s in enumerate(self.template_subjects):
            if s not in pos:
                pos[s] = len(self._subjects)
                self._subjects.append(s)
                self._labels.append(str(labels[i]))
                self._categories.append(None if categories is None else categories[i])
                self._image_refs.append(None if image_refs is None else image_refs[i])
            rows[i] = pos[s]
        self._row_subject = rows
        # templates of the most-enrolled subject: how many rows a top-k search must take
        self._per_subject = int(np.bincount(rows).max()) if n else 1
        if backend == "auto":
            backend = "faiss" if n >= FAISS_MIN_TEMPLATES else "numpy"
        if backend not in ("numpy", "faiss"):
            raise ValueError(f"backend: expected 'auto', 'numpy' or 'faiss', got {backend!r}")
        self.backend = backend
        self._faiss = None
        if backend == "faiss" and n:
            import faiss

            index = faiss.IndexFlatIP(emb.shape[1])
            index.add(self.embeddings)
            self._faiss = index

    # -- size ------------------------------------------------------------------------------
    def __len__(self) -> int:
        """Number of subjects."""
        return len(self._subjects)

    @property
    def n_templates(self) -> int:
        return int(self.embeddings.shape[0])

    @property
    def dim(self) -> int:
        return int(self.embeddings.shape[1])

    @property
    def subject_ids(self) -> list[str]:
        return list(self._subjects)

    def label(self, subject_id: str) -> str:
        return self._labels[self._subjects.index(subject_id)]

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
        q = q / np.where(norms > 0, norms, 1)
        if self._per_subject == 1:
            kk = min(k, self.n_templates)
            s, rows = self._top_rows(q, kk)
            out_s[:, :kk] = s
            out_i[:, :kk] = self._row_subject[rows]
            return out_s, out_i
        # several templates per subject: take enough rows, keep the best row per subject
        kk = min(self.n_templates, k * self._per_subject)
        s, rows = self._top_rows(q, kk)
        for r in range(nq):
            seen: set[int] = set()
            j = 0
            for score, row in zip(s[r], rows[r], strict=True):
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
        if self._faiss is not None:
            s, rows = self._faiss.search(np.ascontiguousarray(q), k)
            return s.astype(np.float32), rows.astype(np.int64)
        scores = q @ self.embeddings.T
        if k < scores.shape[1]:
            part = np.argpartition(-scores, k - 1, axis=1)[:, :k]
        else:
            part = np.tile(np.arange(scores.shape[1]), (scores.shape[0], 1))
        ps = np.take_along_axis(scores, part, axis=1)
        order = np.argsort(-ps, axis=1, kind="stable")
        return (np.take_along_axis(ps, order, axis=1),
                np.take_along_axis(part, order, axis=1))

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
