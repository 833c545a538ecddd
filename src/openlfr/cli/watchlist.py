"""``openlfr watchlist``: enrolment from images (``add``), the accountable entries
(``subject add | list | expire | delete``) and the frozen snapshot a deployment checks
against (``snapshot create | approve``)."""

from __future__ import annotations

import re
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from pydantic import ValidationError
from tqdm import tqdm

from openlfr.cli.governed import acting_user, governed_store, named, now, public
from openlfr.cli.options import AsUser, Dev, Json, Table, emit, invalid_input, parse_time
from openlfr.errors import ConfigError, ImageError
from openlfr.governance import watchlist as W
from openlfr.governance.schemas import SnapshotPublic, SubjectCreate, SubjectPublic
from openlfr.vision.engine import VisionEngine
from openlfr.vision.image import load_image
from openlfr.watchlist.enrol import compute_templates, embedder_key, face_template, folder_subjects

__all__ = ["app"]

CATEGORIES = ("wanted_by_courts, suspected_offence, bail_conditions, missing_person_at_risk, "
              "risk_of_harm, witness, test_subject.")

wl_app = typer.Typer(name="watchlist", no_args_is_help=True,
                     help="Watchlist subjects (accountable entries), enrolment and the frozen "
                          "snapshots deployments check against.")
subject_app = typer.Typer(no_args_is_help=True, help="Watchlist subjects (accountable entries).")
snapshot_app = typer.Typer(no_args_is_help=True, help="The frozen, approved watchlist a "
                           "deployment checks against.")
wl_app.add_typer(subject_app, name="subject")
wl_app.add_typer(snapshot_app, name="snapshot")
app = typer.Typer()
app.add_typer(wl_app, name="watchlist")


@wl_app.command("add")
def watchlist_add(
    name: Annotated[str | None, typer.Argument(help="Name of the person (omit with "
                                               "--folder).")] = None,
    images: Annotated[list[Path] | None, typer.Argument(help="Enrolment image(s) of that "
                                                        "person.")] = None,
    folder: Annotated[Path | None, typer.Option(help="Enrol every Name/<images> subfolder as a "
                                                "subject (name from the folder).")] = None,
    category: Annotated[str, typer.Option(help=CATEGORIES)] = "test_subject",
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
    as_user: AsUser = None, dev: Dev = False, as_json: Json = False,
) -> None:
    """Enrol watchlist subjects from images: each image must show exactly one usable face.
    Stored encrypted in the governed store (with the entry's category, source,
    justification and expiry) unless --check."""
    if folder is None and (not name or not images):
        raise ConfigError("give NAME and IMAGE(s), or --folder DIR of Name/<images>")
    if folder is not None:
        subjects = {k: v[:max(1, per_subject) * 4] for k, v in folder_subjects(folder).items()}
    else:
        subjects = {name or "": list(images or [])}
    engine = VisionEngine.from_config()  # the command's one engine (enrolment flip on)
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
    if not as_json:
        for f in failures:
            typer.echo(f"skipped {f['image']}: {f['error']}", err=True)
    verb = "checked" if check_only else "enrolled"
    emit(out, as_json, [f"{verb} {len(ready)} subject(s) of {len(subjects)}"
                        + ("" if check_only else f"; stored {len(stored)}")])


def _store_subjects(ready: list, category: str, source: str | None,
                    justification: str | None, expires: str, reference: str | None,
                    as_user: str | None, dev: bool, progress: bool) -> list[dict[str, Any]]:
    if not source or not justification:
        raise ConfigError("storing a watchlist entry needs --source (provenance) and "
                          "--justification (why this person is listed); use --check to "
                          "only check images")
    username = named(as_user)
    at = now()
    out = []
    with governed_store(need_key=True, dev=dev) as store:
        for subj, blobs, temps in tqdm(ready, desc="storing", unit="subject", file=sys.stderr,
                                       disable=not progress):
            ref = (reference if reference and len(ready) == 1
                   else re.sub(r"[^A-Za-z0-9]+", "-", subj).strip("-").upper())
            try:
                data = SubjectCreate(reference=ref, name=subj.replace("_", " "),
                                     category=category, source=source,
                                     justification=justification,
                                     expires_at=parse_time(expires, at))
            except ValidationError as exc:
                raise invalid_input(exc) from None
            with store.session() as s:
                row = W.add_subject(s, acting_user(s, username), data, blobs, temps, at)
                out.append({"id": row.id, "reference": ref, "name": data.name,
                            "images": len(blobs)})
    return out


@subject_app.command("add")
def subject_add(
    reference: Annotated[str, typer.Argument(help="Your reference for the entry.")],
    image: Annotated[list[Path], typer.Option(help="Image file (repeat); the last is the "
                                              "most recent.")],
    name: Annotated[str, typer.Option(help="Name of the person.")],
    category: Annotated[str, typer.Option(help=CATEGORIES)],
    source: Annotated[str, typer.Option(help="Source / provenance of entry and image.")],
    justification: Annotated[str, typer.Option(help="Why this person is on the list.")],
    expires: Annotated[str, typer.Option(help="Expiry (ISO 8601 or '+30d').")],
    review: Annotated[str | None, typer.Option(help="Review date.")] = None,
    under_18: Annotated[str | None, typer.Option("--under-18", help="A child: the recorded "
                                                 "justification for including them.")] = None,
    no_templates: Annotated[bool, typer.Option("--no-templates", help="Store the entry and "
                                               "images without computing templates.")] = False,
    as_user: AsUser = None, dev: Dev = False, as_json: Json = False,
) -> None:
    """Enrol a watchlist subject (images and templates stored encrypted)."""
    at = now()
    try:
        data = SubjectCreate(reference=reference, name=name, category=category, source=source,
                             justification=justification, expires_at=parse_time(expires, at),
                             review_at=parse_time(review, at) if review else None,
                             under_18=under_18 is not None, under_18_justification=under_18)
    except ValidationError as exc:
        raise invalid_input(exc) from None
    blobs = []
    for p in image:
        try:
            blobs.append(p.read_bytes())
        except OSError as exc:
            raise ImageError(f"cannot read image {p}: {exc.strerror}") from None
    with governed_store(need_key=True, dev=dev) as store:
        templates = ([] if no_templates
                     else compute_templates(VisionEngine.from_config(), blobs))
        with store.session() as s:
            subj = W.add_subject(s, acting_user(s, as_user), data, blobs, templates, at)
            out = public(SubjectPublic, subj)
    emit(out, as_json, [f"subject {out['id']} ({reference}) enrolled with {len(blobs)} "
                        f"image(s), {len(templates)} template(s)"])


@subject_app.command("list")
def subject_list(all_: Annotated[bool, typer.Option("--all", help="Include expired.")] = False,
                 as_user: AsUser = None, as_json: Json = False) -> None:
    """List watchlist subjects (no images)."""
    with governed_store(need_key=False) as store, store.session() as s:
        rows = [public(SubjectPublic, x) for x in
                W.list_subjects(s, acting_user(s, as_user), now(), include_expired=all_)]
    emit({"subjects": rows}, as_json, Table(
        ["id", "reference", "name", "category", "expires", ""],
        [[str(r["id"]), r["reference"], r["name"], r["category"], r["expires_at"][:10],
          "expired" if r["expired_at"] else ""] for r in rows]))


@subject_app.command("expire")
def subject_expire(subject_id: int, reason: Annotated[str, typer.Option()] = "",
                   as_user: AsUser = None) -> None:
    """Take a subject off the watchlist now (removed by the next retention sweep)."""
    with governed_store(need_key=False) as store, store.session() as s:
        W.expire_subject(s, acting_user(s, as_user), subject_id, now(), reason=reason)
    typer.echo(f"subject {subject_id} expired", err=True)


@subject_app.command("delete")
def subject_delete(subject_id: int,
                   reason: Annotated[str, typer.Option(help="Why (audited).")],
                   as_user: AsUser = None) -> None:
    """Remove a subject and its images and templates now (e.g. entered in error)."""
    with governed_store(need_key=False) as store, store.session() as s:
        W.delete_subject(s, acting_user(s, as_user), subject_id, now(), reason)
    typer.echo(f"subject {subject_id} deleted", err=True)


@snapshot_app.command("create")
def snapshot_create(deployment_id: int, as_user: AsUser = None, dev: Dev = False,
                    as_json: Json = False) -> None:
    """Freeze the subjects meeting the deployment's criteria."""
    with governed_store(need_key=True, dev=dev) as store, store.session() as s:
        out = public(SnapshotPublic, W.create_snapshot(s, acting_user(s, as_user),
                                                       deployment_id, now()))
    emit(out, as_json, [f"snapshot {out['id']}: {out['subject_count']} subjects, "
                        f"{out['template_count']} templates, sha256 {out['content_hash']} "
                        "(needs approval by the authorising officer)"])


@snapshot_app.command("approve")
def snapshot_approve(deployment_id: int, as_user: AsUser = None, as_json: Json = False
                     ) -> None:
    """The authorising officer approves the deployment's snapshot."""
    with governed_store(need_key=False) as store, store.session() as s:
        out = public(SnapshotPublic, W.approve_snapshot(s, acting_user(s, as_user),
                                                        deployment_id, now()))
    emit(out, as_json, [f"snapshot {out['id']} approved"])
