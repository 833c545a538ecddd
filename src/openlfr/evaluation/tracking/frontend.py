"""What the camera worker does around its tracker, for the tracking evaluation.

:class:`EngineFrontEnd` turns a frame into tracked faces the way
:class:`~openlfr.pipeline.worker.CameraWorker` does, with the same vision engine and the same
stages (:class:`~openlfr.pipeline.tracking.TrackStage`):

1. detect (``engine.analyse``); when the tracker has a second stage (``config.low_score``
   below the detector's threshold), detect down to that floor and hand the unsure faces to
   ``update(..., low=)``;
2. when the tracker re-joins lost tracks by appearance (``reassociate``): the quality
   gates, ``TrackStage.track`` (track ids, the faces whose track wants an embedding), the
   embeddings, and ``TrackStage.keep`` (re-join, keep the embeddings as evidence);
   any other tracker (the old IoU tracker of the benchmarks) gets ``update`` only.

Nothing here is stored: the embeddings live in the trackers' states and die with them.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from openlfr.faces import Faces, Frame
from openlfr.pipeline.tracking import TrackStage
from openlfr.vision.engine import Need, VisionEngine

__all__ = ["EngineFrontEnd"]


class EngineFrontEnd:
    """The vision engine's stages in front of a tracker, as in the camera worker.
    ``step(tracker, image, index) -> faces`` with track ids."""

    def __init__(self, engine: VisionEngine, *, reassociate: bool = True) -> None:
        self.engine = engine
        self.reassociate = reassociate
        self.embedded = 0

    def step(self, tracker: Any, image: np.ndarray, index: int) -> Faces:
        low = getattr(getattr(tracker, "config", None), "low_score", None)
        frame = self.engine.analyse(Frame(image, index=index), Need.FACES, floor=low)
        if not (self.reassociate and hasattr(tracker, "reassociate") and len(frame.analysed)):
            # the old IoU tracker has no second stage (no ``low``)
            low = {} if frame.low is None else {"low": frame.low}
            return tracker.update(frame.analysed, index, **low)
        stage = TrackStage(tracker)
        frame = stage.track(self.engine.analyse(frame, Need.QUALITY, gate=True))
        assert frame.needs is not None
        if not frame.needs.any():
            return frame.analysed
        frame = self.engine.analyse(frame, Need.EMBEDDINGS)
        self.embedded += int(frame.needs.sum())
        return stage.keep(frame).analysed
