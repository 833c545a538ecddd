"""Video sources: file, RTSP/HTTP stream, webcam, image folder.

Every source decodes in its own thread and hands frames to one consumer through
:meth:`Source.read`. Two delivery modes:

* ``live``: the decoder keeps only the **latest** frame. A frame the consumer did not take
  before the next one arrived is dropped and counted (``dropped``): a slow analysis stage
  skips frames instead of falling behind real time. Files are played at their own frame
  rate in this mode, as a camera would deliver them. Every frame is decoded (a video's
  frames depend on each other), but only one the consumer will take is converted to BGR
  (a quarter of the decoding CPU of a 1080p frame): the decoder converts a frame at once
  when the consumer waits or is expected to ask before the next frame (from how long it
  took between its reads); otherwise it leaves the frame pending, and a consumer that asks
  converts the pending frame itself (when the decoder is between frames) or takes the
  next one.
* ``every_frame``: every frame is delivered, as fast as the consumer takes it, through a
  small bounded queue (the decoder waits; nothing is dropped).

Streams (RTSP/HTTP through OpenCV's FFmpeg backend) and webcams reconnect with exponential
backoff when they fail, and log each attempt. A file ends cleanly: :meth:`read` returns
``None``. A source that cannot be opened at all raises :class:`SourceError` from
:meth:`Source.start` with the reason.

Configuration is a tagged union on ``type`` (:data:`SourceConfig`); :func:`source_config`
turns a command-line string (path, folder, URL or webcam index) into one.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from openlfr.errors import SourceError
from openlfr.faces import Frame
from openlfr.pipeline.convert import ConvertOnDemand
from openlfr.pipeline.readers import _capture_reader, _file_reader, _folder_reader, _Reader
from openlfr.pipeline.source_config import (
    FileSourceConfig,
    FolderSourceConfig,
    Mode,
    SourceConfig,
    StreamSourceConfig,
    WebcamSourceConfig,
    source_config,
)
from openlfr.urls import redact_url
from openlfr.vision.image import IMAGE_SUFFIXES

__all__ = [
    "Mode", "Frame", "SourceStats", "Source",
    "FileSourceConfig", "StreamSourceConfig", "WebcamSourceConfig", "FolderSourceConfig",
    "SourceConfig", "source_config", "open_source", "IMAGE_SUFFIXES",
]

log = logging.getLogger(__name__)


@dataclass
class SourceStats:
    decoded: int = 0
    delivered: int = 0
    dropped: int = 0
    reconnects: int = 0
    failures: int = 0
    fps: float = 0.0


_END = object()


class Source(ConvertOnDemand):
    """A started source hands frames to one consumer. Use as a context manager or
    call :meth:`start` and :meth:`stop`.

    ``clock``/``sleep`` are injectable for tests of pacing and backoff.

    ``start_frame`` (recorded footage in every-frame mode only: a resumed clip) passes over the
    frames before it, decoded but never handed out, so the first frame read has that index
    and media time; a live source, or a looping clip, starts from now whatever it says.
    """

    def __init__(self, reader: _Reader, mode: Mode = Mode.live, *,
                 sleep: Callable[[float], None] = time.sleep,
                 clock: Callable[[], float] = time.monotonic, start_frame: int = 0) -> None:
        if start_frame < 0:
            raise ValueError("start_frame must be >= 0")
        self._r = reader
        self.mode = Mode(mode)
        self.start_frame = (int(start_frame) if self.mode is Mode.every_frame
                            and not reader.live_input and not reader.loop else 0)
        self.name = reader.name
        self.stats = SourceStats()
        self._sleep = sleep
        self._clock = clock
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._cond = threading.Condition()
        self._latest: Frame | None = None
        self._ended = False
        self._consumed_end = False
        self._queue: queue.Queue[object] = queue.Queue(maxsize=4)
        self.error: SourceError | None = None
        # live mode, readers that can decode without converting: the last frame decoded and
        # not converted (index, media time, decoded at), the lock that keeps the capture to
        # one thread at a time, and what the decoder knows of the consumer's pace
        self._lazy = self.mode is Mode.live and reader.skip is not None \
            and reader.retrieve is not None
        self._pending: tuple[int, float, float] | None = None
        self._capture = threading.Lock()
        self._waiting = False
        self._returned: float | None = None  # when read() last handed out a frame
        self._busy = 0.0  # smoothed time between a frame handed out and the next read()

    # -- lifecycle -----------------------------------------------------------------------
    def start(self) -> Source:
        """Open the source (raises SourceError if it cannot be) and start decoding."""
        if self._thread is not None:
            return self
        self.stats.fps = self._r.open()
        self._thread = threading.Thread(target=self._run, name=f"decode:{self.name}",
                                        daemon=True)
        self._thread.start()
        return self

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        with self._cond:
            self._cond.notify_all()
        # unblock a decoder waiting on a full queue
        try:
            while True:
                self._queue.get_nowait()
        except queue.Empty:
            pass
        if self._thread is not None:
            self._thread.join(timeout)

    def __enter__(self) -> Source:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def fps(self) -> float:
        return self.stats.fps

    # -- consumer side -------------------------------------------------------------------
    def read(self, timeout: float | None = None) -> Frame | None:
        """The next frame (every_frame) or the latest one (live); ``None`` at the end.

        Raises SourceError if the source failed for good (stream gave up reconnecting),
        and TimeoutError if no frame came within ``timeout`` seconds.
        """
        if self.mode is Mode.every_frame:
            deadline = None if timeout is None else self._clock() + timeout
            while True:
                if self._consumed_end or (self._stop.is_set() and self._queue.empty()):
                    if self.error is not None:
                        raise self.error
                    return None
                try:
                    item = self._queue.get(timeout=0.2)
                    break
                except queue.Empty:
                    if deadline is not None and self._clock() > deadline:
                        raise TimeoutError(f"{self.name}: no frame within {timeout} s"
                                           ) from None
            if item is _END:
                self._consumed_end = True
                if self.error is not None:
                    raise self.error
                return None
            self.stats.delivered += 1
            return item  # type: ignore[return-value]
        asked = self._clock()
        if self._returned is not None:
            self._busy = 0.7 * self._busy + 0.3 * (asked - self._returned)
        frame = self._take_latest(None if timeout is None else asked + timeout, timeout)
        self._returned = self._clock()
        return frame

    def _take_latest(self, deadline: float | None, timeout: float | None) -> Frame | None:
        while True:
            with self._cond:
                self._waiting = True
                try:
                    while self._latest is None and self._pending is None and not self._ended:
                        remaining = None if deadline is None else deadline - self._clock()
                        if remaining is not None and remaining <= 0:
                            raise TimeoutError(f"{self.name}: no frame within {timeout} s")
                        self._cond.wait(remaining if remaining is not None else 0.5)
                finally:
                    self._waiting = False
                frame, self._latest = self._latest, None
                if frame is None and self._pending is None:
                    if self.error is not None:
                        raise self.error
                    return None
            if frame is None:
                frame = self._convert_pending()
            if frame is not None:
                self.stats.delivered += 1
                return frame
            # the decoder is busy with the next frame: it converts that one, as we wait
            with self._cond:
                self._waiting = True
                self._cond.wait(0.05)

    def __iter__(self) -> Iterator[Frame]:
        while (frame := self.read()) is not None:
            yield frame

    # -- decoder thread ------------------------------------------------------------------
    def _publish(self, frame: Frame, *, counted: bool = False) -> bool:
        if not counted:
            self.stats.decoded += 1
        if self.mode is Mode.every_frame:
            while not self._stop.is_set():
                try:
                    self._queue.put(frame, timeout=0.2)
                    return True
                except queue.Full:
                    continue
            return False
        with self._cond:
            self.stats.dropped += (self._latest is not None) + (self._pending is not None)
            self._latest, self._pending = frame, None
            self._cond.notify_all()
        return True

    def _finish(self) -> None:
        if self.mode is Mode.every_frame:
            while True:
                try:
                    self._queue.put(_END, timeout=0.2)
                    break
                except queue.Full:
                    if self._stop.is_set():
                        break
        with self._cond:
            self._ended = True
            self._cond.notify_all()

    def _run(self) -> None:
        r = self._r
        index = 0
        paced = self.mode is Mode.live and not r.live_input
        t0 = self._clock()
        media_t: float | None = 0.0
        attempts = 0
        try:
            skip = r.skip or (lambda: r.read() is not None)
            while index < self.start_frame and not self._stop.is_set():
                if not skip():
                    break  # the clip ends before its resume point: nothing is left
                index += 1
            while not self._stop.is_set():
                if index < self.start_frame:
                    break
                fps = self.stats.fps or 25.0
                if self._lazy:
                    media_t = None if r.live_input else index / fps
                    if paced and media_t is not None:
                        delay = t0 + media_t - self._clock()
                        if delay > 0:
                            self._interruptible_sleep(delay)
                    image = None
                    got = self._decode_lazily(index, media_t, t0)
                else:
                    image = r.read()
                    got = image is not None
                if not got:
                    if self._lazy:
                        self._settle_pending()
                    if r.reconnect is None:
                        if r.loop and self.mode is Mode.live and index > 0:
                            r.close()
                            r.open()
                            continue
                        break  # a file or folder ended
                    self.stats.failures += 1
                    r.close()
                    initial, longest, max_attempts = r.reconnect
                    while not self._stop.is_set():
                        if max_attempts is not None and attempts >= max_attempts:
                            self.error = SourceError(
                                f"{self.name}: stream lost and {attempts} reconnection "
                                f"attempts failed; giving up")
                            log.error("%s", self.error)
                            return
                        wait = min(longest, initial * (2 ** attempts))
                        attempts += 1
                        log.warning("%s: stream lost; reconnecting in %.1f s (attempt %d)",
                                    self.name, wait, attempts)
                        self._interruptible_sleep(wait)
                        if self._stop.is_set():
                            return
                        try:
                            fps = r.open()
                        except SourceError as exc:
                            log.warning("%s: reconnection attempt %d failed: %s",
                                        self.name, attempts, exc)
                            continue
                        self.stats.fps = fps or self.stats.fps
                        self.stats.reconnects += 1
                        log.warning("%s: reconnected after %d attempt(s)", self.name, attempts)
                        break
                    continue
                attempts = 0
                if image is None:  # decoded lazily: published or pending
                    index += 1
                    continue
                if r.live_input:
                    media_t = self._clock() - t0
                else:
                    media_t = index / fps
                if paced:
                    delay = t0 + media_t - self._clock()
                    if delay > 0:
                        self._interruptible_sleep(delay)
                frame = Frame(index=index, timestamp=media_t, image=image,
                              decoded_at=self._clock())
                index += 1
                if not self._publish(frame):
                    break
        except Exception as exc:  # never let the decoder die silently
            self.error = SourceError(f"{self.name}: decoding failed: {exc}")
            log.error("%s", self.error)
        finally:
            r.close()
            self._finish()

    def _interruptible_sleep(self, seconds: float) -> None:
        if self._sleep is time.sleep:
            self._stop.wait(seconds)
        else:
            self._sleep(seconds)


def open_source(config: SourceConfig | str | dict, mode: Mode | str = Mode.live, **kw: object
                ) -> Source:
    """A :class:`Source` for ``config`` (not yet started; call ``start()``)."""
    cfg = source_config(config) if not isinstance(
        config, FileSourceConfig | StreamSourceConfig | WebcamSourceConfig | FolderSourceConfig
    ) else config
    mode = Mode(mode)
    if isinstance(cfg, FileSourceConfig):
        reader = _file_reader(cfg, mode)
    elif isinstance(cfg, FolderSourceConfig):
        reader = _folder_reader(cfg)
    elif isinstance(cfg, StreamSourceConfig):
        reader = _capture_reader(redact_url(cfg.url), cfg.url, live_input=True,  # logged
                                 reconnect=(cfg.reconnect_initial_s, cfg.reconnect_max_s,
                                            cfg.max_reconnects),
                                 fps_default=cfg.fps, what="stream",
                                 timeouts=(cfg.open_timeout_s, cfg.read_timeout_s),
                                 decoder_threads=cfg.decoder_threads)
    else:
        reader = _capture_reader(f"webcam {cfg.index}", cfg.index, live_input=True,
                                 reconnect=(cfg.reconnect_initial_s, cfg.reconnect_max_s,
                                            cfg.max_reconnects), what="webcam")
    return Source(reader, mode, **kw)  # type: ignore[arg-type]
