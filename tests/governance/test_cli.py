"""The governance CLI end to end (in-process, both databases): every action audited under
the --as user, refusals exit 3 with a message, figures as one JSON object."""

from __future__ import annotations

import base64
import json
import sys
from pathlib import Path

import pytest
from sqlalchemy import select

from openlfr.cli import main
from openlfr.store.models import AuditEntry

from .conftest import DB, KEY


class CLI:
    def __init__(self, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch):
        self.capsys, self.monkeypatch = capsys, monkeypatch

    def __call__(self, *args: str, code: int = 0) -> tuple[str, str]:
        self.monkeypatch.setattr(sys, "argv", ["openlfr", *args])
        with pytest.raises(SystemExit) as exc:
            main()
            sys.exit(0)
        out, err = self.capsys.readouterr()
        assert (exc.value.code or 0) == code, f"{args}: exit {exc.value.code}\n{out}\n{err}"
        return out, err

    def json(self, *args: str) -> dict:
        out, _ = self(*args, "--json")
        return json.loads(out)


@pytest.fixture
def cli(db: DB, tmp_path: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> CLI:
    monkeypatch.setenv("OPENLFR_DATABASE_URL", db.url)
    monkeypatch.setenv("OPENLFR_DATA_DIR", str(tmp_path / "var"))
    monkeypatch.setenv("OPENLFR_KEY", base64.b64encode(KEY).decode())
    monkeypatch.delenv("OPENLFR_AS", raising=False)
    monkeypatch.chdir(tmp_path)
    return CLI(capsys, monkeypatch)


def test_cli_deployment_flow(cli: CLI, db: DB, tmp_path: Path) -> None:
    cli("user", "add", "boss", "--role", "admin")
    for name, role in (("ann", "authorising_officer"), ("wm", "watchlist_manager"),
                       ("op", "operator"), ("aud", "auditor")):
        cli("user", "add", name, "--role", role, "--as", "boss")
    _, err = cli("user", "add", "x", "--role", "admin", code=3)  # only the first needs no --as
    assert "anonymous may not user.manage" in err
    (tmp_path / "a.jpg").write_bytes(b"\xff\xd8 face image")
    subj = cli.json("watchlist", "subject", "add", "R-1", "--image", "a.jpg", "--name", "Ann X",
                    "--category", "wanted_by_courts", "--source", "court list",
                    "--justification", "warrant", "--expires", "+30d", "--no-templates",
                    "--as", "wm")
    assert subj["reference"] == "R-1" and subj["image_count"] == 1
    _, err = cli("watchlist", "subject", "add", "R-2", "--image", "a.jpg", "--name", "N",
                 "--category", "looks_odd", "--source", "s", "--justification", "j",
                 "--expires", "+1d", "--as", "wm", code=2)
    assert "category" in err
    dep = cli.json("deployment", "create", "--name", "Square", "--purpose", "find wanted",
                   "--legal-basis", "common law", "--location", "Square", "--start", "now",
                   "--end", "+8h", "--camera", "cam1=rtsp://u:pw@10.0.0.1/s",
                   "--category", "wanted_by_courts", "--dpia", "DPIA-1", "--signage-confirmed",
                   "--officer", "ann", "--threshold", "0.4", "--embedder", "arc:1", "--as",
                   "ann")
    assert dep["status"] == "draft" and dep["cameras"][0]["source_url"] == "rtsp://u:***@10.0.0.1/s"
    _, err = cli("deployment", "start", str(dep["id"]), "--as", "op", code=2)
    assert "cannot start deployment" in err and "it is draft" in err
    _, err = cli("deployment", "authorise", str(dep["id"]), "--as", "op", code=3)
    assert "op may not deployment.authorise" in err
    cli("deployment", "authorise", str(dep["id"]), "--as", "ann")
    cli("deployment", "cancel", str(dep["id"]), "--reason", "rain", "--as", "ann")
    shown = cli.json("deployment", "show", str(dep["id"]), "--as", "op")
    assert shown["status"] == "cancelled" and shown["counters"]["frames"] == 0
    assert "counters" not in cli.json("deployment", "show", str(dep["id"]), "--as", "wm")
    listed = cli.json("deployment", "list", "--as", "aud")
    assert [d["status"] for d in listed["deployments"]] == ["cancelled"]
    retention = cli.json("retention", "run", "--dry-run", "--as", "boss")
    assert retention["dry_run"] is True and retention["policy"]["alert_days"] == 31
    report = cli.json("audit", "verify", "--as", "aud")
    assert report["ok"] is True and report["entries"] >= 10
    cli("audit", "export", "--out", "audit.jsonl", "--as", "aud")
    lines = (tmp_path / "audit.jsonl").read_text().splitlines()
    assert len(lines) == report["entries"] + 1  # plus the verify entry itself
    with db.sessions() as s:
        actions = [(e.actor, e.action) for e in s.scalars(select(AuditEntry)
                                                          .order_by(AuditEntry.seq))]
    assert ("op", "permission_denied") in actions and ("ann", "deployment_cancel") in actions
    assert actions[-1] == ("aud", "export")


def test_cli_needs_an_actor_and_a_key(cli: CLI, monkeypatch: pytest.MonkeyPatch) -> None:
    cli("user", "add", "boss", "--role", "admin")
    _, err = cli("deployment", "list", code=2)
    assert "--as USERNAME" in err
    _, err = cli("deployment", "list", "--as", "ghost", code=2)
    assert "no user named 'ghost'" in err
    monkeypatch.delenv("OPENLFR_KEY")
    _, err = cli("watchlist", "snapshot", "create", "1", "--as", "boss", code=2)
    assert "no encryption key" in err


def test_audit_verify_exits_nonzero_on_tampering(cli: CLI, db: DB) -> None:
    cli("user", "add", "boss", "--role", "admin")
    cli("user", "add", "aud", "--role", "auditor", "--as", "boss")
    with db.engine.begin() as conn:
        conn.exec_driver_sql("UPDATE audit_log SET actor = 'mallory' WHERE seq = 1")
    out, _ = cli("audit", "verify", "--as", "aud", "--json", code=1)
    assert json.loads(out)["first_bad_seq"] == 1


def test_cli_alerts_list_adjudicate_and_hold(cli: CLI, db: DB, people: object) -> None:
    from datetime import timedelta

    from openlfr.governance import alerts as A
    from openlfr.governance import watchlist as W

    from .conftest import T0, active_deployment

    with db.sessions() as s:
        dep = active_deployment(s, people)  # type: ignore[arg-type]
        sid = W.get_snapshot(s, dep.id).subjects[0].subject_id
        alert = A.record_alert(s, dep.id, "cam1", "t1", sid, 0.61, b"probe",
                               T0 + timedelta(hours=2))
        s.commit()
    listed = cli.json("alerts", "list", "--deployment", str(dep.id), "--as", "eo")
    (row,) = listed["alerts"]
    assert row["id"] == alert.id and row["has_probe_image"] and "probe_blob" not in row
    out = cli.json("alerts", "adjudicate", str(alert.id), "rejected", "--note", "not him",
                   "--reason", "a different person", "--as", "eo")
    assert out["status"] == "rejected" and out["adjudications"][0]["outcome"] == "rejected"
    assert out["adjudications"][0]["note"] == "Reason: a different person\nnot him"
    _, err = cli("alerts", "adjudicate", str(alert.id), "confirmed", "--as", "op", code=2)
    assert "already decided" in err
    cli("alerts", "hold", str(alert.id), "--reason", "complaint received", "--as", "ao")
    _, err = cli("alerts", "list", "--as", "admin", code=3)  # admin sees no alerts
    assert "admin may not alert.view" in err


def test_cli_deployment_from_file_with_clear_errors(cli: CLI, tmp_path: Path) -> None:
    cli("user", "add", "boss", "--role", "admin")
    cli("user", "add", "ann", "--role", "authorising_officer", "--as", "boss")
    spec = tmp_path / "dep.yaml"
    spec.write_text("name: Station\npurpose: locate missing people at risk\n"
                    "legal_basis: common law\nlocation: Central Station\n"
                    "window_start: '2026-06-01T08:00Z'\nwindow_end: '2026-06-01T20:00Z'\n"
                    "cameras: [{camera_id: c1, source_url: 'rtsp://10.0.0.9/s'}]\n"
                    "categories: [missing_person_at_risk]\ndpia_reference: DPIA-9\n"
                    "signage_confirmed: true\nauthorising_officer: ann\nthreshold: 0.4\n"
                    "embedder_key: 'arc:1'\nkind: evaluation\n")
    dep = cli.json("deployment", "create", "--file", str(spec), "--name", "Station B",
                   "--as", "ann")
    assert (dep["name"], dep["kind"], dep["window_end"]) == (
        "Station B", "evaluation", "2026-06-01T20:00:00Z")
    _, err = cli("deployment", "create", "--file", str(spec), "--end", "2026-06-01T07:00",
                 "--as", "ann", code=2)
    assert "has no time zone" in err
    _, err = cli("deployment", "create", "--file", str(spec), "--end", "2026-06-01T07:00Z",
                 "--as", "ann", code=2)
    assert "window_end must be after window_start" in err
    _, err = cli("deployment", "create", "--name", "x", "--as", "ann", code=2)
    assert "purpose" in err and "dpia_reference" in err  # says every missing field


@pytest.mark.shared_data
def test_cli_enrols_real_templates_into_a_snapshot(cli: CLI, db: DB, lfw_dir: Path) -> None:
    """With the pipeline's enrolment (real models): image -> template -> approved snapshot."""
    if db.backend != "sqlite":
        pytest.skip("model-backed enrolment runs once, on SQLite")
    image = next(lfw_dir.rglob("Aaron_Peirsol_0001.jpg"), None)
    if image is None:
        pytest.skip("LFW image Aaron_Peirsol_0001.jpg is absent")
    cli("user", "add", "boss", "--role", "admin")
    cli("user", "add", "wm", "--role", "watchlist_manager", "--as", "boss")
    cli("user", "add", "ann", "--role", "authorising_officer", "--as", "boss")
    subj = cli.json("watchlist", "subject", "add", "LFW-1", "--image", str(image), "--name",
                    "Aaron Peirsol", "--category", "test_subject", "--source", "LFW",
                    "--justification", "evaluation", "--expires", "+1d", "--as", "wm")
    (key,) = subj["template_keys"]
    dep = cli.json("deployment", "create", "--name", "eval", "--purpose", "test",
                   "--legal-basis", "n/a (evaluation)", "--location", "lab", "--start", "now",
                   "--end", "+1h", "--camera", "file1=video.mp4", "--category", "test_subject",
                   "--dpia", "n/a", "--signage-confirmed", "--officer", "ann", "--threshold",
                   "0.4", "--embedder", key, "--kind", "evaluation", "--as", "ann")
    snap = cli.json("watchlist", "snapshot", "create", str(dep["id"]), "--as", "wm")
    assert (snap["subject_count"], snap["template_count"]) == (1, 1)
    cli("watchlist", "snapshot", "approve", str(dep["id"]), "--as", "ann")
    from openlfr.governance import watchlist as W

    with db.sessions() as s:
        ids, labels, _, emb = W.load_snapshot(s, dep["id"], None, key)
    assert labels == ["Aaron Peirsol"] and emb.shape[0] == 1 and emb.shape[1] >= 128
    assert abs(float((emb[0] ** 2).sum()) - 1.0) < 1e-3  # an L2-normalised template
