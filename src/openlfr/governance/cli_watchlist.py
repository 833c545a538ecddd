"""Watchlist subjects and snapshots: ``openlfr watchlist subject add|list|expire|delete`` and
``openlfr watchlist snapshot create|approve``.

The commands register on :data:`openlfr.governance.cli.subject_app` and
:data:`~openlfr.governance.cli.snapshot_app` when imported (by
:func:`openlfr.governance.cli.register`)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from openlfr.errors import ConfigError, ImageError
from openlfr.governance.cli import (
    AsUser,
    Dev,
    Json,
    _actor,
    _dump,
    _emit,
    _now,
    _settings,
    _store,
    _table,
    _validation,
    compute_templates,
    parse_time,
    snapshot_app,
    subject_app,
)

__all__: list[str] = []


@subject_app.command("add")
def subject_add(
    reference: Annotated[str, typer.Argument(help="Your reference for the entry.")],
    image: Annotated[list[Path], typer.Option(help="Image file (repeat); the last is the "
                                              "most recent.")],
    name: Annotated[str, typer.Option(help="Name of the person.")],
    category: Annotated[str, typer.Option(help="wanted_by_courts, suspected_offence, "
                                          "bail_conditions, missing_person_at_risk, "
                                          "risk_of_harm, witness, test_subject.")],
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
    from pydantic import ValidationError

    from openlfr.governance import watchlist as W
    from openlfr.governance.schemas import SubjectCreate, SubjectPublic

    now = _now()
    try:
        data = SubjectCreate(reference=reference, name=name, category=category, source=source,
                             justification=justification, expires_at=parse_time(expires, now),
                             review_at=parse_time(review, now) if review else None,
                             under_18=under_18 is not None, under_18_justification=under_18)
    except ValidationError as exc:
        raise ConfigError(_validation(exc)) from None
    blobs = []
    for p in image:
        try:
            blobs.append(p.read_bytes())
        except OSError as exc:
            raise ImageError(f"cannot read image {p}: {exc.strerror}") from None
    with _store(need_key=True, dev=dev) as store:
        templates = [] if no_templates else compute_templates(blobs, _settings())
        with store.session() as s:
            subj = W.add_subject(s, _actor(s, as_user), data, blobs, templates, now)
            out = _dump(SubjectPublic.model_validate(subj))
    if as_json:
        _emit(out)
    else:
        typer.echo(f"subject {out['id']} ({reference}) enrolled with {len(blobs)} image(s), "
                   f"{len(templates)} template(s)")


def _subject_out(subj: Any) -> dict[str, Any]:
    from openlfr.governance.schemas import SubjectPublic

    return _dump(SubjectPublic.model_validate(subj))


@subject_app.command("list")
def subject_list(all_: Annotated[bool, typer.Option("--all", help="Include expired.")] = False,
                 as_user: AsUser = None, as_json: Json = False) -> None:
    """List watchlist subjects (no images)."""
    from openlfr.governance import watchlist as W

    with _store(need_key=False) as store, store.session() as s:
        rows = [_subject_out(x) for x in W.list_subjects(s, _actor(s, as_user), _now(),
                                                          include_expired=all_)]
    if as_json:
        _emit({"subjects": rows})
        return
    _table([[str(r["id"]), r["reference"], r["name"], r["category"], r["expires_at"][:10],
             "expired" if r["expired_at"] else ""] for r in rows],
           ["id", "reference", "name", "category", "expires", ""])


@subject_app.command("expire")
def subject_expire(subject_id: int, reason: Annotated[str, typer.Option()] = "",
                   as_user: AsUser = None) -> None:
    """Take a subject off the watchlist now (removed by the next retention sweep)."""
    from openlfr.governance import watchlist as W

    with _store(need_key=False) as store, store.session() as s:
        W.expire_subject(s, _actor(s, as_user), subject_id, _now(), reason=reason)
    typer.echo(f"subject {subject_id} expired", err=True)


@subject_app.command("delete")
def subject_delete(subject_id: int,
                   reason: Annotated[str, typer.Option(help="Why (audited).")],
                   as_user: AsUser = None) -> None:
    """Remove a subject and its images and templates now (e.g. entered in error)."""
    from openlfr.governance import watchlist as W

    with _store(need_key=False) as store, store.session() as s:
        W.delete_subject(s, _actor(s, as_user), subject_id, _now(), reason)
    typer.echo(f"subject {subject_id} deleted", err=True)


@snapshot_app.command("create")
def snapshot_create(deployment_id: int, as_user: AsUser = None, dev: Dev = False,
                    as_json: Json = False) -> None:
    """Freeze the subjects meeting the deployment's criteria."""
    from openlfr.governance import watchlist as W
    from openlfr.governance.schemas import SnapshotPublic

    with _store(need_key=True, dev=dev) as store, store.session() as s:
        snap = W.create_snapshot(s, _actor(s, as_user), deployment_id, _now())
        out = _dump(SnapshotPublic.model_validate(snap))
    if as_json:
        _emit(out)
    else:
        typer.echo(f"snapshot {out['id']}: {out['subject_count']} subjects, "
                   f"{out['template_count']} templates, sha256 {out['content_hash']} "
                   "(needs approval by the authorising officer)")


@snapshot_app.command("approve")
def snapshot_approve(deployment_id: int, as_user: AsUser = None, as_json: Json = False
                     ) -> None:
    """The authorising officer approves the deployment's snapshot."""
    from openlfr.governance import watchlist as W
    from openlfr.governance.schemas import SnapshotPublic

    with _store(need_key=False) as store, store.session() as s:
        snap = W.approve_snapshot(s, _actor(s, as_user), deployment_id, _now())
        out = _dump(SnapshotPublic.model_validate(snap))
    if as_json:
        _emit(out)
    else:
        typer.echo(f"snapshot {out['id']} approved")
