"""Tracker: ids across frames, Kalman motion, the two association stages, the camera-motion
retry, re-joining lost tracks by their evidence, birth/death, configuration."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from openlfr.faces import Faces
from openlfr.pipeline.kalman import BoxKalman, to_cxcywh, to_xyxy
from openlfr.pipeline.tracker import (
    ByteTracker,
    IoUTrackerConfig,
    TrackerConfig,
    greedy_match,
    iou_matrix,
    make_tracker,
)
from openlfr.pipeline.trackstate import TrackState


def faces(boxes, scores=None) -> Faces:
    b = np.asarray(boxes, np.float32).reshape(-1, 4)
    s = np.ones(len(b), np.float32) if scores is None else np.asarray(scores, np.float32)
    return Faces(b, s, np.zeros((len(b), 5, 2), np.float32))


def box(x: float, y: float = 100.0, size: float = 40.0) -> list[float]:
    return [x, y, x + size, y + size]


def unit(k: int, dim: int = 8) -> np.ndarray:
    v = np.zeros(dim, np.float32)
    v[k] = 1.0
    return v


def test_ids_persist_and_new_faces_get_new_ids():
    tr = ByteTracker()
    a = tr.update(faces([[0, 0, 50, 50]]), 0)
    b = tr.update(faces([[3, 2, 53, 52], [200, 200, 250, 250]]), 1)
    assert b.track_ids[0] == a.track_ids[0]
    assert b.track_ids[1] not in a.track_ids
    assert tr.tracks_started == 2


def test_kalman_motion_bridges_missed_detections_of_a_moving_face():
    # 10 px per frame on a 40 px face, unseen for frames 6-9: the last seen box and the
    # returning one do not overlap at all; only the motion prediction keeps one track.
    tr = ByteTracker(TrackerConfig(max_missed=5))
    ids = set()
    for k in range(16):
        seen = k < 6 or k >= 10
        out = tr.update(faces([box(10.0 * k)]) if seen else Faces.empty(), k)
        ids.update(int(i) for i in out.track_ids)
    assert ids == {1} and tr.tracks_started == 1


def test_without_motion_a_jump_is_a_new_track():
    # control for the test above: a face never seen moving, jumping by its own width
    tr = ByteTracker()
    tr.update(faces([box(0)]), 0)
    out = tr.update(faces([box(40)]), 1)
    assert out.track_ids[0] == 2


def test_two_crossing_paths_keep_their_ids():
    tr = ByteTracker()
    left, right = [], []
    for k in range(12):
        out = tr.update(faces([[10 + 8 * k, 50, 60 + 8 * k, 100],
                               [300 - 8 * k, 200, 350 - 8 * k, 250]]), k)
        left.append(int(out.track_ids[0]))
        right.append(int(out.track_ids[1]))
    assert len(set(left)) == 1 and len(set(right)) == 1 and left[0] != right[0]


def test_a_camera_pan_moves_every_face_and_small_faces_keep_their_tracks():
    # frame 0: a large face and two small ones, still; frame 1: the camera pans 45 px.
    # The large face still overlaps its track; the small ones (30 px) do not overlap theirs
    # at all, and are matched after shifting by the median motion of the matched faces.
    tr = ByteTracker()
    first = tr.update(faces([box(100, 100, 120), box(400, 50, 30), box(500, 300, 30)]), 0)
    out = tr.update(faces([box(145, 100, 120), box(445, 50, 30), box(545, 300, 30)]), 1)
    assert out.track_ids.tolist() == first.track_ids.tolist()
    assert tr.tracks_started == 3


def test_low_score_detections_keep_a_track_alive_but_never_start_one_or_come_back():
    cfg = TrackerConfig(max_missed=2, low_score=0.3)
    tr = ByteTracker(cfg)
    tid = int(tr.update(faces([box(0)]), 0).track_ids[0])
    for k in range(1, 6):  # the face turns away: the detector is unsure of it
        out = tr.update(Faces.empty(), k, low=faces([box(2.0 * k)], [0.4]))
        assert len(out) == 0  # low-score faces are not analysed
    assert tr.track(tid) is not None and tr.tracks_started == 1
    assert int(tr.update(faces([box(12)]), 6).track_ids[0]) == tid
    # below the floor, or alone: nothing
    tr.update(Faces.empty(), 7, low=faces([box(14)], [0.2]))
    tr.update(Faces.empty(), 8, low=faces([box(500)], [0.45]))
    tr.update(Faces.empty(), 9)
    assert tr.track(tid) is None and tr.tracks_started == 1


def test_without_the_second_stage_the_same_face_makes_two_tracks():
    tr = ByteTracker(TrackerConfig(max_missed=2, low_score=None))
    tr.update(faces([box(0)]), 0)
    for k in range(1, 6):
        tr.update(Faces.empty(), k, low=faces([box(2.0 * k)], [0.4]))
    tr.update(faces([box(12)]), 6)
    assert tr.tracks_started == 2


def _embedded(f: Faces, rows: dict[int, np.ndarray], dim: int = 8) -> Faces:
    e = np.full((len(f), dim), np.nan, np.float32)
    for i, v in rows.items():
        e[i] = v
    return f.with_embeddings(e)


def _lost_then_back(tr: ByteTracker, back_box: list[float], embedding: np.ndarray,
                    gap: int = 4) -> tuple[int, Faces]:
    """A face with evidence ``unit(0)`` is tracked for 3 frames, unseen for ``gap``, then a
    face at ``back_box`` is found and embedded as ``embedding``."""
    for k in range(3):
        out = tr.update(faces([box(0)]), k)
    tid = int(out.track_ids[0])
    tr.state(tid).add_evidence(unit(0), 0.8, 2)
    for k in range(3, 3 + gap):
        tr.update(Faces.empty(), k)
    out = tr.update(faces([back_box]), 3 + gap)
    return tid, tr.reassociate(_embedded(out, {0: embedding}))


def test_a_lost_face_that_comes_back_elsewhere_rejoins_its_track_by_its_evidence():
    tr = ByteTracker(TrackerConfig(max_missed=10))
    tid, out = _lost_then_back(tr, box(70), unit(0))  # 70 px away: no overlap
    assert int(out.track_ids[0]) == tid and tr.tracks_started == 1
    assert list(tr.live_tracks) == [tid]
    tr.state(tid).add_evidence(unit(0), 0.9, 7)  # the caller stores the new evidence
    assert tr.state(tid).embeddings_computed == 2
    assert int(tr.update(faces([box(72)]), 8).track_ids[0]) == tid  # tracked from there


@pytest.mark.parametrize("why, kwargs", [
    ("another face", dict(back_box=box(70), embedding=unit(1))),
    ("too far", dict(back_box=box(400), embedding=unit(0))),
    ("the track has ended", dict(back_box=box(70), embedding=unit(0), gap=12)),
])
def test_no_rejoin(why, kwargs):
    tr = ByteTracker(TrackerConfig(max_missed=10))
    tid, out = _lost_then_back(tr, **kwargs)
    assert int(out.track_ids[0]) != tid, why
    assert tr.tracks_started == 2


def test_two_faces_seen_together_are_never_joined():
    tr = ByteTracker()
    a = tr.update(faces([box(0)]), 0)
    tr.state(int(a.track_ids[0])).add_evidence(unit(0), 0.8, 0)
    both = tr.update(faces([box(0), box(200)]), 1)
    tr.update(faces([box(200)]), 2)  # the first face is unseen from here on
    out = tr.reassociate(_embedded(tr.update(faces([box(200)]), 3), {0: unit(0)}))
    assert out.track_ids[0] == both.track_ids[1] != a.track_ids[0]


def test_track_dies_after_max_missed_frames_and_its_state_goes_with_it():
    tr = ByteTracker(TrackerConfig(max_missed=3))
    first = int(tr.update(faces([box(0)]), 0).track_ids[0])
    for k in range(1, 4):
        tr.update(Faces.empty(), k)
    assert tr.pop_ended() == []
    tr.update(Faces.empty(), 4)
    (ended,) = tr.pop_ended()
    assert ended.track_id == first and ended.state.track_id == first
    with pytest.raises(KeyError):
        tr.state(first)
    assert int(tr.update(faces([box(0)]), 5).track_ids[0]) != first


def test_per_track_state_comes_from_the_factory_and_is_not_shared():
    made = []
    tr = ByteTracker(state_factory=lambda tid: made.append(tid) or TrackState(tid))
    out = tr.update(faces([box(0), box(100)]), 0)
    s1, s2 = (tr.state(int(i)) for i in out.track_ids)
    assert s1 is not s2 and made == out.track_ids.tolist()
    assert ByteTracker().update(faces([box(0)]), 0) is not None
    assert TrackerConfig(keep_best=2).evidence_policy().keep_best == 2


def test_frames_must_go_forward_and_ids_start_where_asked():
    tr = make_tracker(None, first_id=41)
    assert int(tr.update(faces([box(0)]), 5).track_ids[0]) == 41 and tr.next_id == 42
    with pytest.raises(ValueError, match="frame 5 after frame 5"):
        tr.update(faces([box(0)]), 5)


def test_make_tracker_from_dict_reads_the_old_type_and_rejects_unknown_keys():
    tr = make_tracker({"type": "iou", "max_missed": 5})
    assert isinstance(tr, ByteTracker) and tr.config.type == "byte"
    assert IoUTrackerConfig is TrackerConfig
    with pytest.raises(ValueError):
        make_tracker({"type": "iou", "colour": "red"})
    with pytest.raises(ValueError):
        make_tracker({"type": "sort"})


def test_end_all_ends_every_track():
    tr = ByteTracker()
    tr.update(faces([box(0), box(100)]), 0)
    tr.end_all()
    assert tr.live_tracks == {} and len(tr.pop_ended()) == 2 and tr.pop_ended() == []


@pytest.mark.parametrize("score, minimum, expected", [
    ([[0.9, 0.8], [0.85, 0.1]], 0.2, [(0, 0)]),  # greedy: the best pair first
    ([[0.9, 0.8], [0.85, 0.3]], 0.2, [(0, 0), (1, 1)]),
    ([[0.1, 0.0]], 0.2, []),
    ([[0.0]], 0.0, []),  # zero overlap never matches
    (np.zeros((0, 3)), 0.2, []),
])
def test_greedy_match(score, minimum, expected):
    assert greedy_match(np.asarray(score, float).reshape(np.shape(score)), minimum) == expected


def test_kalman_learns_a_constant_velocity_and_batches_like_one_track():
    kf = BoxKalman()
    boxes = np.array([box(0), box(300, 50, 80)], float)
    mean, cov = kf.initiate(boxes)
    for k in range(1, 30):
        mean, cov = kf.predict(mean, cov)
        mean, cov = kf.update(mean, cov, boxes + np.array([5.0, -2, 5, -2]) * k)
    assert np.allclose(mean[:, 4:6], [[5, -2], [5, -2]], atol=0.2)
    one, one_cov = kf.predict(*kf.initiate(boxes[1:]), dt=3)
    both, _ = kf.predict(*kf.initiate(boxes), dt=3)
    assert np.allclose(one, both[1:]) and np.all(one_cov[:, [0, 2]] > 0)
    # each coordinate's 2x2 covariance stays positive definite
    assert np.all(cov[:, 0] * cov[:, 2] - cov[:, 1] ** 2 > 0)
    with pytest.raises(ValueError):
        BoxKalman(std_position=0)


coords = st.tuples(st.floats(0, 500), st.floats(0, 500), st.floats(1, 200), st.floats(1, 200))


@settings(max_examples=60, deadline=None)
@given(st.lists(coords, min_size=1, max_size=5), st.lists(coords, min_size=1, max_size=5))
def test_iou_properties(a, b):
    A = np.array([[x, y, x + w, y + h] for x, y, w, h in a])
    B = np.array([[x, y, x + w, y + h] for x, y, w, h in b])
    m = iou_matrix(A, B)
    assert m.shape == (len(A), len(B))
    assert np.all(m >= 0) and np.all(m <= 1 + 1e-9)
    assert np.allclose(m, iou_matrix(B, A).T)
    assert np.allclose(np.diag(iou_matrix(A, A)), 1.0)
    assert np.allclose(to_xyxy(to_cxcywh(A)), A)
