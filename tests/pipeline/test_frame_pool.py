"""Frame buffers a capture converts into again once nobody holds them
(:class:`openlfr.pipeline.readers._FramePool`): a frame handed out is never overwritten."""

from __future__ import annotations

import numpy as np

from openlfr.pipeline.readers import _file_reader, _FramePool
from openlfr.pipeline.sources import FileSourceConfig, Mode, open_source

from ._fakes import write_video


def test_a_buffer_is_free_only_when_nothing_else_holds_it():
    pool = _FramePool(size=2)
    a = np.zeros((4, 4, 3), np.uint8)
    pool.keep(a)
    assert pool.free() is None  # the test holds it
    view = a[1:]
    del a
    assert pool.free() is None  # a view of it still does
    del view
    assert pool.free() is not None


def test_the_pool_is_bounded_and_forgets_frames_of_another_shape():
    pool = _FramePool(size=2)
    for _ in range(3):
        pool.keep(np.zeros((4, 4, 3), np.uint8))
    assert len(pool._buffers) == 2
    pool.keep(np.zeros((8, 8, 3), np.uint8))  # a stream back at a new resolution
    assert [b.shape for b in pool._buffers] == [(8, 8, 3)]
    view = np.zeros((16, 8, 3), np.uint8)[::2]
    pool.keep(view)  # not its own memory: never written into
    assert len(pool._buffers) == 1


def _distinct(n: int) -> list[np.ndarray]:
    rng = np.random.default_rng(0)
    return [np.ascontiguousarray(rng.integers(0, 255, (48, 64, 3), dtype=np.uint8))
            for _ in range(n)]


def test_frames_kept_by_the_consumer_are_never_overwritten(tmp_path):
    path = tmp_path / "clip.avi"
    write_video(path, _distinct(12))
    with open_source(FileSourceConfig(path=path), Mode.every_frame) as src:
        kept = list(src)  # every frame held at once
    with open_source(FileSourceConfig(path=path), Mode.every_frame) as src:
        fresh = [f.image.copy() for f in src]  # each copied, the frame let go
    assert len(kept) == len(fresh) == 12
    assert len({f.image.ctypes.data for f in kept}) == 12
    for k, f in zip(kept, fresh, strict=True):
        assert np.array_equal(k.image, f)


def test_frames_let_go_are_converted_into_again(tmp_path):
    path = tmp_path / "clip.avi"
    write_video(path, _distinct(20))
    reader = _file_reader(FileSourceConfig(path=path), Mode.live)
    reader.open()
    places, held = set(), None
    try:
        while (image := reader.read()) is not None:
            places.add(image.ctypes.data)
            held = image  # the consumer holds one frame while the next is converted
    finally:
        reader.close()
    assert held is not None
    assert len(places) == 2


def test_nothing_is_converted_after_the_end(tmp_path, capfd):
    path = tmp_path / "clip.avi"
    write_video(path, _distinct(3))
    reader = _file_reader(FileSourceConfig(path=path), Mode.live)
    reader.open()
    try:
        assert all(reader.skip() for _ in range(3))  # type: ignore[misc]
        assert reader.retrieve() is not None  # type: ignore[misc]
        assert not reader.skip()  # type: ignore[misc]
        # the failed grab let go of the last frame: nothing, and no error from OpenCV
        assert reader.retrieve() is None  # type: ignore[misc]
    finally:
        reader.close()
    assert "does not contain data" not in capfd.readouterr().err
