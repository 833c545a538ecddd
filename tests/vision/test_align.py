"""Alignment geometry: Umeyama similarity fit and the 112x112 ArcFace template."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from openlfr.vision.align import ARCFACE_TEMPLATE, align, estimate_transforms, umeyama


def _similarity(angle: float, scale: float, tx: float, ty: float) -> np.ndarray:
    c, s = np.cos(angle) * scale, np.sin(angle) * scale
    return np.array([[c, -s, tx], [s, c, ty]])


def _apply(m: np.ndarray, pts: np.ndarray) -> np.ndarray:
    return pts @ m[:, :2].T + m[:, 2]


@settings(max_examples=200, deadline=None)
@given(angle=st.floats(-np.pi, np.pi), scale=st.floats(0.05, 20.0),
       tx=st.floats(-2000, 2000), ty=st.floats(-2000, 2000))
def test_known_similarity_is_recovered(angle: float, scale: float, tx: float, ty: float) -> None:
    m = _similarity(angle, scale, tx, ty)
    src = ARCFACE_TEMPLATE
    dst = _apply(m, src)
    got = umeyama(src, dst)
    np.testing.assert_allclose(got, m, rtol=1e-6, atol=1e-6 * max(1.0, abs(tx), abs(ty)))


@settings(max_examples=100, deadline=None)
@given(angle=st.floats(-np.pi, np.pi), scale=st.floats(0.1, 10.0),
       tx=st.floats(-500, 500), ty=st.floats(-500, 500))
def test_face_landmarks_map_onto_the_template(angle: float, scale: float, tx: float,
                                              ty: float) -> None:
    """Landmarks that are a similarity image of the template are mapped back exactly."""
    face = _apply(_similarity(angle, scale, tx, ty), ARCFACE_TEMPLATE)
    m = estimate_transforms(face[None])[0]
    np.testing.assert_allclose(_apply(m, face), ARCFACE_TEMPLATE, atol=1e-6)


def test_batched_fit_equals_one_by_one() -> None:
    rng = np.random.default_rng(3)
    pts = rng.uniform(0, 500, (20, 5, 2))
    batched = estimate_transforms(pts)
    single = np.stack([umeyama(p, ARCFACE_TEMPLATE) for p in pts])
    np.testing.assert_allclose(batched, single, atol=1e-9)


def test_template_maps_to_itself() -> None:
    m = estimate_transforms(ARCFACE_TEMPLATE[None])[0]
    np.testing.assert_allclose(m, [[1, 0, 0], [0, 1, 0]], atol=1e-9)


def test_noisy_points_give_least_squares_fit_without_reflection() -> None:
    rng = np.random.default_rng(0)
    m = _similarity(0.3, 2.0, 10, -5)
    dst = _apply(m, ARCFACE_TEMPLATE) + rng.normal(0, 0.5, (5, 2))
    got = umeyama(ARCFACE_TEMPLATE, dst)
    assert np.linalg.det(got[:, :2]) > 0
    assert np.abs(got - m).max() < 2.0
    mirrored = ARCFACE_TEMPLATE * [-1, 1]  # a reflection must not be fitted as one
    assert np.linalg.det(umeyama(ARCFACE_TEMPLATE, mirrored)[:, :2]) > 0


def test_align_warps_pixels_to_the_template() -> None:
    """A dot drawn at each landmark of a scaled, rotated face lands on the template point."""
    import cv2

    m = _similarity(0.4, 3.0, 150, 40)
    face = _apply(m, ARCFACE_TEMPLATE)
    image = np.zeros((600, 600, 3), np.uint8)
    cv2.circle(image, tuple(int(round(v)) for v in face[2]), 6, (255, 255, 255), -1)  # nose
    crop = align(image, face[None])
    assert crop.shape == (1, 112, 112, 3) and crop.dtype == np.uint8
    ys, xs = np.nonzero(crop[0, :, :, 0] > 128)
    assert abs(xs.mean() - ARCFACE_TEMPLATE[2, 0]) < 1.0
    assert abs(ys.mean() - ARCFACE_TEMPLATE[2, 1]) < 1.0


def test_align_of_no_faces_is_empty() -> None:
    out = align(np.zeros((10, 10, 3), np.uint8), np.zeros((0, 5, 2)))
    assert out.shape == (0, 112, 112, 3)


def test_umeyama_rejects_bad_shapes() -> None:
    with pytest.raises(ValueError, match="expected two"):
        umeyama(np.zeros((5, 2)), np.zeros((4, 2)))
