"""Live sources that decode every frame but convert to BGR only the frames handed out
(the mixin of :class:`openlfr.pipeline.sources.Source` that holds that part of its decoder
and consumer sides).

A live source keeps one frame for its consumer: ``_latest`` (converted) or ``_pending``
(decoded, not converted: its index, media time and decoding time), never both. The
decoder converts at once when the consumer waits or is expected to ask before the next
frame (``_wanted_soon``, from the smoothed time between its reads); a consumer that finds a
pending frame converts it itself while the decoder is between frames. ``_capture`` keeps
the reader to one thread at a time.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TYPE_CHECKING

from openlfr.faces import Frame

if TYPE_CHECKING:
    from openlfr.pipeline.readers import _Reader
    from openlfr.pipeline.sources import SourceStats

__all__ = ["ConvertOnDemand"]


class ConvertOnDemand:
    """What :class:`~openlfr.pipeline.sources.Source` sets up and this part uses."""

    _r: _Reader
    _cond: threading.Condition
    _capture: threading.Lock
    _latest: Frame | None
    _pending: tuple[int, float, float] | None
    _waiting: bool
    _returned: float | None
    _busy: float
    _clock: Callable[[], float]
    stats: SourceStats
    _publish: Callable[..., bool]

    def _convert_pending(self) -> Frame | None:
        """The pending frame, converted here while the decoder is between frames; None if
        it is not (it is decoding the next one, which it will hand out converted)."""
        if not self._capture.acquire(blocking=False):
            return None
        try:
            with self._cond:
                meta, self._pending = self._pending, None
            if meta is None:
                return None
            assert self._r.retrieve is not None
            image = self._r.retrieve()
        finally:
            self._capture.release()
        if image is None:
            self.stats.dropped += 1  # decoded, but it could not be converted
            return None
        return Frame(index=meta[0], timestamp=meta[1], image=image, decoded_at=meta[2])

    def _wanted_soon(self, now: float) -> bool:
        """Will the consumer ask before the next frame comes? (Then convert this one.)"""
        if self._waiting or self._returned is None:
            return True
        return self._returned + self._busy <= now + 1.0 / (self.stats.fps or 25.0)

    def _decode_lazily(self, index: int, media_t: float | None, t0: float) -> bool:
        """Decode the next frame; convert and publish it if it is wanted soon, else leave it
        pending. False at the end of the input (or a failed read)."""
        with self._capture:
            if not self._r.skip():  # type: ignore[misc]
                return False
            now = self._clock()
            meta = (index, now - t0 if media_t is None else media_t, now)
            if self._wanted_soon(now):
                image = self._r.retrieve()  # type: ignore[misc]
                if image is None:  # a frame that cannot be converted: as if none came
                    return False
                self.stats.decoded += 1
                return self._publish(Frame(index=meta[0], timestamp=meta[1], image=image,
                                           decoded_at=now), counted=True)
            with self._cond:
                self.stats.decoded += 1
                self.stats.dropped += (self._latest is not None) + (self._pending is not None)
                self._latest, self._pending = None, meta
                self._cond.notify_all()
            return True

    def _settle_pending(self) -> None:
        """Before the capture closes: the pending frame counts as dropped. The read that
        ended the input (a failed grab at the end of a file or of a lost stream, or a frame
        that could not be converted) has let go of it, or holds another frame's image."""
        with self._cond:
            if self._pending is not None:
                self._pending = None
                self.stats.dropped += 1
