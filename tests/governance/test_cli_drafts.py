"""``openlfr deployment update`` end to end (in-process, both databases)."""

from __future__ import annotations

import pytest

from openlfr.cli.drafts import update_fields
from openlfr.errors import ConfigError

from .conftest import DB
from .test_cli import CLI, cli  # noqa: F401  (the fixture)


def test_update_a_draft_from_the_cli(cli: CLI, db: DB) -> None:  # noqa: F811
    cli("user", "add", "boss", "--role", "admin")
    cli("user", "add", "ann", "--role", "authorising_officer", "--as", "boss")
    dep = cli.json("deployment", "create", "--name", "Gate", "--purpose", "p",
                   "--legal-basis", "l", "--location", "Gate 1", "--start", "+1h", "--end",
                   "+8h", "--camera", "cam1=rtsp://10.0.0.1/s", "--category",
                   "wanted_by_courts", "--dpia", "DPIA-1", "--officer", "ann",
                   "--threshold", "0.4", "--embedder", "arc:1", "--fria", "F-1", "--as", "ann")
    dep_id = str(dep["id"])
    out, _ = cli("deployment", "update", dep_id, "--signage-confirmed", "--location", "Gate 2",
                 "--camera", "cam1=rtsp://10.0.0.1/s", "--camera", "cam2=rtsp://10.0.0.2/s",
                 "--clear", "fria_reference", "--as", "ann")
    assert f"deployment {dep_id} updated (cameras, fria_reference, location, " \
           "signage_confirmed)" in out
    shown = cli.json("deployment", "update", dep_id, "--threshold", "0.45", "--as", "ann")
    assert shown["location"] == "Gate 2" and shown["signage_confirmed"]
    assert shown["fria_reference"] is None and shown["threshold"] == 0.45
    assert [c["camera_id"] for c in shown["cameras"]] == ["cam1", "cam2"]
    _, err = cli("deployment", "update", dep_id, "--clear", "name", "--as", "ann", code=2)
    assert "name cannot be null" in err


def test_update_fields_refuses_nothing_and_contradictions() -> None:
    with pytest.raises(ConfigError, match="nothing to change"):
        update_fields({"name": None, "cameras": []}, [])
    with pytest.raises(ConfigError, match="choose one"):
        update_fields({"name": "x"}, ["name"])
    assert update_fields({"name": "x", "purpose": None}, ["fria_reference"]) == {
        "name": "x", "fria_reference": None}
