"""k-fold verification protocol on synthetic scores with known answers."""

from __future__ import annotations

import numpy as np
import pytest

from openlfr.evaluation.verification import accuracy_at, best_threshold, kfold, roc_points


@pytest.mark.parametrize("scores, same, threshold, correct", [
    # separable: the cut sits halfway between 0.4 (highest different) and 0.6 (lowest same)
    ([0.1, 0.4, 0.6, 0.9], [False, False, True, True], 0.5, 4),
    # one different pair scores above a same pair: best is 3 of 4, lowest such cut wins
    ([0.1, 0.7, 0.6, 0.9], [False, False, True, True], 0.35, 3),
    # all same: accept everything (cut below the lowest score)
    ([0.2, 0.3], [True, True], 0.2 - 1e-6, 2),
    # all different: reject everything (cut above the highest score)
    ([0.2, 0.3], [False, False], 0.3 + 1e-6, 2),
    # ties: equal scores are never split
    ([0.5, 0.5, 0.5, 0.8], [False, True, False, True], 0.65, 3),
])
def test_best_threshold(scores: list[float], same: list[bool], threshold: float,
                        correct: int) -> None:
    t, c = best_threshold(scores, same)
    assert c == correct
    assert t == pytest.approx(threshold)
    assert accuracy_at(scores, same, t).successes == correct


def test_best_threshold_rejects_bad_shapes() -> None:
    with pytest.raises(ValueError, match="equal-length"):
        best_threshold([0.1, 0.2], [True])


def test_threshold_comes_from_the_other_folds() -> None:
    # Folds 0 and 1 separate at 0.5; fold 2's pairs sit around 0.8, so a threshold fitted on
    # fold 2 itself would be perfect there, but the protocol must use 0.5 from folds 0-1...
    scores = np.array([0.2, 0.4, 0.6, 0.8,   0.3, 0.45, 0.55, 0.7,   0.75, 0.78, 0.82, 0.85])
    same = np.array([0, 0, 1, 1] * 3, dtype=bool)
    folds = np.repeat([0, 1, 2], 4)
    res = kfold(scores, same, folds)
    f2 = res.folds[2]
    assert f2.threshold == pytest.approx(0.5)
    assert (f2.test.successes, f2.test.total) == (2, 4)  # both different pairs accepted
    assert f2.train.successes == 8
    # ...and fold 0 is tested with a threshold fitted on folds 1 and 2
    assert res.folds[0].test.total == 4
    assert res.pooled.total == 12
    assert res.mean == pytest.approx(np.mean([f.test.rate for f in res.folds]))
    assert res.std == pytest.approx(np.std([f.test.rate for f in res.folds]))
    d = res.as_dict()
    assert len(d["thresholds"]) == 3 and d["std_ddof"] == 0


def test_kfold_needs_two_folds() -> None:
    with pytest.raises(ValueError, match="two folds"):
        kfold([0.1, 0.9], [False, True], [0, 0])


def test_roc_points() -> None:
    t, far, frr = roc_points([0.1, 0.4, 0.6, 0.9], [False, True, False, True])
    assert list(t) == [0.9, 0.6, 0.4, 0.1]
    assert list(far) == [0.0, 0.5, 0.5, 1.0]
    assert list(frr) == [0.5, 0.5, 0.0, 0.0]
