"""The embedding cache: face choice, fallbacks, resumability (with a fake embedder)."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from openlfr.evaluation.embedcache import EmbeddingCache, FaceChoice, choose_face
from openlfr.faces import Faces


def faces(*boxes: tuple[float, float, float, float]) -> Faces:
    b = np.array(boxes, np.float32).reshape(-1, 4)
    lm = np.zeros((len(b), 5, 2), np.float32)
    lm[:] = ((b[:, :2] + b[:, 2:]) / 2)[:, None, :]
    return Faces(b, np.ones(len(b), np.float32), lm)


@pytest.mark.parametrize("boxes, expected", [
    ([], None),
    ([(70, 70, 180, 180)], 0),
    ([(0, 0, 60, 60), (80, 75, 180, 185)], 1),           # the central one, not the first
    ([(100, 100, 130, 130)], None),                        # central but too small (30 < 50)
    ([(150, 150, 250, 250)], None),                        # big but off-centre (>62.5 px)
    ([(70, 70, 200, 200), (75, 75, 175, 175)], 1),         # both qualify: nearest centre
])
def test_choose_face(boxes: list[tuple[float, float, float, float]],
                     expected: int | None) -> None:
    assert choose_face(faces(*boxes), 250, 250, FaceChoice()) == expected


class FakeEmbedder:
    """Detects a face only in images whose mean brightness is above 100; embeds by
    brightness. Counts calls so tests can see what was recomputed."""

    dim = 4

    def __init__(self, fail_after: int | None = None) -> None:
        self.spec = {"embedder": "fake", "embedder_sha256": "0" * 64, "detector": "fake",
                     "detector_sha256": "", "options": {}}
        self.detected = 0
        self.fail_after = fail_after
        self.fallback_landmarks: list[np.ndarray] = []

    def detect(self, image: np.ndarray) -> Faces:
        self.detected += 1
        if self.fail_after is not None and self.detected > self.fail_after:
            raise RuntimeError("simulated crash")
        if image.mean() <= 100:
            return Faces.empty()
        return faces((70 + image.mean() / 50, 70, 180, 180))

    def embed(self, images, faces_):  # noqa: ANN001, ANN201
        out = []
        for im, f in zip(images, faces_, strict=True):
            assert len(f) == 1
            if f.scores[0] == 0:  # fallback faces carry score 0
                self.fallback_landmarks.append(f.landmarks[0].copy())
            v = np.array([im.mean(), 1.0, 0.0, 0.0], np.float32)
            out.append(v / np.linalg.norm(v))
        return np.stack(out)


def folder(tmp_path: Path, n: int) -> list[Path]:
    paths = []
    for i in range(n):
        d = tmp_path / "imgs" / f"P{i:02d}"
        d.mkdir(parents=True)
        p = d / f"P{i:02d}_0001.jpg"
        level = 50 if i % 5 == 0 else 120 + i  # every fifth image: no face found
        cv2.imwrite(str(p), np.full((250, 250, 3), level, np.uint8))
        paths.append(p)
    return paths


def test_resumes_after_crash_and_counts_fallbacks(tmp_path: Path) -> None:
    paths = folder(tmp_path, 30)
    crashing = FakeEmbedder(fail_after=25)
    cache = EmbeddingCache(tmp_path / "imgs", crashing, tmp_path / "cache")
    with pytest.raises(RuntimeError, match="simulated crash"):
        cache.ensure(paths, chunk_size=10, progress=False)
    assert len(list(cache.dir.glob("chunk_*.npz"))) == 2  # two full chunks were kept

    fe = FakeEmbedder()
    cache = EmbeddingCache(tmp_path / "imgs", fe, tmp_path / "cache")
    emb = cache.ensure(paths, chunk_size=10, progress=False)
    assert fe.detected == 10  # only the last chunk was detected again
    assert emb.vectors.shape == (30, 4)
    assert not np.isnan(emb.vectors).any()
    rels = [cache.relative(p) for p in paths]
    assert emb.fallbacks(rels) == [rels[i] for i in range(0, 30, 5)]
    # fallbacks are aligned with the median landmarks of this folder's 24 detections
    assert len(fe.fallback_landmarks) == 6
    assert fe.fallback_landmarks[0][0, 1] == pytest.approx(125, abs=1)

    again = FakeEmbedder()
    emb2 = EmbeddingCache(tmp_path / "imgs", again, tmp_path / "cache").ensure(
        paths, progress=False)
    assert again.detected == 0  # everything came from the cache
    np.testing.assert_array_equal(emb2.get(rels), emb.get(rels))


def test_spec_changes_the_cache(tmp_path: Path) -> None:
    a = EmbeddingCache(tmp_path, FakeEmbedder(), tmp_path / "c")
    b = EmbeddingCache(tmp_path, FakeEmbedder(), tmp_path / "c", FaceChoice(min_face=0.3))
    other = FakeEmbedder()
    other.spec["options"] = {"flip": True}
    c = EmbeddingCache(tmp_path, other, tmp_path / "c")
    assert len({a.dir, b.dir, c.dir}) == 3


def test_too_few_detections_fall_back_to_the_lfw_constant(tmp_path: Path) -> None:
    from openlfr.evaluation.embedcache import LFW_CENTRE_LANDMARKS

    paths = folder(tmp_path, 6)  # images 0 and 5 have no face; 4 detections < 20
    fe = FakeEmbedder()
    emb = EmbeddingCache(tmp_path / "imgs", fe, tmp_path / "cache").ensure(paths,
                                                                          progress=False)
    assert int(emb.fallback.sum()) == 2
    np.testing.assert_allclose(fe.fallback_landmarks[0], LFW_CENTRE_LANDMARKS * 250, rtol=1e-5)


def test_long_work_says_why_on_stderr_and_keeps_stdout_clean(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    paths = folder(tmp_path, 6)
    cache = EmbeddingCache(tmp_path / "imgs", FakeEmbedder(), tmp_path / "cache")
    cache.ensure(paths, progress=True)
    out, err = capsys.readouterr()
    assert out == ""  # stdout stays for the one JSON object of --json
    assert "embedding 6 of 6 images" in err and "resumes" in err and str(cache.dir) in err
    assert "6/6" in err  # the progress bar
    EmbeddingCache(tmp_path / "imgs", FakeEmbedder(), tmp_path / "cache").ensure(
        paths, progress=True)
    assert capsys.readouterr() == ("", "")  # nothing to do: nothing said
