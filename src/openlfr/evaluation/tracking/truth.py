"""Ground truth of a clip: who is where in every delivered frame.

A :class:`Clip` is a sequence of frames with exact truth, made by a generator that knows the
scene (:mod:`.synth`, :mod:`.demo`), never by a detector run on the clip itself:

* :class:`FrameTruth` holds, for one delivered frame, parallel arrays of the truth ids in
  view, their face boxes (x1 y1 x2 y2, frame pixels) and whether each face can be seen
  (False while occluded by a nearer face or mostly outside the frame);
* a truth id is one *appearance*: a person in view from entering to leaving. A person who
  leaves and comes back later gets a new id (``Clip.person_of`` maps ids to people), since
  no tracker can be asked to bridge that; an occlusion of a few frames keeps the id;
* frame indices are those of the source: a dropped frame is simply missing, so a tracker
  sees the gap (``update(faces, frame_index)``);
* ``cuts`` are the frames that start a new shot, where the pipeline ends every track.

Frames are rendered on demand (``Clip.image(k)``), so a 600-frame 720p clip costs no more
memory than one frame.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field

import numpy as np

__all__ = ["FrameTruth", "Clip"]


@dataclass(frozen=True, eq=False)
class FrameTruth:
    """Truth in one delivered frame: ``ids`` (k,), ``boxes`` (k, 4), ``visible`` (k,)."""

    index: int
    ids: np.ndarray
    boxes: np.ndarray
    visible: np.ndarray

    def __post_init__(self) -> None:
        ids = np.asarray(self.ids, dtype=np.int64).reshape(-1)
        boxes = np.asarray(self.boxes, dtype=np.float64).reshape(-1, 4)
        visible = np.asarray(self.visible, dtype=bool).reshape(-1)
        if not len(ids) == len(boxes) == len(visible):
            raise ValueError(f"FrameTruth {self.index}: {len(ids)} ids, {len(boxes)} boxes and "
                             f"{len(visible)} visibility flags; expected one of each per face")
        if len(set(ids.tolist())) != len(ids):
            raise ValueError(f"FrameTruth {self.index}: a truth id appears twice")
        object.__setattr__(self, "ids", ids)
        object.__setattr__(self, "boxes", boxes)
        object.__setattr__(self, "visible", visible)

    def seen(self) -> tuple[np.ndarray, np.ndarray]:
        """Ids and boxes of the faces that can be seen (what a tracker is scored on)."""
        return self.ids[self.visible], self.boxes[self.visible]


@dataclass(frozen=True, eq=False)
class Clip:
    """Frames with exact truth. ``image(k)`` renders the k-th delivered frame (BGR)."""

    name: str
    size: tuple[int, int]  # width, height
    fps: float
    truth: tuple[FrameTruth, ...]
    render: Callable[[int], np.ndarray] | None = None
    cuts: frozenset[int] = frozenset()
    person_of: Mapping[int, str] = field(default_factory=dict)
    description: str = ""

    def __post_init__(self) -> None:
        idx = [t.index for t in self.truth]
        if any(b <= a for a, b in zip(idx, idx[1:], strict=False)):
            raise ValueError(f"clip {self.name}: frame indices must increase")

    def __len__(self) -> int:
        return len(self.truth)

    def image(self, k: int) -> np.ndarray:
        if self.render is None:
            raise ValueError(f"clip {self.name} has truth only (no images): use the "
                             "detector-free mode")
        return self.render(k)

    def frames(self) -> Iterator[tuple[FrameTruth, np.ndarray]]:
        """(truth, image) of each delivered frame, in order."""
        for k, t in enumerate(self.truth):
            yield t, self.image(k)

    @property
    def appearances(self) -> int:
        """Truth ids ever seen: the number of tracks a perfect tracker would make."""
        return len(self.seen_ids)

    @property
    def seen_ids(self) -> frozenset[int]:
        return frozenset(int(i) for t in self.truth for i in t.ids[t.visible])

    @property
    def people(self) -> int:
        """Distinct people seen (an appearance of someone not in ``person_of`` is its own
        person)."""
        return len({self.person_of.get(i, f"id{i}") for i in self.seen_ids})

    @property
    def dropped(self) -> int:
        """Frames missing between the first and the last delivered one."""
        if not self.truth:
            return 0
        return self.truth[-1].index - self.truth[0].index + 1 - len(self.truth)
