"""Shared-memory segments that carry tensors between camera processes and the service.

One segment per camera process: the camera writes its request (the detector's input blob, or
the embedder's face crops) at offset 0, the service writes the outputs after it, and only a
few bytes of metadata (offsets, shapes, dtypes) travel through the socket. No frame or crop is
pickled or copied through a pipe.

The **owner** (the node, or a test) creates a segment with :meth:`Segment.create` and unlinks
it with :meth:`Segment.unlink` when the camera process is gone; it is registered with
Python's resource tracker, so even a node that is killed leaves nothing in ``/dev/shm``.
Camera processes and the service **attach** with :meth:`Segment.attach`, which does not
register it (Python 3.11's ``SharedMemory`` would, and an attaching process would then
unlink the owner's segment, or unregister it twice, when it exits).
"""

from __future__ import annotations

import mmap
import os
import secrets
from multiprocessing import shared_memory

import numpy as np

from openlfr.errors import OpenLFRError

__all__ = ["Segment", "SegmentTooSmall", "PREFIX", "ALIGN", "aligned", "new_name"]

#: Every segment's name starts with this (``ls /dev/shm/olfr_*`` shows them).
PREFIX = "olfr_"
#: Tensors start at multiples of this many bytes.
ALIGN = 64


class SegmentTooSmall(OpenLFRError):
    """A request or its outputs do not fit the camera's segment."""


def aligned(n: int) -> int:
    return -(-n // ALIGN) * ALIGN


def new_name(tag: str = "") -> str:
    return f"{PREFIX}{tag}{secrets.token_hex(6)}"


class Segment:
    """A named shared-memory block holding tensors at byte offsets."""

    def __init__(self, name: str, buf: memoryview, size: int, *,
                 owner: shared_memory.SharedMemory | None = None,
                 mapping: mmap.mmap | None = None) -> None:
        self.name, self.size = name, size
        self._buf = buf
        self._owner, self._mapping = owner, mapping

    @classmethod
    def create(cls, size: int, tag: str = "") -> Segment:
        shm = shared_memory.SharedMemory(name=new_name(tag), create=True, size=size)
        return cls(shm.name, shm.buf, size, owner=shm)

    @classmethod
    def attach(cls, name: str) -> Segment:
        if not name.startswith(PREFIX) or "/" in name:
            raise ValueError(f"not an OpenLFR segment name: {name!r}")
        import _posixshmem  # what multiprocessing.shared_memory itself opens segments with

        fd = _posixshmem.shm_open("/" + name, os.O_RDWR, mode=0o600)
        try:
            size = os.fstat(fd).st_size
            mapping = mmap.mmap(fd, size)
        finally:
            os.close(fd)
        return cls(name, memoryview(mapping), size, mapping=mapping)

    def array(self, offset: int, shape: tuple[int, ...], dtype: str) -> np.ndarray:
        """A view of the tensor at ``offset`` (valid while the segment is open)."""
        dt = np.dtype(dtype)
        end = offset + int(np.prod(shape, dtype=np.int64)) * dt.itemsize
        if offset < 0 or end > self.size:
            raise SegmentTooSmall(f"tensor {tuple(shape)} {dt} at byte {offset} does not fit "
                                  f"the {self.size}-byte segment")
        return np.ndarray(shape, dtype=dt, buffer=self._buf, offset=offset)

    def write(self, offset: int, value: np.ndarray) -> tuple[int, list[int], str]:
        """Copy ``value`` in at ``offset``; returns (offset, shape, dtype) to send along."""
        value = np.asarray(value)
        self.array(offset, value.shape, value.dtype.str)[...] = value
        return offset, list(value.shape), value.dtype.str

    def close(self) -> None:
        """Unmap (the name stays until the owner unlinks it). A view still held elsewhere
        keeps the mapping until it is collected."""
        try:
            self._buf.release()
            if self._owner is not None:
                self._owner.close()
            if self._mapping is not None:
                self._mapping.close()
        except BufferError:
            pass

    def unlink(self) -> None:
        """Owner only: unmap and remove the name."""
        if self._owner is None:
            raise RuntimeError("only the segment's owner unlinks it")
        owner = self._owner
        self.close()
        owner.unlink()
