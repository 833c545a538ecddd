"""The FAISS indexes behind :class:`~openlfr.watchlist.index.WatchlistIndex`: how each
backend's one copy of the templates is built (exact float16 codes, a PQ screen with exact
re-scoring, or an inverted file) and the approximate backends' knobs (:class:`AnnParams`).

Every builder takes the raw template rows and stores them as unit vectors, a block at a
time, so no float32 copy of the whole gallery is made on the way. FAISS is imported on first
use (a heavy optional backend).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from openlfr.errors import import_backend

__all__ = ["AnnParams", "BLOCK", "faiss_module", "unit", "exact_store", "fill",
           "build_refine", "build_ivf"]

BLOCK = 32_768  # template rows normalised, added or scored at a time (bounds temporaries)


def faiss_module() -> Any:
    """The faiss module, imported where first used; missing, a clear install hint."""
    return import_backend("faiss", "the FAISS watchlist index", "pip install faiss-cpu")


@dataclass(frozen=True)
class AnnParams:
    """The ``ivf`` and ``refine`` backends' knobs (trade-offs in docs/inference.md)."""

    nlist: int | None = None  # clusters; None: about sqrt(n), 16..4096
    #: clusters read per probe; None: ``probe_share`` of them. More is slower and closer to
    #: exact: on LFW + augmented probes, 30 % of the clusters found the exact top-1 for
    #: 98-98.5 % of probes at 100k and 1M templates, 60 % for 99.9 % (docs/inference.md).
    nprobe: int | None = None
    probe_share: float = 0.3
    train_size: int = 32_768  # templates sampled to train the k-means / the PQ codebooks
    #: refine: candidates re-scored exactly per result wanted; more is slower and closer to
    #: exact (100k: 16 found the exact top-1 for 99.87 % of probes, 64 for all).
    refine_factor: int = 64
    #: refine: dimensions per 4-bit PQ code (512-d: 64 bytes); 8 found 99.7 % at 64.
    pq_dims: int = 4
    niter: int = 10           # k-means iterations
    seed: int = 0

    def probes_for(self, nlist: int) -> int:
        want = self.nprobe or int(np.ceil(self.probe_share * nlist))
        return max(1, min(want, nlist))

    def lists_for(self, n: int) -> int:
        want = self.nlist or int(np.clip(round(np.sqrt(n)), 16, 4096))
        return max(1, min(want, n // 39, max(self.train_size, 39) // 39))  # FAISS: 39/centre


def unit(block: np.ndarray) -> np.ndarray:
    """``block``'s rows as float32 unit vectors; non-finite or zero rows are refused."""
    block = block.astype(np.float32, copy=False)
    if not np.isfinite(block).all():
        raise ValueError("embeddings: templates must be finite")
    norms = np.linalg.norm(block, axis=1, keepdims=True)
    if (norms < 1e-6).any():
        raise ValueError("embeddings: zero-length template")
    return block / norms


def exact_store(d: int, storage: str) -> Any:
    """An empty FAISS index that scores every template exactly (fp32 or fp16 codes)."""
    faiss = faiss_module()
    if storage == "fp32":
        return faiss.IndexFlatIP(d)
    return faiss.IndexScalarQuantizer(d, faiss.ScalarQuantizer.QT_fp16,
                                      faiss.METRIC_INNER_PRODUCT)


def fill(index: Any, emb: np.ndarray, ann: AnnParams | None = None) -> Any:
    """Add ``emb``'s rows to ``index`` as unit vectors, their ids the input rows; with
    ``ann``, first train it on ``ann.train_size`` rows sampled with ``ann.seed``."""
    n = emb.shape[0]
    if ann is not None:
        rng = np.random.default_rng(ann.seed)
        sample = np.sort(rng.choice(n, size=min(n, ann.train_size), replace=False))
        index.train(unit(emb[sample]))
    for i in range(0, n, BLOCK):
        index.add(unit(emb[i:i + BLOCK]))
    return index


def build_refine(emb: np.ndarray, storage: str, ann: AnnParams) -> tuple[Any, Any, Any]:
    """A 4-bit PQ screen of every template, the best ``refine_factor`` x k re-scored from
    the exact store: (IndexRefine, its screen, its store), the parts kept alive together."""
    faiss = faiss_module()
    d = emb.shape[1]
    if d % ann.pq_dims:
        raise ValueError(f"refine: dimension {d} is not a multiple of pq_dims {ann.pq_dims}")
    screen = faiss.IndexPQFastScan(d, d // ann.pq_dims, 4, faiss.METRIC_INNER_PRODUCT)
    store = exact_store(d, storage)
    index = fill(faiss.IndexRefine(screen, store), emb, ann)
    index.k_factor = float(ann.refine_factor)
    return index, screen, store


def build_ivf(emb: np.ndarray, storage: str, ann: AnnParams) -> tuple[Any, Any]:
    """An inverted file over spherical k-means clusters: (IndexIVF, its coarse quantizer,
    which the IVF index points at and so must be kept alive beside it)."""
    faiss = faiss_module()
    n, d = emb.shape
    nlist = ann.lists_for(n)
    quantizer = faiss.IndexFlatIP(d)
    if storage == "fp16":
        ivf = faiss.IndexIVFScalarQuantizer(quantizer, d, nlist, faiss.ScalarQuantizer.QT_fp16,
                                            faiss.METRIC_INNER_PRODUCT)
    else:
        ivf = faiss.IndexIVFFlat(quantizer, d, nlist, faiss.METRIC_INNER_PRODUCT)
    ivf.cp.spherical = True
    ivf.cp.niter = ann.niter
    ivf.cp.seed = ann.seed
    ivf.cp.max_points_per_centroid = max(256, ann.train_size)
    fill(ivf, emb, ann)
    ivf.nprobe = ann.probes_for(nlist)
    return ivf, quantizer
