"""Rule profiles: the law as data, checked by pure functions of (facts, profile, now).

A profile (``uk-app``, ``eu-ai-act``, ``custom``) is a versioned YAML file in
``openlfr/governance/profiles/``: each rule names its source and the check that enforces it.
An installation chooses one (``OPENLFR_PROFILE``); a deployment may override a rule's value
(a size cap, a false alert limit) where the rule allows it, with a stated reason.

:func:`check` lists every rule the deployment does not meet (authorisation is refused until
the list is empty); :func:`warnings` what it meets but should think about (a threshold below
the lowest one its bias evaluation covered). Both are pure: the caller gathers the facts
(:class:`DeploymentFacts`, see :func:`openlfr.governance.facts.deployment_facts`), including
the predicted false positive identification rate for the snapshot's size.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from functools import cache
from importlib import resources
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from openlfr.errors import ConfigError

__all__ = ["PROFILE_NAMES", "Profile", "Rule", "UrgentUse", "Override", "DeploymentFacts",
           "ExternalAuthorisation", "BiasRecord", "UnmetRule", "RuleWarning", "CHECKS",
           "load_profile", "check", "warnings", "validate_overrides", "effective_value"]

PROFILE_NAMES = ("uk-app", "eu-ai-act", "custom")


# --- facts: what the caller knows about a deployment ------------------------------------


@dataclass(frozen=True)
class ExternalAuthorisation:
    """The judicial or independent administrative authority's decision (AI Act Art. 5(3))."""

    authority: str | None
    reference: str | None
    date: datetime | None
    scope: str | None
    decision: Literal["granted", "refused"] | None


@dataclass(frozen=True)
class BiasRecord:
    """The latest recorded bias evaluation for the deployment's embedder and flip setting."""

    id: int
    dataset_name: str
    thresholds_min: float
    thresholds_max: float


@dataclass(frozen=True)
class Override:
    value: Any
    reason: str


@dataclass(frozen=True)
class DeploymentFacts:
    """Everything a rule looks at. Counts are over the deployment's watchlist snapshot
    (``snapshot_size`` None: no snapshot yet)."""

    kind: str  # live | evaluation
    signage_confirmed: bool = False
    dpia_reference: str | None = None
    fria_reference: str | None = None
    notification_reference: str | None = None
    officer_rank: str | None = None
    watchlist_criteria: str | None = None
    categories: tuple[str, ...] = ()
    snapshot_size: int | None = None
    snapshot_approved: bool = False
    subjects_without_source: int = 0
    under_18_justified: int = 0
    under_18_unjustified: int = 0
    threshold: float = 0.0
    embedder_key: str = ""
    flip: bool = False
    predicted_fpir: float | None = None
    bias_evaluation: BiasRecord | None = None
    two_person_verification: bool = False
    two_person_exception: str | None = None
    external: ExternalAuthorisation | None = None
    urgent: bool = False
    urgent_deadline: datetime | None = None
    audit_retention_days: float | None = None  # None: the audit trail is never purged
    overrides: Mapping[str, Override] = field(default_factory=dict)


@dataclass(frozen=True)
class UnmetRule:
    rule: str
    title: str
    source: str
    message: str

    def __str__(self) -> str:
        return f"{self.rule}: {self.message} ({self.source})"


@dataclass(frozen=True)
class RuleWarning:
    rule: str
    message: str

    def __str__(self) -> str:
        return f"{self.rule}: {self.message}"


# --- profiles ---------------------------------------------------------------------------


class UrgentUse(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    allowed: bool = Field(False, description="A deployment may start before its external "
                          "authorisation, which must then be recorded by the deadline.")
    deadline_hours: float = Field(24, gt=0, le=24 * 7, description="Hours after the start "
                                  "to record the external authorisation.")


class Rule(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(pattern=r"^[a-z][a-z0-9_]{0,63}$")
    check: str = Field(description="The check enforcing it (a key of CHECKS).")
    title: str = Field(min_length=1)
    source: str = Field(min_length=1, description="Where the rule comes from.")
    value: Any = Field(None, description="The check's parameter (a cap, a limit, a list).")
    overridable: bool = Field(False, description="A deployment may set another value, with "
                              "a stated reason.")
    applies_to: tuple[Literal["live", "evaluation"], ...] = ("live", "evaluation")

    @model_validator(mode="after")
    def _known_check(self) -> Rule:
        if self.check not in CHECKS:
            raise ValueError(f"rule {self.id}: unknown check {self.check!r} (known: "
                             f"{', '.join(sorted(CHECKS))})")
        if self.overridable and self.value is None:
            raise ValueError(f"rule {self.id}: only a rule with a value can be overridden")
        return self


class Profile(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(pattern=r"^[a-z][a-z0-9-]{0,31}$")
    version: str = Field(min_length=1, max_length=32)
    title: str
    urgent_use: UrgentUse = UrgentUse()
    rules: tuple[Rule, ...]

    @model_validator(mode="after")
    def _unique_ids(self) -> Profile:
        ids = [r.id for r in self.rules]
        dup = sorted({i for i in ids if ids.count(i) > 1})
        if dup:
            raise ValueError(f"profile {self.name}: rule ids used twice: {', '.join(dup)}")
        return self

    def rule(self, rule_id: str) -> Rule:
        for r in self.rules:
            if r.id == rule_id:
                return r
        raise ConfigError(f"profile {self.name} has no rule {rule_id!r} (rules: "
                          f"{', '.join(r.id for r in self.rules)})")


@cache
def load_profile(name: str) -> Profile:
    """The packaged profile ``name`` (one of :data:`PROFILE_NAMES`)."""
    if name not in PROFILE_NAMES:
        raise ConfigError(f"unknown rule profile {name!r}: choose one of "
                          f"{', '.join(PROFILE_NAMES)}")
    text = (resources.files("openlfr.governance") / "profiles" / f"{name}.yaml").read_text(
        encoding="utf-8")
    try:
        profile = Profile.model_validate(yaml.safe_load(text))
    except ValidationError as exc:
        raise ConfigError(f"rule profile {name}: {exc}") from exc
    if profile.name != name:
        raise ConfigError(f"rule profile file {name}.yaml names itself {profile.name!r}")
    return profile


def effective_value(rule: Rule, facts: DeploymentFacts) -> Any:
    over = facts.overrides.get(rule.id)
    return over.value if over is not None and rule.overridable else rule.value


def validate_overrides(profile: Profile, overrides: Mapping[str, Override]) -> None:
    """Raise ConfigError unless each override names an overridable rule of ``profile``, has
    a reason, and a value of the rule's type."""
    for rule_id, over in overrides.items():
        rule = profile.rule(rule_id)
        if not rule.overridable:
            raise ConfigError(f"rule {rule_id} of profile {profile.name} cannot be overridden")
        if not over.reason.strip():
            raise ConfigError(f"the override of rule {rule_id} needs a stated reason")
        if type(over.value) is bool or not isinstance(over.value, int | float) \
                or over.value < 0:
            raise ConfigError(f"the override of rule {rule_id} needs a non-negative number, "
                              f"not {over.value!r}")


# --- the checks: (facts, value, profile, now) -> why unmet, or None ------------------------

Check = Callable[[DeploymentFacts, Any, Profile, datetime], str | None]


def _required(attr: str, what: str) -> Check:
    def check_present(facts: DeploymentFacts, value: Any, profile: Profile,
                      now: datetime) -> str | None:
        text = getattr(facts, attr)
        return None if text and str(text).strip() else f"no {what} recorded"
    check_present.__name__ = f"check_{attr}"
    return check_present


def _signage(facts: DeploymentFacts, value: Any, profile: Profile, now: datetime) -> str | None:
    return None if facts.signage_confirmed else "signage is not confirmed"


def _officer_rank(facts: DeploymentFacts, value: Any, profile: Profile,
                  now: datetime) -> str | None:
    rank = (facts.officer_rank or "").strip().lower()
    if not rank:
        return "the authorising officer's rank is not recorded"
    accepted = [str(v).lower() for v in value or ()]
    return None if rank in accepted else (f"rank {facts.officer_rank!r} may not authorise "
                                          f"(accepted: {', '.join(accepted)})")


def _watchlist_reviewed(facts: DeploymentFacts, value: Any, profile: Profile,
                        now: datetime) -> str | None:
    if facts.snapshot_size is None:
        return "no watchlist snapshot yet (create it and have it approved first)"
    return None if facts.snapshot_approved else "the watchlist snapshot is not approved"


def _image_provenance(facts: DeploymentFacts, value: Any, profile: Profile,
                      now: datetime) -> str | None:
    n = facts.subjects_without_source
    return None if n == 0 else f"{n} watchlist entr{'y has' if n == 1 else 'ies have'} no source"


def _watchlist_size(facts: DeploymentFacts, value: Any, profile: Profile,
                    now: datetime) -> str | None:
    if facts.snapshot_size is None:
        return "no watchlist snapshot yet: its size is unknown"
    return None if facts.snapshot_size <= value else (
        f"the snapshot holds {facts.snapshot_size} entries, over the cap of {value:g}")


def _under_18(facts: DeploymentFacts, value: Any, profile: Profile, now: datetime) -> str | None:
    n = facts.under_18_unjustified
    return None if n == 0 else f"{n} under-18 entr{'y' if n == 1 else 'ies'} without a " \
        "recorded justification"


def _false_alert_rate(facts: DeploymentFacts, value: Any, profile: Profile,
                      now: datetime) -> str | None:
    if facts.predicted_fpir is None:
        return "no predicted false alert rate (no snapshot, or no calibration for the model)"
    return None if facts.predicted_fpir <= value else (
        f"expected false alert rate {facts.predicted_fpir:.2g} per face at threshold "
        f"{facts.threshold:g} for {facts.snapshot_size} entries is over the limit {value:g}")


def _bias_evaluation(facts: DeploymentFacts, value: Any, profile: Profile,
                     now: datetime) -> str | None:
    if facts.bias_evaluation is not None:
        return None
    return (f"no bias evaluation on record for {facts.embedder_key} "
            f"(flip {'on' if facts.flip else 'off'}): run `openlfr evaluate bias ... --record` "
            "on your own labelled data")


def _two_person(facts: DeploymentFacts, value: Any, profile: Profile,
                now: datetime) -> str | None:
    if facts.two_person_verification or (facts.two_person_exception or "").strip():
        return None
    return "two-person verification is off and no exception is recorded"


def _external(facts: DeploymentFacts, value: Any, profile: Profile, now: datetime) -> str | None:
    ext = facts.external
    if ext is not None and ext.decision == "refused":
        return f"the external authorisation was refused ({ext.authority}, {ext.reference})"
    if ext is not None and ext.decision == "granted":
        missing = [f for f in ("authority", "reference", "date", "scope")
                   if not getattr(ext, f)]
        return None if not missing else ("the external authorisation record lacks "
                                          + ", ".join(missing))
    if facts.urgent and profile.urgent_use.allowed:
        if facts.urgent_deadline is not None and now >= facts.urgent_deadline:
            return (f"urgent use: no external authorisation recorded by the deadline "
                    f"{facts.urgent_deadline.isoformat()}")
        return None
    if facts.urgent:
        return f"no external authorisation recorded; profile {profile.name} allows no urgent use"
    return "no external authorisation recorded"


def _audit_retention(facts: DeploymentFacts, value: Any, profile: Profile,
                     now: datetime) -> str | None:
    days = facts.audit_retention_days
    return None if days is None or days >= value else (
        f"the audit trail is kept {days:g} days, under the {value:g} required")


def _permitted_categories(facts: DeploymentFacts, value: Any, profile: Profile,
                          now: datetime) -> str | None:
    bad = sorted(set(facts.categories) - set(value or ()))
    return None if not bad else f"categories not permitted: {', '.join(bad)}"


CHECKS: dict[str, Check] = {
    "signage": _signage,
    "dpia_reference": _required("dpia_reference", "DPIA reference"),
    "fria_reference": _required("fria_reference", "fundamental-rights impact assessment "
                                "reference"),
    "notification_reference": _required("notification_reference", "notification of the "
                                        "authorities"),
    "watchlist_criteria": _required("watchlist_criteria", "watchlist criteria"),
    "officer_rank": _officer_rank,
    "watchlist_reviewed": _watchlist_reviewed,
    "image_provenance": _image_provenance,
    "watchlist_size": _watchlist_size,
    "under_18": _under_18,
    "false_alert_rate": _false_alert_rate,
    "bias_evaluation": _bias_evaluation,
    "two_person_verification": _two_person,
    "external_authorisation": _external,
    "audit_retention": _audit_retention,
    "permitted_categories": _permitted_categories,
}


def check(facts: DeploymentFacts, profile: Profile, now: datetime) -> list[UnmetRule]:
    """Pure: every rule of ``profile`` that ``facts`` do not meet at ``now`` (empty: all met)."""
    unmet = []
    for rule in profile.rules:
        if facts.kind not in rule.applies_to:
            continue
        why = CHECKS[rule.check](facts, effective_value(rule, facts), profile, now)
        if why is not None:
            unmet.append(UnmetRule(rule.id, rule.title, rule.source, why))
    for rule_id in sorted(set(facts.overrides) - {r.id for r in profile.rules if
                                                  r.overridable}):
        unmet.append(UnmetRule(rule_id, "override", profile.name, "this rule cannot be "
                               f"overridden under profile {profile.name}"))
    return unmet


def warnings(facts: DeploymentFacts, profile: Profile, now: datetime) -> list[RuleWarning]:
    """Pure: what is met but worth a second look before authorising."""
    out = []
    bias = facts.bias_evaluation
    if bias is not None and facts.threshold < bias.thresholds_min:
        out.append(RuleWarning("bias_evaluation", (
            f"threshold {facts.threshold:g} is below the lowest threshold "
            f"({bias.thresholds_min:g}) covered by bias evaluation #{bias.id} "
            f"({bias.dataset_name!r}): demographic differences appeared below the operating "
            "threshold, not at it (NPL 2023)")))
    for rule_id, over in sorted(facts.overrides.items()):
        out.append(RuleWarning(rule_id, f"overridden to {over.value!r}: {over.reason}"))
    return out
