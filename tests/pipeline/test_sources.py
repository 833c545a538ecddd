"""Video sources: files, folders, HTTP streams with reconnection, errors."""

from __future__ import annotations

import logging
import threading

import cv2
import numpy as np
import pytest

from openlfr.errors import ConfigError, SourceError
from openlfr.pipeline.sources import (
    FileSourceConfig,
    FolderSourceConfig,
    Mode,
    StreamSourceConfig,
    WebcamSourceConfig,
    open_source,
    source_config,
)
from openlfr.pipeline.workerconfig import WorkerConfig

from ._fakes import mjpeg_camera, write_video


def _frames(n: int, w: int = 64, h: int = 48) -> list[np.ndarray]:
    return [np.full((h, w, 3), (i * 10) % 255, np.uint8) for i in range(n)]


@pytest.mark.parametrize("spec, expected", [
    ("rtsp://cam.local/stream", StreamSourceConfig),
    ("http://127.0.0.1:8080/x.mjpg", StreamSourceConfig),
    ("0", WebcamSourceConfig),
    ("clip.mp4", FileSourceConfig),
    ({"type": "folder", "path": "."}, FolderSourceConfig),
])
def test_source_config_from_string_or_dict(spec, expected):
    assert isinstance(source_config(spec), expected)


@pytest.mark.parametrize("spec, path, loop", [
    ("file:///data/demo%20cam.mp4?loop=1", "/data/demo cam.mp4", True),
    ("file:///data/clip.mp4", "/data/clip.mp4", False),
    ("file:///data/clip.mp4?loop=false", "/data/clip.mp4", False),
])
def test_file_url_with_loop_option(spec, path, loop):
    cfg = source_config(spec)
    assert isinstance(cfg, FileSourceConfig)
    assert (str(cfg.path), cfg.loop) == (path, loop)


def test_file_url_with_unknown_option_is_refused():
    with pytest.raises(ConfigError, match="unknown option.*speed"):
        source_config("file:///data/clip.mp4?speed=2")


@pytest.mark.parametrize("bad, where", [
    ({"type": "file", "path": "x.mp4", "fps": 3}, "file.fps"),
    ({"type": "stream", "url": "rtsp://x", "reconnect_max_s": -1}, "stream.reconnect_max_s"),
    ({"type": "ftp", "path": "x"}, "does not match any of the expected tags"),
])
def test_bad_source_config_is_a_clear_config_error(bad, where):
    with pytest.raises(ConfigError, match="invalid source config") as exc:
        source_config(bad)
    assert where in str(exc.value)


def test_file_evaluation_mode_delivers_every_frame_then_ends(tmp_path):
    path = tmp_path / "clip.avi"
    write_video(path, _frames(30))
    with open_source(FileSourceConfig(path=path), Mode.every_frame) as src:
        frames = list(src)
    assert [f.index for f in frames] == list(range(30))
    assert src.stats.dropped == 0 and src.stats.decoded == 30
    assert frames[1].timestamp == pytest.approx(1 / 25)
    assert src.read() is None  # stays ended


class _VirtualTime:
    """A clock that moves only when the decoder sleeps, and a consumer that reads at 20
    frames/s of that time: the decoder's pacing and the drops are then exact."""

    def __init__(self, consumer_fps: float) -> None:
        self.now = 0.0
        self.tick = 1 / consumer_fps
        self.next_read = 0.0
        self.source = None
        self.got: list[int] = []

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        # called by the decoder before each frame after the first, with the previous frame
        # published or pending and not yet read: the consumer takes it if its read time has
        # come
        self.now += seconds
        if self.now >= self.next_read - 1e-9:
            self.got.append(self.source.read().index)
            self.next_read += self.tick


def test_file_live_mode_plays_at_its_frame_rate_and_counts_drops(tmp_path):
    path = tmp_path / "clip.avi"
    write_video(path, _frames(20), fps=50.0)  # 0.4 s of video
    vt = _VirtualTime(consumer_fps=20)  # a slow analysis stage: 20 fps against 50 fps
    src = vt.source = open_source(FileSourceConfig(path=path), Mode.live, clock=vt.clock,
                                  sleep=vt.sleep)
    converted: list[int] = []  # frames converted to BGR (by the decoder or the consumer)
    retrieve = src._r.retrieve
    assert retrieve is not None

    def counted() -> np.ndarray | None:
        converted.append(1)
        return retrieve()

    src._r.retrieve = counted
    decoded_at: list[float] = []
    with src:
        for decoder in [t for t in threading.enumerate() if t.name == f"decode:{src.name}"]:
            decoder.join(30)  # the clip is decoded; only the consumer in vt.sleep has read
        while (f := src.read()) is not None:  # what the decoder left: the latest frame
            vt.got.append(f.index)
            decoded_at.append(f.decoded_at)
    # each frame waited for its own media time before it was decoded; so did the end of
    # the clip, found when a 21st frame would have come
    assert vt.now == pytest.approx(20 / 50)
    assert decoded_at == []  # the consumer took the last frame as the decoder waited
    assert src.stats.dropped > 0
    assert len(vt.got) + src.stats.dropped == 20
    assert vt.got == sorted(vt.got) and vt.got[-1] == 19
    assert vt.got == [0, 2, 4, 7, 9, 12, 14, 17, 19]  # one in 2.5, the others dropped
    # every frame decoded, but not every one converted: those expected to be taken soon
    assert src.stats.decoded == 20 and len(vt.got) <= len(converted) < 20


def test_image_folder_source_skips_unreadable_files(tmp_path, caplog):
    for i, f in enumerate(_frames(3)):
        cv2.imwrite(str(tmp_path / f"{i:03d}.jpg"), f)
    (tmp_path / "001b.jpg").write_bytes(b"not an image")
    with caplog.at_level(logging.WARNING), \
            open_source(FolderSourceConfig(path=tmp_path, fps=10), Mode.every_frame) as src:
        frames = list(src)
    assert len(frames) == 3
    assert "001b.jpg" in caplog.text


@pytest.mark.parametrize("make, message", [
    (lambda p: FileSourceConfig(path=p / "missing.mp4"), "not found"),
    (lambda p: (p / "bad.mp4").write_bytes(b"\0" * 1000) and FileSourceConfig(path=p / "bad.mp4"),
     "cannot"),
    (lambda p: FolderSourceConfig(path=p / "nowhere"), "not found"),
    (lambda p: FolderSourceConfig(path=p), "no images"),
])
def test_unreadable_sources_raise_clear_errors(tmp_path, make, message):
    with pytest.raises(SourceError, match=message):
        open_source(make(tmp_path), Mode.every_frame).start()


def test_stream_that_cannot_be_opened_raises_source_error():
    with mjpeg_camera(connections_served=0) as cam:
        src = open_source(StreamSourceConfig(url=cam["url"]), Mode.live)
        with pytest.raises(SourceError, match="cannot open stream"):
            src.start()


def test_broken_stream_reconnects_with_backoff_then_gives_up(caplog):
    with mjpeg_camera(frames_per_connection=8, connections_served=2) as cam, \
            caplog.at_level(logging.WARNING, logger="openlfr.pipeline.sources"):
        cfg = StreamSourceConfig(url=cam["url"], reconnect_initial_s=0.05,
                                 reconnect_max_s=0.2, max_reconnects=2)
        src = open_source(cfg, Mode.every_frame).start()
        got = 0
        with pytest.raises(SourceError, match="giving up"):
            while src.read(timeout=10) is not None:
                got += 1
        src.stop()
    assert src.stats.reconnects == 1  # second connection worked, third refused
    assert got >= 12  # frames from both connections (FFmpeg may hold back the last one)
    assert "reconnecting in" in caplog.text and "attempt 2" in caplog.text


def test_stalled_stream_counts_as_broken_and_reconnects(caplog):
    # the camera stops sending but keeps the connection open: the read timeout notices
    # (it stalls until the test ends: had the source waited for the stall to end, no frame
    # and no end would come, and read would raise TimeoutError instead of giving up)
    stall = threading.Event()
    with mjpeg_camera(frames_per_connection=5, connections_served=2,
                      stall_until=stall) as cam, \
            caplog.at_level(logging.WARNING, logger="openlfr.pipeline.sources"):
        cfg = StreamSourceConfig(url=cam["url"], reconnect_initial_s=0.05,
                                 read_timeout_s=1.0, max_reconnects=1)
        src = open_source(cfg, Mode.every_frame).start()
        got = 0
        try:
            with pytest.raises(SourceError, match="giving up"):
                while src.read(timeout=15) is not None:
                    got += 1
        finally:
            src.stop()
            stall.set()
    assert src.stats.reconnects == 1 and got >= 8
    assert src.stats.failures == 2  # both stalls noticed as broken streams


def test_password_is_not_logged():
    src = open_source("rtsp://admin:secret@10.0.0.5:554/s")  # named, not opened
    assert src.name == "rtsp://admin:***@10.0.0.5:554/s"


def test_stop_does_not_hang_when_consumer_stops_reading(tmp_path):
    path = tmp_path / "clip.avi"
    write_video(path, _frames(50))
    src = open_source(FileSourceConfig(path=path), Mode.every_frame).start()
    src.read(timeout=5)  # the decoder is now blocked on the full queue
    src.stop()
    assert not [t for t in threading.enumerate() if t.name == f"decode:{src.name}"]


def test_image_folders_take_every_format_opencv_reads(tmp_path):
    """One shared list of suffixes (``vision.image.IMAGE_SUFFIXES``) for the folder source
    and watchlist enrolment; cv2 writes a file of each kind and both read every one."""
    from openlfr.vision.image import IMAGE_SUFFIXES
    from openlfr.watchlist.enrol import folder_subjects

    person = tmp_path / "Jane_Doe"
    person.mkdir()
    colour = np.full((64, 64, 3), 120, np.uint8)
    for i, ext in enumerate(IMAGE_SUFFIXES):
        img = colour[:, :, 0] if ext in (".pbm", ".pgm", ".pxm") else colour
        if ext in (".hdr", ".pic", ".pfm"):
            img = img.astype(np.float32) / 255
        target = person / f"{i:02d}{ext.upper() if i % 2 else ext}"  # any case
        name = target.with_suffix(".pgm" if ext == ".pxm" else ext)  # no writer for .pxm
        assert cv2.imwrite(str(name), img), ext
        name.rename(target)
    (person / "notes.txt").write_text("not an image")
    with open_source(FolderSourceConfig(path=person, fps=10), Mode.every_frame) as src:
        frames = list(src)
    assert len(frames) == len(IMAGE_SUFFIXES) and src.stats.failures == 0
    assert all(f.image.shape == (64, 64, 3) for f in frames)
    assert len(folder_subjects(tmp_path)["Jane_Doe"]) == len(IMAGE_SUFFIXES)


def test_old_spelling_evaluation_is_read_as_every_frame(tmp_path):
    """``evaluation`` was the mode's name before ``every_frame``; configs keep working."""
    assert Mode("evaluation") is Mode.every_frame
    cfg = WorkerConfig.model_validate({"camera_id": "c", "threshold": 0.5, "mode": "evaluation"})
    assert cfg.mode is Mode.every_frame and cfg.mode.value == "every_frame"
    for i in range(3):
        cv2.imwrite(str(tmp_path / f"{i}.png"), _frames(1)[0])
    with open_source(FolderSourceConfig(path=tmp_path, fps=10), "evaluation") as src:
        assert src.mode is Mode.every_frame
    with pytest.raises(ValueError):
        Mode("every-frame")


@pytest.mark.parametrize("threads", [1, 2])
def test_decoder_threads_reach_ffmpeg(tmp_path, monkeypatch, threads):
    path = tmp_path / "clip.mp4"  # MPEG-4 part 2: a codec FFmpeg decodes on several threads
    out = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 25.0, (64, 48))
    for frame in _frames(5):
        out.write(frame)
    out.release()
    opened = []
    real = cv2.VideoCapture

    def capture(*args):
        cap = real(*args)
        opened.append(cap.get(cv2.CAP_PROP_N_THREADS))  # as FFmpeg opened it
        return cap

    monkeypatch.setattr(cv2, "VideoCapture", capture)
    with open_source(FileSourceConfig(path=path, decoder_threads=threads),
                     Mode.every_frame) as src:
        assert len(list(src)) == 5
    assert opened and set(opened) == {threads}


def test_decoder_threads_default_to_one_and_are_bounded():
    assert FileSourceConfig(path="x.mp4").decoder_threads == 1
    assert StreamSourceConfig(url="rtsp://x").decoder_threads == 1
    with pytest.raises(ConfigError, match="stream.decoder_threads"):
        source_config({"type": "stream", "url": "rtsp://x", "decoder_threads": -1})
