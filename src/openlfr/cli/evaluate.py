"""``openlfr evaluate lfw | lfw-watchlist | watchlist | bias | random-groups | tracking``:
accuracy on labelled data (``bias`` in :mod:`~openlfr.cli.bias`, ``tracking`` in
:mod:`~openlfr.cli.tracking`)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from openlfr.cli import eval_options as ev
from openlfr.cli.bias import bias
from openlfr.cli.options import DetectorChoice, EmbedderChoice
from openlfr.cli.tracking import tracking
from openlfr.evaluation.bias import random_groups, write_groups
from openlfr.evaluation.lfw import LFW_NOTE, read_people
from openlfr.evaluation.plots import det_plot, verification_plot
from openlfr.evaluation.protocols import (
    split_sensitivity,
    verification_run,
    watchlist_report,
    write_outputs,
)

__all__ = ["app"]

evaluate_app = typer.Typer(help="Accuracy on labelled data: LFW verification, open-set "
                                "watchlist, bias per group.", no_args_is_help=True)
app = typer.Typer()
app.add_typer(evaluate_app, name="evaluate")


@evaluate_app.command("lfw")
def lfw(data: ev.Data = None, embedder: ev.Embedder = EmbedderChoice.arcface,
        detector: ev.Detector = DetectorChoice.scrfd, flip: ev.Flip = True, out: ev.Out = None,
        as_json: ev.AsJson = False, cache_dir: ev.CacheDir = None, threads: ev.Threads = 2,
        folds: Annotated[int | None, typer.Option(help="Use only the first N folds.")] = None,
        per_fold: Annotated[int | None, typer.Option(
            "--per-fold", help="Use only the first N matched and N mismatched pairs of each "
                               "fold (quick checks; not the standard protocol).")] = None,
        ) -> None:
    """LFW verification: 10-fold pairs protocol, mean accuracy +- std, ROC plot."""
    res, arr = verification_run(ev.lfw_folder(data),
                                ev.face_embedder(embedder, flip, detector, threads),
                                ev.cache_folder(cache_dir), folds, per_fold, progress=True)
    name = ev.result_name("lfw-verification", embedder, flip)
    title = (f"LFW verification, {res['embedding']['embedder']}: "
             f"{100 * res['mean_accuracy']:.2f}% +- {100 * res['std_accuracy']:.2f} "
             f"({res['pairs']} pairs, {res['fold_count']} folds)")
    write_outputs(out, name, res, lambda p: verification_plot(
        p, arr["far"], arr["frr"], arr["scores"], arr["same"], title))
    ev.show(res, as_json, [
        title,
        f"pooled accuracy {ev.proportion(res['pooled_accuracy'])}",
        "per-fold thresholds: " + ", ".join(f"{t:.4f}" for t in res["thresholds"]),
        f"fallback alignments (no centred face detected): {ev.proportion(res['fallbacks'])}",
        res["note"]])


def _watchlist_output(run: Any, name: str, out: Path | None, as_json: bool,
                      note: str | None, sensitivity: dict[str, Any] | None = None) -> None:
    res, arr = watchlist_report(run)
    if note:
        res["note"] = note
    if sensitivity:
        res["split_sensitivity"] = sensitivity
    title = (f"open-set watchlist, {res['embedding']['embedder']}: watchlist size "
             f"{res['watchlist_size']}, {res['mated_searches']} mated and "
             f"{res['non_mated_searches']} non-mated searches")
    write_outputs(out, name, res, lambda p: det_plot(p, arr["fpir"], arr["fnir"],
                                                     res["at_fpir"], title))
    lines = [title, f"rank-1 identification rate {ev.proportion(res['rank1'])}"]
    for a in res["at_fpir"]:
        lines.append(f"at FPIR {a['target_fpir']:g}: threshold {a['threshold']:.4f}, "
                     f"TPIR {ev.proportion(a['tpir'])}, FPIR {ev.proportion(a['fpir'])}")
    lines.append(f"fallback alignments: {ev.proportion(res['fallbacks'])}")
    if sensitivity:
        for key, v in sensitivity["summary"].items():
            lines.append(f"over seeds {sensitivity['seeds'][0]}-{sensitivity['seeds'][-1]}: "
                         f"{key} min {100 * v['min']:.2f}%, median {100 * v['median']:.2f}%, "
                         f"max {100 * v['max']:.2f}%")
    if note:
        lines.append(note)
    ev.show(res, as_json, lines)


@evaluate_app.command("lfw-watchlist")
def lfw_watchlist(data: ev.Data = None, embedder: ev.Embedder = EmbedderChoice.arcface,
                  detector: ev.Detector = DetectorChoice.scrfd, flip: ev.Flip = True,
                  out: ev.Out = None, as_json: ev.AsJson = False, cache_dir: ev.CacheDir = None,
                  threads: ev.Threads = 2, seed: ev.Seed = 0,
                  other_seeds: Annotated[int, typer.Option(
                      "--other-seeds", min=0, max=100,
                      help="Also report the figures for seeds seed+1..seed+N of the split "
                           "(how much they depend on who is enrolled).")] = 0) -> None:
    """LFW open-set 1:N watchlist (840 enrolled): TPIR/FPIR/FNIR, rank-1, DET plot."""
    images = ev.lfw_folder(data) / "images"
    run = ev.watchlist(images, embedder, detector, flip, threads, cache_dir, seed)
    extra = None
    if other_seeds:
        extra = split_sensitivity(images, ev.face_embedder(embedder, flip, detector, threads),
                                  ev.cache_folder(cache_dir), range(seed, seed + other_seeds + 1))
    _watchlist_output(run, ev.result_name("lfw-watchlist", embedder, flip), out, as_json,
                      LFW_NOTE, extra)


@evaluate_app.command("watchlist")
def watchlist_cmd(folder: Annotated[Path, typer.Option("--folder", help="Folder of "
                                                       "Name/<images>.")],
                  embedder: ev.Embedder = EmbedderChoice.arcface,
                  detector: ev.Detector = DetectorChoice.scrfd, flip: ev.Flip = True,
                  out: ev.Out = None, as_json: ev.AsJson = False, cache_dir: ev.CacheDir = None,
                  threads: ev.Threads = 2, seed: ev.Seed = 0) -> None:
    """Open-set 1:N watchlist on any folder of Name/<images>, with the LFW split rule."""
    run = ev.watchlist(folder, embedder, detector, flip, threads, cache_dir, seed)
    _watchlist_output(run, ev.result_name("watchlist", embedder, flip), out, as_json, None)


evaluate_app.command("bias")(bias)


@evaluate_app.command("random-groups")
def random_groups_cmd(
        csv_out: Annotated[Path, typer.Option("--csv", help="CSV file to write.")],
        k: Annotated[int, typer.Option("--groups", min=2, max=26, help="Number of groups.")] = 2,
        data: ev.Data = None,
        folder: Annotated[Path | None, typer.Option("--folder", help="Folder of Name/<images> "
                                                                     "instead of LFW.")] = None,
        seed: Annotated[int, typer.Option("--seed")] = 0) -> None:
    """Write a CSV assigning every identity to a random group (to exercise `evaluate bias`;
    random groups differ by chance only)."""
    images = folder if folder is not None else ev.lfw_folder(data) / "images"
    groups = random_groups(list(read_people(images)), k, seed)
    write_groups(csv_out, groups)
    typer.echo(f"wrote {len(groups)} identities in {k} random groups to {csv_out}", err=True)


evaluate_app.command("tracking")(tracking)
