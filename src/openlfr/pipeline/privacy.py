"""Privacy helpers for anything shown or saved from a frame.

:func:`redact` pixelates (then blurs) every face that is not an alert, strongly enough that
the face cannot be recognised: each face region (box grown by ``margin``) is reduced to about
``blocks`` cells across and blown back up, then smoothed. Alerted faces stay visible with
a labelled box, since a human must compare them with the watchlist image.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from openlfr.faces import Faces

__all__ = ["redact", "crop_face", "encode_jpeg"]


def _grown(box: np.ndarray, margin: float, w: int, h: int) -> tuple[int, int, int, int]:
    x1, y1, x2, y2 = (float(v) for v in box)
    mw, mh = (x2 - x1) * margin, (y2 - y1) * margin
    return (max(0, int(x1 - mw)), max(0, int(y1 - mh)),
            min(w, int(np.ceil(x2 + mw))), min(h, int(np.ceil(y2 + mh))))


def redact(image: np.ndarray, faces: Faces, keep: Iterable[int] = (), *,
           labels: dict[int, str] | None = None, margin: float = 0.25, blocks: int = 6
           ) -> np.ndarray:
    """A copy of ``image`` with every face pixelated except the face indices in ``keep``,
    which get a box and their label."""
    import cv2

    out = image.copy()
    h, w = out.shape[:2]
    keep = set(int(i) for i in keep)
    for i in range(len(faces)):
        if i in keep:
            continue
        x1, y1, x2, y2 = _grown(faces.boxes[i], margin, w, h)
        if x2 - x1 < 2 or y2 - y1 < 2:
            continue
        region = out[y1:y2, x1:x2]
        bw = max(1, min(blocks, region.shape[1]))
        bh = max(1, min(blocks, region.shape[0]))
        small = cv2.resize(region, (bw, bh), interpolation=cv2.INTER_AREA)
        big = cv2.resize(small, (region.shape[1], region.shape[0]),
                         interpolation=cv2.INTER_NEAREST)
        k = max(3, (min(region.shape[:2]) // 4) | 1)
        out[y1:y2, x1:x2] = cv2.GaussianBlur(big, (k, k), 0)
    for i in keep:
        x1, y1, x2, y2 = (int(v) for v in faces.boxes[i])
        cv2.rectangle(out, (x1, y1), (x2, y2), (0, 0, 255), 2)
        text = (labels or {}).get(i)
        if text:
            cv2.putText(out, text, (x1, max(12, y1 - 6)), cv2.FONT_HERSHEY_SIMPLEX, 0.5,
                        (0, 0, 255), 1, cv2.LINE_AA)
    return out


def crop_face(image: np.ndarray, box: np.ndarray, margin: float = 0.3,
              max_side: int = 256) -> np.ndarray:
    """The face with some context (for the probe image of an alert), at most ``max_side``."""
    import cv2

    h, w = image.shape[:2]
    x1, y1, x2, y2 = _grown(box, margin, w, h)
    crop = image[y1:max(y2, y1 + 1), x1:max(x2, x1 + 1)].copy()
    side = max(crop.shape[:2])
    if side > max_side:
        s = max_side / side
        crop = cv2.resize(crop, (max(1, int(crop.shape[1] * s)), max(1, int(crop.shape[0] * s))),
                          interpolation=cv2.INTER_AREA)
    return crop


def encode_jpeg(image: np.ndarray, quality: int = 90) -> bytes:
    import cv2

    ok, buf = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        raise ValueError("JPEG encoding failed")
    return buf.tobytes()
