"""Real footage: the Hamilton clip's performer is recognised from a reference photo in his
close-ups, and nobody in the audience shots is."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from openlfr.vision.image import load_image

pytestmark = pytest.mark.shared_data


def _frames(path: Path, wanted: set[int]) -> dict[int, np.ndarray]:
    import cv2

    cap = cv2.VideoCapture(str(path))
    out: dict[int, np.ndarray] = {}
    i = 0
    while len(out) < len(wanted):
        ok, frame = cap.read()
        if not ok:
            break
        if i in wanted:
            out[i] = frame
        i += 1
    cap.release()
    assert set(out) == wanted, f"could not read frames {wanted - set(out)} of {path}"
    return out


def test_performer_recognised_audience_not(engine, hamilton_clip: Path) -> None:
    refs = hamilton_clip.parent / "hamilton_references"
    performer = engine.embed_single(load_image(refs / "lin-manuel-miranda.png"))
    pianist = engine.embed_single(load_image(refs / "alex-lacamoire.png"))
    threshold = engine.threshold.value
    frames = _frames(hamilton_clip, {120, 165, 240})
    for i in (120, 165):  # close-ups of the performer, faces ~80 px
        faces = engine.analyse(frames[i]).faces
        assert len(faces) == 1, f"frame {i}"
        sim = faces.embeddings @ np.stack([performer, pianist]).T
        assert sim[0, 0] >= threshold and sim[0, 0] > sim[0, 1] + 0.3, f"frame {i}: {sim}"
    audience = engine.analyse(frames[240]).faces
    assert len(audience) >= 4
    sims = audience.embeddings @ np.stack([performer, pianist]).T
    assert (sims < threshold).all(), sims


def test_quality_gates_on_real_footage(engine, hamilton_clip: Path) -> None:
    """The profile close-up (frame 35) and the out-of-focus audience behind it (frame 60)
    fail the default gates; the frontal close-up (frame 120) passes."""
    frames = _frames(hamilton_clip, {35, 60, 120})
    profile = engine.assess(frames[35], engine.detect(frames[35]))
    big = profile.quality_parts["size"] > 120
    assert big.sum() == 1
    assert profile.quality_parts["frontality"][big][0] < 0.1
    assert not engine.quality.passes(profile)[big][0]
    blurred = engine.assess(frames[60], engine.detect(frames[60]))
    assert len(blurred) >= 3
    assert (blurred.quality_parts["sharpness"] < engine.quality.cfg.min_sharpness).all()
    assert not engine.quality.passes(blurred).any()
    close = engine.assess(frames[120], engine.detect(frames[120]))
    assert engine.quality.passes(close).tolist() == [True]
