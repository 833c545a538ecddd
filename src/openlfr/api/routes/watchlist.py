"""Watchlist subjects (enrol with an image upload, list, expire, image) and snapshots."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, File, Form, Request, UploadFile
from fastapi.responses import Response
from pydantic import ValidationError
from sqlalchemy import or_, select
from sqlalchemy.orm import selectinload
from starlette.concurrency import run_in_threadpool

from openlfr.api.deps import (
    After,
    CanAddSubject,
    CanApproveSnapshot,
    CanCreateSnapshot,
    CanExpireSubject,
    CanListSubjects,
    CanSeeSubjectImage,
    CanViewDeployments,
    Db,
    GuardedRoute,
    Limit,
    ReadDb,
    UploadTooLarge,
    next_page,
    page,
)
from openlfr.api.schemas import ExpireIn, PathId, SnapshotPublic, SubjectList, SubjectPublic
from openlfr.configio import validation_lines
from openlfr.errors import ConfigError, ImageError
from openlfr.governance import watchlist as svc
from openlfr.governance.auth import Action, require_image_scope
from openlfr.governance.schemas import SubjectCreate
from openlfr.store.models import Category, Subject

router = APIRouter(route_class=GuardedRoute, prefix="/api", tags=["watchlist"])

IMAGE_HEADERS = {"Cache-Control": "no-store", "Content-Disposition": "inline"}


def _now() -> datetime:
    return datetime.now(UTC)


def sniff_image_type(data: bytes) -> str:
    if data.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    if data[:2] == b"BM":
        return "image/bmp"
    return "application/octet-stream"


def image_response(data: bytes) -> Response:
    """Decrypted biometric image: never cached, never sniffed as anything else."""
    return Response(data, media_type=sniff_image_type(data), headers=IMAGE_HEADERS)


async def read_upload(upload: UploadFile, limit: int) -> bytes:
    """The whole upload, refusing more than ``limit`` bytes without reading them all."""
    chunks, size = [], 0
    while True:
        chunk = await upload.read(1 << 20)
        if not chunk:
            break
        size += len(chunk)
        if size > limit:
            raise UploadTooLarge(f"the image is larger than {limit // (1024 * 1024)} MiB: "
                                 "send a smaller photo (a face of 200-1000 px is plenty)")
        chunks.append(chunk)
    data = b"".join(chunks)
    if not data:
        raise ImageError("the uploaded file is empty")
    return data


@router.get("/watchlist/subjects", response_model=SubjectList)
def list_subjects(request: Request, response: Response, db: ReadDb, me: CanListSubjects,
                  include_expired: bool = False, category: Category | None = None,
                  limit: Limit = 100, after: After = None) -> SubjectList:
    """Oldest first, at most ``limit``; the next page is ``after=<X-Next-After>`` (also in
    the ``Link`` header). Expired entries and those past review only with
    ``include_expired``."""
    # the permission is checked by CanListSubjects; this is list_subjects, bounded
    now = _now()
    q = (select(Subject).options(selectinload(Subject.images), selectinload(Subject.templates))
         .order_by(Subject.id).limit(limit + 1))
    if category is not None:
        q = q.where(Subject.category == category)
    if after is not None:
        q = q.where(Subject.id > after)
    if not include_expired:  # svc.selectable, in SQL
        q = q.where(Subject.expired_at.is_(None), Subject.expires_at > now,
                    or_(Subject.review_at.is_(None), Subject.review_at > now))
    found = [s for s in db.scalars(q) if include_expired or svc.selectable(s, now)]
    rows, cursor = page(found, limit, lambda s: s.id)
    next_page(request, response, "after", cursor)
    return SubjectList(items=[SubjectPublic.model_validate(s) for s in rows])


@router.post("/watchlist/subjects", response_model=SubjectPublic, status_code=201)
async def enrol_subject(
    request: Request, db: Db, me: CanAddSubject,
    image: Annotated[UploadFile, File(description="A recent photo with exactly one face.")],
    name: Annotated[str, Form(min_length=1, max_length=200)],
    category: Annotated[Category, Form()],
    source: Annotated[str, Form(min_length=1, max_length=10000)],
    justification: Annotated[str, Form(min_length=1, max_length=10000)],
    expires_at: Annotated[datetime, Form(description="Review/expiry date (ISO 8601).")],
    reference: Annotated[str | None, Form(max_length=64)] = None,
    review_at: Annotated[datetime | None, Form()] = None,
) -> SubjectPublic:
    """Enrol a subject from one photo: it must hold exactly one usable face. The photo and
    its template are stored encrypted; on any error nothing is stored."""
    ctx = request.app.state.ctx
    try:
        data = SubjectCreate(reference=reference or f"WL-{secrets.token_hex(4).upper()}",
                             name=name, category=category, source=source,
                             justification=justification, expires_at=_aware(expires_at),
                             review_at=_aware(review_at) if review_at else None)
    except ValidationError as exc:
        raise ConfigError("; ".join(validation_lines(exc))) from None
    if data.expires_at <= _now():
        raise ConfigError("expires_at must be in the future: an expired entry cannot be "
                          "enrolled")
    raw = await read_upload(image, ctx.max_upload_bytes)
    # the expensive part (decode, detect, embed) off the event loop; raises ImageError
    key, vector = await run_in_threadpool(ctx.enrol, raw)

    def store() -> SubjectPublic:
        try:
            subject = svc.add_subject(db, me.user, data, [raw], [(key, vector)], _now())
            db.commit()
        except Exception:
            db.rollback()
            raise
        return SubjectPublic.model_validate(subject)

    return await run_in_threadpool(store)


def _aware(dt: datetime) -> datetime:
    return dt if dt.tzinfo is not None else dt.replace(tzinfo=UTC)


@router.get("/watchlist/subjects/{subject_id}", response_model=SubjectPublic)
def show_subject(subject_id: PathId, db: ReadDb, me: CanListSubjects) -> SubjectPublic:
    return SubjectPublic.model_validate(svc.get_subject(db, subject_id))


@router.post("/watchlist/subjects/{subject_id}/expire", response_model=SubjectPublic)
def expire_subject(subject_id: PathId, db: Db, me: CanExpireSubject,
                   body: ExpireIn | None = None) -> SubjectPublic:
    """Take the subject off the watchlist now (removed later by the retention sweeper)."""
    s = svc.expire_subject(db, me.user, subject_id, _now(),
                           reason=(body or ExpireIn()).reason)
    db.commit()
    return SubjectPublic.model_validate(s)


@router.get("/watchlist/subjects/{subject_id}/image", response_class=Response,
            response_model=None, responses={200: {"content": {"image/*": {}}}})
def subject_image(subject_id: PathId, db: Db, me: CanSeeSubjectImage) -> Response:
    """The subject's most recent photo, decrypted (viewing is audited; never cached).
    Operators and engagement officers see only subjects in a running deployment's
    snapshot."""
    require_image_scope(db, me.user, Action.SUBJECT_IMAGE, subject_id=subject_id,
                        target=f"subject:{subject_id}")
    data = svc.subject_image(db, me.user, subject_id, _now())
    db.commit()
    return image_response(data)


# --- snapshots ---------------------------------------------------------------------------


@router.post("/deployments/{deployment_id}/snapshot", response_model=SnapshotPublic,
             status_code=201, tags=["snapshots"])
def create_snapshot(deployment_id: PathId, db: Db, me: CanCreateSnapshot) -> SnapshotPublic:
    """Freeze the subjects meeting the deployment's criteria (replaces an unapproved one)."""
    snap = svc.create_snapshot(db, me.user, deployment_id, _now())
    db.commit()
    return SnapshotPublic.model_validate(snap)


@router.get("/deployments/{deployment_id}/snapshot", response_model=SnapshotPublic,
            tags=["snapshots"])
def show_snapshot(deployment_id: PathId, db: ReadDb, me: CanViewDeployments) -> SnapshotPublic:
    return SnapshotPublic.model_validate(svc.get_snapshot(db, deployment_id))


@router.post("/deployments/{deployment_id}/snapshot/approve", response_model=SnapshotPublic,
             tags=["snapshots"])
def approve_snapshot(deployment_id: PathId, db: Db, me: CanApproveSnapshot) -> SnapshotPublic:
    """The deployment's authorising officer approves its watchlist snapshot."""
    snap = svc.approve_snapshot(db, me.user, deployment_id, _now())
    db.commit()
    return SnapshotPublic.model_validate(snap)
