"""Subjects and snapshots on both databases: accountable entries, frozen approved copies."""

from __future__ import annotations

from datetime import timedelta

import numpy as np
import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from openlfr.errors import ConfigError, NotFound, StateError
from openlfr.governance import deployments as D
from openlfr.governance import watchlist as W
from openlfr.governance.schemas import SubjectCreate, SubjectPublic
from openlfr.store.models import AuditEntry, Category, Subject, SubjectImage, Template

from .conftest import EMB, T0, People, deployment_data, make_subject, template

H = timedelta(hours=1)


def test_snapshot_freezes_matching_subjects(session: Session, people: People) -> None:
    a = make_subject(session, people.wm, "A", seed=1)
    make_subject(session, people.wm, "B", seed=2, category=Category.MISSING_PERSON_AT_RISK)
    c = make_subject(session, people.wm, "C", seed=3, days=0.01)  # expires in 15 minutes
    make_subject(session, people.wm, "D", seed=4, emb="dlib_resnet:ffff")  # other embedder
    W.add_templates(session, people.wm, c.id, [("dlib_resnet:ffff", template(9))], T0)
    dep = D.create_deployment(session, people.ao, deployment_data(), T0)
    snap = W.create_snapshot(session, people.wm, dep.id, T0 + H)  # C has expired by now
    assert (snap.subject_count, snap.template_count) == (1, 1)
    with pytest.raises(StateError, match="not approved"):
        W.load_snapshot(session, dep.id, None, EMB)
    with pytest.raises(StateError, match="authorising officer can approve"):
        W.approve_snapshot(session, people.ao2, dep.id, T0 + H)
    W.approve_snapshot(session, people.ao, dep.id, T0 + H)
    assert dep.snapshot_hash == snap.content_hash
    ids, labels, cats, emb = W.load_snapshot(session, dep.id, None, EMB)
    assert ids.tolist() == [a.id] and labels == ["Name A"]
    assert cats == [Category.WANTED_BY_COURTS]
    assert emb.dtype == np.float32 and emb.shape == (1, 64)
    np.testing.assert_array_equal(emb[0], template(1))
    # Later edits to the watchlist do not change the frozen snapshot.
    W.expire_subject(session, people.wm, a.id, T0 + 2 * H, reason="arrested")
    make_subject(session, people.wm, "E", seed=5, now=T0 + 2 * H)
    session.commit()
    ids2, _, _, emb2 = W.load_snapshot(session, dep.id, None, EMB)
    assert ids2.tolist() == [a.id]
    np.testing.assert_array_equal(emb2, emb)
    with pytest.raises(StateError, match="no templates for embedder"):
        W.load_snapshot(session, dep.id, None, "dlib_resnet:ffff")
    assert W.snapshot_image(session, people.op, dep.id, a.id, T0 + 3 * H) == b"JPEG-A"


def test_expired_subjects_are_not_selectable(session: Session, people: People) -> None:
    make_subject(session, people.wm, "A", seed=1)
    b = make_subject(session, people.wm, "B", seed=2)
    W.expire_subject(session, people.wm, b.id, T0 + H)
    with pytest.raises(StateError, match="already expired"):
        W.expire_subject(session, people.wm, b.id, T0 + H)
    listed = W.list_subjects(session, people.wm, T0 + 2 * H)
    assert [s.reference for s in listed] == ["A"]
    pub = SubjectPublic.model_validate(listed[0])
    assert (pub.image_count, pub.template_keys) == (1, [EMB])
    assert "blob" not in pub.model_dump_json()
    assert len(W.list_subjects(session, people.wm, T0 + 2 * H, include_expired=True)) == 2
    dep = D.create_deployment(session, people.ao, deployment_data(), T0)
    snap = W.create_snapshot(session, people.wm, dep.id, T0 + 2 * H)
    assert snap.subject_count == 1


def test_add_subject_validates_before_writing(session: Session, people: People) -> None:
    data = SubjectCreate(reference="X", name="X", category=Category.RISK_OF_HARM, source="s",
                         justification="j", expires_at=T0 + 10 * H)
    with pytest.raises(ConfigError, match="at least one image"):
        W.add_subject(session, people.wm, data, [], [(EMB, template(1))], T0)
    with pytest.raises(ConfigError, match="1-D vector"):
        W.add_subject(session, people.wm, data, [b"img"], [(EMB, np.ones((2, 64)))], T0)
    with pytest.raises(ConfigError, match="finite"):
        W.add_subject(session, people.wm, data, [b"img"], [(EMB, np.full(64, np.nan))], T0)
    past = data.model_copy(update={"expires_at": T0 - H})
    with pytest.raises(ConfigError, match="future"):
        W.add_subject(session, people.wm, past, [b"img"], [], T0)
    assert session.scalars(select(Subject)).all() == []
    W.add_subject(session, people.wm, data, [b"img"], [(EMB, template(1))], T0)
    with pytest.raises(StateError, match="already exists"):
        W.add_subject(session, people.wm, data, [b"img"], [], T0)
    with pytest.raises(ValueError, match="category"):
        SubjectCreate(reference="Y", name="Y", category="looks_suspicious", source="s",
                      justification="j", expires_at=T0)


def test_enrol_audit_holds_references_not_biometrics(session: Session, people: People) -> None:
    make_subject(session, people.wm, "A", image=b"SECRET-IMAGE-BYTES")
    entry = session.scalars(select(AuditEntry).where(AuditEntry.action == "enrol")).one()
    assert "SECRET-IMAGE-BYTES" not in entry.details and '"reference":"A"' in entry.details
    assert "image_sha256" in entry.details


def test_snapshot_only_before_start_and_replaced_on_recreate(session: Session,
                                                             people: People) -> None:
    make_subject(session, people.wm, "A")
    dep = D.create_deployment(session, people.ao, deployment_data(), T0)
    first = W.create_snapshot(session, people.wm, dep.id, T0)
    W.approve_snapshot(session, people.ao, dep.id, T0)
    second = W.create_snapshot(session, people.wm, dep.id, T0)
    assert second.id != first.id and second.approved_at is None
    assert dep.snapshot_hash is None  # approval must be given again
    W.approve_snapshot(session, people.ao, dep.id, T0)
    D.authorise(session, people.ao, dep.id, T0)
    D.start(session, people.op, dep.id, T0 + H)
    with pytest.raises(StateError, match="only be made before it starts"):
        W.create_snapshot(session, people.wm, dep.id, T0 + H)
    with pytest.raises(NotFound):
        W.get_snapshot(session, 999)


def test_delete_subject_removes_biometrics_and_is_audited(session: Session,
                                                         people: People) -> None:
    a = make_subject(session, people.wm, "A")
    dep = D.create_deployment(session, people.ao, deployment_data(), T0)
    W.create_snapshot(session, people.wm, dep.id, T0)
    with pytest.raises(ConfigError, match="stated reason"):
        W.delete_subject(session, people.wm, a.id, T0, reason=" ")
    W.delete_subject(session, people.wm, a.id, T0, reason="entered in error")
    session.commit()
    assert session.scalars(select(Subject)).all() == []
    for model in (SubjectImage, Template):
        assert session.scalars(select(model)).all() == []
    entry = session.scalars(select(AuditEntry).where(AuditEntry.action == "delete")).one()
    assert '"reason":"entered in error"' in entry.details
    assert W.get_snapshot(session, dep.id).subject_count == 1  # the frozen copy stays
