"""The facts the profiles check, read from the store (both databases): under-18 entries and
their justification, snapshot size and approval, the bias record by model and flip."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy.orm import Session

from openlfr.errors import StateError
from openlfr.governance import deployments as D
from openlfr.governance import watchlist as W
from openlfr.governance.facts import assess, deployment_facts, flip_of
from openlfr.governance.schemas import SubjectCreate
from openlfr.store.models import BiasEvaluation, Category

from .conftest import EMB, T0, People, deployment_data, make_subject, template


def _child(session: Session, people: People, ref: str, why: str | None) -> None:
    data = SubjectCreate(reference=ref, name=f"Child {ref}", category=Category.WANTED_BY_COURTS,
                         source="PNC", justification="warrant", under_18=True,
                         under_18_justification=why, expires_at=T0 + timedelta(days=30))
    W.add_subject(session, people.wm, data, [b"JPEG"], [(EMB, template(9))], T0)


def test_uk_app_facts_from_the_store(session: Session, people: People) -> None:
    session.info["profile"] = "uk-app"
    make_subject(session, people.wm, "S0")
    _child(session, people, "C1", None)
    _child(session, people, "C2", "Risk of serious harm to herself; Supt decision 4")
    dep = D.create_deployment(session, people.ao, deployment_data(
        authorising_officer_rank="Chief Superintendent",
        watchlist_criteria="Wanted on warrant"), T0)
    before = deployment_facts(session, dep)
    assert before.snapshot_size is None and before.predicted_fpir is None
    W.create_snapshot(session, people.wm, dep.id, T0)
    W.approve_snapshot(session, people.ao, dep.id, T0)
    session.add(BiasEvaluation(created_at=T0, embedder_key="other-name:0123ABCD", flip=False,
                               dataset_name="own", dataset_description="", result={},
                               thresholds_covered_min=0.2, thresholds_covered_max=0.8))
    facts = deployment_facts(session, dep)
    assert (facts.snapshot_size, facts.snapshot_approved) == (3, True)
    assert (facts.under_18_justified, facts.under_18_unjustified) == (1, 1)
    assert facts.bias_evaluation is not None  # matched by the model's sha256
    a = assess(session, dep, T0)
    # this test embedder has no packaged impostor scores: no prediction, and the gate says so
    assert sorted(u.rule for u in a.unmet) == ["false_alert_rate", "under_18"]
    assert a.fpir_note and "no calibrated impostor score distribution" in a.fpir_note
    with pytest.raises(StateError, match="2 rules unmet") as err:
        D.authorise(session, people.ao, dep.id, T0)
    assert "1 under-18 entry without a recorded justification" in str(err.value)


def test_flip_is_read_from_the_embedder_name() -> None:
    assert flip_of("arcface+flip:ab12") and not flip_of("arcface:ab12")


ARC = "arcface:9cc6e4a75f0e2bf0b1aed94578f144d15175f357bdc05e815e5c4a02b319eb4f"


def test_threshold_refused_when_its_expected_false_alert_rate_breaks_the_limit(
        session: Session, people: People) -> None:
    """The packaged ArcFace (no flip) impostor scores: 3 entries at 0.2 expect about 0.9%
    false alerts per face, over uk-app's 1 in 1,000; at 0.3 about 0.014%."""
    from openlfr.governance.schemas import DeploymentUpdate

    session.info["profile"] = "uk-app"
    for i in range(3):
        make_subject(session, people.wm, f"S{i}", seed=i, emb=ARC)
    dep = D.create_deployment(session, people.ao, deployment_data(
        embedder_key=ARC, threshold=0.2, authorising_officer_rank="Superintendent",
        watchlist_criteria="Wanted on warrant"), T0)
    session.add(BiasEvaluation(created_at=T0, embedder_key=ARC, flip=False, result={},
                               dataset_name="own", dataset_description="",
                               thresholds_covered_min=0.2, thresholds_covered_max=0.8))
    W.create_snapshot(session, people.wm, dep.id, T0)
    W.approve_snapshot(session, people.ao, dep.id, T0)
    with pytest.raises(StateError, match=r"1 rule unmet:\n  - false_alert_rate: expected "
                       r"false alert rate 0\.\d+ per face at threshold 0.2 for 3 entries "
                       r"is over the limit 0.001"):
        D.authorise(session, people.ao, dep.id, T0)
    D.update_deployment(session, people.ao, dep.id, DeploymentUpdate(threshold=0.3), T0)
    a = assess(session, dep, T0)
    assert a.unmet == [] and a.facts.predicted_fpir is not None
    assert a.facts.predicted_fpir < 0.001
    shown = a.to_dict(crowd=20_000)  # the base-rate calculator for the expected crowd
    assert shown["expected_crowd"] == 20_000
    assert shown["expected_false_alerts"] == pytest.approx(20_000 * a.facts.predicted_fpir)
    assert a.to_dict()["expected_false_alerts"] is None
    D.authorise(session, people.ao, dep.id, T0)
    assert dep.profile_version == "2026.1"
