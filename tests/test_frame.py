"""The Frame type (openlfr/faces.py): what a stage may add, checked at construction with
messages that name the field, expected and actual shape."""

from __future__ import annotations

import numpy as np
import pytest

from openlfr.faces import FaceMatch, Faces, Frame

IMAGE = np.zeros((40, 60, 3), np.uint8)


def _faces(n: int) -> Faces:
    return Faces(np.tile([[0, 0, 10, 10]], (n, 1)), np.ones(n), np.zeros((n, 5, 2)))


@pytest.mark.parametrize(("kwargs", "error"), [
    ({"image": np.zeros((40, 60), np.uint8)}, r"Frame.image: expected \(H, W, 3\) uint8"),
    ({"image": np.zeros((40, 60, 3), np.float32)}, "Frame.image"),
    ({"passes": np.ones(2, bool)}, "without faces"),
    ({"faces": _faces(2), "passes": np.ones(3, bool)}, r"Frame.passes: .*\(2,\)"),
    ({"faces": _faces(2), "needs": np.ones(2, np.int64)}, "Frame.needs: expected a bool"),
    ({"faces": _faces(2), "crops": np.zeros((1, 112, 112, 3), np.uint8)}, "Frame.crops"),
    ({"faces": _faces(1), "matches": (FaceMatch(3, 1, "s", "S", 0.9, 1),)},
     r"face rows \[3\]"),
])
def test_bad_frames_are_refused(kwargs, error):
    with pytest.raises(ValueError, match=error):
        Frame(**{"image": IMAGE, **kwargs})


def test_stages_fill_in_and_new_detections_start_afresh():
    frame = Frame(IMAGE, index=7, timestamp=0.28).with_faces(_faces(2))
    assert frame.embed_mask().tolist() == [True, True]
    with pytest.raises(ValueError, match="gated embedding before the quality gates"):
        frame.embed_mask(gated=True)
    gated = frame.with_gates(frame.analysed, np.array([True, False]),
                             np.zeros((2, 112, 112, 3), np.uint8))
    assert gated.embed_mask(gated=True).tolist() == [True, False]
    needs = gated.with_needs(np.array([False, True]))
    assert needs.embed_mask(gated=True).tolist() == [False, True]
    matched = needs.with_matches((FaceMatch(1, 4, "s", "S", 0.7, 1),))
    assert matched.without_crops().crops is None and matched.index == 7
    with pytest.raises(ValueError, match="1 faces given for a frame of 2"):
        matched.with_filled(_faces(1))
    fresh = matched.with_faces(_faces(1))
    assert fresh.passes is None and fresh.needs is None and fresh.matches == ()
    with pytest.raises(ValueError, match="detect first"):
        _ = Frame(IMAGE).analysed
