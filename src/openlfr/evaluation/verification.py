"""1:1 verification with the standard k-fold protocol (LFW View 2).

For each fold k the threshold is chosen on the other folds (the one that maximises their
accuracy) and the accuracy is measured on fold k with it. A pair is declared "same" when its
similarity is >= the threshold. The threshold sits at the midpoint between the two training
scores around the best cut, so it does not hug a training sample; when several cuts reach the
same (maximal) training accuracy, the lowest is taken.

Reported: accuracy per fold (as :class:`Proportion`, correct of the fold's pairs), their mean
and standard deviation (population, ``ddof=0``, as the usual LFW scripts report), the pooled
accuracy over all pairs, and the per-fold thresholds.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from openlfr.metrics import Proportion

__all__ = ["best_threshold", "accuracy_at", "FoldResult", "VerificationResult", "kfold",
           "roc_points"]


def best_threshold(scores: npt.ArrayLike, same: npt.ArrayLike) -> tuple[float, int]:
    """Threshold maximising accuracy of ``score >= t`` on (scores, same); and its correct count.

    Candidates are every cut between consecutive distinct sorted scores (placed at the
    midpoint) plus one below the lowest and one above the highest score. Ties in accuracy go
    to the lowest such cut.
    """
    s = np.asarray(scores, dtype=np.float64)
    y = np.asarray(same, dtype=bool)
    if s.shape != y.shape or s.ndim != 1 or s.size == 0:
        raise ValueError(f"scores and same must be equal-length non-empty 1-d arrays, "
                         f"got {s.shape} and {y.shape}")
    order = np.argsort(s, kind="stable")
    s, y = s[order], y[order]
    distinct = np.r_[np.nonzero(np.diff(s))[0] + 1, s.size]  # end index of each distinct run
    # cut before position i (i in {0} + distinct): everything at index >= i is predicted same
    cuts = np.r_[0, distinct]
    neg_below = np.r_[0, np.cumsum(~y)][cuts]          # true negatives: different, below cut
    pos_above = y.sum() - np.r_[0, np.cumsum(y)][cuts]  # true positives: same, at/above cut
    correct = neg_below + pos_above
    best = int(np.argmax(correct))
    i = cuts[best]
    if i == 0:
        t = s[0] - 1e-6
    elif i == s.size:
        t = s[-1] + 1e-6
    else:
        t = (s[i - 1] + s[i]) / 2
    return float(t), int(correct[best])


def accuracy_at(scores: npt.ArrayLike, same: npt.ArrayLike, threshold: float) -> Proportion:
    s = np.asarray(scores, dtype=np.float64)
    y = np.asarray(same, dtype=bool)
    return Proportion(int(((s >= threshold) == y).sum()), int(s.size))


@dataclass(frozen=True)
class FoldResult:
    fold: int
    threshold: float
    train: Proportion
    test: Proportion

    def as_dict(self) -> dict[str, object]:
        return {"fold": self.fold, "threshold": self.threshold,
                "train_accuracy": self.train.as_dict(), "test_accuracy": self.test.as_dict()}


@dataclass(frozen=True)
class VerificationResult:
    folds: tuple[FoldResult, ...]

    @property
    def accuracies(self) -> npt.NDArray[np.float64]:
        return np.array([f.test.rate for f in self.folds], dtype=np.float64)

    @property
    def mean(self) -> float:
        return float(self.accuracies.mean())

    @property
    def std(self) -> float:
        return float(self.accuracies.std(ddof=0))

    @property
    def pooled(self) -> Proportion:
        return Proportion(sum(f.test.successes for f in self.folds),
                          sum(f.test.total for f in self.folds))

    def as_dict(self) -> dict[str, object]:
        return {"mean_accuracy": self.mean, "std_accuracy": self.std, "std_ddof": 0,
                "pooled_accuracy": self.pooled.as_dict(),
                "thresholds": [f.threshold for f in self.folds],
                "folds": [f.as_dict() for f in self.folds]}


def kfold(scores: npt.ArrayLike, same: npt.ArrayLike, folds: npt.ArrayLike) -> VerificationResult:
    """k-fold protocol: threshold from the other folds, accuracy on the held-out fold."""
    s = np.asarray(scores, dtype=np.float64)
    y = np.asarray(same, dtype=bool)
    f = np.asarray(folds)
    if not (s.shape == y.shape == f.shape):
        raise ValueError(f"scores, same and folds differ in shape: {s.shape}, {y.shape}, "
                         f"{f.shape}")
    ids = np.unique(f)
    if ids.size < 2:
        raise ValueError("the k-fold protocol needs at least two folds")
    out = []
    for k in ids:
        test = f == k
        t, correct = best_threshold(s[~test], y[~test])
        out.append(FoldResult(int(k), t, Proportion(correct, int((~test).sum())),
                              accuracy_at(s[test], y[test], t)))
    return VerificationResult(tuple(out))


def roc_points(scores: npt.ArrayLike, same: npt.ArrayLike
               ) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64],
                          npt.NDArray[np.float64]]:
    """(thresholds, false accept rate, false reject rate), thresholds descending.

    At threshold ``t[i]`` a pair is accepted when ``score >= t[i]``.
    """
    s = np.asarray(scores, dtype=np.float64)
    y = np.asarray(same, dtype=bool)
    t = np.unique(s)[::-1]
    pos, neg = np.sort(s[y]), np.sort(s[~y])
    accepted_pos = pos.size - np.searchsorted(pos, t, side="left")
    accepted_neg = neg.size - np.searchsorted(neg, t, side="left")
    far = accepted_neg / max(neg.size, 1)
    frr = 1 - accepted_pos / max(pos.size, 1)
    return t, far, frr
