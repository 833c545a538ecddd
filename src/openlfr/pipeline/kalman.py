"""A constant-velocity Kalman filter for face boxes, batched over tracks.

State per track: box centre, width and height and their per-frame velocities,
``(cx, cy, w, h, vcx, vcy, vw, vh)``; a measurement is a detected box ``(cx, cy, w, h)``.
With this motion model and diagonal noise the four coordinates never mix, so the 8x8
covariance is four independent 2x2 blocks (position, position-velocity, velocity); they
are kept as ``(n, 3, 4)`` arrays and every step is a few element-wise numpy operations for
all ``n`` tracks at once (no matrix inverse), exactly what the full filter computes.

Noise scales with the face's height (a face twice as large moves twice as many pixels for
the same step, and its box jitters twice as much), as in SORT/DeepSORT/ByteTrack:

``std_position``  measurement and position noise per frame, as a fraction of the height:
                  higher trusts each detection less (smoother, slower to follow a turn).
``std_velocity``  how much the velocity may change per frame, as a fraction of the height:
                  higher follows accelerating motion (a camera pan easing in) sooner, at
                  the cost of noisier predictions across a gap.
"""

from __future__ import annotations

import numpy as np

__all__ = ["BoxKalman", "to_cxcywh", "to_xyxy"]

PP, PV, VV = 0, 1, 2  # rows of a covariance: var(position), cov(position, velocity), var(velocity)


def to_cxcywh(boxes: np.ndarray) -> np.ndarray:
    """``(n, 4)`` x1 y1 x2 y2 -> cx cy w h (float64)."""
    b = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    return np.concatenate([(b[:, :2] + b[:, 2:]) / 2, b[:, 2:] - b[:, :2]], axis=1)


def to_xyxy(c: np.ndarray) -> np.ndarray:
    """``(n, >=4)`` cx cy w h ... -> x1 y1 x2 y2; sizes are clipped to at least 1 px."""
    c = np.atleast_2d(np.asarray(c, dtype=np.float64))
    half = np.maximum(c[:, 2:4], 1.0) / 2
    return np.concatenate([c[:, :2] - half, c[:, :2] + half], axis=1)


class BoxKalman:
    """The filter's noise model; holds no per-track state. Means are ``(n, 8)``,
    covariances ``(n, 3, 4)`` (see the module docstring)."""

    def __init__(self, std_position: float = 0.05, std_velocity: float = 0.02) -> None:
        if std_position <= 0 or std_velocity <= 0:
            raise ValueError("BoxKalman: noise deviations must be positive")
        self.std_position = float(std_position)
        self.std_velocity = float(std_velocity)

    def initiate(self, boxes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """State of new tracks from their first boxes ``(n, 4)`` x1 y1 x2 y2: the box as
        measured, velocity unknown (zero, with a wide uncertainty)."""
        z = to_cxcywh(boxes)
        mean = np.concatenate([z, np.zeros_like(z)], axis=1)
        h2 = np.maximum(z[:, 3:4], 1.0) ** 2
        cov = np.zeros((len(z), 3, 4))
        cov[:, PP] = (2 * self.std_position) ** 2 * h2
        cov[:, VV] = (10 * self.std_velocity) ** 2 * h2
        return mean, cov

    def predict(self, mean: np.ndarray, cov: np.ndarray, dt: float = 1.0
                ) -> tuple[np.ndarray, np.ndarray]:
        """States ``dt`` frames later (process noise grows with ``dt``)."""
        if len(mean) == 0:
            return mean, cov
        h2 = np.maximum(mean[:, 3:4], 1.0) ** 2
        new_mean = mean.copy()
        new_mean[:, :4] += dt * mean[:, 4:]
        pp, pv, vv = cov[:, PP], cov[:, PV], cov[:, VV]
        new_cov = np.empty_like(cov)
        new_cov[:, PP] = pp + 2 * dt * pv + dt * dt * vv + self.std_position ** 2 * h2 * dt
        new_cov[:, PV] = pv + dt * vv
        new_cov[:, VV] = vv + self.std_velocity ** 2 * h2 * dt
        return new_mean, new_cov

    def update(self, mean: np.ndarray, cov: np.ndarray, boxes: np.ndarray
               ) -> tuple[np.ndarray, np.ndarray]:
        """States corrected by one measured box each (``(n, 4)`` x1 y1 x2 y2)."""
        if len(mean) == 0:
            return mean, cov
        r = self.std_position ** 2 * np.maximum(mean[:, 3:4], 1.0) ** 2
        pp, pv, vv = cov[:, PP], cov[:, PV], cov[:, VV]
        s = pp + r
        k_pos, k_vel = pp / s, pv / s
        innovation = to_cxcywh(boxes) - mean[:, :4]
        new_mean = np.concatenate([mean[:, :4] + k_pos * innovation,
                                   mean[:, 4:] + k_vel * innovation], axis=1)
        new_cov = np.stack([(1 - k_pos) * pp, (1 - k_pos) * pv, vv - k_vel * pv], axis=1)
        return new_mean, new_cov
