"""The compliance commands end to end (in-process, both databases): an eu-ai-act
installation refuses authorisation naming the rules, urgent use starts, a refusal purges,
the Art. 5(4) notice comes out as JSON or PDF."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import select

from openlfr.store.models import Alert, BiasEvaluation, Category, User

from .conftest import DB, make_subject
from .test_cli import CLI, cli  # noqa: F401  (the fixture)

EMB = "arc:1"


def test_eu_installation_urgent_use_refused_and_notice(cli: CLI, db: DB, tmp_path: Path,  # noqa: F811
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENLFR_PROFILE", "eu-ai-act")
    cli("user", "add", "boss", "--role", "admin")
    for name, role in (("ann", "authorising_officer"), ("wm", "watchlist_manager"),
                       ("op", "operator")):
        cli("user", "add", name, "--role", role, "--as", "boss")
    (tmp_path / "a.jpg").write_bytes(b"\xff\xd8 face image")
    with db.sessions() as s:
        wm = s.scalars(select(User).where(User.username == "wm")).one()
        make_subject(s, wm, "R-1", category=Category.MISSING_PERSON_AT_RISK, emb=EMB,
                     now=datetime.now(UTC))
        s.commit()
    child = cli.json("watchlist", "subject", "add", "R-2", "--image", "a.jpg", "--name", "Child X",
        "--category", "missing_person_at_risk", "--source", "missing persons unit",
        "--justification", "abducted", "--expires", "+30d", "--under-18",
        "abducted child: the search is for her", "--no-templates", "--as", "wm")
    assert child["under_18"] and child["under_18_justification"].startswith("abducted")
    dep = cli.json("deployment", "create", "--name", "Gare", "--purpose", "find a child",
                   "--legal-basis", "CPP art. x", "--location", "Gare du Nord", "--start",
                   "now", "--end", "+8h", "--camera", "cam1=rtsp://10.0.0.1/s",
                   "--category", "missing_person_at_risk", "--dpia", "DPIA-1",
                   "--signage-confirmed", "--officer", "ann", "--threshold", "0.4",
                   "--embedder", EMB, "--fria", "FRIA-9", "--notification", "N-5",
                   "--two-person", "--urgent", "abducted 30 minutes ago", "--as", "ann")
    assert dep["profile"] == "eu-ai-act" and dep["urgent"]
    dep_id = str(dep["id"])
    out, _ = cli("deployment", "assess", dep_id, "--as", "ann")
    assert "UNMET bias_evaluation" in out and "1 unmet" in out
    _, err = cli("deployment", "authorise", dep_id, "--as", "ann", code=2)
    assert "1 rule unmet" in err and "bias_evaluation" in err
    with db.sessions() as s:
        s.add(BiasEvaluation(created_at=datetime.now(UTC), embedder_key=EMB, flip=False,
                             dataset_name="own", dataset_description="", result={},
                             thresholds_covered_min=0.5, thresholds_covered_max=0.8))
        s.commit()
    cli("watchlist", "snapshot", "create", dep_id, "--as", "wm")
    cli("watchlist", "snapshot", "approve", dep_id, "--as", "ann")
    out, _ = cli("deployment", "authorise", dep_id, "--as", "ann")
    assert "warning bias_evaluation: threshold 0.4 is below" in out and "is authorised" in out
    started = cli.json("deployment", "start", dep_id, "--as", "op")
    assert started["status"] == "active" and started["urgent_deadline"]
    notice, _ = cli("deployment", "notice", dep_id, "--as", "ann")
    assert '"notification_reference": "N-5"' in notice
    cli("deployment", "notice", dep_id, "--pdf", str(tmp_path / "n.pdf"), "--as", "ann")
    assert (tmp_path / "n.pdf").read_bytes().startswith(b"%PDF")
    out, _ = cli("deployment", "external-authorisation", "refuse", dep_id, "--authority",
                 "JLD Paris", "--reference", "JLD-1", "--date", "now", "--as", "ann")
    assert "refusal recorded" in out
    shown = cli.json("deployment", "show", dep_id, "--as", "ann")
    assert shown["status"] == "ended" and shown["urgent_purged_at"]
    assert shown["snapshot"] is None
    with db.sessions() as s:
        assert s.query(Alert).count() == 0
    out, _ = cli("audit", "verify", "--as", "boss")
    assert "ok" in out.lower()
