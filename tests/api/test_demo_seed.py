"""``seed_demo`` leaves a store the console can show at once: users, an enrolled subject, and
an active evaluation deployment on the demo clip with its snapshot approved."""

from __future__ import annotations

from pathlib import Path

from openlfr.api.demo import DEMO_USERS, seed_demo
from openlfr.demoscene import sample_photo
from openlfr.governance.auth import authenticate
from openlfr.governance.runtime import open_store
from openlfr.store.models import Deployment, DeploymentKind, DeploymentStatus, Snapshot
from openlfr.vision.engine import VisionEngine

from .conftest import make_settings


def test_seed_demo(tmp_path: Path) -> None:
    settings = make_settings(tmp_path)
    video = tmp_path / "clip.mp4"
    video.write_bytes(b"not read by the seed")  # the camera opens it only when the server runs
    seed = seed_demo(settings, video=video, reference=sample_photo("yaoming.jpg"),
                     subject_name="Yao Ming (demo subject)", password="demo-password-1",
                     engine=VisionEngine.from_config())
    assert set(seed.passwords) == set(DEMO_USERS)
    assert "demo-password-1" not in repr(seed)
    kept = tmp_path / "demo-passwords.txt"  # shown again on request, readable by its owner
    assert oct(kept.stat().st_mode & 0o777) == "0o600"
    assert "operator demo-password-1" in kept.read_text()
    store = open_store(settings)
    try:
        with store.session() as s:
            dep = s.get(Deployment, seed.deployment_id)
            assert dep.status is DeploymentStatus.ACTIVE and dep.kind is DeploymentKind.EVALUATION
            # the demo camera plays the clip in a loop, at its own frame rate
            assert dep.cameras[0].source_url == f"file://{video.resolve()}?loop=1"
            snap = s.query(Snapshot).filter_by(deployment_id=dep.id).one()
            assert snap.approved_at is not None and snap.subject_count == 1
            assert authenticate(s, "operator", "demo-password-1") is not None
    finally:
        store.close()
