"""Vision commands: ``openlfr models``, ``detect``, ``compare`` and ``demo``.

Heavy imports (onnxruntime, OpenCV, dlib) happen inside the commands.
"""

from __future__ import annotations

import json
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from openlfr.errors import ModelFileError

__all__ = ["register"]


class DetectorChoice(StrEnum):
    scrfd = "scrfd"
    yunet = "yunet"


class EmbedderChoice(StrEnum):
    arcface = "arcface"
    dlib = "dlib"


def models(as_json: bool = typer.Option(False, "--json", help="Print one JSON object.")) -> None:
    """List model files: role, location, sha256 check and licence."""
    from openlfr.vision.models import MODEL_FILES, locate, verified

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
    if as_json:
        typer.echo(json.dumps({"models": rows}))
        return
    for r in rows:
        typer.echo(f"{r['key']:<14} {r['status']:<4} {r['role']}")
        typer.echo(f"{'':14} {r.get('path', '?')}")
        typer.echo(f"{'':14} sha256 {r['sha256']}")
        typer.echo(f"{'':14} licence: {r['licence']}")


def _engine_config(config: Path | None, detector: DetectorChoice | None,
                   embedder: EmbedderChoice | None):  # -> VisionConfig
    from openlfr.vision.detectors import ScrfdConfig, YunetConfig
    from openlfr.vision.embedders import ArcFaceConfig, DlibConfig
    from openlfr.vision.engine import VisionConfig

    cfg = VisionConfig.from_yaml(config) if config else VisionConfig()
    update = {}
    if detector is not None and detector.value != cfg.detector.type:
        update["detector"] = ScrfdConfig() if detector is DetectorChoice.scrfd else YunetConfig()
    if embedder is not None and embedder.value != cfg.embedder.type:
        update["embedder"] = (ArcFaceConfig() if embedder is EmbedderChoice.arcface
                              else DlibConfig())
    return cfg.model_copy(update=update)


_ConfigOpt = Annotated[Path | None, typer.Option(
    "--config", "-c", help="Vision config YAML (keys: detector, embedder, quality, threads).")]


def detect(
    image: Annotated[Path, typer.Argument(help="Image file (JPEG, PNG, ...).")],
    detector: Annotated[DetectorChoice | None, typer.Option(
        "--detector", "-d", help="Detector backend (default scrfd).")] = None,
    draw: Annotated[Path | None, typer.Option(
        "--draw", help="Write the image with faces drawn.")] = None,
    config: _ConfigOpt = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """Find faces in an image: boxes, detector scores, landmarks and quality."""
    import cv2

    from openlfr.vision.detectors import build_detector
    from openlfr.vision.draw import draw_faces
    from openlfr.vision.image import load_image
    from openlfr.vision.quality import QualityAssessor

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
            from openlfr.errors import ImageError

            raise ImageError(f"{draw}: cannot write (use a .png or .jpg name in a writable "
                             f"folder)")
    if as_json:
        typer.echo(json.dumps({"image": str(image), "width": int(img.shape[1]),
                               "height": int(img.shape[0]), "detector": det.name,
                               "faces": rows, "drawn": str(draw) if draw else None}))
        return
    typer.echo(f"{image}: {img.shape[1]}x{img.shape[0]}, {len(rows)} face(s) ({det.name})")
    for i, r in enumerate(rows):
        x1, y1, x2, y2 = r["box"]
        parts = r["quality_parts"]
        typer.echo(f"  {i}: box ({x1:.0f},{y1:.0f})-({x2:.0f},{y2:.0f}) score {r['score']:.2f} "
                   f"quality {r['quality']:.2f} [size {parts['size']:.0f}px, sharpness "
                   f"{parts['sharpness']:.0f}, frontality {parts['frontality']:.2f}] "
                   f"{'passes' if r['passes_quality'] else 'below quality gate'}")
    if draw is not None:
        typer.echo(f"drawn: {draw}")


def compare(
    a: Annotated[Path, typer.Argument(help="First image (its most central face is used).")],
    b: Annotated[Path, typer.Argument(help="Second image.")],
    embedder: Annotated[EmbedderChoice | None, typer.Option(
        "--embedder", "-e", help="Embedder backend (default arcface).")] = None,
    flip: Annotated[bool, typer.Option(
        "--flip/--no-flip", help="ArcFace: fuse each face with its mirror image (more "
                                 "accurate; its threshold is calibrated on LFW).")] = True,
    config: _ConfigOpt = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """Cosine similarity of the faces in two images, and what it means at the default
    threshold."""
    from openlfr.errors import ImageError
    from openlfr.vision.engine import VisionEngine
    from openlfr.vision.image import load_image

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
    if as_json:
        typer.echo(json.dumps({"a": str(a), "b": str(b), "embedder": engine.embedder.name,
                               "model_sha256": engine.embedder.model_sha256,
                               "similarity": round(sim, 6), "threshold": thr.value,
                               "threshold_calibrated": thr.calibrated,
                               "threshold_provenance": thr.provenance,
                               "same_person_likely": bool(same), "meaning": meaning}))
        return
    typer.echo(f"embedder: {engine.embedder.name}")
    typer.echo(f"cosine similarity: {sim:.3f}")
    typer.echo(meaning)
    typer.echo("a similarity is evidence for a human to weigh, not an identification")


def demo(
    out: Annotated[Path, typer.Option(
        "--out", help="Folder for detections.png.")] = Path("var/demo"),
    image: Annotated[Path | None, typer.Option(
        "--image", help="Use this image instead of the packaged sample.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """Run the detector, quality gate and embedder on a sample photograph and draw the faces."""
    from openlfr.vision.demo import run_demo

    result = run_demo(out, image)
    if as_json:
        typer.echo(json.dumps(result))
        return
    typer.echo(f"image: {result['image']} ({result['image_size'][0]}x{result['image_size'][1]})")
    typer.echo(f"faces: {result['faces']} found by {result['detector']}, "
               f"{result['passed_quality']} pass the quality gate")
    ms = result["ms"]
    typer.echo(f"time: detect {ms['detect']} ms, quality {ms['quality']} ms, "
               f"embed ({result['embedder']}, {result['embedding_dim']}-d) {ms['embed']} ms")
    if result["max_similarity_between_different_faces"] is not None:
        typer.echo(f"highest similarity between two different faces: "
                   f"{result['max_similarity_between_different_faces']} "
                   f"(threshold {result['threshold']})")
    typer.echo(f"drawn: {result['drawn']}")


def register(app: typer.Typer) -> None:
    app.command("models")(models)
    app.command("detect")(detect)
    app.command("compare")(compare)
    app.command("demo")(demo)
