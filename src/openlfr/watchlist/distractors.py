"""LFW identities as watchlist *distractors* for tests and demonstrations.

A watchlist of thousands of people nobody expects to see shows whether a pipeline raises
false alerts at scale (FPIR grows with watchlist size; docs/accuracy.md). Each LFW person
contributes one template, from their lowest-numbered image, embedded with the evaluation
engineer's on-disk embedding cache (``openlfr.evaluation.embedcache``; ArcFace with flip
fusion, the enrolment configuration), so the 5,749 templates are computed once per machine.
These are evaluation images, never live faces.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from openlfr.evaluation.embedcache import EmbeddingCache, build_face_embedder
from openlfr.evaluation.lfw import lfw_root, read_people
from openlfr.settings import Settings

__all__ = ["lfw_distractors"]


def lfw_distractors(lfw: str | Path, limit: int | None = None, *,
                    cache_dir: Path | None = None, progress: bool = True,
                    threads: int = 2) -> tuple[list[str], np.ndarray]:
    """(names, templates (n, 512)) of LFW people, one template each.

    ``limit`` takes that many people spread evenly over the alphabet (all 5,749 by default).
    """
    images = lfw_root(Path(lfw)) / "images"
    people = read_people(images)
    names = sorted(people)
    if limit is not None and limit < len(names):
        step = len(names) / limit
        names = [names[int(i * step)] for i in range(limit)]
    paths = [people[n][0] for n in names]
    fe = build_face_embedder("arcface", flip=True, threads=threads)
    cache = EmbeddingCache(images, fe, cache_dir or Settings().cache_dir)
    emb = cache.ensure(paths, progress=progress)
    vectors = emb.get([cache.relative(p) for p in paths]).astype(np.float32)
    return [n.replace("_", " ") for n in names], vectors
