"""Enrolment: one watchlist template from one image, with clear reasons when it cannot be.

An enrolment image must show **exactly one usable face**: detected, and passing the quality
gates (size, sharpness, frontality, detector score) of the engine's quality config. No
face, several usable faces (which one is the subject?), or a face too small / blurred /
turned away is refused with an :class:`ImageError` that says which, so the watchlist
manager can supply a better image. Faces that fail the gates do not count as "several":
a sharp, frontal subject in front of a blurred crowd is accepted.

Folder enrolment reads ``ROOT/Name/<images>`` (one folder per subject, e.g. LFW's layout),
with a progress bar for thousands of images; failures are collected per image, never
stop the run, and are reported at the end.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from tqdm import tqdm

from openlfr.errors import ImageError
from openlfr.faces import Faces
from openlfr.vision.engine import Need, VisionEngine
from openlfr.vision.image import IMAGE_SUFFIXES, image_files, load_image
from openlfr.vision.quality import QualityConfig

__all__ = ["FaceTemplate", "face_template", "enrol_image", "enrol_file", "embedder_key",
           "compute_templates", "folder_subjects", "enrol_folder",
           "FolderEnrolment", "IMAGE_SUFFIXES"]


@dataclass(frozen=True, eq=False)
class FaceTemplate:
    """An enrolment result: the L2-normalised embedding and what it was taken from.

    Not `store.models.Template`, the stored (encrypted) vector of a subject.
    """

    embedding: np.ndarray
    quality: float
    box: np.ndarray
    face_px: float


def _why_unusable(faces: Faces, i: int, cfg: QualityConfig) -> str:
    p = faces.quality_parts
    reasons = []
    if p["size"][i] < cfg.min_face_px:
        reasons.append(f"too small ({p['size'][i]:.0f} px < {cfg.min_face_px:.0f} px)")
    if p["sharpness"][i] < cfg.min_sharpness:
        reasons.append(f"too blurred (sharpness {p['sharpness'][i]:.0f} < "
                       f"{cfg.min_sharpness:.0f})")
    if p["frontality"][i] < cfg.min_frontality:
        reasons.append(f"turned away (frontality {p['frontality'][i]:.2f} < "
                       f"{cfg.min_frontality:.2f})")
    if p["detector"][i] < cfg.min_score:
        reasons.append(f"unclear face (detector score {p['detector'][i]:.2f} < "
                       f"{cfg.min_score:.2f})")
    if not reasons:
        reasons.append(f"overall quality {faces.quality[i]:.2f} below the minimum")
    return ", ".join(reasons)


def embedder_key(engine: VisionEngine) -> str:
    """``name:model_sha256`` of the engine's embedder: templates are only comparable with
    probes from the same model (flip fusion on or off gives comparable vectors)."""
    return f"{engine.config.embedder.type}:{engine.embedder.model_sha256}"


def enrol_image(engine: VisionEngine, image: bytes | str | Path | np.ndarray
                ) -> tuple[str, np.ndarray]:
    """(embedder key, template vector) of the one usable face in ``image`` (encoded bytes,
    a path or a BGR array); ImageError otherwise. Nothing is stored."""
    arr = image if isinstance(image, np.ndarray) else load_image(image)
    return embedder_key(engine), face_template(engine, arr).embedding


def compute_templates(engine: VisionEngine, images: list[bytes]
                      ) -> list[tuple[str, np.ndarray]]:
    """Templates for a subject's enrolment images (governance's switch-over point).
    Every image must hold exactly one usable face; the error names the image's position."""
    out = []
    for i, data in enumerate(images):
        try:
            out.append(enrol_image(engine, data))
        except ImageError as exc:
            raise ImageError(f"image {i + 1}: {exc}") from None
    return out


def face_template(engine: VisionEngine, image: np.ndarray) -> FaceTemplate:
    """The template of the one usable face in ``image`` (BGR array), embedded with the
    engine's enrolment flip setting (``VisionConfig.enrolment_flip``). ImageError otherwise.

    Every enrolment (the command line, the API, the demo) comes through here."""
    frame = engine.analyse(image, Need.FACES | Need.QUALITY)  # every face assessed
    faces = frame.analysed
    if len(faces) == 0:
        raise ImageError("no face found in the image; use a clear, frontal photograph")
    ok = frame.passes
    assert ok is not None and faces.quality is not None
    if ok.sum() == 0:
        best = int(np.argmax(faces.quality))
        raise ImageError(f"no usable face: {len(faces)} face(s) found, the best is "
                         f"{_why_unusable(faces, best, engine.quality.cfg)}")
    if ok.sum() > 1:
        raise ImageError(f"several usable faces ({int(ok.sum())}) in the image; crop it to "
                         "the subject so exactly one face remains")
    i = int(np.flatnonzero(ok)[0])
    embedded = engine.analyse(frame.with_needs(ok), Need.EMBEDDINGS, template=True).analysed
    assert embedded.embeddings is not None
    return FaceTemplate(embedding=embedded.embeddings[i].copy(), quality=float(faces.quality[i]),
                    box=faces.boxes[i].copy(), face_px=float(faces.quality_parts["size"][i]))


def enrol_file(engine: VisionEngine, path: str | Path) -> FaceTemplate:
    """:func:`enrol_image` of an image file; errors name the file."""
    image = load_image(path)  # its errors name the file already
    try:
        return face_template(engine, image)
    except ImageError as exc:
        raise ImageError(f"{path}: {exc}") from None


def folder_subjects(root: str | Path) -> dict[str, list[Path]]:
    """``root/Name/<images>`` -> {Name: [images, sorted]} (folders without images skipped).
    Underscores in folder names become spaces in labels elsewhere; keys keep the folder
    name. ImageError if ``root`` is not a folder or holds no subject folders."""
    root = Path(root)
    if not root.is_dir():
        raise ImageError(f"{root}: not a folder")
    out = {}
    for d in sorted(p for p in root.iterdir() if p.is_dir()):
        imgs = image_files(d)
        if imgs:
            out[d.name] = imgs
    if not out:
        raise ImageError(f"{root}: no subject folders with images (expected Name/<image files>)")
    return out


@dataclass
class FolderEnrolment:
    names: list[str] = field(default_factory=list)
    templates: list[FaceTemplate] = field(default_factory=list)
    sources: list[Path] = field(default_factory=list)
    failures: list[tuple[Path, str]] = field(default_factory=list)


def enrol_folder(engine: VisionEngine, root: str | Path, *, per_subject: int = 1,
                 progress: bool = True) -> FolderEnrolment:
    """Enrol each subject folder from up to ``per_subject`` images (in name order; an image
    that fails is reported and the next one tried)."""
    subjects = folder_subjects(root)
    res = FolderEnrolment()
    bar = tqdm(subjects.items(), desc="enrolling", unit="subject", file=sys.stderr,
               disable=not progress)
    for name, paths in bar:
        got = 0
        for p in paths:
            if got >= per_subject:
                break
            try:
                t = enrol_file(engine, p)
            except ImageError as exc:
                res.failures.append((p, str(exc).split(": ", 1)[-1]))
                continue
            res.names.append(name)
            res.templates.append(t)
            res.sources.append(p)
            got += 1
    return res
