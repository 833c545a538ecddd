"""Pipeline commands: ``openlfr scan`` and ``openlfr watchlist add``."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from openlfr.errors import ConfigError, ImageError

__all__ = ["register"]

Json = Annotated[bool, typer.Option("--json", help="Print one JSON object on stdout "
                                    "(live alert lines go to stderr).")]


def _echo_alert(alert: Any, to_stderr: bool) -> None:
    typer.echo(f"ALERT possible match: camera {alert.camera_id} frame {alert.frame_index} "
               f"(t={alert.media_time_s}s) track {alert.track_id} -> {alert.label} "
               f"[{alert.subject_id}] score {alert.score:.3f} >= {alert.threshold:.3f}",
               err=to_stderr)


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
    config: Annotated[Path | None, typer.Option(
        "--config", help="YAML with vision, tracker, min_hits, scene_cut, threshold "
                         "(see openlfr.pipeline.config); options given here win.")] = None,
    preview: Annotated[Path | None, typer.Option(
        help="Write the analysed frames, every non-alert face blurred, to this video.")] = None,
    sink: Annotated[list[str] | None, typer.Option(
        help="jsonl:PATH, jsonl:-, webhook:URL or mqtt://HOST:PORT/TOPIC; repeat.")] = None,
    live: Annotated[bool, typer.Option(
        "--live", help="Play files at their frame rate and drop frames when analysis is "
                       "slower (as a camera would); default for files: every frame.")] = False,
    camera_id: Annotated[str, typer.Option(help="Camera id (must be one of the "
                                           "deployment's cameras).")] = "cam-1",
    dev: Annotated[bool, typer.Option("--dev", help="Development mode for the store key.")
                   ] = False,
    as_json: Json = False,
) -> None:
    """Scan a source against a watchlist: print possible matches live and a summary."""
    from openlfr.alerts.sinks import sink_from_spec
    from openlfr.pipeline.config import ScanConfig
    from openlfr.pipeline.scan import build_watchlist, run_scan
    from openlfr.pipeline.sources import Mode, source_config
    from openlfr.vision.engine import VisionEngine

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
    mode = Mode.live if (live or not is_recorded) else Mode.evaluation
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
            from openlfr.fleet.camera import open_governed

            gov = open_governed(deployment, engine, camera_id, recorded=is_recorded, dev=dev)
            index, guard, on_alert, on_counters = (gov.index, gov.guard, gov.on_alert,
                                                   gov.on_counters)
            extra["deployment"] = gov.info
            thr_value = gov.threshold
            thr_source = f"deployment {deployment} (authorised threshold)"
        else:
            # progress and the reason for a long wait go to stderr, with --json too
            wl = build_watchlist(watchlist or [], distractors=distractors, progress=True)
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
        from openlfr.urls import redact_url

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
    if as_json:
        typer.echo(json.dumps(summary, default=str))
        return
    typer.echo(f"frames {summary['frames']} (decoded {summary['decoded']}, dropped "
               f"{summary['dropped']}, refused {summary['refused']}), faces {summary['faces']} "
               f"(embedded {summary['faces_embedded']}), tracks {summary['tracks']}, alerts "
               f"{summary['alerts']}; {summary['frames_per_s']} frames/s, real-time factor "
               f"{summary['real_time_factor']}"
               + ("; interrupted (Ctrl-C)" if summary["interrupted"] else ""))


def watchlist_add(
    name: Annotated[str | None, typer.Argument(help="Name of the person (omit with "
                                               "--folder).")] = None,
    images: Annotated[list[Path] | None, typer.Argument(help="Enrolment image(s) of that "
                                                        "person.")] = None,
    folder: Annotated[Path | None, typer.Option(help="Enrol every Name/<images> subfolder as a "
                                                "subject (name from the folder).")] = None,
    category: Annotated[str, typer.Option(help="wanted_by_courts, suspected_offence, "
                                          "bail_conditions, missing_person_at_risk, "
                                          "risk_of_harm, witness, test_subject.")
                        ] = "test_subject",
    source: Annotated[str | None, typer.Option(help="Source / provenance of the images.")
                      ] = None,
    justification: Annotated[str | None, typer.Option(help="Why this person is listed.")
                             ] = None,
    expires: Annotated[str, typer.Option(help="Expiry: ISO 8601 or '+30d'.")] = "+30d",
    reference: Annotated[str | None, typer.Option(help="Your reference (default: from the "
                                                  "name).")] = None,
    per_subject: Annotated[int, typer.Option(help="Images per subject with --folder.")] = 1,
    check_only: Annotated[bool, typer.Option("--check", help="Only check the images "
                                             "(exactly one usable face each); store "
                                             "nothing.")] = False,
    as_user: Annotated[str | None, typer.Option("--as", envvar="OPENLFR_AS",
                                                help="The acting user.")] = None,
    dev: Annotated[bool, typer.Option("--dev", help="Development mode for the store key.")
                   ] = False,
    as_json: Json = False,
) -> None:
    """Enrol watchlist subjects from images: each image must show exactly one usable face.
    Stored encrypted in the governed store (with the entry's category, source,
    justification and expiry) unless --check."""
    from openlfr.watchlist.enrol import (
        embedder_key,
        enrolment_engine,
        face_template,
        folder_subjects,
    )

    if folder is None and (not name or not images):
        raise ConfigError("give NAME and IMAGE(s), or --folder DIR of Name/<images>")
    if folder is not None:
        subjects = {k: v[:max(1, per_subject) * 4] for k, v in folder_subjects(folder).items()}
    else:
        subjects = {name or "": list(images or [])}
    engine = enrolment_engine()
    from tqdm import tqdm

    from openlfr.vision.image import load_image

    ready: list[tuple[str, list[bytes], list[tuple[str, Any]]]] = []
    failures: list[dict[str, str]] = []
    key = embedder_key(engine)
    for subj, paths in tqdm(subjects.items(), desc="checking images", unit="subject",
                            file=sys.stderr, disable=len(subjects) < 20):
        blobs, temps = [], []
        for p in paths:
            if folder is not None and len(temps) >= per_subject:
                break
            try:
                data = p.read_bytes()
                t = face_template(engine, load_image(data))
            except OSError as exc:
                failures.append({"image": str(p), "error": f"cannot read: {exc.strerror}"})
                continue
            except ImageError as exc:
                failures.append({"image": str(p), "error": str(exc)})
                continue
            blobs.append(data)
            temps.append((key, t.embedding))
        if temps:
            ready.append((subj, blobs, temps))
    if folder is None and failures:
        raise ImageError("; ".join(f"{f['image']}: {f['error']}" for f in failures))
    stored: list[dict[str, Any]] = []
    if not check_only and ready:
        stored = _store_subjects(ready, category, source, justification, expires, reference,
                                 as_user, dev, progress=len(ready) >= 20)
    out = {"checked": len(subjects), "usable": len(ready), "stored": len(stored),
           "subjects": stored if not check_only else [s for s, _, _ in ready],
           "failures": failures, "embedder_key": key}
    if as_json:
        typer.echo(json.dumps(out, default=str))
        return
    for f in failures:
        typer.echo(f"skipped {f['image']}: {f['error']}", err=True)
    verb = "checked" if check_only else "enrolled"
    typer.echo(f"{verb} {len(ready)} subject(s) of {len(subjects)}"
               + ("" if check_only else f"; stored {len(stored)}"))


def _store_subjects(ready: list, category: str, source: str | None,
                    justification: str | None, expires: str, reference: str | None,
                    as_user: str | None, dev: bool, progress: bool) -> list[dict[str, Any]]:
    import re
    from datetime import UTC, datetime

    from pydantic import ValidationError
    from tqdm import tqdm

    from openlfr.configio import validation_lines
    from openlfr.governance import watchlist as GW
    from openlfr.governance.auth import get_user
    from openlfr.governance.cli import parse_time
    from openlfr.governance.runtime import open_store
    from openlfr.governance.schemas import SubjectCreate
    from openlfr.settings import Settings

    if not source or not justification:
        raise ConfigError("storing a watchlist entry needs --source (provenance) and "
                          "--justification (why this person is listed); use --check to "
                          "only check images")
    if not as_user:
        raise ConfigError("name the acting user with --as USERNAME (or set OPENLFR_AS)")
    now = datetime.now(UTC)
    store = open_store(Settings(), dev=True if dev else None, need_key=True)
    out = []
    try:
        for subj, blobs, temps in tqdm(ready, desc="storing", unit="subject", file=sys.stderr,
                                       disable=not progress):
            ref = (reference if reference and len(ready) == 1
                   else re.sub(r"[^A-Za-z0-9]+", "-", subj).strip("-").upper())
            try:
                data = SubjectCreate(reference=ref, name=subj.replace("_", " "),
                                     category=category, source=source,
                                     justification=justification,
                                     expires_at=parse_time(expires, now))
            except ValidationError as exc:
                raise ConfigError("; ".join(validation_lines(exc))) from None
            with store.session() as s:
                actor = get_user(s, as_user)
                row = GW.add_subject(s, actor, data, blobs, temps, now)
                out.append({"id": row.id, "reference": ref, "name": data.name,
                            "images": len(blobs)})
    finally:
        store.close()
    return out


def register(app: typer.Typer) -> None:
    from openlfr.watchlist.cli_group import group

    app.command("scan")(scan)
    group(app).command("add")(watchlist_add)
