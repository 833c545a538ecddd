"""Tracker: ids across frames, motion prediction, birth/death, evidence policy."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from openlfr.faces import Faces
from openlfr.pipeline.tracker import IoUTracker, IoUTrackerConfig, iou_matrix, make_tracker


def faces(boxes, quality=None) -> Faces:
    b = np.asarray(boxes, np.float32).reshape(-1, 4)
    lm = np.zeros((len(b), 5, 2), np.float32)
    f = Faces(b, np.ones(len(b), np.float32), lm)
    if quality is not None:
        f = f.with_quality(np.asarray(quality, np.float32), {})
    return f


def test_ids_persist_and_new_faces_get_new_ids():
    tr = IoUTracker()
    a = tr.update(faces([[0, 0, 50, 50]]), 0)
    b = tr.update(faces([[3, 2, 53, 52], [200, 200, 250, 250]]), 1)
    assert b.track_ids[0] == a.track_ids[0]
    assert b.track_ids[1] not in a.track_ids


def test_constant_velocity_bridges_missed_detections_of_a_moving_face():
    # 10 px per frame on a 40 px face, unseen for frames 4-6: the last seen box and the
    # returning one do not overlap at all; only the motion prediction keeps one track.
    tr = IoUTracker(IoUTrackerConfig(iou_threshold=0.25, max_missed=5))
    ids = set()
    for k in [0, 1, 2, 3, 7, 8]:
        x = 10.0 * k
        for gap in range(max(0, k - 1), k):
            if gap not in (0, 1, 2, 3, 7, 8):
                tr.update(Faces.empty(), gap)
        out = tr.update(faces([[x, 100, x + 40, 140]]), k)
        ids.add(int(out.track_ids[0]))
    assert ids == {1}
    assert tr.tracks_started == 1


def test_without_motion_prediction_a_fast_face_would_split():
    # control for the test above: a static face jumping 40 px is a new track
    tr = IoUTracker(IoUTrackerConfig(iou_threshold=0.25))
    tr.update(faces([[0, 100, 40, 140]]), 0)
    out = tr.update(faces([[40, 100, 80, 140]]), 1)
    assert out.track_ids[0] == 2


def test_two_crossing_paths_keep_their_ids():
    tr = IoUTracker()
    left, right = [], []
    for k in range(12):
        a = [10 + 8 * k, 50, 60 + 8 * k, 100]
        b = [300 - 8 * k, 200, 350 - 8 * k, 250]
        out = tr.update(faces([a, b]), k)
        left.append(int(out.track_ids[0]))
        right.append(int(out.track_ids[1]))
    assert len(set(left)) == 1 and len(set(right)) == 1 and left[0] != right[0]


def test_track_dies_after_max_missed_frames_and_a_return_is_a_new_track():
    tr = IoUTracker(IoUTrackerConfig(max_missed=3))
    first = tr.update(faces([[0, 0, 50, 50]]), 0).track_ids[0]
    for k in range(1, 4):
        tr.update(Faces.empty(), k)
    assert tr.pop_ended() == []
    tr.update(Faces.empty(), 4)
    ended = tr.pop_ended()
    assert [t.track_id for t in ended] == [first]
    again = tr.update(faces([[0, 0, 50, 50]]), 5).track_ids[0]
    assert again != first


def test_per_track_state_is_not_shared():
    tr = IoUTracker()
    out = tr.update(faces([[0, 0, 50, 50], [100, 0, 150, 50]]), 0)
    t1, t2 = (tr.track(int(i)) for i in out.track_ids)
    assert t1.evidence is not t2.evidence
    tr2 = IoUTracker()
    tr2.update(faces([[0, 0, 50, 50]]), 0)
    assert tr2.track(1).evidence is not t1.evidence


def _embedded(f: Faces, mask) -> Faces:
    e = np.full((len(f), 4), np.nan, np.float32)
    e[mask] = np.eye(4, dtype=np.float32)[0]
    return f.with_embeddings(e)


def test_embedding_only_when_a_track_needs_new_evidence():
    cfg = IoUTrackerConfig(improve_margin=0.1, refresh_every=10, keep_best=2)
    tr = IoUTracker(cfg)
    embeds = []
    qualities = [0.5, 0.52, 0.55, 0.7, 0.71, 0.6] + [0.6] * 14
    for k, q in enumerate(qualities):
        f = tr.update(faces([[0, 0, 50, 50]], [q]), k)
        need = tr.needs_embedding(f)
        if need.any():
            embeds.append(k)
            tr.add_evidence(_embedded(f, need), k)
    # new track (0), clearly better (3: 0.7 >= 0.5 + 0.1), refresh every 10 frames (13)
    assert embeds == [0, 3, 13]
    t = tr.track(1)
    assert [round(e.quality, 2) for e in t.evidence.items] == [0.7, 0.6]  # best 2 kept


def test_faces_failing_the_quality_gate_are_not_embedded():
    tr = IoUTracker()
    f = tr.update(faces([[0, 0, 50, 50], [100, 0, 150, 50]], [0.9, 0.9]), 0)
    need = tr.needs_embedding(f, eligible=np.array([True, False]))
    assert need.tolist() == [True, False]


def test_make_tracker_from_dict_and_rejects_unknown_keys():
    assert isinstance(make_tracker({"type": "iou", "max_missed": 5}), IoUTracker)
    with pytest.raises(ValueError):
        make_tracker({"type": "iou", "colour": "red"})


box = st.tuples(st.floats(0, 500), st.floats(0, 500), st.floats(1, 200), st.floats(1, 200))


@settings(max_examples=60, deadline=None)
@given(st.lists(box, min_size=1, max_size=5), st.lists(box, min_size=1, max_size=5))
def test_iou_properties(a, b):
    A = np.array([[x, y, x + w, y + h] for x, y, w, h in a])
    B = np.array([[x, y, x + w, y + h] for x, y, w, h in b])
    m = iou_matrix(A, B)
    assert m.shape == (len(A), len(B))
    assert np.all(m >= 0) and np.all(m <= 1 + 1e-9)
    assert np.allclose(m, iou_matrix(B, A).T)
    assert np.allclose(np.diag(iou_matrix(A, A)), 1.0)
