"""Embeddings of an evaluation image folder, computed once and cached on disk.

This cache holds embeddings of *evaluation data* (e.g. LFW), never of live faces: live faces
follow safeguard 2 (in memory only; README, Safeguards). It lives under ``Settings.cache_dir``::

    <cache_dir>/embeddings/<spec key>/<folder key>/manifest.json, chunk_00000.npz, ...

The spec key is a hash of everything that changes an embedding: embedder name and model
sha256, detector name and model sha256, and the options (flip fusion, face choice rules,
detector score threshold). The folder key is a hash of the folder's absolute path. Images are
processed in chunks, each saved as soon as it is done (write to a temporary file, then
rename), so an interrupted run resumes where it stopped; later chunks override earlier ones.

Face choice, for face-centred evaluation crops such as LFW's 250x250 images
    detect; keep faces whose box is at least ``min_face`` of the image's shorter side and whose
    centre lies within ``max_offset`` of it from the image centre; take the one nearest the
    centre. When none qualifies the image is a *fallback*: it is embedded after all detections
    are done, aligned from fixed landmarks, namely the median of the (size-normalised)
    landmarks and boxes of the faces detected in the same folder (or, with fewer than 20
    detections, :data:`LFW_CENTRE_LANDMARKS`, the median over LFW measured the same way).
    Fallbacks are counted and every report states how many there were.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import sys
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt
from tqdm import tqdm

from openlfr.errors import ConfigError, ImageError
from openlfr.faces import Faces, Frame
from openlfr.vision.align import align
from openlfr.vision.detectors import DetectorConfig, ScrfdConfig, YunetConfig
from openlfr.vision.embedders import ArcFaceConfig, DlibConfig, EmbedderConfig
from openlfr.vision.engine import Need, VisionConfig, VisionEngine
from openlfr.vision.image import load_image
from openlfr.vision.runtime import RuntimeConfig

__all__ = ["FaceChoice", "choose_face", "FaceEmbedder", "VisionFaceEmbedder",
           "build_face_embedder", "EmbeddingCache", "Embeddings", "LFW_CENTRE_LANDMARKS",
           "LFW_CENTRE_BOX"]

#: Landmarks (left eye, right eye, nose, mouth corners) as fractions of image width/height:
#: the median over the 13,233 SCRFD-500M detections (score >= 0.3, face nearest the centre)
#: on LFW deep-funneled 250x250 images; the fallback when a folder gives too few detections
#: to measure its own.
LFW_CENTRE_LANDMARKS = np.array([[0.4147, 0.4513], [0.5877, 0.4476], [0.5030, 0.5454],
                                 [0.4339, 0.6309], [0.5791, 0.6279]], dtype=np.float32)
#: The matching median face box (x1, y1, x2, y2) as fractions of the image size.
LFW_CENTRE_BOX = np.array([0.3152, 0.2439, 0.6910, 0.7643], dtype=np.float32)

MIN_DETECTIONS_FOR_OWN_FALLBACK = 20


@dataclass(frozen=True)
class FaceChoice:
    """Which detected face of an evaluation image is *the* face (see module docstring)."""

    min_face: float = 0.2     # box's longer side >= this x the image's shorter side
    max_offset: float = 0.25  # box centre within this x shorter side of the image centre

    def as_dict(self) -> dict[str, float]:
        return {"min_face": self.min_face, "max_offset": self.max_offset}


def choose_face(faces: Faces, width: int, height: int, rule: FaceChoice) -> int | None:
    """Index of the qualifying face nearest the image centre, or None."""
    if len(faces) == 0:
        return None
    b = faces.boxes.astype(np.float64)
    short = min(width, height)
    size = np.maximum(b[:, 2] - b[:, 0], b[:, 3] - b[:, 1])
    centre = np.stack([(b[:, 0] + b[:, 2]) / 2, (b[:, 1] + b[:, 3]) / 2], axis=1)
    dist = np.linalg.norm(centre - np.array([width / 2, height / 2]), axis=1)
    ok = (size >= rule.min_face * short) & (dist <= rule.max_offset * short)
    if not ok.any():
        return None
    idx = np.nonzero(ok)[0]
    return int(idx[np.argmin(dist[idx])])


class FaceEmbedder(Protocol):
    """What the cache needs: a spec (for the key) and detect/embed on whole images."""

    spec: dict[str, Any]
    dim: int

    def detect(self, image: np.ndarray) -> Faces: ...

    def embed(self, images: Sequence[np.ndarray], faces: Sequence[Faces]
              ) -> npt.NDArray[np.float32]:
        """One face per image (``faces[i]`` has exactly one face) -> (n, dim) unit vectors."""
        ...


class VisionFaceEmbedder:
    """A vision engine behind the :class:`FaceEmbedder` shape: its ``analyse`` detects; the
    face chosen in each image is embedded aligned from its landmarks, with no quality gates
    (a crop-reading embedder gets a whole chunk's crops in one batch)."""

    def __init__(self, engine: VisionEngine, options: dict[str, Any]) -> None:
        self.engine = engine
        self.dim = int(engine.embedder.dim)
        self.spec = {"embedder": engine.embedder.name,
                     "embedder_sha256": engine.embedder.model_sha256,
                     "detector": engine.detector.name,
                     "detector_sha256": getattr(engine.detector, "model_sha256", ""),
                     "options": options}

    def detect(self, image: np.ndarray) -> Faces:
        return self.engine.analyse(image, Need.FACES).analysed

    def embed(self, images: Sequence[np.ndarray], faces: Sequence[Faces]
              ) -> npt.NDArray[np.float32]:
        if not images:
            return np.zeros((0, self.dim), np.float32)
        embedder = self.engine.embedder
        if embedder.uses_crops:  # the whole chunk's aligned crops in one model batch
            crops = np.concatenate([align(im, f.landmarks)
                                    for im, f in zip(images, faces, strict=True)])
            return np.asarray(embedder.embed_aligned(crops), np.float32)
        rows = [self.engine.analyse(Frame(im, faces=f), Need.EMBEDDINGS).analysed.embeddings
                for im, f in zip(images, faces, strict=True)]
        return np.concatenate(rows).astype(np.float32)


def build_face_embedder(embedder: str = "arcface", flip: bool = True, detector: str = "scrfd",
                        det_threshold: float = 0.3, threads: int = 2) -> VisionFaceEmbedder:
    """The vision engine for evaluation. Flip fusion is on by default here: the figures and
    calibrated thresholds then describe the configuration enrolment uses."""
    rt = RuntimeConfig(intra_op_threads=threads)
    det_cfg: DetectorConfig
    if detector == "scrfd":
        det_cfg = ScrfdConfig(score_threshold=det_threshold, runtime=rt)
    elif detector == "yunet":
        det_cfg = YunetConfig(score_threshold=det_threshold)
    else:
        raise ConfigError(f"unknown detector {detector!r}; choose scrfd or yunet")
    emb_cfg: EmbedderConfig
    if embedder == "arcface":
        emb_cfg = ArcFaceConfig(flip=flip, runtime=rt)
        options: dict[str, Any] = {"flip": flip}
    elif embedder == "dlib":
        emb_cfg = DlibConfig(flip=flip)
        options = {"flip": flip, "jitters": 0}
    else:
        raise ConfigError(f"unknown embedder {embedder!r}; choose arcface or dlib")
    options["det_threshold"] = det_threshold
    cfg = VisionConfig(detector=det_cfg, embedder=emb_cfg, enrolment_flip=flip)
    return VisionFaceEmbedder(VisionEngine.from_config(cfg), options)


def _key(obj: object) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True).encode()).hexdigest()[:16]


@dataclass
class Embeddings:
    """Cached rows for a folder: relative path -> embedding, fallback flag, detector score."""

    dim: int
    rows: dict[str, int] = field(default_factory=dict)
    vectors: npt.NDArray[np.float32] = field(default_factory=lambda: np.zeros((0, 0), np.float32))
    fallback: npt.NDArray[np.bool_] = field(default_factory=lambda: np.zeros(0, bool))

    def get(self, rels: Sequence[str]) -> npt.NDArray[np.float32]:
        try:
            idx = [self.rows[r] for r in rels]
        except KeyError as exc:
            raise ConfigError(f"image {exc.args[0]} is not in the embedding cache") from None
        return self.vectors[idx]

    def fallbacks(self, rels: Iterable[str]) -> list[str]:
        return [r for r in rels if self.fallback[self.rows[r]]]


class EmbeddingCache:
    """Resumable on-disk cache of one embedder's embeddings of one image folder."""

    def __init__(self, root: Path, face_embedder: FaceEmbedder, cache_dir: Path,
                 choice: FaceChoice | None = None) -> None:
        self.root = Path(os.path.abspath(root))
        self.fe = face_embedder
        self.choice = choice or FaceChoice()
        self.spec = {**face_embedder.spec, "face_choice": self.choice.as_dict(),
                     "fallback": "median landmarks of the folder's detections", "version": 1}
        self.dir = (Path(cache_dir) / "embeddings" / _key(self.spec)
                    / _key(str(self.root)))

    # -- storage ---------------------------------------------------------------------------
    def _chunks(self) -> list[Path]:
        return sorted(self.dir.glob("chunk_*.npz"))

    def _save(self, name: str, data: dict[str, np.ndarray]) -> None:
        self.dir.mkdir(parents=True, exist_ok=True)
        tmp = self.dir / f".{name}.tmp.npz"
        np.savez(tmp, **data)
        tmp.replace(self.dir / f"{name}.npz")

    def _load_all(self) -> dict[str, dict[str, Any]]:
        rows: dict[str, dict[str, Any]] = {}
        for c in self._chunks():
            with np.load(c, allow_pickle=False) as z:  # each array read once per chunk
                paths, vectors, fallback = z["paths"].tolist(), z["vectors"], z["fallback"]
                scores, landmarks, boxes = z["scores"], z["landmarks"], z["boxes"]
            for i, rel in enumerate(paths):
                rows[rel] = {"vector": vectors[i], "fallback": bool(fallback[i]),
                             "score": float(scores[i]), "landmarks": landmarks[i],
                             "box": boxes[i]}
        return rows

    # -- work ------------------------------------------------------------------------------
    def ensure(self, paths: Sequence[Path], chunk_size: int = 256,
               progress: bool = True) -> Embeddings:
        """Embed the images not cached yet (resumable) and return all requested rows.

        One process at a time works on a cache folder (an advisory lock; a second one waits,
        then finds the work done). Chunk names are unique, so nothing is ever overwritten.
        """
        self.dir.mkdir(parents=True, exist_ok=True)
        with open(self.dir / ".lock", "w") as lock:
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                print(f"waiting for another process embedding into {self.dir}", file=sys.stderr)
                fcntl.flock(lock, fcntl.LOCK_EX)
            return self._ensure_locked(paths, chunk_size, progress)

    def _ensure_locked(self, paths: Sequence[Path], chunk_size: int,
                       progress: bool) -> Embeddings:
        manifest = self.dir / "manifest.json"
        if not manifest.exists():
            manifest.write_text(json.dumps({"spec": self.spec, "root": str(self.root)},
                                           indent=2))
        rels = list(dict.fromkeys(self.relative(p) for p in paths))
        rows = self._load_all()
        todo = [r for r in rels if r not in rows]
        if todo and progress:
            print(f"embedding {len(todo):,} of {len(rels):,} images of {self.root} not cached "
                  f"yet ({self.fe.spec['embedder']}); each is done once, saved as it goes "
                  f"(an interrupted run resumes) under {self.dir}", file=sys.stderr, flush=True)
        bar = tqdm(total=len(todo), desc=f"embedding ({self.fe.spec['embedder']})",
                   unit="img", file=sys.stderr, disable=not progress or not todo)
        for start in range(0, len(todo), chunk_size):
            part = todo[start:start + chunk_size]
            self._save(self._chunk_name(), self._embed_part(part, load_image))
            bar.update(len(part))
        bar.close()
        rows = self._load_all()
        pending = [r for r in rels if np.isnan(rows[r]["vector"]).any()]
        if pending:
            self._save(self._chunk_name(), self._embed_fallbacks(pending, rows, load_image))
            rows = self._load_all()
        return self._collect(rels, rows)

    def _chunk_name(self) -> str:
        """Sortable and unique: chunk_<count>_<time ns>; later chunks override earlier."""
        return f"chunk_{len(self._chunks()):05d}_{time.time_ns()}"

    def relative(self, p: Path) -> str:
        p = Path(os.path.abspath(p))
        try:
            return p.relative_to(self.root).as_posix()
        except ValueError:
            raise ConfigError(f"{p} is not inside {self.root}") from None

    def _embed_part(self, part: list[str], load_image: Any) -> dict[str, np.ndarray]:
        n, d = len(part), self.fe.dim
        vectors = np.full((n, d), np.nan, np.float32)
        fallback = np.zeros(n, bool)
        scores = np.zeros(n, np.float32)
        landmarks = np.full((n, 5, 2), np.nan, np.float32)
        boxes = np.full((n, 4), np.nan, np.float32)
        images, faces, where = [], [], []
        for i, rel in enumerate(part):
            image = self._load(rel, load_image)
            h, w = image.shape[:2]
            found = self.fe.detect(image)
            k = choose_face(found, w, h, self.choice)
            if k is None:
                fallback[i] = True
                continue
            one = found[np.array([k])]
            scores[i] = one.scores[0]
            landmarks[i] = one.landmarks[0] / np.array([w, h], np.float32)
            boxes[i] = one.boxes[0] / np.array([w, h, w, h], np.float32)
            images.append(image)
            faces.append(one)
            where.append(i)
        if where:
            vectors[where] = self.fe.embed(images, faces)
        return {"paths": np.array(part), "vectors": vectors, "fallback": fallback,
                "scores": scores, "landmarks": landmarks, "boxes": boxes}

    def _load(self, rel: str, load_image: Any) -> np.ndarray:
        try:
            return load_image(self.root / rel)
        except ImageError as exc:
            raise ImageError(f"evaluation image {self.root / rel}: {exc}") from None

    def fallback_geometry(self, rows: dict[str, dict[str, Any]]
                          ) -> tuple[np.ndarray, np.ndarray, str]:
        """Median normalised landmarks and box of this folder's detections (or LFW's)."""
        det = [r for r in rows.values() if not r["fallback"]]
        if len(det) >= MIN_DETECTIONS_FOR_OWN_FALLBACK:
            lms = np.median(np.stack([r["landmarks"] for r in det]), axis=0)
            box = np.median(np.stack([r["box"] for r in det]), axis=0)
            return lms.astype(np.float32), box.astype(np.float32), f"median of {len(det)}"
        return LFW_CENTRE_LANDMARKS, LFW_CENTRE_BOX, "LFW constant"

    def _embed_fallbacks(self, pending: list[str], rows: dict[str, dict[str, Any]],
                         load_image: Any) -> dict[str, np.ndarray]:
        lms, box, _ = self.fallback_geometry(rows)
        images, faces = [], []
        for rel in pending:
            image = self._load(rel, load_image)
            h, w = image.shape[:2]
            faces.append(Faces(box[None] * np.array([w, h, w, h], np.float32),
                               np.zeros(1, np.float32),
                               lms[None] * np.array([w, h], np.float32)))
            images.append(image)
        vectors = self.fe.embed(images, faces)
        n = len(pending)
        return {"paths": np.array(pending), "vectors": vectors.astype(np.float32),
                "fallback": np.ones(n, bool), "scores": np.zeros(n, np.float32),
                "landmarks": np.repeat(lms[None], n, axis=0),
                "boxes": np.repeat(box[None], n, axis=0)}

    def _collect(self, rels: list[str], rows: dict[str, dict[str, Any]]) -> Embeddings:
        vectors = np.stack([rows[r]["vector"] for r in rels]).astype(np.float32)
        fallback = np.array([rows[r]["fallback"] for r in rels], bool)
        return Embeddings(self.fe.dim, {r: i for i, r in enumerate(rels)}, vectors, fallback)
