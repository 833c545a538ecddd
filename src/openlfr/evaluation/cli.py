"""Evaluation commands: ``openlfr evaluate lfw | lfw-watchlist | watchlist | bias |
random-groups | tracking`` and ``openlfr calibrate``.

Every command that reports figures accepts ``--json`` (one JSON object on stdout, progress on
stderr) and ``--out DIR`` (JSON + PNG plot written there). Models and numpy work are imported
inside the commands.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from openlfr.errors import ConfigError
from openlfr.evaluation.tracking.cli import tracking
from openlfr.vision.cli import DetectorChoice, EmbedderChoice

__all__ = ["register"]

evaluate_app = typer.Typer(help="Accuracy on labelled data: LFW verification, open-set "
                                "watchlist, bias per group.", no_args_is_help=True)


Data = Annotated[Path | None, typer.Option(
    "--data", help="LFW folder (pairs.txt, images/) or the shared data folder holding lfw/; "
                   "default: ../shared/data/lfw")]
Embedder = Annotated[EmbedderChoice, typer.Option("--embedder", help="Embedder to evaluate.")]
Detector = Annotated[DetectorChoice, typer.Option("--detector", help="Face detector.")]
Flip = Annotated[bool, typer.Option(
    "--flip/--no-flip", help="Flip fusion (embed the mirrored face too, add the vectors). On by "
                             "default for evaluation; thresholds are calibrated per setting.")]
Out = Annotated[Path | None, typer.Option("--out", help="Write <name>.json and <name>.png "
                                                        "into this folder.")]
AsJson = Annotated[bool, typer.Option("--json", help="Print exactly one JSON object.")]
CacheDir = Annotated[Path | None, typer.Option(
    "--cache-dir", help="Embedding cache (default: Settings.cache_dir, ~/.cache/openlfr).")]
Threads = Annotated[int, typer.Option("--threads", min=1, max=64,
                                      help="onnxruntime intra-op threads.")]
Seed = Annotated[int, typer.Option("--seed", help="Seed of the watchlist split.")]


def _lfw(data: Path | None) -> Path:
    from openlfr.evaluation.lfw import lfw_root
    from openlfr.settings import shared_data_dir

    if data is None:
        shared = shared_data_dir()
        if shared is None:
            raise ConfigError("no --data given and ../shared/data is absent; pass --data "
                              "/path/to/lfw")
        data = shared / "lfw"
    return lfw_root(data)


def _fe(embedder: EmbedderChoice, flip: bool, detector: DetectorChoice, threads: int) -> Any:
    from openlfr.evaluation.embedcache import build_face_embedder

    return build_face_embedder(embedder.value, flip=flip,
                               detector=detector.value, threads=threads)


def _name(prefix: str, embedder: EmbedderChoice, flip: bool) -> str:
    """Result file name: e.g. lfw-watchlist-arcface, lfw-watchlist-arcface-noflip."""
    return f"{prefix}-{embedder.value}" + ("" if flip else "-noflip")


def _cache(cache_dir: Path | None) -> Path:
    from openlfr.settings import Settings

    return cache_dir or Settings().cache_dir


def _emit(result: dict[str, Any], as_json: bool, human: list[str]) -> None:
    result.setdefault("command", "openlfr " + " ".join(sys.argv[1:]))
    if as_json:
        typer.echo(json.dumps(result))
    else:
        for line in human:
            typer.echo(line)


def _p(d: dict[str, Any]) -> str:
    """A Proportion dict as 'k/n = r% (95% CI lo-hi%)'."""
    from openlfr.metrics import Proportion

    return str(Proportion(d["count"], d["of"]))


def lfw(data: Data = None, embedder: Embedder = EmbedderChoice.arcface,
        detector: Detector = DetectorChoice.scrfd, flip: Flip = True, out: Out = None,
        as_json: AsJson = False, cache_dir: CacheDir = None, threads: Threads = 2,
        folds: Annotated[int | None, typer.Option(help="Use only the first N folds.")] = None,
        per_fold: Annotated[int | None, typer.Option(
            "--per-fold", help="Use only the first N matched and N mismatched pairs of each "
                               "fold (quick checks; not the standard protocol).")] = None,
        ) -> None:
    """LFW verification: 10-fold pairs protocol, mean accuracy +- std, ROC plot."""
    from openlfr.evaluation.plots import verification_plot
    from openlfr.evaluation.protocols import verification_run, write_outputs

    res, arr = verification_run(_lfw(data), _fe(embedder, flip, detector, threads),
                                _cache(cache_dir), folds, per_fold, progress=True)
    name = _name("lfw-verification", embedder, flip)
    title = (f"LFW verification, {res['embedding']['embedder']}: "
             f"{100 * res['mean_accuracy']:.2f}% +- {100 * res['std_accuracy']:.2f} "
             f"({res['pairs']} pairs, {res['fold_count']} folds)")
    write_outputs(out, name, res, lambda p: verification_plot(
        p, arr["far"], arr["frr"], arr["scores"], arr["same"], title))
    _emit(res, as_json, [
        title,
        f"pooled accuracy {_p(res['pooled_accuracy'])}",
        "per-fold thresholds: " + ", ".join(f"{t:.4f}" for t in res["thresholds"]),
        f"fallback alignments (no centred face detected): {_p(res['fallbacks'])}",
        res["note"]])


def _watchlist(images: Path, embedder: EmbedderChoice, detector: DetectorChoice, flip: bool,
               threads: int, cache_dir: Path | None, seed: int) -> Any:
    from openlfr.evaluation.protocols import watchlist_run

    return watchlist_run(images, _fe(embedder, flip, detector, threads), _cache(cache_dir),
                         seed, progress=True)


def _watchlist_output(run: Any, name: str, out: Path | None, as_json: bool,
                      note: str | None, sensitivity: dict[str, Any] | None = None) -> None:
    from openlfr.evaluation.plots import det_plot
    from openlfr.evaluation.protocols import watchlist_report, write_outputs

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
    lines = [title, f"rank-1 identification rate {_p(res['rank1'])}"]
    for a in res["at_fpir"]:
        lines.append(f"at FPIR {a['target_fpir']:g}: threshold {a['threshold']:.4f}, "
                     f"TPIR {_p(a['tpir'])}, FPIR {_p(a['fpir'])}")
    lines.append(f"fallback alignments: {_p(res['fallbacks'])}")
    if sensitivity:
        for key, v in sensitivity["summary"].items():
            lines.append(f"over seeds {sensitivity['seeds'][0]}-{sensitivity['seeds'][-1]}: "
                         f"{key} min {100 * v['min']:.2f}%, median {100 * v['median']:.2f}%, "
                         f"max {100 * v['max']:.2f}%")
    if note:
        lines.append(note)
    _emit(res, as_json, lines)


def lfw_watchlist(data: Data = None, embedder: Embedder = EmbedderChoice.arcface,
                  detector: Detector = DetectorChoice.scrfd, flip: Flip = True,
                  out: Out = None, as_json: AsJson = False, cache_dir: CacheDir = None,
                  threads: Threads = 2, seed: Seed = 0,
                  other_seeds: Annotated[int, typer.Option(
                      "--other-seeds", min=0, max=100,
                      help="Also report the figures for seeds seed+1..seed+N of the split "
                           "(how much they depend on who is enrolled).")] = 0) -> None:
    """LFW open-set 1:N watchlist (840 enrolled): TPIR/FPIR/FNIR, rank-1, DET plot."""
    from openlfr.evaluation.lfw import LFW_NOTE
    from openlfr.evaluation.protocols import split_sensitivity

    images = _lfw(data) / "images"
    run = _watchlist(images, embedder, detector, flip, threads, cache_dir, seed)
    extra = None
    if other_seeds:
        extra = split_sensitivity(images, _fe(embedder, flip, detector, threads),
                                  _cache(cache_dir), range(seed, seed + other_seeds + 1))
    _watchlist_output(run, _name("lfw-watchlist", embedder, flip), out, as_json, LFW_NOTE,
                      extra)


def watchlist(folder: Annotated[Path, typer.Option("--folder", help="Folder of Name/<images>.")],
              embedder: Embedder = EmbedderChoice.arcface,
              detector: Detector = DetectorChoice.scrfd, flip: Flip = True,
              out: Out = None, as_json: AsJson = False, cache_dir: CacheDir = None,
              threads: Threads = 2, seed: Seed = 0) -> None:
    """Open-set 1:N watchlist on any folder of Name/<images>, with the LFW split rule."""
    run = _watchlist(folder, embedder, detector, flip, threads, cache_dir, seed)
    _watchlist_output(run, _name("watchlist", embedder, flip), out, as_json, None)


def calibrate(target_fpir: Annotated[float, typer.Option(
                  "--target-fpir", min=0.0, max=0.5, help="FPIR the threshold must meet.")],
              watchlist_size: Annotated[int | None, typer.Option(
                  "--watchlist-size", min=1,
                  help="Watchlist size to calibrate at (default: all enrolled identities, "
                       "840 on LFW); smaller sizes are drawn from the enrolled identities.")
              ] = None,
              data: Data = None,
              folder: Annotated[Path | None, typer.Option(
                  "--folder", help="Calibrate on a folder of Name/<images> instead of LFW.")
              ] = None,
              embedder: Embedder = EmbedderChoice.arcface,
              detector: Detector = DetectorChoice.scrfd, flip: Flip = True,
              repeats: Annotated[int, typer.Option(
                  "--repeats", min=1, max=1000,
                  help="Galleries drawn when the size is below the enrolled count.")] = 20,
              write: Annotated[Path | None, typer.Option(
                  "--write", help="Calibration JSON to record the threshold in (default: "
                                  "the one scans read, OPENLFR_CALIBRATION_FILE or "
                                  "<data_dir>/calibration.json).")] = None,
              no_write: Annotated[bool, typer.Option(
                  "--no-write", help="Report only; record nothing.")] = False,
              predicted: Annotated[bool, typer.Option(
                  "--predicted", help="No data: the threshold for --watchlist-size (any "
                                      "size) from the model's packaged impostor score "
                                      "distribution, FPIR(N, t) ~= 1 - (1 - FMR(t))^N.")
              ] = False,
              crowd: Annotated[int | None, typer.Option(
                  "--crowd", min=0, help="With --predicted: expected faces, for the "
                                         "expected false alerts.")] = None,
              out: Out = None, as_json: AsJson = False, cache_dir: CacheDir = None,
              threads: Threads = 2, seed: Seed = 0) -> None:
    """Threshold for a target FPIR at a watchlist size, its expected TPIR, and a held-out
    check on disjoint identities; recorded in the calibration file scans read. With
    --predicted, the threshold for any size from the packaged distribution (records
    nothing)."""
    if predicted:
        from openlfr.evaluation.cli_helpers import predicted as show_predicted

        return show_predicted(target_fpir, watchlist_size, embedder, flip, crowd, as_json,
                              _emit)
    from openlfr.evaluation.calibration import calibrate as do_calibrate
    from openlfr.evaluation.calibration import held_out, write_calibration
    from openlfr.evaluation.lfw import LFW_NOTE
    from openlfr.evaluation.plots import det_plot
    from openlfr.evaluation.protocols import write_outputs
    from openlfr.settings import Settings

    images = folder if folder is not None else _lfw(data) / "images"
    run = _watchlist(images, embedder, detector, flip, threads, cache_dir, seed)
    cal = do_calibrate(run.scores, run.gallery_ids, run.probe_ids, target_fpir,
                       watchlist_size, repeats, seed)
    check = held_out(run.scores, run.gallery_ids, run.probe_ids, target_fpir,
                     watchlist_size, repeats, seed)
    spec = run.embedding
    record = {
        "embedder": spec["embedder"], "model_sha256": spec["embedder_sha256"],
        "options": {"flip": bool(spec["options"].get("flip", False))},
        "threshold": cal.threshold, "target_fpir": target_fpir,
        "watchlist_size": cal.watchlist_size,
        "expected_tpir": cal.tpir.as_dict(), "fpir_on_calibration_data": cal.fpir.as_dict(),
        "held_out_fpir": check["test"]["fpir"], "held_out_tpir": check["test"]["tpir"],
        "held_out_watchlist_size": check["watchlist_size"],
        "data": ("LFW deep-funneled" if folder is None else str(folder)) + f" ({images})",
        "split": f"watchlist split seed {seed}: of the people with 2+ images, half enrolled; "
                 f"{cal.draws} gallery draw(s) of size {cal.watchlist_size}",
        "detector": spec["detector"], "command": "openlfr " + " ".join(sys.argv[1:]),
    }
    result: dict[str, Any] = {
        "protocol": "threshold calibration at a target FPIR and watchlist size (see "
                    "openlfr.evaluation.calibration)",
        "embedding": spec, **run.split.counts(), "calibration": cal.as_dict(),
        "held_out": check, "record": record, **run.fallbacks}
    if folder is None:
        result["note"] = LFW_NOTE
    if not no_write:
        path = write or Settings().resolved_calibration_file
        write_calibration(path, spec["embedder_sha256"], record)
        result["written_to"] = str(path)
    res = run.open_set()
    t, fpir, fnir = res.curves()
    point = {"threshold": cal.threshold, "fpir": res.fpir(cal.threshold).as_dict(),
             "fnir": res.fnir(cal.threshold).as_dict()}
    write_outputs(out, _name("calibration", embedder, flip), result,
                  lambda p: det_plot(p, fpir, fnir, [point],
                                     f"calibrated threshold {cal.threshold:.4f} for FPIR "
                                     f"{target_fpir:g} at watchlist size {cal.watchlist_size}"))
    ho = check["test"]
    _emit(result, as_json, [
        f"{spec['embedder']}: threshold {cal.threshold:.4f} for FPIR <= {target_fpir:g} at "
        f"watchlist size {cal.watchlist_size} ({cal.draws} gallery draw(s))",
        f"expected TPIR {_p(cal.tpir.as_dict())}",
        f"held-out (disjoint identities, watchlist size {check['watchlist_size']}): "
        f"FPIR {_p(ho['fpir'])}, TPIR {_p(ho['tpir'])}",
        f"recorded in {result['written_to']}" if "written_to" in result else "not recorded"])


def bias(groups: Annotated[Path, typer.Option("--groups", help="CSV with columns "
                                                                "identity,group.")],
         threshold: Annotated[float | None, typer.Option(
             "--threshold", help="Operating threshold (default: the calibrated one for the "
                                 "embedder, see openlfr calibrate).")] = None,
         min_searches: Annotated[int, typer.Option(
             "--min-searches", min=1, help="Below this many searches a group is too small "
                                           "to conclude anything.")] = 100,
         data: Data = None,
         folder: Annotated[Path | None, typer.Option(
             "--folder", help="A folder of Name/<images> instead of LFW.")] = None,
         embedder: Embedder = EmbedderChoice.arcface,
         detector: Detector = DetectorChoice.scrfd, flip: Flip = True,
         cover: Annotated[str | None, typer.Option(
             "--cover", help="Also evaluate at these thresholds (comma-separated, e.g. "
                             "0.30,0.35): a record covers the lowest to the highest "
                             "threshold evaluated.")] = None,
         record: Annotated[bool, typer.Option(
             "--record", help="Store the result in the database (bias_evaluations, "
                              "audited): live authorisation needs one for the model, flip "
                              "setting and threshold.")] = False,
         dataset_name: Annotated[str | None, typer.Option(
             "--dataset-name", help="With --record: the labelled data set the groups come "
                                    "from (your own labels: LFW has none, OpenLFR never "
                                    "infers them).")] = None,
         dataset_description: Annotated[str, typer.Option(
             "--dataset-description", help="With --record: where the data and its labels "
                                           "come from.")] = "",
         as_user: Annotated[str | None, typer.Option(
             "--as", envvar="OPENLFR_AS", help="With --record: the acting user (needs "
                                               "evaluation.run).")] = None,
         out: Out = None, as_json: AsJson = False, cache_dir: CacheDir = None,
         threads: Threads = 2, seed: Seed = 0) -> None:
    """FPIR and FNIR per group at the operating threshold, with intervals and a plain
    statement of what the data can (not) support; --record stores it for authorisation."""
    from openlfr.evaluation.bias import bias_report, read_groups
    from openlfr.evaluation.cli_helpers import bias_thresholds, record_bias
    from openlfr.evaluation.lfw import LFW_NOTE
    from openlfr.evaluation.plots import bias_plot
    from openlfr.evaluation.protocols import write_outputs

    extra = bias_thresholds(cover, record, dataset_name)
    group_map = read_groups(groups)
    images = folder if folder is not None else _lfw(data) / "images"
    run = _watchlist(images, embedder, detector, flip, threads, cache_dir, seed)
    source = "--threshold"
    if threshold is None:
        from openlfr.vision.thresholds import default_threshold

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
    write_outputs(out, _name("bias", embedder, flip), result,
                  lambda p: bias_plot(p, rep["groups"], f"threshold {threshold:.4f}, "
                                                        f"watchlist size {rep['watchlist_size']}"))
    lines = [f"threshold {threshold:.4f} ({source}), watchlist size {rep['watchlist_size']}"]
    for g, v in rep["groups"].items():
        lines.append(f"{g}: FNIR {_p(v['fnir'])}; FPIR {_p(v['fpir'])}")
    lines += [rep["fnir"]["statement"], rep["fpir"]["statement"]]
    for r in result.get("covered", []):
        lines.append(f"at {r['threshold']:.4f}: {r['fnir']['statement']} "
                     f"{r['fpir']['statement']}")
    if record:
        rec = result["recorded"]
        lines.append(f"recorded as bias evaluation #{rec['id']} ({rec['dataset_name']}, "
                     f"thresholds {rec['thresholds_covered'][0]:.4f}-"
                     f"{rec['thresholds_covered'][1]:.4f})")
    _emit(result, as_json, lines)


def random_groups_cmd(
        csv_out: Annotated[Path, typer.Option("--csv", help="CSV file to write.")],
        k: Annotated[int, typer.Option("--groups", min=2, max=26, help="Number of groups.")] = 2,
        data: Data = None,
        folder: Annotated[Path | None, typer.Option("--folder", help="Folder of Name/<images> "
                                                                     "instead of LFW.")] = None,
        seed: Annotated[int, typer.Option("--seed")] = 0) -> None:
    """Write a CSV assigning every identity to a random group (to exercise `evaluate bias`;
    random groups differ by chance only)."""
    from openlfr.evaluation.bias import random_groups, write_groups
    from openlfr.evaluation.lfw import read_people

    images = folder if folder is not None else _lfw(data) / "images"
    groups = random_groups(list(read_people(images)), k, seed)
    write_groups(csv_out, groups)
    typer.echo(f"wrote {len(groups)} identities in {k} random groups to {csv_out}", err=True)


def register(app: typer.Typer) -> None:
    evaluate_app.command("lfw")(lfw)
    evaluate_app.command("lfw-watchlist")(lfw_watchlist)
    evaluate_app.command("watchlist")(watchlist)
    evaluate_app.command("bias")(bias)
    evaluate_app.command("random-groups")(random_groups_cmd)
    evaluate_app.command("tracking")(tracking)
    app.add_typer(evaluate_app, name="evaluate")
    app.command("calibrate")(calibrate)
