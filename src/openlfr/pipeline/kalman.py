"""A constant-velocity Kalman filter for face boxes, batched over tracks.

State per track: box centre, width and height and their per-frame velocities,
``(cx, cy, w, h, vcx, vcy, vw, vh)``; a measurement is a detected box ``(cx, cy, w, h)``.
Every call takes and returns arrays for ``n`` tracks at once (means ``(n, 8)``, covariances
``(n, 8, 8)``), so the cost per frame is a handful of numpy calls whatever the crowd size.

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


def to_cxcywh(boxes: np.ndarray) -> np.ndarray:
    """``(n, 4)`` x1 y1 x2 y2 -> cx cy w h (float64)."""
    b = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    return np.stack([(b[:, 0] + b[:, 2]) / 2, (b[:, 1] + b[:, 3]) / 2,
                     b[:, 2] - b[:, 0], b[:, 3] - b[:, 1]], axis=1)


def to_xyxy(c: np.ndarray) -> np.ndarray:
    """``(n, >=4)`` cx cy w h ... -> x1 y1 x2 y2; sizes are clipped to at least 1 px."""
    c = np.asarray(c, dtype=np.float64).reshape(len(c), -1)
    w, h = np.maximum(c[:, 2], 1.0), np.maximum(c[:, 3], 1.0)
    return np.stack([c[:, 0] - w / 2, c[:, 1] - h / 2, c[:, 0] + w / 2, c[:, 1] + h / 2],
                    axis=1)


class BoxKalman:
    """The filter's fixed matrices and noise model; holds no per-track state."""

    def __init__(self, std_position: float = 0.05, std_velocity: float = 0.02) -> None:
        if std_position <= 0 or std_velocity <= 0:
            raise ValueError("BoxKalman: noise deviations must be positive")
        self.std_position = float(std_position)
        self.std_velocity = float(std_velocity)
        self._eye = np.eye(8)

    def _motion(self, dt: float) -> np.ndarray:
        f = self._eye.copy()
        f[:4, 4:] = np.eye(4) * dt
        return f

    def initiate(self, boxes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """State of new tracks from their first boxes ``(n, 4)`` x1 y1 x2 y2: the box as
        measured, velocity unknown (zero, with a wide uncertainty)."""
        z = to_cxcywh(boxes)
        mean = np.concatenate([z, np.zeros_like(z)], axis=1)
        h = np.maximum(z[:, 3:4], 1.0)
        std = np.concatenate([2 * self.std_position * h.repeat(4, 1),
                              10 * self.std_velocity * h.repeat(4, 1)], axis=1)
        cov = np.zeros((len(z), 8, 8))
        idx = np.arange(8)
        cov[:, idx, idx] = std ** 2
        return mean, cov

    def predict(self, mean: np.ndarray, cov: np.ndarray, dt: float = 1.0
                ) -> tuple[np.ndarray, np.ndarray]:
        """States ``dt`` frames later (process noise grows with ``dt``)."""
        if len(mean) == 0:
            return mean, cov
        f = self._motion(dt)
        h = np.maximum(mean[:, 3:4], 1.0)
        std = np.concatenate([self.std_position * h.repeat(4, 1),
                              self.std_velocity * h.repeat(4, 1)], axis=1)
        idx = np.arange(8)
        q = np.zeros_like(cov)
        q[:, idx, idx] = std ** 2 * dt
        return mean @ f.T, f @ cov @ f.T + q

    def update(self, mean: np.ndarray, cov: np.ndarray, boxes: np.ndarray
               ) -> tuple[np.ndarray, np.ndarray]:
        """States corrected by one measured box each (``(n, 4)`` x1 y1 x2 y2)."""
        if len(mean) == 0:
            return mean, cov
        z = to_cxcywh(boxes)
        h = np.maximum(mean[:, 3], 1.0)
        r = (self.std_position * h) ** 2
        s = cov[:, :4, :4] + r[:, None, None] * np.eye(4)
        gain = np.linalg.solve(s, cov[:, :4, :]).transpose(0, 2, 1)  # (n, 8, 4)
        innovation = z - mean[:, :4]
        new_mean = mean + np.einsum("nij,nj->ni", gain, innovation)
        new_cov = cov - gain @ s @ gain.transpose(0, 2, 1)
        return new_mean, new_cov
