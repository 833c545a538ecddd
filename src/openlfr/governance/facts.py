"""What the rule profiles look at, read from the store: :func:`deployment_facts`.

The facts are gathered here and checked by the pure functions of
:mod:`openlfr.governance.profiles`. The predicted false positive identification rate for the
snapshot's size comes from :func:`openlfr.evaluation.fpir.predicted_fpir`; the bias
evaluation is the latest recorded one (``openlfr evaluate bias ... --record``) for the
deployment's model (its sha256) and flip setting.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from pydantic import BaseModel, Field
from sqlalchemy import select
from sqlalchemy.orm import Session

from openlfr.errors import ConfigError, StateError
from openlfr.evaluation.fpir import expected_false_alerts, predicted_fpir
from openlfr.governance import profiles as P
from openlfr.store.models import (
    BiasEvaluation,
    Deployment,
    Snapshot,
    SnapshotSubject,
    Subject,
)

__all__ = ["Assessment", "AssessmentPublic", "deployment_facts", "assess", "require_rules",
           "overrides_record", "flip_of", "installation_profile"]


def flip_of(embedder_key: str) -> bool:
    """Flip fusion is part of the embedder's name (``arcface+flip:<sha256>``)."""
    return "+flip" in embedder_key.rsplit(":", 1)[0]


def _model_sha(embedder_key: str) -> str:
    return embedder_key.rsplit(":", 1)[-1].strip().lower()


def installation_profile(session: Session) -> str:
    """The installation's profile (``OPENLFR_PROFILE``, carried in ``session.info``)."""
    return str(session.info.get("profile") or "custom")


def _latest_bias(session: Session, embedder_key: str, flip: bool) -> P.BiasRecord | None:
    sha = _model_sha(embedder_key)
    rows = session.scalars(select(BiasEvaluation).where(BiasEvaluation.flip == flip)
                           .order_by(BiasEvaluation.created_at.desc(),
                                     BiasEvaluation.id.desc())).all()
    for row in rows:
        if _model_sha(row.embedder_key) == sha:
            return P.BiasRecord(row.id, row.dataset_name, row.thresholds_covered_min,
                                row.thresholds_covered_max)
    return None


def _predicted(size: int | None, dep: Deployment, flip: bool) -> tuple[float | None, str | None]:
    if not size:
        return None, None
    try:
        return predicted_fpir(size, dep.threshold, dep.embedder_key, flip), None
    except ConfigError as exc:
        return None, str(exc)


def deployment_facts(session: Session, dep: Deployment) -> P.DeploymentFacts:
    snap = session.scalar(select(Snapshot).where(Snapshot.deployment_id == dep.id))
    justified = unjustified = no_source = 0
    if snap is not None:
        rows = session.execute(
            select(Subject.under_18, Subject.under_18_justification, Subject.source)
            .join(SnapshotSubject, SnapshotSubject.subject_id == Subject.id)
            .where(SnapshotSubject.snapshot_id == snap.id)).all()
        for under_18, why, source in rows:
            no_source += not (source or "").strip()
            if under_18:
                justified += bool((why or "").strip())
                unjustified += not (why or "").strip()
    flip = flip_of(dep.embedder_key)
    size = snap.subject_count if snap is not None else None
    fpir, _ = _predicted(size, dep, flip)
    external = None
    if dep.external_decision is not None:
        external = P.ExternalAuthorisation(dep.external_authority, dep.external_reference,
                                           dep.external_date, dep.external_scope,
                                           dep.external_decision)  # type: ignore[arg-type]
    policy = session.info.get("retention")
    return P.DeploymentFacts(
        kind=dep.kind.value, signage_confirmed=dep.signage_confirmed,
        dpia_reference=dep.dpia_reference, fria_reference=dep.fria_reference,
        notification_reference=dep.notification_reference,
        officer_rank=dep.authorising_officer_rank, watchlist_criteria=dep.watchlist_criteria,
        categories=tuple(dep.categories), snapshot_size=size,
        snapshot_approved=snap is not None and snap.approved_at is not None,
        subjects_without_source=no_source, under_18_justified=justified,
        under_18_unjustified=unjustified, threshold=dep.threshold,
        embedder_key=dep.embedder_key, flip=flip, predicted_fpir=fpir,
        bias_evaluation=_latest_bias(session, dep.embedder_key, flip),
        two_person_verification=dep.two_person_verification,
        two_person_exception=dep.two_person_exception, external=external,
        urgent=dep.urgent, urgent_deadline=dep.urgent_deadline,
        audit_retention_days=getattr(policy, "audit_days", None),
        overrides={k: P.Override(v["value"], v["reason"])
                   for k, v in (dep.profile_overrides or {}).items()})


class UnmetRulePublic(BaseModel):
    rule: str
    message: str
    source: str


class RuleWarningPublic(BaseModel):
    rule: str
    message: str


class AssessmentPublic(BaseModel):
    """A deployment against its rule profile (openlfr.governance.facts.Assessment)."""

    profile: str
    profile_version: str
    snapshot_size: int | None
    threshold: float
    predicted_fpir: float | None = Field(description="Expected false alert rate per face "
                                         "at the threshold for this snapshot's size.")
    fpir_note: str | None
    expected_crowd: int | None = Field(None, description="The crowd asked about (faces).")
    expected_false_alerts: float | None = Field(None, description="False alerts expected "
                                                "from that crowd (the base-rate calculator).")
    bias_evaluation_id: int | None
    unmet: list[UnmetRulePublic]
    warnings: list[RuleWarningPublic]


@dataclass(frozen=True)
class Assessment:
    """A deployment against its profile: the facts, every unmet rule, the warnings, and the
    expected false alert rate shown at authorisation."""

    profile: P.Profile
    facts: P.DeploymentFacts
    unmet: list[P.UnmetRule]
    warnings: list[P.RuleWarning]
    fpir_note: str | None  # why no prediction could be made

    def to_dict(self, crowd: int | None = None) -> dict[str, object]:
        """As shown at authorisation; with ``crowd`` (faces expected to pass), the false
        alerts expected from it at the predicted FPIR (the base-rate calculator)."""
        f = self.facts
        expected = (expected_false_alerts(f.predicted_fpir, crowd)
                    if crowd is not None and f.predicted_fpir is not None else None)
        return {"profile": self.profile.name, "profile_version": self.profile.version,
                "snapshot_size": f.snapshot_size, "threshold": f.threshold,
                "predicted_fpir": f.predicted_fpir, "fpir_note": self.fpir_note,
                "expected_crowd": crowd, "expected_false_alerts": expected,
                "bias_evaluation_id": f.bias_evaluation.id if f.bias_evaluation else None,
                "unmet": [{"rule": u.rule, "message": u.message, "source": u.source}
                          for u in self.unmet],
                "warnings": [{"rule": w.rule, "message": w.message} for w in self.warnings]}


def assess(session: Session, dep: Deployment, now: datetime) -> Assessment:
    profile = P.load_profile(dep.profile)
    facts = deployment_facts(session, dep)
    _, note = _predicted(facts.snapshot_size, dep, facts.flip)
    return Assessment(profile, facts, P.check(facts, profile, now),
                      P.warnings(facts, profile, now), note)


def require_rules(session: Session, dep: Deployment, now: datetime, verb: str) -> Assessment:
    """The assessment, or StateError listing every rule of the profile still unmet."""
    a = assess(session, dep, now)
    if a.unmet:
        lines = "\n".join(f"  - {u}" for u in a.unmet)
        raise StateError(f"cannot {verb} deployment {dep.id} under profile {a.profile.name} "
                         f"{a.profile.version}: {len(a.unmet)} rule"
                         f"{'s' if len(a.unmet) != 1 else ''} unmet:\n{lines}")
    return a


def overrides_record(profile_name: str, overrides: dict[str, object], actor: str,
                     now: datetime) -> dict[str, dict[str, object]]:
    """Validated overrides as stored on the deployment (with who set them, and when)."""
    given = {k: P.Override(v.value, v.reason) for k, v in overrides.items()}  # type: ignore[attr-defined]
    P.validate_overrides(P.load_profile(profile_name), given)
    return {k: {"value": o.value, "reason": o.reason, "by": actor, "at": now.isoformat()}
            for k, o in given.items()}
