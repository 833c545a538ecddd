"""Bias evaluations on record: what live authorisation looks for.

``openlfr evaluate bias ... --record --dataset-name NAME`` stores one row per evaluation
(:class:`openlfr.store.models.BiasEvaluation`): the embedder (``name:model_sha256``, as on a
deployment), the flip setting, the data set it was run on, the range of thresholds it covered
and the per-group figures (counts and rates only: no image, template or identity). The data
set is the user's own labelled data: LFW has no demographic labels and OpenLFR never infers
them from faces, so the name and description say where the groups came from.

:func:`latest_bias_evaluation` is what the authorisation checks call
(:mod:`openlfr.governance.profiles`): the most recent record for that embedder and flip.
Recording is audited (``bias_evaluation_record``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from openlfr.errors import ConfigError
from openlfr.governance import audit
from openlfr.store.models import BiasEvaluation, User
from openlfr.store.types import as_utc

__all__ = ["record_bias_evaluation", "latest_bias_evaluation", "MAX_NAME"]

MAX_NAME = 200  # the column's length


def _check(embedder_key: str, dataset_name: str, thresholds: Sequence[float]) -> None:
    if ":" not in embedder_key or not embedder_key.split(":", 1)[1]:
        raise ConfigError(f"embedder key {embedder_key!r}: expected name:model_sha256")
    if not dataset_name.strip():
        raise ConfigError("name the labelled data set the groups come from (--dataset-name)")
    if len(dataset_name) > MAX_NAME or "\x00" in dataset_name:
        raise ConfigError(f"the data set name must be at most {MAX_NAME} characters, no NUL")
    if not thresholds or any(not math.isfinite(t) or not -1 <= t <= 1 for t in thresholds):
        raise ConfigError(f"thresholds covered must be finite cosine values in [-1, 1], "
                          f"got {list(thresholds)}")


def record_bias_evaluation(session: Session, actor: User | None, *, embedder_key: str,
                           flip: bool, dataset_name: str, thresholds: Sequence[float],
                           result: dict[str, Any], now: datetime,
                           dataset_description: str = "") -> BiasEvaluation:
    """Store one evaluation and audit it in the session's transaction (the caller commits)."""
    _check(embedder_key, dataset_name, thresholds)
    row = BiasEvaluation(created_at=as_utc(now), embedder_key=embedder_key, flip=bool(flip),
                         dataset_name=dataset_name.strip(),
                         dataset_description=dataset_description.replace("\x00", ""),
                         thresholds_covered_min=float(min(thresholds)),
                         thresholds_covered_max=float(max(thresholds)),
                         result=result, created_by_id=actor.id if actor else None)
    session.add(row)
    session.flush()
    audit.append(session, actor=actor.username if actor else audit.SYSTEM,
                 action="bias_evaluation_record", now=now, target=f"bias_evaluation:{row.id}",
                 details={"embedder_key": embedder_key, "flip": bool(flip),
                          "dataset_name": row.dataset_name,
                          "thresholds_covered": [row.thresholds_covered_min,
                                                 row.thresholds_covered_max]})
    return row


def latest_bias_evaluation(session: Session, embedder_key: str, flip: bool
                           ) -> BiasEvaluation | None:
    """The most recent evaluation on record for this embedder and flip setting, or None."""
    return session.scalars(
        select(BiasEvaluation)
        .where(BiasEvaluation.embedder_key == embedder_key, BiasEvaluation.flip == bool(flip))
        .order_by(BiasEvaluation.created_at.desc(), BiasEvaluation.id.desc())
        .limit(1)).first()
