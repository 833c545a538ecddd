"""Accuracy on labelled data: protocols, threshold calibration and bias (docs/accuracy.md).

- :mod:`~openlfr.evaluation.lfw`: LFW files (pairs, people) and the seeded watchlist split.
- :mod:`~openlfr.evaluation.embedcache`: embeddings of an evaluation folder, cached and
  resumable (evaluation data only, never live faces).
- :mod:`~openlfr.evaluation.verification`: the 10-fold 1:1 verification protocol.
- :mod:`~openlfr.evaluation.openset`: open-set 1:N figures (TPIR, FPIR, FNIR, rank-1).
- :mod:`~openlfr.evaluation.calibration`: threshold for a target FPIR at a watchlist size,
  with a held-out check on disjoint identities.
- :mod:`~openlfr.evaluation.bias`: FPIR and FNIR per group, and what they can support.
- :mod:`~openlfr.evaluation.protocols`, :mod:`~openlfr.evaluation.plots`: the runs behind
  ``openlfr evaluate`` and ``openlfr calibrate`` (the commands: :mod:`openlfr.cli.evaluate`,
  :mod:`openlfr.cli.calibrate`).

LFW is mostly adult, male and white, and a 1:1 verification benchmark: every figure measured
on it says so.
"""
