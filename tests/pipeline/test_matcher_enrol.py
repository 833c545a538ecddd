"""Matcher decision rule, and enrolment errors on real images."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from openlfr.errors import ImageError
from openlfr.faces import FaceMatch, Faces, Frame
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


def _matcher(config: MatcherConfig, *states: TrackState) -> TrackMatcher:
    by_id = {st.track_id: st for st in states}
    return TrackMatcher(_index(), config, by_id.__getitem__)


def _observe(m: TrackMatcher, st: TrackState, probe: np.ndarray) -> tuple[FaceMatch, ...]:
    """One frame with one face of track ``st``, embedded as ``probe``."""
    faces = Faces(np.array([[0, 0, 50, 50]], np.float32), np.ones(1, np.float32),
                  np.zeros((1, 5, 2), np.float32), track_ids=np.array([st.track_id]),
                  embeddings=probe[None])
    frame = Frame(np.zeros((60, 60, 3), np.uint8), faces=faces, needs=np.ones(1, bool))
    return m.observe(frame).matches


def test_best_evidence_above_threshold_alerts_once_per_track_and_subject():
    one, two = TrackState(1), TrackState(2)
    m = _matcher(MatcherConfig(threshold=0.5), one, two)
    assert _observe(m, one, _probe(0, 0.4)) == ()  # below t
    (d,) = _observe(m, one, _probe(0, 0.6))
    assert d.track_id == 1 and d.subject_id == "a" and d.face == 0
    assert d.score == pytest.approx(0.6, abs=1e-5)
    assert _observe(m, one, _probe(0, 0.9)) == ()  # never twice
    assert len(_observe(m, two, _probe(0, 0.7))) == 1  # another track
    assert len(_observe(m, one, _probe(1, 0.8))) == 1  # another subject


def test_min_hits_needs_several_views_of_the_same_subject():
    st = TrackState(1)
    m = _matcher(MatcherConfig(threshold=0.5, min_hits=2), st)
    assert _observe(m, st, _probe(0, 0.9)) == ()
    assert _observe(m, st, _probe(1, 0.9)) == ()  # a different subject
    (d,) = _observe(m, st, _probe(0, 0.6))
    assert d.hits == 2 and d.score == pytest.approx(0.9, abs=1e-5)  # best reported


def test_ending_a_track_forgets_it():
    st = TrackState(1)
    m = _matcher(MatcherConfig(threshold=0.5), st)
    _observe(m, st, _probe(0, 0.6))
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
