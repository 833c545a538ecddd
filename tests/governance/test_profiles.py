"""Rule profiles as pure functions: for every rule of uk-app and eu-ai-act, a deployment
that meets every rule, and one that breaks only that rule and is refused naming it."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from openlfr.errors import ConfigError
from openlfr.governance import profiles
from openlfr.governance.profiles import (
    BiasRecord,
    DeploymentFacts,
    ExternalAuthorisation,
    Override,
    check,
    load_profile,
    warnings,
)

NOW = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)
BIAS = BiasRecord(id=7, dataset_name="force-own-2026", thresholds_min=0.3,
                  thresholds_max=0.7)
GRANTED = ExternalAuthorisation(authority="Tribunal de Paris", reference="ORD-2026-77",
                                date=NOW - timedelta(days=1), scope="Gare du Nord, 2 March",
                                decision="granted")

UK_OK = DeploymentFacts(
    kind="live", signage_confirmed=True, dpia_reference="DPIA-14", officer_rank="Superintendent",
    watchlist_criteria="Wanted on warrant for violent offences", categories=("wanted_by_courts",),
    snapshot_size=1500, snapshot_approved=True, threshold=0.6, embedder_key="arcface+flip:ab",
    flip=True, predicted_fpir=0.0004, bias_evaluation=BIAS)

EU_OK = DeploymentFacts(
    kind="live", dpia_reference="DPIA-14", fria_reference="FRIA-3",
    notification_reference="CNIL-2026-5", categories=("missing_person_at_risk",),
    snapshot_size=40, snapshot_approved=True, threshold=0.6, embedder_key="arcface+flip:ab",
    flip=True, predicted_fpir=0.0001, bias_evaluation=BIAS, two_person_verification=True,
    external=GRANTED, audit_retention_days=None)

UK_BROKEN: dict[str, dict[str, Any]] = {
    "public_told_in_advance": {"signage_confirmed": False},
    "dpia": {"dpia_reference": "  "},
    "authorising_officer_rank": {"officer_rank": "Inspector"},
    "watchlist_criteria": {"watchlist_criteria": None},
    "watchlist_reviewed": {"snapshot_approved": False},
    "image_provenance": {"subjects_without_source": 1},
    "watchlist_size": {"snapshot_size": 2001},
    "under_18": {"under_18_unjustified": 1, "under_18_justified": 2},
    "false_alert_rate": {"predicted_fpir": 0.0011},
    "bias_evaluation": {"bias_evaluation": None},
}

EU_BROKEN: dict[str, dict[str, Any]] = {
    "external_authorisation": {"external": None},
    "permitted_purpose": {"categories": ("missing_person_at_risk", "witness")},
    "authorities_notified": {"notification_reference": None},
    "fria": {"fria_reference": ""},
    "dpia": {"dpia_reference": None},
    "two_person_verification": {"two_person_verification": False},
    "audit_retention": {"audit_retention_days": 90},
    "bias_evaluation": {"bias_evaluation": None},
}

CASES = [("uk-app", UK_OK, rule, change) for rule, change in UK_BROKEN.items()] + \
        [("eu-ai-act", EU_OK, rule, change) for rule, change in EU_BROKEN.items()]


@pytest.mark.parametrize("name", ["uk-app", "eu-ai-act"])
def test_every_rule_of_the_profile_has_a_breaking_case(name: str) -> None:
    table = UK_BROKEN if name == "uk-app" else EU_BROKEN
    assert sorted(table) == sorted(r.id for r in load_profile(name).rules)


@pytest.mark.parametrize(("name", "good"), [("uk-app", UK_OK), ("eu-ai-act", EU_OK)])
def test_a_deployment_meeting_every_rule_is_not_refused(name: str,
                                                        good: DeploymentFacts) -> None:
    assert check(good, load_profile(name), NOW) == []


@pytest.mark.parametrize(("name", "good", "rule", "change"), CASES,
                         ids=[f"{c[0]}-{c[2]}" for c in CASES])
def test_breaking_only_one_rule_is_refused_naming_it(name: str, good: DeploymentFacts,
                                                     rule: str, change: dict[str, Any]) -> None:
    profile = load_profile(name)
    unmet = check(replace(good, **change), profile, NOW)
    assert [u.rule for u in unmet] == [rule]
    assert unmet[0].source == profile.rule(rule).source and unmet[0].message


def test_packaged_profiles_load_with_a_version_and_a_source_for_each_rule() -> None:
    for name in profiles.PROFILE_NAMES:
        p = load_profile(name)
        assert p.name == name and p.version
        assert all(r.source.strip() and r.title.strip() for r in p.rules)
    with pytest.raises(ConfigError, match="unknown rule profile 'gdpr'"):
        load_profile("gdpr")


def test_custom_profile_passes_the_existing_flow() -> None:
    facts = DeploymentFacts(kind="live", signage_confirmed=True, dpia_reference="DPIA-1")
    assert check(facts, load_profile("custom"), NOW) == []


def test_bias_gate_applies_to_live_use_only() -> None:
    facts = replace(UK_OK, kind="evaluation", bias_evaluation=None)
    assert check(facts, load_profile("uk-app"), NOW) == []


def test_threshold_below_the_bias_evaluation_is_a_warning_naming_it() -> None:
    low = replace(UK_OK, threshold=0.25)
    assert check(low, load_profile("uk-app"), NOW) == []
    [w] = warnings(low, load_profile("uk-app"), NOW)
    assert w.rule == "bias_evaluation" and "#7" in w.message and "force-own-2026" in w.message
    assert warnings(UK_OK, load_profile("uk-app"), NOW) == []


def test_an_override_with_a_reason_raises_the_cap() -> None:
    profile = load_profile("uk-app")
    big = replace(UK_OK, snapshot_size=2500)
    assert [u.rule for u in check(big, profile, NOW)] == ["watchlist_size"]
    over = {"watchlist_size": Override(3000, "Major event; Gold commander's decision 12")}
    profiles.validate_overrides(profile, over)
    assert check(replace(big, overrides=over), profile, NOW) == []
    assert "Gold commander" in str(warnings(replace(big, overrides=over), profile, NOW)[0])


@pytest.mark.parametrize(("over", "match"), [
    ({"under_18": Override(1, "why not")}, "cannot be overridden"),
    ({"watchlist_size": Override(3000, "  ")}, "stated reason"),
    ({"watchlist_size": Override("lots", "r")}, "non-negative number"),
    ({"no_such_rule": Override(1, "r")}, "has no rule 'no_such_rule'"),
])
def test_bad_overrides_are_refused(over: dict[str, Override], match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        profiles.validate_overrides(load_profile("uk-app"), over)


def test_an_override_of_a_fixed_rule_never_weakens_it() -> None:
    facts = replace(UK_OK, under_18_unjustified=1, overrides={"under_18": Override(5, "r")})
    assert sorted(u.rule for u in check(facts, load_profile("uk-app"), NOW)) == [
        "under_18", "under_18"]


@pytest.mark.parametrize(("facts", "now", "ok"), [
    (replace(EU_OK, external=None, urgent=True), NOW, True),  # urgent, not started yet
    (replace(EU_OK, external=None, urgent=True, urgent_deadline=NOW + timedelta(hours=1)),
     NOW, True),
    (replace(EU_OK, external=None, urgent=True, urgent_deadline=NOW), NOW, False),
    (replace(EU_OK, external=replace(GRANTED, decision="refused"), urgent=True), NOW, False),
    (replace(EU_OK, external=replace(GRANTED, scope=None)), NOW, False),
])
def test_external_authorisation_and_urgency(facts: DeploymentFacts, now: datetime,
                                            ok: bool) -> None:
    unmet = [u.rule for u in check(facts, load_profile("eu-ai-act"), now)]
    assert unmet == ([] if ok else ["external_authorisation"])


def test_urgency_is_refused_where_the_profile_does_not_allow_it() -> None:
    profile = load_profile("custom").model_copy(update={"rules": load_profile(
        "eu-ai-act").rules[:1]})
    unmet = check(replace(EU_OK, external=None, urgent=True), profile, NOW)
    assert "allows no urgent use" in unmet[0].message
