"""``openlfr evaluate tracking``: the tracker in use against clips with exact truth.

    openlfr evaluate tracking                      # real detector, generated clips + demo
    openlfr evaluate tracking --config scan.yaml   # the tracker section of a scan config
    openlfr evaluate tracking --noisy-truth        # no models: jittered truth boxes (fast)

Prints IDF1, ID switches, tracks per person and recall per clip and pooled (``--json``: one
JSON object on stdout, progress on stderr), the settings' fingerprint, and whether the
reports have a recorded tracks-per-person figure for these settings.
"""

from __future__ import annotations

from typing import Annotated, Any

import typer

from openlfr.cli.eval_options import AsJson
from openlfr.cli.options import config_option, emit
from openlfr.evaluation.tracking.frontend import EngineFrontEnd
from openlfr.evaluation.tracking.reference import reference_for, tracker_fingerprint
from openlfr.evaluation.tracking.suite import issue15_checks, reference_suite, run_suite
from openlfr.pipeline.config import ScanConfig
from openlfr.pipeline.tracker import make_tracker
from openlfr.vision.engine import VisionEngine

__all__ = ["tracking"]

ScanConfigFile = config_option("Scan config YAML; its tracker section is evaluated "
                               "(default: the tracker's defaults).")


def _table(result: dict[str, Any]) -> str:
    head = f"{'clip':<12}{'truth':>7}{'tracks':>8}{'per person':>12}{'IDF1':>8}" \
           f"{'switches':>10}{'recall':>8}"
    rows = [head]
    for m in [*result["per_clip"], result["all"]]:
        rows.append(f"{m['clip']:<12}{m['appearances']:>7}{m['tracks']:>8}"
                    f"{m['tracks_per_person']:>12.2f}{m['idf1']:>8.3f}{m['id_switches']:>10}"
                    f"{m['recall']:>8.3f}")
    return "\n".join(rows)


def tracking(
    config: ScanConfigFile = None,
    noisy_truth: Annotated[bool, typer.Option(
        "--noisy-truth", help="No detector: the truth boxes with jitter and 5% misses "
                              "(generated clips only).")] = False,
    demo: Annotated[bool, typer.Option("--demo/--no-demo", help="Include the demo camera's "
                                       "pass (600 frames).")] = True,
    as_json: AsJson = False,
) -> None:
    """Measure the tracker in use on clips with exact ground truth (see docs/tracking.md)."""
    tracker_config = make_tracker(None).config
    if config is not None:
        tracker_config = ScanConfig.from_yaml(config).tracker

    def say(msg: str) -> None:
        typer.echo(msg, err=True)

    if noisy_truth:
        result = run_suite(reference_suite(), lambda: make_tracker(tracker_config),
                           progress=say)
    else:
        engine = VisionEngine.from_config()
        result = run_suite(reference_suite(engine.detector, demo=demo),
                           lambda: make_tracker(tracker_config),
                           frontend=EngineFrontEnd(engine), progress=say)
    fp = tracker_fingerprint(tracker_config)
    ref = reference_for(fingerprint=fp)
    result["settings"] = {"fingerprint": fp, **tracker_config.model_dump(mode="json")}
    result["faces"] = "noisy truth" if noisy_truth else "vision engine"
    result["recorded_reference"] = None if ref is None else ref.as_dict()
    result["issue15"] = issue15_checks(result)
    emit(result, as_json, [
        _table(result),
        f"settings {fp}: " + (f"recorded for the reports: {ref.tracks_per_person:.2f} tracks "
                              "per person" if ref else "no recorded figure (the reports say "
                              "'not measured'); run benchmarks/bench_tracking.py "
                              "--write-reference")], indent=2)
