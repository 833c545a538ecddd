"""Concrete readers behind :class:`openlfr.pipeline.sources.Source`: what a source provides
(:class:`_Reader`: open, read one image, close) for video files, streams, webcams (through
OpenCV) and image folders.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from openlfr.errors import SourceError
from openlfr.pipeline.source_config import FileSourceConfig, FolderSourceConfig, Mode
from openlfr.vision.image import IMAGE_SUFFIXES, image_files

__all__: list[str] = []

# the readers log under the sources module's name, as they did when they lived there
log = logging.getLogger("openlfr.pipeline.sources")


def _no_description() -> str:
    return ""


def _close_nothing() -> None:
    return None


@dataclass
class _Reader:
    """What a concrete source provides: open, read one image, close."""

    name: str
    open: Callable[[], float]  # returns fps (0 if unknown); raises SourceError
    read: Callable[[], np.ndarray | None]  # None: end of input or failure
    close: Callable[[], None]
    live_input: bool  # True for cameras/streams: they run in real time by themselves
    reconnect: tuple[float, float, int | None] | None = None  # initial, max, max attempts
    loop: bool = False
    describe: Callable[[], str] = field(default=_no_description)
    #: pass over one frame without handing it out (False at the end); None: read and drop
    skip: Callable[[], bool] | None = None
    #: the image of the frame ``skip`` last passed over (None: it cannot be had), so a live
    #: source decodes every frame but converts to BGR only those it hands out
    retrieve: Callable[[], np.ndarray | None] | None = None


class _FramePool:
    """The few frame buffers a capture converts into, each used again once nobody else holds
    it (the frame handed out, and every view of it, is gone).

    A live 1080p camera converts a 6 MB frame several times a second on its decoder thread
    and frees it on the analysis thread; left to malloc, freed frames stay in the decoder
    thread's arena (which held about 50 of a shared-mode camera's 112 MB, FFmpeg's own
    buffers included; the pool saves about 10 MB a camera, measured). With the pool a
    capture holds only the frames in use, plus those waiting to be used again, at most
    ``size``. Only the thread that holds the capture calls it. A frame of another
    shape (a reconnected stream at a new resolution) empties the pool; when all ``size`` are
    in use, a new frame is allocated as before and not kept.
    """

    def __init__(self, size: int = 4) -> None:
        self.size = size
        self._buffers: list[np.ndarray] = []

    def free(self) -> np.ndarray | None:
        """A buffer nobody outside the pool refers to, or None."""
        for i in range(len(self._buffers)):
            # the pool's reference and getrefcount's own argument: nothing else holds it
            if sys.getrefcount(self._buffers[i]) <= 2:
                return self._buffers[i]
        return None

    def keep(self, image: np.ndarray) -> None:
        """Remember a frame the capture made, to convert into it again later."""
        if any(b is image for b in self._buffers):
            return
        if self._buffers and self._buffers[0].shape != image.shape:
            self._buffers.clear()
        if len(self._buffers) < self.size and image.flags.writeable and image.flags.owndata:
            self._buffers.append(image)


def _capture_reader(name: str, target: str | int, *, live_input: bool,
                    reconnect: tuple[float, float, int | None] | None, loop: bool = False,
                    fps_default: float | None = None, what: str,
                    timeouts: tuple[float, float] | None = None,
                    decoder_threads: int = 0) -> _Reader:
    """``decoder_threads``: FFmpeg's decoding threads (0: its own choice)."""
    import cv2

    state: dict[str, object] = {"cap": None, "grabbed": False}
    pool = _FramePool()

    def open_() -> float:
        api = cv2.CAP_FFMPEG if isinstance(target, str) else cv2.CAP_ANY
        params = []
        if timeouts is not None:
            params += [cv2.CAP_PROP_OPEN_TIMEOUT_MSEC, int(timeouts[0] * 1000),
                       cv2.CAP_PROP_READ_TIMEOUT_MSEC, int(timeouts[1] * 1000)]
        if decoder_threads:
            params += [cv2.CAP_PROP_N_THREADS, int(decoder_threads)]
        cap = cv2.VideoCapture(target, api, params) if params else cv2.VideoCapture(target, api)
        if not cap.isOpened():
            cap.release()
            raise SourceError(f"cannot open {what} {name}: FFmpeg could not open or "
                              f"decode it (check the path/URL, the codec and access rights)")
        state["cap"] = cap
        fps = float(cap.get(cv2.CAP_PROP_FPS) or 0.0)
        if not (0 < fps < 1000):
            fps = fps_default or 0.0
        return fps

    def skip() -> bool:
        cap = state["cap"]
        state["grabbed"] = cap is not None and bool(cap.grab())  # type: ignore[attr-defined]
        return bool(state["grabbed"])

    def retrieve() -> np.ndarray | None:
        cap = state["cap"]
        # a grab that failed (the end of a file, a lost stream) has let go of the frame
        # before it too: nothing to convert (and OpenCV would log an error)
        if cap is None or not state["grabbed"]:
            return None
        buffer = pool.free()
        ok, image = (cap.retrieve() if buffer is None  # type: ignore[attr-defined]
                     else cap.retrieve(buffer))  # type: ignore[attr-defined]
        if not ok or image is None:
            return None
        pool.keep(image)
        return image

    def read() -> np.ndarray | None:  # what VideoCapture.read does
        return retrieve() if skip() else None

    def close() -> None:
        cap = state["cap"]
        if cap is not None:
            cap.release()  # type: ignore[attr-defined]
        state["cap"], state["grabbed"] = None, False

    return _Reader(name=name, open=open_, read=read, close=close, live_input=live_input,
                   reconnect=reconnect, loop=loop, skip=skip, retrieve=retrieve)


def _file_reader(cfg: FileSourceConfig, mode: Mode) -> _Reader:
    path = cfg.path
    if not path.exists():
        raise SourceError(f"video file not found: {path}")
    if not path.is_file():
        raise SourceError(f"not a video file: {path}")
    reader = _capture_reader(str(path), str(path), live_input=False, reconnect=None,
                             loop=cfg.loop and mode is Mode.live, what="video file",
                             decoder_threads=cfg.decoder_threads)
    inner_open, inner_read = reader.open, reader.read
    first: list[np.ndarray] = []  # the frame decoded by the check, handed out first
    passed = [False]  # skip has passed over that frame (retrieve hands it out)

    def open_checked() -> float:
        fps = inner_open()
        # FFmpeg opens some non-video files (or empty containers) without error: decode one
        # frame now so an unreadable file fails here, clearly, and not later as "no frames".
        image = inner_read()
        if image is None:
            reader.close()
            raise SourceError(f"cannot decode video file {path}: no frame could be read")
        first[:], passed[0] = [image], False
        return fps

    def read_first() -> np.ndarray | None:
        if first and not passed[0]:
            return first.pop()
        first.clear()
        return inner_read()

    inner_skip, inner_retrieve = reader.skip, reader.retrieve
    assert inner_skip is not None and inner_retrieve is not None

    def skip_first() -> bool:
        if first and not passed[0]:
            passed[0] = True
            return True
        first.clear()
        return inner_skip()

    def retrieve_first() -> np.ndarray | None:
        return first[0] if first else inner_retrieve()

    reader.open, reader.read = open_checked, read_first
    reader.skip, reader.retrieve = skip_first, retrieve_first
    return reader


def _folder_reader(cfg: FolderSourceConfig) -> _Reader:
    import cv2

    path = cfg.path
    if not path.is_dir():
        raise SourceError(f"image folder not found: {path}")
    files = image_files(path)
    state = {"i": 0}

    def open_() -> float:
        if not files:
            raise SourceError(f"image folder {path} holds no images "
                              f"({', '.join(IMAGE_SUFFIXES)})")
        state["i"] = 0
        return cfg.fps

    def read() -> np.ndarray | None:
        while state["i"] < len(files):
            f = files[state["i"]]
            state["i"] += 1
            image = cv2.imread(str(f), cv2.IMREAD_COLOR)
            if image is not None:
                return image
            log.warning("%s: skipping unreadable image %s", path, f.name)
        return None

    return _Reader(name=str(path), open=open_, read=read, close=_close_nothing,
                   live_input=False)  # a resumed folder reads what it skips (same indices)
