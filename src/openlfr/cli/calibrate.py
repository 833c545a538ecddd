"""``openlfr calibrate``: the threshold for a target FPIR at a watchlist size, measured on
labelled data and recorded for scans, or (``--predicted``) from the packaged impostor score
distribution."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from openlfr.cli import eval_options as ev
from openlfr.cli.options import DetectorChoice, EmbedderChoice
from openlfr.errors import ConfigError
from openlfr.evaluation.calibration import calibrate as do_calibrate
from openlfr.evaluation.calibration import held_out, write_calibration
from openlfr.evaluation.fpir import (
    expected_false_alerts,
    load_distribution,
    predicted_fpir,
    shipped_key,
    threshold_for_size,
)
from openlfr.evaluation.lfw import LFW_NOTE
from openlfr.evaluation.plots import det_plot
from openlfr.evaluation.protocols import write_outputs
from openlfr.settings import Settings

__all__ = ["app"]

app = typer.Typer()


def predicted(target_fpir: float, watchlist_size: int | None, embedder: EmbedderChoice,
              flip: bool, crowd: int | None, as_json: bool) -> None:
    """Print the threshold for a size from the packaged distribution (records nothing)."""
    if watchlist_size is None:
        raise ConfigError("--predicted needs --watchlist-size N")
    key = shipped_key(embedder.value)
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
    ev.show(result, as_json, lines)


@app.command("calibrate")
def calibrate(target_fpir: Annotated[float, typer.Option(
                  "--target-fpir", min=0.0, max=0.5, help="FPIR the threshold must meet.")],
              watchlist_size: Annotated[int | None, typer.Option(
                  "--watchlist-size", min=1,
                  help="Watchlist size to calibrate at (default: all enrolled identities, "
                       "840 on LFW); smaller sizes are drawn from the enrolled identities.")
              ] = None,
              data: ev.Data = None,
              folder: Annotated[Path | None, typer.Option(
                  "--folder", help="Calibrate on a folder of Name/<images> instead of LFW.")
              ] = None,
              embedder: ev.Embedder = EmbedderChoice.arcface,
              detector: ev.Detector = DetectorChoice.scrfd, flip: ev.Flip = True,
              repeats: Annotated[int, typer.Option(
                  "--repeats", min=1, max=1000,
                  help="Galleries drawn when the size is below the enrolled count.")] = 20,
              write: Annotated[Path | None, typer.Option(
                  "--write", help="Calibration JSON to record the threshold in (default: "
                                  "the one scans read, OPENLFR_CALIBRATION_FILE or "
                                  "<data_dir>/calibration.json).")] = None,
              no_write: Annotated[bool, typer.Option(
                  "--no-write", help="Report only; record nothing.")] = False,
              predicted_: Annotated[bool, typer.Option(
                  "--predicted", help="No data: the threshold for --watchlist-size (any "
                                      "size) from the model's packaged impostor score "
                                      "distribution, FPIR(N, t) ~= 1 - (1 - FMR(t))^N.")
              ] = False,
              crowd: Annotated[int | None, typer.Option(
                  "--crowd", min=0, help="With --predicted: expected faces, for the "
                                         "expected false alerts.")] = None,
              out: ev.Out = None, as_json: ev.AsJson = False, cache_dir: ev.CacheDir = None,
              threads: ev.Threads = 2, seed: ev.Seed = 0) -> None:
    """Threshold for a target FPIR at a watchlist size, its expected TPIR, and a held-out
    check on disjoint identities; recorded in the calibration file scans read. With
    --predicted, the threshold for any size from the packaged distribution (records
    nothing)."""
    if predicted_:
        return predicted(target_fpir, watchlist_size, embedder, flip, crowd, as_json)
    images = folder if folder is not None else ev.lfw_folder(data) / "images"
    run = ev.watchlist(images, embedder, detector, flip, threads, cache_dir, seed)
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
    write_outputs(out, ev.result_name("calibration", embedder, flip), result,
                  lambda p: det_plot(p, fpir, fnir, [point],
                                     f"calibrated threshold {cal.threshold:.4f} for FPIR "
                                     f"{target_fpir:g} at watchlist size {cal.watchlist_size}"))
    ho = check["test"]
    ev.show(result, as_json, [
        f"{spec['embedder']}: threshold {cal.threshold:.4f} for FPIR <= {target_fpir:g} at "
        f"watchlist size {cal.watchlist_size} ({cal.draws} gallery draw(s))",
        f"expected TPIR {ev.proportion(cal.tpir.as_dict())}",
        f"held-out (disjoint identities, watchlist size {check['watchlist_size']}): "
        f"FPIR {ev.proportion(ho['fpir'])}, TPIR {ev.proportion(ho['tpir'])}",
        f"recorded in {result['written_to']}" if "written_to" in result else "not recorded"])
