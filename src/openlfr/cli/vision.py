"""Vision commands: ``openlfr models``, ``detect``, ``compare`` and ``demo``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import cv2
import typer

from openlfr.cli.options import DetectorChoice, EmbedderChoice, Json, config_option, emit
from openlfr.errors import ImageError, ModelFileError
from openlfr.vision.demo import run_demo
from openlfr.vision.detectors import ScrfdConfig, YunetConfig, build_detector
from openlfr.vision.draw import draw_faces
from openlfr.vision.embedders import ArcFaceConfig, DlibConfig
from openlfr.vision.engine import VisionConfig, VisionEngine
from openlfr.vision.image import load_image
from openlfr.vision.models import MODEL_FILES, locate, verified
from openlfr.vision.quality import QualityAssessor

__all__ = ["app"]

app = typer.Typer()

VisionConfigFile = config_option("Vision config YAML (keys: detector, embedder, quality, "
                                 "threads).", "-c")


@app.command("models")
def models(as_json: Json = False) -> None:
    """List model files: role, location, sha256 check and licence."""
    rows = []
    for key, m in MODEL_FILES.items():
        row: dict[str, object] = {"key": key, "role": m.role, "sha256": m.sha256,
                                  "licence": m.licence}
        try:
            row["path"] = str(locate(key))
            verified(key)
            row["status"] = "ok"
        except ModelFileError as exc:
            row["status"] = f"error: {exc}"
        rows.append(row)
    emit({"models": rows}, as_json, [
        line for r in rows for line in (
            f"{r['key']:<14} {r['status']:<4} {r['role']}", f"{'':14} {r.get('path', '?')}",
            f"{'':14} sha256 {r['sha256']}", f"{'':14} licence: {r['licence']}")])


def _engine_config(config: Path | None, detector: DetectorChoice | None,
                   embedder: EmbedderChoice | None) -> VisionConfig:
    cfg = VisionConfig.from_yaml(config) if config else VisionConfig()
    update = {}
    if detector is not None and detector.value != cfg.detector.type:
        update["detector"] = ScrfdConfig() if detector is DetectorChoice.scrfd else YunetConfig()
    if embedder is not None and embedder.value != cfg.embedder.type:
        update["embedder"] = (ArcFaceConfig() if embedder is EmbedderChoice.arcface
                              else DlibConfig())
    return cfg.model_copy(update=update)


@app.command("detect")
def detect(
    image: Annotated[Path, typer.Argument(help="Image file (JPEG, PNG, ...).")],
    detector: Annotated[DetectorChoice | None, typer.Option(
        "--detector", "-d", help="Detector backend (default scrfd).")] = None,
    draw: Annotated[Path | None, typer.Option(
        "--draw", help="Write the image with faces drawn.")] = None,
    config: VisionConfigFile = None,
    as_json: Json = False,
) -> None:
    """Find faces in an image: boxes, detector scores, landmarks and quality."""
    cfg = _engine_config(config, detector, None).resolved()
    if cfg.opencv_threads is not None:
        cv2.setNumThreads(cfg.opencv_threads)
    img = load_image(image)
    det = build_detector(cfg.detector)
    quality = QualityAssessor(cfg.quality)
    faces = quality.assess(img, det.detect(img))
    passed = quality.passes(faces)
    rows = []
    for i in range(len(faces)):
        rows.append({
            "box": [round(float(v), 1) for v in faces.boxes[i]],
            "score": round(float(faces.scores[i]), 4),
            "landmarks": [[round(float(x), 1), round(float(y), 1)] for x, y in faces.landmarks[i]],
            "quality": round(float(faces.quality[i]), 4),  # type: ignore[index]
            "quality_parts": {k: round(float(v[i]), 3) for k, v in faces.quality_parts.items()},
            "passes_quality": bool(passed[i]),
        })
    if draw is not None:
        draw.parent.mkdir(parents=True, exist_ok=True)
        if not cv2.imwrite(str(draw), draw_faces(img, faces, passed)):
            raise ImageError(f"{draw}: cannot write (use a .png or .jpg name in a writable "
                             f"folder)")
    lines = [f"{image}: {img.shape[1]}x{img.shape[0]}, {len(rows)} face(s) ({det.name})"]
    for i, r in enumerate(rows):
        x1, y1, x2, y2 = r["box"]
        parts = r["quality_parts"]
        lines.append(f"  {i}: box ({x1:.0f},{y1:.0f})-({x2:.0f},{y2:.0f}) score "
                     f"{r['score']:.2f} quality {r['quality']:.2f} [size {parts['size']:.0f}px, "
                     f"sharpness {parts['sharpness']:.0f}, frontality "
                     f"{parts['frontality']:.2f}] "
                     f"{'passes' if r['passes_quality'] else 'below quality gate'}")
    if draw is not None:
        lines.append(f"drawn: {draw}")
    emit({"image": str(image), "width": int(img.shape[1]), "height": int(img.shape[0]),
          "detector": det.name, "faces": rows, "drawn": str(draw) if draw else None},
         as_json, lines)


@app.command("compare")
def compare(
    a: Annotated[Path, typer.Argument(help="First image (its most central face is used).")],
    b: Annotated[Path, typer.Argument(help="Second image.")],
    embedder: Annotated[EmbedderChoice | None, typer.Option(
        "--embedder", "-e", help="Embedder backend (default arcface).")] = None,
    flip: Annotated[bool, typer.Option(
        "--flip/--no-flip", help="ArcFace: fuse each face with its mirror image (more "
                                 "accurate; its threshold is calibrated on LFW).")] = True,
    config: VisionConfigFile = None,
    as_json: Json = False,
) -> None:
    """Cosine similarity of the faces in two images, and what it means at the default
    threshold."""
    cfg = _engine_config(config, None, embedder)
    if cfg.embedder.type == "arcface" and cfg.embedder.flip != flip:
        cfg = cfg.model_copy(update={"embedder": cfg.embedder.model_copy(update={"flip": flip})})
    img_a, img_b = load_image(a), load_image(b)  # fail fast on bad files, before models load
    engine = VisionEngine.from_config(cfg)
    vecs = []
    for path, img in ((a, img_a), (b, img_b)):
        try:
            vecs.append(engine.embed_single(img))
        except ImageError as exc:
            raise ImageError(f"{path}: {exc}") from None
    sim = float(vecs[0] @ vecs[1])
    thr = engine.threshold
    same = sim >= thr.value
    meaning = (f"same person likely (similarity {sim:.3f} >= threshold {thr.value:.4f})"
               if same else f"different people likely (similarity {sim:.3f} < threshold "
                            f"{thr.value:.4f})")
    if not thr.calibrated:
        meaning += "; the threshold is a placeholder, not yet calibrated"
    emit({"a": str(a), "b": str(b), "embedder": engine.embedder.name,
          "model_sha256": engine.embedder.model_sha256, "similarity": round(sim, 6),
          "threshold": thr.value, "threshold_calibrated": thr.calibrated,
          "threshold_provenance": thr.provenance, "same_person_likely": bool(same),
          "meaning": meaning}, as_json,
         [f"embedder: {engine.embedder.name}", f"cosine similarity: {sim:.3f}", meaning,
          "a similarity is evidence for a human to weigh, not an identification"])


@app.command("demo")
def demo(
    out: Annotated[Path, typer.Option(
        "--out", help="Folder for detections.png.")] = Path("var/demo"),
    image: Annotated[Path | None, typer.Option(
        "--image", help="Use this image instead of the packaged sample.")] = None,
    as_json: Json = False,
) -> None:
    """Run the detector, quality gate and embedder on a sample photograph and draw the faces."""
    result = run_demo(out, image)
    ms = result["ms"]
    lines = [f"image: {result['image']} ({result['image_size'][0]}x{result['image_size'][1]})",
             f"faces: {result['faces']} found by {result['detector']}, "
             f"{result['passed_quality']} pass the quality gate",
             f"time: detect {ms['detect']} ms, quality {ms['quality']} ms, "
             f"embed ({result['embedder']}, {result['embedding_dim']}-d) {ms['embed']} ms"]
    if result["max_similarity_between_different_faces"] is not None:
        lines.append(f"highest similarity between two different faces: "
                     f"{result['max_similarity_between_different_faces']} "
                     f"(threshold {result['threshold']})")
    lines.append(f"drawn: {result['drawn']}")
    emit(result, as_json, lines)
