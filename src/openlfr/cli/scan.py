"""``openlfr scan``: scan a source against a watchlist, in memory (recorded footage) or
inside a governed deployment."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from openlfr.alerts.sinks import sink_from_spec
from openlfr.cli.options import Dev, config_option, emit, json_option
from openlfr.errors import ConfigError
from openlfr.fleet.camera import open_governed
from openlfr.pipeline.config import ScanConfig
from openlfr.pipeline.scan import build_watchlist, run_scan
from openlfr.pipeline.sources import Mode, source_config
from openlfr.urls import redact_url
from openlfr.vision.engine import VisionEngine

__all__ = ["app"]

app = typer.Typer()

ScanJson = json_option("Print one JSON object on stdout (live alert lines go to stderr).")
ScanConfigFile = config_option("YAML with vision, tracker, min_hits, scene_cut, threshold "
                               "(see openlfr.pipeline.config); options given here win.")


def _echo_alert(alert: Any, to_stderr: bool) -> None:
    typer.echo(f"ALERT possible match: camera {alert.camera_id} frame {alert.frame_index} "
               f"(t={alert.media_time_s}s) track {alert.track_id} -> {alert.label} "
               f"[{alert.subject_id}] score {alert.score:.3f} >= {alert.threshold:.3f}",
               err=to_stderr)


@app.command("scan")
def scan(
    source: Annotated[str, typer.Argument(help="Video file, image folder, rtsp:// or http:// "
                                          "URL, or webcam index.")],
    watchlist: Annotated[list[Path] | None, typer.Option(
        "--watchlist", "-w", help="Enrolment image (label: file name) or folder of "
        "Name/<images>; repeat. In-memory, for evaluation runs.")] = None,
    deployment: Annotated[int | None, typer.Option(
        help="Scan inside this governed deployment: its approved snapshot is the watchlist, "
             "its window and cameras decide when frames are analysed, alerts and counters "
             "are recorded in the store. Recorded footage needs kind 'evaluation'.")] = None,
    distractors: Annotated[str | None, typer.Option(
        help="Add LFW people as distractors: 'lfw' (all 5,749) or 'lfw:N'.")] = None,
    threshold: Annotated[float | None, typer.Option(
        help="Similarity threshold; default: the calibrated value for the embedder.")] = None,
    min_hits: Annotated[int | None, typer.Option(
        help="Evidence hits a track needs to alert (see openlfr.pipeline.matcher); "
             "default 1.")] = None,
    config: ScanConfigFile = None,
    preview: Annotated[Path | None, typer.Option(
        help="Write the analysed frames, every non-alert face blurred, to this video.")] = None,
    sink: Annotated[list[str] | None, typer.Option(
        help="jsonl:PATH, jsonl:-, webhook:URL or mqtt://HOST:PORT/TOPIC; repeat.")] = None,
    live: Annotated[bool, typer.Option(
        "--live", help="Play files at their frame rate and drop frames when analysis is "
                       "slower (as a camera would); default for files: every frame.")] = False,
    camera_id: Annotated[str, typer.Option(help="Camera id (must be one of the "
                                           "deployment's cameras).")] = "cam-1",
    dev: Dev = False,
    as_json: ScanJson = False,
) -> None:
    """Scan a source against a watchlist: print possible matches live and a summary."""
    if not watchlist and deployment is None:
        raise ConfigError("give a watchlist (--watchlist IMAGE_OR_FOLDER) or a governed "
                          "deployment (--deployment ID)")
    if watchlist and deployment is not None:
        raise ConfigError("--watchlist and --deployment exclude each other: a deployment "
                          "scans against its own approved snapshot")
    if deployment is not None and (threshold is not None or distractors):
        raise ConfigError("a deployment scans with its authorised threshold and approved "
                          "snapshot; --threshold and --distractors do not apply (change "
                          "them through a new authorisation)")
    cfg = source_config(source)
    is_recorded = cfg.type in ("file", "folder")
    if deployment is None and not is_recorded:
        # safeguard 1 (README, Safeguards): live capture is analysed only inside an
        # active, authorised deployment; an in-memory watchlist is for evaluating recorded footage.
        raise ConfigError(f"{cfg.type} sources are scanned only inside an active, authorised "
                          "deployment (--deployment ID); --watchlist runs are for recorded "
                          "footage (video files, image folders)")
    mode = Mode.live if (live or not is_recorded) else Mode.every_frame
    scfg = ScanConfig.from_yaml(config) if config is not None else ScanConfig()
    override_src = "--threshold" if threshold is not None else str(config)
    if threshold is None and scfg.threshold is not None:
        threshold = scfg.threshold
    worker_options = scfg.worker_options()
    if min_hits is not None:
        worker_options["min_hits"] = min_hits
    sinks = [sink_from_spec(s) for s in (sink or [])]
    engine = VisionEngine.from_config(scfg.vision)
    out_err = as_json  # with --json, human lines go to stderr
    extra: dict[str, Any] = {}
    gov = None
    try:
        if deployment is not None:
            gov = open_governed(deployment, engine, camera_id, recorded=is_recorded, dev=dev)
            index, guard, on_alert, on_counters = (gov.index, gov.guard, gov.on_alert,
                                                   gov.on_counters)
            extra["deployment"] = gov.info
            thr_value = gov.threshold
            thr_source = f"deployment {deployment} (authorised threshold)"
        else:
            # progress and the reason for a long wait go to stderr, with --json too
            wl = build_watchlist(watchlist or [], engine=engine, distractors=distractors,
                                 progress=True)
            index, guard, on_counters = wl.index, None, None
            on_alert = None
            if threshold is not None:
                thr_value = threshold
                thr_source = override_src
            else:
                t = engine.threshold
                thr_value = t.value
                thr_source = (("calibrated: " if t.calibrated else "NOT calibrated: ")
                              + t.provenance)
            extra["watchlist"] = {"enrolled": wl.enrolled, "distractors": wl.distractors,
                                  "subjects": len(wl.index), "failures": wl.failures}
            typer.echo("note: evaluation run with an in-memory watchlist, not recorded in "
                       "the governed store (use --deployment for a recorded evaluation)",
                       err=True)
        typer.echo(f"threshold {thr_value:.3f} ({thr_source}); watchlist {len(index)} "
                   f"subject(s); mode {mode.value}", err=True)

        def on_alert_all(alert: Any) -> None:
            _echo_alert(alert, out_err)
            if on_alert is not None:
                on_alert(alert)

        result = run_scan(source, index, thr_value, engine=engine, camera_id=camera_id,
                          mode=mode, sinks=sinks, preview=preview, guard=guard,
                          on_alert=on_alert_all, on_counters=on_counters,
                          deployment_id=deployment, worker_options=worker_options)
    finally:
        if gov is not None:
            gov.close()  # what the recorder holds is written before the store closes
    st = result.stats
    if cfg.type == "stream":  # the summary is printed: no password
        source = redact_url(source)
    summary = {
        "source": source, "camera_id": camera_id, "mode": mode.value,
        "threshold": thr_value, "threshold_source": thr_source,
        "evaluation": is_recorded,
        "frames": st["frames"], "decoded": st["decoded"], "refused": st["refused"],
        "faces": st["faces"], "faces_embedded": st["embedded"], "tracks": st["tracks"],
        "tracks_compared": st["tracks_compared"],
        "alerts": st["alerts"], "dropped": st["dropped"], "scene_cuts": st["scene_cuts"],
        "frames_per_s": st["frames_per_s"], "real_time_factor": st["real_time_factor"],
        "elapsed_s": st["elapsed_s"], "latency": st["latency"],
        "alert_latency_ms": st["alert_latency_ms"], "delivery": st["delivery"],
        "best_score_without_alert": st["best_score_without_alert"],
        "alert_list": [a.to_public() for a in result.alerts],
        "interrupted": bool(st.get("interrupted", False)),
        **extra,
    }
    emit(summary, as_json, [
        f"frames {summary['frames']} (decoded {summary['decoded']}, dropped "
        f"{summary['dropped']}, refused {summary['refused']}), faces {summary['faces']} "
        f"(embedded {summary['faces_embedded']}), tracks {summary['tracks']}, alerts "
        f"{summary['alerts']}; {summary['frames_per_s']} frames/s, real-time factor "
        f"{summary['real_time_factor']}"
        + ("; interrupted (Ctrl-C)" if summary["interrupted"] else "")])
