"""Helpers of ``openlfr calibrate --predicted`` and ``openlfr evaluate bias --record``
(kept apart so :mod:`openlfr.evaluation.cli` stays readable); heavy imports inside."""

from __future__ import annotations

from typing import Any

from openlfr.errors import ConfigError
from openlfr.vision.cli import EmbedderChoice

__all__ = ["predicted", "shipped_key", "bias_thresholds", "record_bias"]


def shipped_key(embedder: EmbedderChoice) -> str:
    """``name:model_sha256`` of the shipped model file for this embedder."""
    from openlfr.vision.models import MODEL_FILES

    file = {"arcface": "arcface_mbf", "dlib": "dlib_resnet"}[embedder.value]
    return f"{embedder.value}:{MODEL_FILES[file].sha256}"


def predicted(target_fpir: float, watchlist_size: int | None, embedder: EmbedderChoice,
              flip: bool, crowd: int | None, as_json: bool, emit: Any) -> None:
    """Print the threshold for a size from the packaged distribution (``emit`` prints)."""
    from openlfr.evaluation.fpir import (
        expected_false_alerts,
        load_distribution,
        predicted_fpir,
        threshold_for_size,
    )

    if watchlist_size is None:
        raise ConfigError("--predicted needs --watchlist-size N")
    key = shipped_key(embedder)
    t = threshold_for_size(watchlist_size, target_fpir, key, flip)
    fpir = predicted_fpir(watchlist_size, t, key, flip)
    dist = load_distribution(key, flip)
    result: dict[str, Any] = {
        "method": "FPIR(N, t) ~= 1 - (1 - FMR(t))^N from the packaged impostor score "
                  "distribution (openlfr.evaluation.fpir)",
        "embedder_key": key, "flip": flip, "watchlist_size": watchlist_size,
        "target_fpir": target_fpir, "threshold": t, "predicted_fpir": fpir,
        "impostor_pairs": dist.pairs, "distribution_data": dist.meta.get("data")}
    lines = [f"{key.split(':')[0]}{'+flip' if flip else ''}: threshold {t:.4f} for FPIR <= "
             f"{target_fpir:g} at watchlist size {watchlist_size:,} (predicted FPIR "
             f"{fpir:.3g}, from {dist.pairs:,} impostor pairs)"]
    if crowd is not None:
        result["expected_crowd"] = crowd
        result["expected_false_alerts"] = expected_false_alerts(fpir, crowd)
        lines.append(f"expected false alerts in a crowd of {crowd:,}: "
                     f"{result['expected_false_alerts']:.2f}")
    lines.append("not recorded: calibrate on data like your cameras' before relying on it")
    emit(result, as_json, lines)


def bias_thresholds(text: str | None, record: bool, dataset_name: str | None) -> list[float]:
    """The --cover thresholds; checks --record's options before the evaluation runs."""
    if record and not (dataset_name or "").strip():
        raise ConfigError("--record needs --dataset-name: the labelled data set the groups "
                          "come from")
    if not text:
        return []
    try:
        values = [float(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise ConfigError(f"--cover {text!r}: give thresholds like 0.30,0.35") from None
    if any(not -1 <= v <= 1 for v in values):
        raise ConfigError(f"--cover {text!r}: cosine thresholds lie in [-1, 1]")
    return values


def record_bias(result: dict[str, Any], embedder_key: str, flip: bool,
                 thresholds: list[float], dataset_name: str, description: str,
                 as_user: str | None) -> dict[str, Any]:
    """Store the evaluation (per-group counts and rates only) as the acting user."""
    from datetime import UTC, datetime

    from openlfr.evaluation.bias_records import record_bias_evaluation
    from openlfr.governance.auth import Action, get_user, require
    from openlfr.governance.runtime import open_store
    from openlfr.settings import Settings

    if not as_user:
        raise ConfigError("--record: name the acting user with --as USERNAME (or OPENLFR_AS)")
    kept = {k: result[k] for k in ("threshold", "watchlist_size", "groups", "fnir", "fpir",
                                   "covered", "groups_file", "embedding") if k in result}
    store = open_store(Settings(), need_key=False)
    try:
        with store.session() as s:
            now = datetime.now(UTC)
            actor = require(s, get_user(s, as_user), Action.EVALUATION_RUN, now=now,
                            target="bias_evaluation")
            row = record_bias_evaluation(s, actor, embedder_key=embedder_key, flip=flip,
                                         dataset_name=dataset_name, thresholds=thresholds,
                                         result=kept, now=now,
                                         dataset_description=description)
            s.commit()
            return {"id": row.id, "dataset_name": row.dataset_name,
                    "embedder_key": embedder_key, "flip": flip,
                    "thresholds_covered": [row.thresholds_covered_min,
                                           row.thresholds_covered_max]}
    finally:
        store.close()
