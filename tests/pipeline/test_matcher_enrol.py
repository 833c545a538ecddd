"""Matcher decision rule, and enrolment errors on real images."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from openlfr.errors import ImageError
from openlfr.pipeline.matcher import MatcherConfig, TrackMatcher
from openlfr.pipeline.trackstate import TrackState
from openlfr.watchlist.index import WatchlistIndex


def _index():
    e = np.eye(3, 8, dtype=np.float32)
    return WatchlistIndex(["a", "b", "c"], ["A", "B", "C"], e)


def _probe(subject: int, score: float) -> np.ndarray:
    v = np.zeros(8, np.float32)
    v[subject] = score
    v[7] = np.sqrt(1 - score ** 2)
    return v


def test_best_evidence_above_threshold_alerts_once_per_track_and_subject():
    m = TrackMatcher(_index(), MatcherConfig(threshold=0.5))
    one, two = TrackState(1), TrackState(2)
    assert m.observe([one], _probe(0, 0.4)[None]) == []  # below t
    (d,) = m.observe([one], _probe(0, 0.6)[None])
    assert d.track_id == 1 and d.match.subject_id == "a"
    assert d.match.score == pytest.approx(0.6, abs=1e-5)
    assert m.observe([one], _probe(0, 0.9)[None]) == []  # never twice
    assert len(m.observe([two], _probe(0, 0.7)[None])) == 1  # another track
    assert len(m.observe([one], _probe(1, 0.8)[None])) == 1  # another subject


def test_min_hits_needs_several_views_of_the_same_subject():
    m = TrackMatcher(_index(), MatcherConfig(threshold=0.5, min_hits=2))
    st = TrackState(1)
    assert m.observe([st], _probe(0, 0.9)[None]) == []
    assert m.observe([st], _probe(1, 0.9)[None]) == []  # a different subject
    (d,) = m.observe([st], _probe(0, 0.6)[None])
    assert d.hits == 2 and d.match.score == pytest.approx(0.9, abs=1e-5)  # best reported


def test_ending_a_track_forgets_it():
    m = TrackMatcher(_index(), MatcherConfig(threshold=0.5))
    st = TrackState(1)
    m.observe([st], _probe(0, 0.6)[None])
    assert st.alerted and st.best_score == pytest.approx(0.6, abs=1e-5)
    st.clear()  # the track ended: its match state is gone with it
    assert not st.alerted and not st.hits


@pytest.fixture(scope="module")
def engine():
    from openlfr.vision.engine import VisionEngine

    return VisionEngine.from_config()


@pytest.mark.shared_data
def test_enrolment_errors_say_why(engine, group_photo, shared_data):
    from openlfr.watchlist.enrol import enrol_image, face_template

    with pytest.raises(ImageError, match="no face"):
        face_template(engine, np.full((200, 200, 3), 128, np.uint8))
    with pytest.raises(ImageError, match="several usable faces"):
        face_template(engine, cv2.imread(str(group_photo)))
    ref = cv2.imread(str(shared_data / "video" / "hamilton_references" /
                         "lin-manuel-miranda.png"))
    tiny = cv2.resize(ref, (ref.shape[1] // 12, ref.shape[0] // 12),
                      interpolation=cv2.INTER_AREA)
    canvas = np.full((400, 400, 3), 90, np.uint8)
    canvas[:tiny.shape[0], :tiny.shape[1]] = tiny
    with pytest.raises(ImageError, match="too small|no face"):
        face_template(engine, canvas)
    blurred = cv2.GaussianBlur(ref, (0, 0), 12)
    with pytest.raises(ImageError, match="blurred|no face"):
        face_template(engine, blurred)
    key, vec = enrol_image(engine, cv2.imencode(".png", ref)[1].tobytes())
    assert key.startswith("arcface:") and vec.shape == (512,)
    assert abs(np.linalg.norm(vec) - 1) < 1e-4


@pytest.mark.shared_data
def test_folder_enrolment_reports_failures_and_continues(engine, tmp_path, shared_data):
    from openlfr.watchlist.enrol import enrol_folder

    refs = shared_data / "video" / "hamilton_references"
    (tmp_path / "Performer").mkdir()
    (tmp_path / "Nobody").mkdir()
    (tmp_path / "Performer" / "a.png").write_bytes((refs / "lin-manuel-miranda.png")
                                                   .read_bytes())
    cv2.imwrite(str(tmp_path / "Nobody" / "x.jpg"), np.full((64, 64, 3), 200, np.uint8))
    res = enrol_folder(engine, tmp_path, progress=False)
    assert res.names == ["Performer"]
    assert len(res.failures) == 1 and "no face" in res.failures[0][1]
