"""Drawing faces on frames: boxes, landmarks, labels. (The live view's pixelation is
:func:`openlfr.pipeline.privacy.redact`.)"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from openlfr.faces import Faces

__all__ = ["draw_faces"]

_GREEN = (60, 200, 60)
_AMBER = (0, 170, 255)
_LANDMARK_COLOURS = [(255, 80, 80), (80, 80, 255), (80, 255, 80), (255, 80, 255), (80, 255, 255)]


def draw_faces(image: np.ndarray, faces: Faces, passed: np.ndarray | None = None,
               labels: Sequence[str] | None = None) -> np.ndarray:
    """Copy of ``image`` with each face's box (green: passed the quality gate, amber: not),
    its five landmarks and a label (default: detector score and quality)."""
    import cv2

    out = image.copy()
    thick = max(1, round(max(image.shape[:2]) / 600))
    for i in range(len(faces)):
        x1, y1, x2, y2 = (int(round(v)) for v in faces.boxes[i])
        ok = True if passed is None else bool(passed[i])
        colour = _GREEN if ok else _AMBER
        cv2.rectangle(out, (x1, y1), (x2, y2), colour, thick)
        for k, (x, y) in enumerate(faces.landmarks[i]):
            cv2.circle(out, (int(round(x)), int(round(y))), thick + 1, _LANDMARK_COLOURS[k], -1)
        if labels is not None:
            text = labels[i]
        else:
            text = f"{faces.scores[i]:.2f}"
            if faces.quality is not None:
                text += f" q{faces.quality[i]:.2f}"
        scale = 0.4 * thick
        (tw, th), _ = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, scale, 1)
        ty = max(y1 - 4, th + 2)
        cv2.rectangle(out, (x1, ty - th - 3), (x1 + tw + 2, ty + 2), colour, -1)
        cv2.putText(out, text, (x1 + 1, ty), cv2.FONT_HERSHEY_SIMPLEX, scale, (0, 0, 0), 1,
                    cv2.LINE_AA)
    return out
