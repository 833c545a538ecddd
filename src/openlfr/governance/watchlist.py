"""Accountable watchlists: subjects, their encrypted images and templates, and the frozen,
approved snapshot each deployment checks against.

Computing templates is the vision side's job (``openlfr.watchlist.enrol``); this module
stores what it is given. Templates are keyed by embedder (``name:model_sha256``): ArcFace and
dlib templates are not comparable, and a snapshot holds only its deployment's embedder's.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from datetime import datetime
from typing import NamedTuple

import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from openlfr.errors import ConfigError, NotFound, StateError
from openlfr.governance import audit
from openlfr.governance.auth import Action, require
from openlfr.governance.crypto import Keyring, aad_for
from openlfr.governance.deployments import get_deployment
from openlfr.governance.schemas import SubjectCreate
from openlfr.store.models import Category, DeploymentStatus, Subject, SubjectImage, Template, User
from openlfr.store.models_watchlist import Snapshot, SnapshotSubject, SnapshotTemplate
from openlfr.store.types import as_utc

__all__ = ["selectable", "add_subject", "add_templates", "expire_subject", "delete_subject",
           "list_subjects",
           "get_subject", "subject_image", "create_snapshot", "approve_snapshot",
           "get_snapshot", "load_snapshot", "snapshot_image", "SnapshotData", "keyring_of",
           "encode_template", "decode_template"]

MAX_IMAGE_BYTES = 20 * 1024 * 1024


def keyring_of(session: Session, keyring: Keyring | None = None) -> Keyring:
    """The explicit keyring, else the one ``open_store`` put in ``session.info``."""
    kr = keyring if keyring is not None else session.info.get("keyring")
    if kr is None:
        raise ConfigError("no encryption key available to this session: open the store with "
                          "openlfr.governance.runtime.open_store(settings)")
    return kr


def encode_template(vector: np.ndarray) -> bytes:
    v = np.asarray(vector)
    if v.ndim != 1 or not 16 <= v.shape[0] <= 8192:
        raise ConfigError(f"a template must be a 1-D vector of 16..8192 values, got shape "
                          f"{v.shape}")
    v = v.astype("<f4")
    if not np.all(np.isfinite(v)) or not np.any(v):
        raise ConfigError("a template must be finite and not all zeros")
    return v.tobytes()


def decode_template(data: bytes, dim: int) -> np.ndarray:
    v = np.frombuffer(data, dtype="<f4")
    if v.shape[0] != dim:
        raise StateError(f"template holds {v.shape[0]} values, expected {dim}")
    return v.astype(np.float32)


def selectable(subject: Subject, now: datetime) -> bool:
    """Pure: may this subject go into a new snapshot? Not expired, not past review."""
    if subject.expired_at is not None or subject.expires_at <= now:
        return False
    return subject.review_at is None or subject.review_at > now


# --- subjects ---


def get_subject(session: Session, subject_id: int) -> Subject:
    s = session.get(Subject, subject_id)
    if s is None:
        raise NotFound(f"no watchlist subject {subject_id}")
    return s


def _encode_templates(templates: Sequence[tuple[str, np.ndarray]]) -> list[tuple[str, bytes]]:
    """Validate and encode every template before anything is written."""
    encoded = []
    for key, vec in templates:
        if not key or len(key) > 200:
            raise ConfigError(f"invalid embedder key {key!r}")
        encoded.append((key, encode_template(vec)))
    return encoded


def _store_templates(session: Session, kr: Keyring, subject: Subject,
                     encoded: Sequence[tuple[str, bytes]], now: datetime) -> list[str]:
    keys = []
    for key, data in encoded:
        row = Template(subject_id=subject.id, embedder_key=key, dim=len(data) // 4, blob=b"",
                       created_at=now)
        session.add(row)
        session.flush()
        row.blob = kr.encrypt(data, aad_for("templates", row.id, "blob"))
        keys.append(key)
    return keys


def add_subject(session: Session, actor: User, data: SubjectCreate, images: list[bytes],
                templates: list[tuple[str, np.ndarray]], now: datetime,
                keyring: Keyring | None = None) -> Subject:
    """Enrol a subject with at least one image; images and templates are stored encrypted.
    The audit entry records the reference, category and image hashes, never the data."""
    now = as_utc(now)
    require(session, actor, Action.SUBJECT_ADD, now=now, target=f"subject:{data.reference}")
    kr = keyring_of(session, keyring)
    if not images:
        raise ConfigError("a watchlist subject needs at least one image")
    for i, img in enumerate(images):
        if not img or len(img) > MAX_IMAGE_BYTES:
            raise ConfigError(f"image {i} is empty or larger than {MAX_IMAGE_BYTES} bytes")
    encoded = _encode_templates(templates)
    if data.expires_at <= now:
        raise ConfigError("expires_at must be in the future")
    if session.scalar(select(Subject).where(Subject.reference == data.reference)):
        raise StateError(f"a subject with reference {data.reference!r} already exists")
    subject = Subject(reference=data.reference, name=data.name, category=data.category,
                      source=data.source, justification=data.justification,
                      added_by_id=actor.id, created_at=now, review_at=data.review_at,
                      expires_at=data.expires_at, under_18=data.under_18,
                      under_18_justification=data.under_18_justification)
    session.add(subject)
    session.flush()
    hashes = []
    for img in images:
        row = SubjectImage(subject_id=subject.id, sha256=hashlib.sha256(img).hexdigest(),
                           size=len(img), blob=b"", created_at=now)
        session.add(row)
        session.flush()
        row.blob = kr.encrypt(img, aad_for("subject_images", row.id, "blob"))
        hashes.append(row.sha256)
    keys = _store_templates(session, kr, subject, encoded, now)
    session.flush()
    audit.append(session, actor=actor.username, action="enrol", now=now,
                 target=f"subject:{subject.id}", details={
                     "reference": subject.reference, "category": subject.category,
                     "source": subject.source, "expires_at": subject.expires_at,
                     "review_at": subject.review_at, "image_sha256": hashes,
                     "templates": sorted(keys)})
    return subject


def add_templates(session: Session, actor: User, subject_id: int,
                  templates: list[tuple[str, np.ndarray]], now: datetime,
                  keyring: Keyring | None = None) -> Subject:
    """Add templates from another embedder to an existing subject."""
    now = as_utc(now)
    require(session, actor, Action.SUBJECT_ADD, now=now, target=f"subject:{subject_id}")
    subject = get_subject(session, subject_id)
    keys = _store_templates(session, keyring_of(session, keyring), subject,
                            _encode_templates(templates), now)
    audit.append(session, actor=actor.username, action="enrol_templates", now=now,
                 target=f"subject:{subject.id}", details={"templates": sorted(keys)})
    return subject


def expire_subject(session: Session, actor: User, subject_id: int, now: datetime,
                   reason: str = "") -> Subject:
    """Take a subject off the watchlist now: no longer selectable for snapshots; removed by
    the retention sweeper."""
    now = as_utc(now)
    require(session, actor, Action.SUBJECT_EXPIRE, now=now, target=f"subject:{subject_id}")
    subject = get_subject(session, subject_id)
    if subject.expired_at is not None:
        raise StateError(f"subject {subject_id} already expired at "
                         f"{subject.expired_at.isoformat()}")
    subject.expired_at, subject.expired_reason = now, reason or None
    subject.expires_at = min(subject.expires_at, now)
    session.flush()
    audit.append(session, actor=actor.username, action="subject_expire", now=now,
                 target=f"subject:{subject.id}", details={"reference": subject.reference,
                                                          "reason": reason})
    return subject


def delete_subject(session: Session, actor: User, subject_id: int, now: datetime,
                   reason: str) -> None:
    """Remove a subject now, with its images and templates (an entry made in error, or a
    court order). Frozen snapshots keep their copies until retention deletes them."""
    now = as_utc(now)
    require(session, actor, Action.SUBJECT_EXPIRE, now=now, target=f"subject:{subject_id}")
    if not reason.strip():
        raise ConfigError("deleting a watchlist subject needs a stated reason")
    subject = get_subject(session, subject_id)
    ref, images = subject.reference, [i.sha256 for i in subject.images]
    session.delete(subject)
    session.flush()
    audit.append(session, actor=actor.username, action="delete", now=now,
                 target=f"subject:{subject_id}", details={"reference": ref,
                                                          "image_sha256": images,
                                                          "reason": reason.strip()})


def list_subjects(session: Session, actor: User, now: datetime, *,
                  include_expired: bool = False,
                  category: Category | None = None) -> list[Subject]:
    now = as_utc(now)
    require(session, actor, Action.SUBJECT_LIST, now=now)
    q = (select(Subject).options(selectinload(Subject.images), selectinload(Subject.templates))
         .order_by(Subject.id))
    if category is not None:
        q = q.where(Subject.category == category)
    rows = list(session.scalars(q))
    return rows if include_expired else [s for s in rows if selectable(s, now)]


def subject_image(session: Session, actor: User, subject_id: int, now: datetime,
                  keyring: Keyring | None = None) -> bytes:
    """The subject's most recent image (decrypted); viewing is audited."""
    now = as_utc(now)
    require(session, actor, Action.SUBJECT_IMAGE, now=now, target=f"subject:{subject_id}")
    subject = get_subject(session, subject_id)
    if not subject.images:
        raise NotFound(f"subject {subject_id} has no image")
    img = subject.images[-1]
    data = keyring_of(session, keyring).decrypt(img.blob, aad_for("subject_images", img.id,
                                                                  "blob"))
    audit.append(session, actor=actor.username, action="view_image", now=now,
                 target=f"subject_image:{img.id}", details={"sha256": img.sha256})
    return data


# --- snapshots ---


def get_snapshot(session: Session, deployment_id: int) -> Snapshot:
    snap = session.scalar(select(Snapshot).where(Snapshot.deployment_id == deployment_id))
    if snap is None:
        raise NotFound(f"deployment {deployment_id} has no watchlist snapshot (it was never "
                       "created, or retention deleted it after the deployment ended)")
    return snap


def create_snapshot(session: Session, actor: User, deployment_id: int, now: datetime,
                    keyring: Keyring | None = None) -> Snapshot:
    """Freeze the subjects meeting the deployment's criteria (category, not expired, with a
    template from the deployment's embedder) as copies. Replaces an earlier snapshot of a
    deployment that has not started; needs the authorising officer's approval again."""
    now = as_utc(now)
    require(session, actor, Action.SNAPSHOT_CREATE, now=now,
            target=f"deployment:{deployment_id}")
    kr = keyring_of(session, keyring)
    dep = get_deployment(session, deployment_id, lock=True)
    if dep.status not in (DeploymentStatus.DRAFT, DeploymentStatus.AUTHORISED):
        raise StateError(f"deployment {dep.id} is {dep.status.value}: its watchlist snapshot "
                         "can only be made before it starts")
    old = session.scalar(select(Snapshot).where(Snapshot.deployment_id == dep.id))
    if old is not None:
        session.delete(old)
        session.flush()
    subjects = session.scalars(
        select(Subject).where(Subject.category.in_([Category(c) for c in dep.categories]))
        .options(selectinload(Subject.images), selectinload(Subject.templates))
        .order_by(Subject.id)).all()
    snap = Snapshot(deployment_id=dep.id, created_by_id=actor.id, created_at=now,
                    content_hash="", subject_count=0, template_count=0)
    session.add(snap)
    session.flush()
    manifest, skipped, n_templates = [], [], 0
    for s in subjects:
        if not selectable(s, now):
            continue
        temps = [t for t in s.templates if t.embedder_key == dep.embedder_key]
        if not temps:
            skipped.append(s.reference)
            continue
        ss = SnapshotSubject(snapshot_id=snap.id, subject_id=s.id, reference=s.reference,
                             name=s.name, category=s.category)
        session.add(ss)
        session.flush()
        if s.images:
            img = s.images[-1]
            data = kr.decrypt(img.blob, aad_for("subject_images", img.id, "blob"))
            ss.image_sha256 = img.sha256
            ss.image_blob = kr.encrypt(data, aad_for("snapshot_subjects", ss.id, "image_blob"))
        t_hashes = []
        for t in temps:
            data = kr.decrypt(t.blob, aad_for("templates", t.id, "blob"))
            st = SnapshotTemplate(snapshot_subject_id=ss.id, snapshot_id=snap.id,
                                  embedder_key=t.embedder_key, dim=t.dim, blob=b"")
            session.add(st)
            session.flush()
            st.blob = kr.encrypt(data, aad_for("snapshot_templates", st.id, "blob"))
            t_hashes.append(hashlib.sha256(data).hexdigest())
            n_templates += 1
        manifest.append({"subject_id": s.id, "reference": s.reference,
                         "category": s.category.value, "templates": t_hashes,
                         "image_sha256": ss.image_sha256})
    snap.content_hash = hashlib.sha256(audit.canonical_json(
        {"deployment_id": dep.id, "embedder_key": dep.embedder_key,
         "subjects": manifest}).encode()).hexdigest()
    snap.subject_count, snap.template_count = len(manifest), n_templates
    dep.snapshot_hash = None
    session.flush()
    audit.append(session, actor=actor.username, action="snapshot_create", now=now,
                 target=f"snapshot:{snap.id}", details={
                     "deployment_id": dep.id, "content_hash": snap.content_hash,
                     "subjects": [m["reference"] for m in manifest],
                     "templates": n_templates, "skipped_no_template": skipped,
                     "replaced_snapshot": old.id if old is not None else None})
    return snap


def approve_snapshot(session: Session, actor: User, deployment_id: int,
                     now: datetime) -> Snapshot:
    """The deployment's authorising officer approves its watchlist snapshot."""
    now = as_utc(now)
    require(session, actor, Action.SNAPSHOT_APPROVE, now=now,
            target=f"deployment:{deployment_id}")
    dep = get_deployment(session, deployment_id, lock=True)
    snap = get_snapshot(session, deployment_id)
    if actor.id != dep.authorising_officer_id:
        raise StateError(f"only deployment {dep.id}'s authorising officer can approve its "
                         "watchlist")
    if dep.status not in (DeploymentStatus.DRAFT, DeploymentStatus.AUTHORISED):
        raise StateError(f"deployment {dep.id} is {dep.status.value}: too late to approve")
    if snap.approved_at is not None:
        raise StateError(f"snapshot {snap.id} is already approved")
    if snap.subject_count == 0:
        raise StateError(f"snapshot {snap.id} is empty: no subject meets the deployment's "
                         "criteria with a template for its embedder")
    snap.approved_by_id, snap.approved_at = actor.id, now
    dep.snapshot_hash = snap.content_hash
    session.flush()
    audit.append(session, actor=actor.username, action="snapshot_approve", now=now,
                 target=f"snapshot:{snap.id}", details={"deployment_id": dep.id,
                                                        "content_hash": snap.content_hash,
                                                        "subjects": snap.subject_count})
    return snap


class SnapshotData(NamedTuple):
    """One row per template (a subject may have several): what the matcher's index needs."""

    subject_ids: np.ndarray  # (n,) int64
    labels: list[str]  # subject names
    categories: list[Category]
    embeddings: np.ndarray  # (n, D) float32


def load_snapshot(session: Session, deployment_id: int, keyring: Keyring | None,
                  embedder_key: str) -> SnapshotData:
    """The approved snapshot's templates for ``embedder_key``, decrypted, for the index."""
    kr = keyring_of(session, keyring)
    snap = get_snapshot(session, deployment_id)
    if snap.approved_at is None:
        raise StateError(f"deployment {deployment_id}'s snapshot is not approved")
    rows = session.execute(
        select(SnapshotTemplate, SnapshotSubject)
        .join(SnapshotSubject, SnapshotTemplate.snapshot_subject_id == SnapshotSubject.id)
        .where(SnapshotTemplate.snapshot_id == snap.id,
               SnapshotTemplate.embedder_key == embedder_key)
        .order_by(SnapshotTemplate.id)).all()
    if not rows:
        raise StateError(f"deployment {deployment_id}'s snapshot has no templates for "
                         f"embedder {embedder_key!r}")
    dims = {t.dim for t, _ in rows}
    if len(dims) != 1:
        raise StateError(f"snapshot templates for {embedder_key!r} differ in size: {dims}")
    emb = np.stack([decode_template(kr.decrypt(t.blob, aad_for("snapshot_templates", t.id,
                                                               "blob")), t.dim)
                    for t, _ in rows]).astype(np.float32)
    return SnapshotData(np.array([s.subject_id for _, s in rows], dtype=np.int64),
                        [s.name for _, s in rows], [s.category for _, s in rows], emb)


def snapshot_image(session: Session, actor: User, deployment_id: int, subject_id: int,
                   now: datetime, keyring: Keyring | None = None) -> bytes | None:
    """The watchlist image frozen in the deployment's snapshot (for the side-by-side view)."""
    now = as_utc(now)
    require(session, actor, Action.SUBJECT_IMAGE, now=now, target=f"subject:{subject_id}")
    snap = get_snapshot(session, deployment_id)
    ss = session.scalar(select(SnapshotSubject).where(SnapshotSubject.snapshot_id == snap.id,
                                                      SnapshotSubject.subject_id == subject_id))
    if ss is None:
        raise NotFound(f"subject {subject_id} is not in deployment {deployment_id}'s snapshot")
    if ss.image_blob is None:
        return None
    data = keyring_of(session, keyring).decrypt(ss.image_blob, aad_for(
        "snapshot_subjects", ss.id, "image_blob"))
    audit.append(session, actor=actor.username, action="view_image", now=now,
                 target=f"snapshot_subject:{ss.id}", details={"sha256": ss.image_sha256})
    return data
