"""The worker's frame-level image steps: the privacy-preserving preview (every face that is
not an alert blurred, see :mod:`openlfr.pipeline.privacy`), its JPEG and video outputs, and
the scene-cut check that ends every track at a new shot.

Used by :class:`openlfr.pipeline.worker.CameraWorker` from its analysis thread.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from openlfr.errors import SourceError
from openlfr.faces import Faces
from openlfr.pipeline.privacy import encode_jpeg, redact

__all__ = ["SceneCut", "render_preview", "preview_jpeg", "write_preview_video"]


class SceneCut:
    """Tells a new shot: consecutive frames whose colour histograms differ by more than
    ``threshold`` (Bhattacharyya distance). Keeps the previous frame's histogram only."""

    def __init__(self, threshold: float | None) -> None:
        self.threshold = threshold
        self._prev_hist: np.ndarray | None = None

    def is_cut(self, image: np.ndarray) -> bool:
        import cv2

        # a colour histogram needs no careful resampling: nearest is 16x cheaper on 1080p
        small = cv2.resize(image, (160, 90), interpolation=cv2.INTER_NEAREST)
        hsv = cv2.cvtColor(small, cv2.COLOR_BGR2HSV)
        hist = cv2.calcHist([hsv], [0, 1], None, [30, 32], [0, 180, 0, 256])
        cv2.normalize(hist, hist)
        prev, self._prev_hist = self._prev_hist, hist
        if prev is None:
            return False
        d = cv2.compareHist(prev, hist, cv2.HISTCMP_BHATTACHARYYA)
        return bool(d > self.threshold)


def render_preview(image: np.ndarray, faces: Faces, unsure: Faces | None,
                   track: Callable[[int], Any]) -> np.ndarray:
    """``image`` with every face blurred except those of tracks that alerted (labelled);
    ``unsure`` detections are blurred too. ``track`` looks a track up by id (None if gone)."""
    keep, labels = [], {}
    if faces.track_ids is not None:
        for i, tid in enumerate(faces.track_ids):
            t = track(int(tid))
            label = None if t is None else t.state.alert_label
            if label is not None:
                keep.append(i)
                labels[i] = label
    shown = redact(image, faces, keep, labels=labels)
    if unsure is not None and len(unsure):
        shown = redact(shown, unsure)
    return shown


def preview_jpeg(shown: np.ndarray, max_width: int) -> bytes:
    """The redacted frame as a JPEG, scaled down to ``max_width`` when wider."""
    import cv2

    w = shown.shape[1]
    if w > max_width:
        s = max_width / w
        shown = cv2.resize(shown, (max_width, int(round(shown.shape[0] * s))),
                           interpolation=cv2.INTER_AREA)
    return encode_jpeg(shown, 80)


def write_preview_video(path: Path, fps: float) -> tuple[Callable[[np.ndarray], None],
                                                         Callable[[], None]]:
    """An ``on_frame`` callback writing redacted frames to a video file, and its closer."""
    import cv2

    state: dict[str, Any] = {"writer": None}

    def write(image: np.ndarray) -> None:
        if state["writer"] is None:
            h, w = image.shape[:2]
            fourcc = cv2.VideoWriter_fourcc(*("mp4v" if path.suffix.lower() in (".mp4", ".m4v")
                                              else "MJPG"))
            vw = cv2.VideoWriter(str(path), fourcc, fps or 25.0, (w, h))
            if not vw.isOpened():
                raise SourceError(f"cannot write preview video {path}")
            state["writer"] = vw
        state["writer"].write(image)

    def close() -> None:
        if state["writer"] is not None:
            state["writer"].release()
            state["writer"] = None

    return write, close
