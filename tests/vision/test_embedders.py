"""Embedders: unit vectors, masks, same person vs different people, model file checks."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from openlfr.errors import ModelFileError
from openlfr.faces import Faces
from openlfr.vision import models
from openlfr.vision.embedders import ArcFaceConfig, ArcFaceEmbedder, l2_normalise

BACKENDS = ["arcface", "dlib"]


@pytest.fixture(params=BACKENDS)
def embedder(request, arcface, dlib_embedder):
    return {"arcface": arcface, "dlib": dlib_embedder}[request.param]


def _altered(image: np.ndarray) -> np.ndarray:
    """Mirrored, rotated 8 degrees, scaled to 60%, darker and JPEG-compressed."""
    import cv2

    h, w = image.shape[:2]
    m = cv2.getRotationMatrix2D((w / 2, h / 2), 8, 0.6)
    out = cv2.warpAffine(image[:, ::-1], m, (w, h), borderMode=cv2.BORDER_REFLECT)
    out = cv2.convertScaleAbs(out, alpha=0.7, beta=10)
    ok, buf = cv2.imencode(".jpg", out, [cv2.IMWRITE_JPEG_QUALITY, 40])
    assert ok
    return cv2.imdecode(buf, cv2.IMREAD_COLOR)


def test_unit_vectors_of_declared_dimension(embedder, scrfd, players: np.ndarray) -> None:
    faces = scrfd.detect(players)[:8]  # dlib takes ~100 ms a face here
    out = embedder.embed(players, faces)
    assert out.embeddings is not None
    assert out.embeddings.shape == (len(faces), embedder.dim)
    assert out.embeddings.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(out.embeddings, axis=1), 1.0, atol=1e-5)
    assert out.embedded.all()
    # Detection fields are carried through unchanged.
    np.testing.assert_array_equal(out.boxes, faces.boxes)
    assert embedder.dim == {"arcface": 512, "dlib": 128}[embedder.name]
    assert len(embedder.model_sha256) == 64


def test_mask_embeds_only_selected_faces(embedder, scrfd, players: np.ndarray) -> None:
    faces = scrfd.detect(players)[:5]
    mask = np.array([True, False, True, False, False])
    part = embedder.embed(players, faces, mask)
    full = embedder.embed(players, faces)
    assert part.embedded.tolist() == mask.tolist()
    assert np.isnan(part.embeddings[~mask]).all()
    np.testing.assert_allclose(part.embeddings[mask], full.embeddings[mask], atol=1e-5)
    none = embedder.embed(players, faces, np.zeros(5, bool))
    assert none.embeddings.shape == (5, embedder.dim) and not none.embedded.any()
    with pytest.raises(ValueError, match="mask"):
        embedder.embed(players, faces, np.array([1, 0, 1, 0, 0]))


def test_no_faces_gives_empty_embeddings(embedder, players: np.ndarray) -> None:
    out = embedder.embed(players, Faces.empty())
    assert out.embeddings.shape == (0, embedder.dim)


def test_same_person_more_similar_than_different_people(
        embedder, scrfd, astronaut: np.ndarray, players: np.ndarray) -> None:
    from openlfr.vision.thresholds import default_threshold

    a = scrfd.detect(astronaut)
    altered = _altered(astronaut)
    b = scrfd.detect(altered)
    assert len(a) == 1 and len(b) == 1
    ea = embedder.embed(astronaut, a).embeddings[0]
    eb = embedder.embed(altered, b).embeddings[0]
    others = scrfd.detect(players)
    others = others[others.scores > 0.75][:10]
    eo = embedder.embed(players, others).embeddings
    same = float(ea @ eb)
    different = eo @ ea
    assert same > different.max() + 0.1
    threshold = default_threshold(embedder.model_sha256).value
    assert same >= threshold
    assert (different < threshold).all()


@pytest.mark.shared_data
def test_lfw_pairs_separate(embedder, scrfd, lfw_dir: Path) -> None:
    """First 10 (dlib: 5) matched and mismatched pairs of LFW's first fold (smoke test only; the
    evaluation module measures accuracy on all 6,000 pairs)."""
    from openlfr.vision.engine import VisionEngine
    from openlfr.vision.image import load_image
    from openlfr.vision.quality import QualityAssessor

    engine = VisionEngine(scrfd, QualityAssessor(), embedder)
    lines = (lfw_dir / "pairs.txt").read_text().split("\n")[1:]
    k = 10 if embedder.name == "arcface" else 5  # dlib is slow on CPU
    matched = [ln.split() for ln in lines[:k]]
    mismatched = [ln.split() for ln in lines[300:300 + k]]

    def img(name: str, num: str) -> np.ndarray:
        return load_image(lfw_dir / "images" / name / f"{name}_{int(num):04d}.jpg")

    same = [float(engine.embed_single(img(n, i)) @ engine.embed_single(img(n, j)))
            for n, i, j in matched]
    diff = [float(engine.embed_single(img(n1, i)) @ engine.embed_single(img(n2, j)))
            for n1, i, n2, j in mismatched]
    from openlfr.vision.thresholds import default_threshold

    threshold = default_threshold(embedder.model_sha256).value
    assert threshold > np.mean(diff)
    if embedder.name.startswith("arcface"):
        # dlib's shipped threshold is calibrated for FPIR 1e-3 in 1:N search (docs/accuracy.md):
        # strict enough that many genuine LFW pairs fall below it, by design.
        assert np.mean(same) > threshold
    # ROC area of the 100 same/different comparisons
    auc = np.mean([s > d for s in same for d in diff])
    assert auc >= 0.95


def test_arcface_flip_fusion(arcface, scrfd, astronaut: np.ndarray) -> None:
    from openlfr.vision.align import align

    faces = scrfd.detect(astronaut)
    crops = align(astronaut, faces.landmarks)
    flip = ArcFaceEmbedder(ArcFaceConfig(flip=True), session=arcface.session)
    plain = arcface.embed_aligned(crops)
    mirrored = arcface.embed_aligned(crops[:, :, ::-1])
    fused = flip.embed_aligned(crops)
    # fused = normalised sum of the raw outputs for the crop and its mirror image
    assert float(fused[0] @ l2_normalise(plain + mirrored)[0]) > 0.9999
    assert float(fused[0] @ plain[0]) < 0.999  # the mirror image does change the vector
    # Flip fusion is invariant to mirroring the input.
    np.testing.assert_allclose(flip.embed_aligned(crops[:, :, ::-1]), fused, atol=1e-4)


def test_arcface_batches_agree_with_single_calls(arcface, scrfd, players: np.ndarray) -> None:
    from openlfr.vision.align import align

    crops = align(players, scrfd.detect(players).landmarks)[:10]
    small_batches = ArcFaceEmbedder(ArcFaceConfig(batch_size=3), session=arcface.session)
    np.testing.assert_allclose(small_batches.embed_aligned(crops), arcface.embed_aligned(crops),
                               atol=1e-4)
    with pytest.raises(ValueError, match="112"):
        arcface.embed_aligned(np.zeros((2, 100, 100, 3), np.uint8))


@pytest.mark.parametrize("key,build", [
    ("arcface_mbf", lambda p, h: ArcFaceEmbedder(ArcFaceConfig(model_path=p, model_sha256=h))),
    ("scrfd_500m", lambda p, h: __import__("openlfr.vision.detectors", fromlist=["x"])
        .ScrfdDetector(__import__("openlfr.vision.detectors", fromlist=["x"])
                       .ScrfdConfig(model_path=p, model_sha256=h))),
])
def test_altered_model_file_is_refused(tmp_path: Path, key: str, build) -> None:
    original = models.locate(key)
    expected = models.MODEL_FILES[key].sha256
    copy = tmp_path / original.name
    shutil.copyfile(original, copy)
    build(copy, expected)  # an exact copy loads
    data = bytearray(copy.read_bytes())
    data[len(data) // 2] ^= 0x01
    altered = tmp_path / ("altered-" + original.name)
    altered.write_bytes(bytes(data))
    with pytest.raises(ModelFileError, match="altered"):
        build(altered, expected)
    with pytest.raises(ModelFileError, match="not found"):
        build(tmp_path / "missing.onnx", expected)


def test_wrong_kind_of_onnx_is_refused(tmp_path: Path) -> None:
    """The detector's file given as an embedder: refused by its input shape, not guessed."""
    path = models.verified("scrfd_500m")
    with pytest.raises(ModelFileError, match="112"):
        ArcFaceEmbedder(ArcFaceConfig(model_path=path, model_sha256=models.sha256_of(path)))


def test_wrong_kind_of_onnx_is_refused_by_the_detector() -> None:
    from openlfr.vision.detectors import ScrfdConfig, ScrfdDetector

    path = models.verified("arcface_mbf")
    with pytest.raises(ModelFileError, match="score_8"):
        ScrfdDetector(ScrfdConfig(model_path=path, model_sha256=models.sha256_of(path)))
