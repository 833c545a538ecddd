"""The batching policy, on a fake clock: at most max_batch requests a call, the first of a
group waits at most max_wait, one input shape per batch, arrival order kept."""

from __future__ import annotations

import pytest

from openlfr.inference.batching import Batcher, Request


def _req(client: str, seq: int, at: float, shape: tuple[int, ...] = (1, 3, 384, 640),
         model: str = "scrfd:x") -> Request:
    return Request(client, seq, model, ("score_8",), 0, shape, "<f4", at)


def test_a_full_batch_runs_at_once_and_holds_at_most_max_batch() -> None:
    b = Batcher(max_batch=3, max_wait_s=10.0)
    for i, cam in enumerate("abcde"):
        b.add(_req(cam, i, at=0.0))
    assert b.wait_s(0.0) == 0.0
    first = b.take(0.0)
    assert [r.client for r in first] == ["a", "b", "c"]  # arrival order
    assert b.take(0.0) == []  # two left: not full, their wait not over
    assert b.wait_s(4.0) == pytest.approx(6.0)
    assert [r.client for r in b.take(10.0)] == ["d", "e"]
    assert b.wait_s(10.0) is None and len(b) == 0
    assert b.sizes == {("scrfd:x", 3): 1, ("scrfd:x", 2): 1}


def test_the_first_request_waits_at_most_max_wait() -> None:
    b = Batcher(max_batch=8, max_wait_s=0.005)
    b.add(_req("a", 1, at=100.0))
    assert b.take(100.004) == []
    assert b.wait_s(100.004) == pytest.approx(0.001)
    assert [r.seq for r in b.take(100.005)] == [1]


def test_zero_wait_runs_whatever_has_arrived() -> None:
    b = Batcher(max_batch=8, max_wait_s=0.0)
    b.add(_req("a", 1, at=5.0))
    b.add(_req("b", 1, at=5.0))
    assert len(b.take(5.0)) == 2


@pytest.mark.parametrize("other", [
    dict(shape=(1, 3, 480, 640)),             # another camera resolution
    dict(model="arcface:y", shape=(4, 3, 112, 112)),  # another model
])
def test_requests_of_different_shape_or_model_never_share_a_call(other: dict) -> None:
    b = Batcher(max_batch=8, max_wait_s=0.0)
    b.add(_req("a", 1, at=1.0))
    b.add(_req("b", 1, at=2.0, **other))
    b.add(_req("c", 1, at=3.0))
    assert [r.client for r in b.take(3.0)] == ["a", "c"]  # oldest group first
    assert [r.client for r in b.take(3.0)] == ["b"]


def test_embedder_batches_mix_face_counts_of_one_crop_shape() -> None:
    b = Batcher(max_batch=2, max_wait_s=1.0)
    b.add(_req("a", 1, 0.0, shape=(3, 3, 112, 112), model="arcface:y"))
    b.add(_req("b", 1, 0.0, shape=(1, 3, 112, 112), model="arcface:y"))
    assert [r.shape[0] for r in b.take(0.0)] == [3, 1]


def test_a_gone_client_leaves_nothing_pending() -> None:
    b = Batcher(max_batch=8, max_wait_s=1.0)
    b.add(_req("a", 1, 0.0))
    b.add(_req("b", 1, 0.0))
    assert b.drop("a") == 1
    assert [r.client for r in b.take(1.0)] == ["b"]


@pytest.mark.parametrize("max_batch,max_wait", [(0, 0.0), (1, -1.0)])
def test_bad_settings_are_refused(max_batch: int, max_wait: float) -> None:
    with pytest.raises(ValueError, match="max_batch"):
        Batcher(max_batch, max_wait)
