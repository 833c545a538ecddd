"""5-point face alignment: a similarity transform to the ArcFace 112x112 template.

The transform (rotation, uniform scale, translation) is the least-squares fit of
Umeyama (1991), "Least-squares estimation of transformation parameters between two point
patterns", solved in closed form with an SVD. Reflections are excluded.
"""

from __future__ import annotations

import numpy as np

__all__ = ["ARCFACE_TEMPLATE", "CROP_SIZE", "umeyama", "estimate_transforms", "align"]

CROP_SIZE = 112

#: Where the five landmarks (left eye, right eye, nose, left and right mouth corner, as
#: seen in the image) sit in a 112x112 ArcFace crop.
ARCFACE_TEMPLATE = np.array([
    [38.2946, 51.6963],
    [73.5318, 51.5014],
    [56.0252, 71.7366],
    [41.5493, 92.3655],
    [70.7299, 92.2041],
], dtype=np.float64)


def umeyama(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """2x3 similarity matrix M minimising sum ||M @ [src; 1] - dst||^2 (no reflection).

    src, dst: (k, 2) corresponding points, k >= 2. Batched form: (n, k, 2) -> (n, 2, 3).
    """
    src = np.asarray(src, dtype=np.float64)
    dst = np.asarray(dst, dtype=np.float64)
    if (src.shape != dst.shape or src.ndim not in (2, 3) or src.shape[-1] != 2
            or src.shape[-2] < 2):
        raise ValueError(f"umeyama: expected two (k, 2) arrays with k >= 2, "
                         f"got {src.shape} and {dst.shape}")
    single = src.ndim == 2
    if single:
        src, dst = src[None], dst[None]
    k = src.shape[1]
    mu_s, mu_d = src.mean(axis=1, keepdims=True), dst.mean(axis=1, keepdims=True)
    s, d = src - mu_s, dst - mu_d
    var_s = (s * s).sum(axis=(1, 2)) / k
    cov = np.einsum("nki,nkj->nij", d, s) / k
    u, sig, vt = np.linalg.svd(cov)
    sign = np.ones((len(src), 2))
    sign[np.linalg.det(u) * np.linalg.det(vt) < 0, 1] = -1.0
    rot = u @ (sign[:, :, None] * vt)
    scale = np.where(var_s > 0, (sig * sign).sum(axis=1) / np.where(var_s > 0, var_s, 1), 1.0)
    m = np.empty((len(src), 2, 3))
    m[:, :, :2] = scale[:, None, None] * rot
    m[:, :, 2] = mu_d[:, 0] - np.einsum("nij,nj->ni", m[:, :, :2], mu_s[:, 0])
    return m[0] if single else m


def estimate_transforms(landmarks: np.ndarray, size: int = CROP_SIZE) -> np.ndarray:
    """(n, 2, 3) transforms mapping each face's (5, 2) landmarks onto the template.

    ``size`` other than 112 scales the template (e.g. 224 for a larger crop).
    """
    lms = np.asarray(landmarks, dtype=np.float64).reshape(-1, 5, 2)
    if len(lms) == 0:
        return np.zeros((0, 2, 3))
    template = np.broadcast_to(ARCFACE_TEMPLATE * (size / CROP_SIZE), lms.shape)
    return umeyama(lms, template)


def align(image: np.ndarray, landmarks: np.ndarray, size: int = CROP_SIZE) -> np.ndarray:
    """Aligned crops, (n, size, size, 3) uint8, same channel order as ``image``."""
    import cv2

    mats = estimate_transforms(landmarks, size)
    out = np.empty((len(mats), size, size, image.shape[2] if image.ndim == 3 else 1),
                   dtype=np.uint8)
    for i, m in enumerate(mats):
        crop = cv2.warpAffine(image, m, (size, size), flags=cv2.INTER_LINEAR,
                              borderMode=cv2.BORDER_CONSTANT, borderValue=0)
        out[i] = crop.reshape(size, size, -1)
    return out if image.ndim == 3 else out[..., 0]
