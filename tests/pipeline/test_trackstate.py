"""Per-track state: what to embed next, the evidence kept, the match state, joins, clearing."""

from __future__ import annotations

import numpy as np
import pytest

from openlfr.pipeline.trackstate import EvidencePolicy, TrackState


def unit(k: int, dim: int = 4) -> np.ndarray:
    v = np.zeros(dim, np.float32)
    v[k] = 1.0
    return v


def test_embedding_only_when_the_track_needs_new_evidence():
    st = TrackState(1, EvidencePolicy(improve_margin=0.1, refresh_every=10, keep_best=2))
    embeds = []
    qualities = [0.5, 0.52, 0.55, 0.7, 0.71, 0.6] + [0.6] * 14
    for k, q in enumerate(qualities):
        if st.wants_embedding(q, k):
            embeds.append(k)
            st.add_evidence(unit(0), q, k)
    # new track (0), clearly better (3: 0.7 >= 0.5 + 0.1), refresh every 10 frames (13)
    assert embeds == [0, 3, 13]
    assert [round(e.quality, 2) for e in st.evidence] == [0.7, 0.6]  # best 2 kept
    assert st.embeddings_computed == 3 and st.compared


def test_no_more_than_max_embeddings_and_no_refresh_when_off():
    st = TrackState(1, EvidencePolicy(max_embeddings=2, refresh_every=0, improve_margin=0))
    for k in range(5):
        if st.wants_embedding(0.5, k):
            st.add_evidence(unit(0), 0.5, k)
    assert st.embeddings_computed == 2
    quiet = TrackState(2, EvidencePolicy(refresh_every=0))
    quiet.add_evidence(unit(0), 0.5, 0)
    assert not quiet.wants_embedding(0.5, 10_000)


def test_evidence_is_a_copy_and_bad_embeddings_are_refused():
    st = TrackState(1)
    v = unit(1)
    assert st.add_evidence(v, 0.4, 0)
    v[:] = 0
    assert st.similarity(unit(1)) == pytest.approx(1.0)
    assert st.similarity(unit(2)) == pytest.approx(0.0)
    assert TrackState(2).similarity(unit(1)) is None
    with pytest.raises(ValueError, match="NaN"):
        st.add_evidence(np.full(4, np.nan, np.float32), 0.9, 1)


def test_a_worse_view_than_the_kept_ones_is_not_kept():
    st = TrackState(1, EvidencePolicy(keep_best=1))
    assert st.add_evidence(unit(0), 0.8, 0)
    assert not st.add_evidence(unit(1), 0.3, 1)
    assert [e.frame_index for e in st.evidence] == [0]


@pytest.mark.parametrize("calls, min_hits, alerts", [
    ([(0, 0.4)], 1, []),  # below the threshold
    ([(0, 0.6), (0, 0.9)], 1, [0]),  # once per subject, ever
    ([(0, 0.6), (1, 0.8)], 1, [0, 1]),  # another subject alerts too
    ([(0, 0.9), (1, 0.9), (0, 0.6)], 2, [2]),  # min_hits: two views of the same subject
    ([(-1, 0.9)], 1, []),  # no subject (empty index row)
])
def test_match_state(calls, min_hits, alerts):
    st = TrackState(1)
    got = [i for i, (s, score) in enumerate(calls)
           if st.record_match(s, score, threshold=0.5, min_hits=min_hits)]
    assert got == alerts
    assert st.best_score == max(score for _, score in calls)


def test_absorbing_a_fragment_takes_its_evidence_and_matches_and_empties_it():
    st, frag = TrackState(1, EvidencePolicy(keep_best=2)), TrackState(2)
    st.add_evidence(unit(0), 0.5, 0)
    frag.add_evidence(unit(1), 0.9, 8)
    frag.add_evidence(unit(2), 0.7, 9)
    frag.record_match(3, 0.6, threshold=0.5, min_hits=1)
    frag.alert_label = "S 0.60"
    st.absorb(frag)
    assert [e.frame_index for e in st.evidence] == [8, 9]
    assert st.embeddings_computed == 3 and st.last_embedded_frame == 9
    assert st.alerted == {3} and st.best[3] == pytest.approx(0.6) and st.alert_label == "S 0.60"
    assert not frag.evidence and not frag.alerted and frag.alert_label is None


def test_clear_forgets_every_embedding_and_match():
    st = TrackState(1)
    st.add_evidence(unit(0), 0.5, 0)
    st.record_match(0, 0.9, threshold=0.5, min_hits=1)
    st.alert_label = "X"
    st.clear()
    assert not st.evidence and not st.hits and not st.best and not st.alerted
    assert st.alert_label is None and st.similarity(unit(0)) is None
