"""Figures for report tests, built directly (no store)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from openlfr.reports.deployment import AlertPoint, DeploymentFigures

T0 = datetime(2025, 3, 1, 10, 0, tzinfo=UTC)
# Outcomes in the order the alerts were raised, one every 7 minutes.
OUTCOMES = ["confirmed", "rejected", "rejected", "not_engaged", "pending", "confirmed",
            "disputed", "confirmed"]


def make_figures(**overrides: object) -> DeploymentFigures:
    timeline = [AlertPoint(T0 + timedelta(minutes=7 * i + 3), o) for i, o in enumerate(OUTCOMES)]
    fields: dict[str, object] = dict(
        deployment_id="17", name="Oxford Street east", purpose="Locate people wanted by the "
        "courts for serious offences", place="Oxford Circus, London", kind="live",
        window_start=T0, window_end=T0 + timedelta(hours=6), frames_analysed=54_000,
        frames_dropped=120, faces_detected=9_000, tracks=2_400, watchlist_size=1_200,
        watchlist_categories={"wanted_by_courts": 800, "missing_person_at_risk": 400},
        threshold=0.6, model="arcface-mbf-webface600k", state="ended", started_at=T0,
        ended_at=T0 + timedelta(hours=5))
    fields.update(overrides)
    return DeploymentFigures.from_timeline(timeline, **fields)  # type: ignore[arg-type]


@pytest.fixture
def figures() -> DeploymentFigures:
    return make_figures()
