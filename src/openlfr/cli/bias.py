"""``openlfr evaluate bias``: FPIR and FNIR per group, and ``--record`` to store the result
for live authorisation (:mod:`openlfr.evaluation.bias_records`)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from openlfr.cli import eval_options as ev
from openlfr.cli.governed import acting_user, governed_store, now
from openlfr.cli.options import DetectorChoice, EmbedderChoice, acting_user_option
from openlfr.errors import ConfigError
from openlfr.evaluation.bias import bias_report, read_groups
from openlfr.evaluation.bias_records import record_bias_evaluation
from openlfr.evaluation.lfw import LFW_NOTE
from openlfr.evaluation.plots import bias_plot
from openlfr.evaluation.protocols import write_outputs
from openlfr.governance.auth import Action, require
from openlfr.vision.thresholds import default_threshold

__all__ = ["bias", "bias_thresholds", "record_bias"]

RecordAs = acting_user_option("With --record: the acting user (needs evaluation.run).")
HELP = {
    "cover": "Also evaluate at these thresholds (comma-separated, e.g. 0.30,0.35): a record "
             "covers the lowest to the highest threshold evaluated.",
    "record": "Store the result in the database (bias_evaluations, audited): live "
              "authorisation needs one for the model, flip setting and threshold.",
    "dataset-name": "With --record: the labelled data set the groups come from (your own "
                    "labels: LFW has none, OpenLFR never infers them).",
    "dataset-description": "With --record: where the data and its labels come from.",
}


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
    if not as_user:
        raise ConfigError("--record: name the acting user with --as USERNAME (or OPENLFR_AS)")
    kept = {k: result[k] for k in ("threshold", "watchlist_size", "groups", "fnir", "fpir",
                                   "covered", "groups_file", "embedding") if k in result}
    with governed_store(need_key=False) as store, store.session() as s:
        at = now()
        actor = require(s, acting_user(s, as_user), Action.EVALUATION_RUN, now=at,
                        target="bias_evaluation")
        row = record_bias_evaluation(s, actor, embedder_key=embedder_key, flip=flip,
                                     dataset_name=dataset_name, thresholds=thresholds,
                                     result=kept, now=at, dataset_description=description)
        s.commit()
        return {"id": row.id, "dataset_name": row.dataset_name,
                "embedder_key": embedder_key, "flip": flip,
                "thresholds_covered": [row.thresholds_covered_min,
                                       row.thresholds_covered_max]}


def bias(groups: Annotated[Path, typer.Option("--groups", help="CSV with columns "
                                                                "identity,group.")],
         threshold: Annotated[float | None, typer.Option(
             "--threshold", help="Operating threshold (default: the calibrated one for the "
                                 "embedder, see openlfr calibrate).")] = None,
         min_searches: Annotated[int, typer.Option(
             "--min-searches", min=1, help="Below this many searches a group is too small "
                                           "to conclude anything.")] = 100,
         data: ev.Data = None,
         folder: Annotated[Path | None, typer.Option(
             "--folder", help="A folder of Name/<images> instead of LFW.")] = None,
         embedder: ev.Embedder = EmbedderChoice.arcface,
         detector: ev.Detector = DetectorChoice.scrfd, flip: ev.Flip = True,
         cover: Annotated[str | None, typer.Option("--cover", help=HELP["cover"])] = None,
         record: Annotated[bool, typer.Option("--record", help=HELP["record"])] = False,
         dataset_name: Annotated[str | None, typer.Option(
             "--dataset-name", help=HELP["dataset-name"])] = None,
         dataset_description: Annotated[str, typer.Option(
             "--dataset-description", help=HELP["dataset-description"])] = "",
         as_user: RecordAs = None,
         out: ev.Out = None, as_json: ev.AsJson = False, cache_dir: ev.CacheDir = None,
         threads: ev.Threads = 2, seed: ev.Seed = 0) -> None:
    """FPIR and FNIR per group at the operating threshold, with intervals and a plain
    statement of what the data can (not) support; --record stores it for authorisation."""
    extra = bias_thresholds(cover, record, dataset_name)
    group_map = read_groups(groups)
    images = folder if folder is not None else ev.lfw_folder(data) / "images"
    run = ev.watchlist(images, embedder, detector, flip, threads, cache_dir, seed)
    source = "--threshold"
    if threshold is None:
        spec = run.embedding
        th = default_threshold(spec["embedder_sha256"],
                               bool(spec["options"].get("flip", False)))
        threshold, source = th.value, th.provenance
    scores = run.open_set()
    rep = bias_report(scores, group_map, threshold, min_searches)
    result = {"protocol": "per-group FPIR/FNIR on the open-set watchlist searches",
              "groups_file": str(groups), "threshold_source": source,
              "embedding": run.embedding, **rep}
    if extra:
        result["covered"] = [bias_report(scores, group_map, t, min_searches) for t in extra]
    if record:
        result["recorded"] = record_bias(result, f"{embedder.value}:"
                                         f"{run.embedding['embedder_sha256']}", flip,
                                         [threshold, *extra], str(dataset_name),
                                         dataset_description, as_user)
    if folder is None:
        result["note"] = LFW_NOTE + " LFW has no demographic labels: groups come from --groups."
    write_outputs(out, ev.result_name("bias", embedder, flip), result,
                  lambda p: bias_plot(p, rep["groups"], f"threshold {threshold:.4f}, "
                                                        f"watchlist size {rep['watchlist_size']}"))
    lines = [f"threshold {threshold:.4f} ({source}), watchlist size {rep['watchlist_size']}"]
    for g, v in rep["groups"].items():
        lines.append(f"{g}: FNIR {ev.proportion(v['fnir'])}; FPIR {ev.proportion(v['fpir'])}")
    lines += [rep["fnir"]["statement"], rep["fpir"]["statement"]]
    for r in result.get("covered", []):
        lines.append(f"at {r['threshold']:.4f}: {r['fnir']['statement']} "
                     f"{r['fpir']['statement']}")
    if record:
        rec = result["recorded"]
        lines.append(f"recorded as bias evaluation #{rec['id']} ({rec['dataset_name']}, "
                     f"thresholds {rec['thresholds_covered'][0]:.4f}-"
                     f"{rec['thresholds_covered'][1]:.4f})")
    ev.show(result, as_json, lines)
