"""Quality measurements and gates."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from openlfr.faces import QUALITY_FIELDS, Faces
from openlfr.vision.align import ARCFACE_TEMPLATE
from openlfr.vision.quality import QualityAssessor, QualityConfig, frontality


def _rotate(points: np.ndarray, angle: float, scale: float = 1.0) -> np.ndarray:
    c, s = np.cos(angle), np.sin(angle)
    return points @ (scale * np.array([[c, -s], [s, c]])).T + 300


def test_template_is_frontal_at_any_roll_and_scale() -> None:
    pts = np.stack([_rotate(ARCFACE_TEMPLATE, a, s) for a, s in
                    [(0, 1), (0.5, 3), (-1.2, 0.3), (np.pi, 2)]])
    front, yaw, pitch = frontality(pts)
    np.testing.assert_allclose(front, 1.0, atol=0.02)
    assert (yaw < 0.01).all() and (pitch < 0.01).all()


def test_turned_faces_score_lower_monotonically() -> None:
    """Shift the nose sideways (yaw) and vertically (pitch): frontality falls."""
    scores = []
    for shift in [0, 4, 8, 14, 20, 30]:
        p = ARCFACE_TEMPLATE.copy()
        p[2, 0] += shift
        scores.append(float(frontality(p[None])[0][0]))
    assert scores == sorted(scores, reverse=True) and scores[0] > 0.95 and scores[-1] == 0
    up = ARCFACE_TEMPLATE.copy()
    up[2, 1] -= 15
    assert frontality(up[None])[0][0] < 0.5
    collapsed = ARCFACE_TEMPLATE.copy()  # profile: both eyes nearly on top of each other
    collapsed[1] = collapsed[0] + [3, 0]
    assert frontality(collapsed[None])[0][0] < 0.2
    degenerate = np.zeros((1, 5, 2))
    assert frontality(degenerate)[0][0] == 0


def test_assess_fills_documented_parts(scrfd, players: np.ndarray) -> None:
    faces = scrfd.detect(players)
    q = QualityAssessor().assess(players, faces)
    assert set(q.quality_parts) == set(QUALITY_FIELDS)
    assert q.quality.shape == (len(faces),)
    assert ((q.quality >= 0) & (q.quality <= 1)).all()
    np.testing.assert_allclose(q.quality_parts["size"], np.minimum(faces.widths, faces.heights))
    np.testing.assert_allclose(q.quality_parts["detector"], faces.scores)
    # Bigger faces (the players in front) rank above the crowd behind them.
    big = q.quality_parts["size"] > 40
    assert q.quality[big].mean() > q.quality[~big].mean()


def test_blur_lowers_sharpness_and_quality(scrfd, astronaut: np.ndarray) -> None:
    faces = scrfd.detect(astronaut)
    qa = QualityAssessor()
    sharp = qa.assess(astronaut, faces)
    blurred_img = cv2.GaussianBlur(astronaut, (0, 0), 4)
    blurred = qa.assess(blurred_img, faces)
    assert blurred.quality_parts["sharpness"][0] < 0.2 * sharp.quality_parts["sharpness"][0]
    assert blurred.quality[0] < sharp.quality[0]
    assert qa.passes(sharp).tolist() == [True]
    assert qa.passes(blurred).tolist() == [False]


@pytest.mark.parametrize("knob,value,kept", [
    ("min_face_px", 0, 3), ("min_face_px", 50, 1), ("min_score", 0.85, 2),
    ("min_frontality", 0.9, 1), ("min_sharpness", 1e9, 0), ("min_quality", 0.0, 3),
])
def test_each_gate_filters(knob: str, value: float, kept: int) -> None:
    faces = Faces(np.array([[0, 0, 60, 70], [0, 0, 40, 40], [0, 0, 30, 30]], np.float32),
                  np.array([0.9, 0.95, 0.6], np.float32), np.zeros((3, 5, 2), np.float32))
    parts = {"size": [60, 40, 30], "sharpness": [100, 100, 100],
             "frontality": [0.95, 0.5, 0.5], "detector": [0.9, 0.95, 0.6]}
    faces = faces.with_quality(np.array([0.8, 0.6, 0.4]),
                               {k: np.array(v, np.float32) for k, v in parts.items()})
    cfg = QualityConfig(min_face_px=0, min_sharpness=0, min_frontality=0, min_score=0)
    cfg = cfg.model_copy(update={knob: value})
    assert int(QualityAssessor(cfg).passes(faces).sum()) == kept


def test_passes_needs_assessment() -> None:
    with pytest.raises(ValueError, match="assess"):
        QualityAssessor().passes(Faces.empty())


def test_empty_faces_assess_to_empty() -> None:
    q = QualityAssessor().assess(np.zeros((10, 10, 3), np.uint8), Faces.empty())
    assert q.quality.shape == (0,) and QualityAssessor().passes(q).shape == (0,)


def test_config_refuses_unknown_keys() -> None:
    from pydantic import ValidationError

    with pytest.raises(ValidationError):
        QualityConfig(min_face=30)  # type: ignore[call-arg]


@pytest.mark.parametrize("cfg", [
    QualityConfig(),
    QualityConfig(min_face_px=48, min_frontality=0.6),
    QualityConfig(min_quality=0.5, min_score=0.0),
    QualityConfig(min_face_px=10_000),  # nobody passes: nothing is aligned
])
def test_gating_before_alignment_passes_the_same_faces(scrfd, players: np.ndarray,
                                                       cfg: QualityConfig) -> None:
    from openlfr.vision.align import align

    faces = scrfd.detect(players, min_score=0.3)
    qa = QualityAssessor(cfg)
    full = qa.assess(players, faces)
    gated, crops = qa.assess_gated(players, faces)
    np.testing.assert_array_equal(qa.passes(gated), qa.passes(full))
    ok = qa.may_pass(faces)
    assert (qa.passes(full) <= ok).all()  # may_pass never drops a face that passes
    np.testing.assert_array_equal(crops[ok], align(players, faces.landmarks[ok]))
    assert not crops[~ok].any() and np.isnan(gated.quality_parts["sharpness"][~ok]).all()
    np.testing.assert_allclose(gated.quality[ok], full.quality[ok], rtol=1e-6)
    assert (gated.quality[~ok] == 0).all()
    for part in ("size", "frontality", "detector"):
        np.testing.assert_array_equal(gated.quality_parts[part], full.quality_parts[part])


def test_gating_before_alignment_with_no_faces() -> None:
    gated, crops = QualityAssessor().assess_gated(np.zeros((10, 10, 3), np.uint8),
                                                  Faces.empty())
    assert crops.shape == (0, 112, 112, 3) and gated.quality.shape == (0,)
