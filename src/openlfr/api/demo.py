"""``seed_demo``: put a ready-to-watch demo into an empty store (users, an enrolled subject,
an evaluation deployment on a recorded clip, authorised, snapshot approved, started).

``make demo`` (``openlfr demo``) builds the scene (:mod:`openlfr.demoscene`), calls
:func:`seed_demo`, prints the sign-in names and passwords, then runs ``openlfr serve``.
Every step goes through the same governance services as the console, so the demo's audit
log shows a real sequence of accountable actions.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import func, select

from openlfr.governance import auth, deployments, watchlist
from openlfr.governance.runtime import open_store
from openlfr.governance.schemas import CameraSpec, DeploymentCreate, SubjectCreate, UserCreate
from openlfr.settings import Settings
from openlfr.store import upgrade
from openlfr.store.models import Category, DeploymentKind, Role, User
from openlfr.vision.engine import VisionEngine
from openlfr.vision.image import load_image
from openlfr.watchlist.enrol import enrol_image

__all__ = ["DemoSeed", "seed_demo", "DEMO_USERS", "DEMO_PASSWORDS", "write_demo_passwords"]

#: The demo's first-run passwords, kept in the data folder (0600) to be shown again.
DEMO_PASSWORDS = "demo-passwords.txt"

#: username -> roles (one person per role, as in a real deployment; the operator may also
#: adjudicate as engagement officer so a single viewer can finish an alert).
DEMO_USERS: dict[str, list[str]] = {
    "admin": ["admin"],
    "officer": ["authorising_officer"],
    "watchlist": ["watchlist_manager"],
    "operator": ["operator", "engagement_officer"],
    "auditor": ["auditor"],
}


@dataclass(frozen=True)
class DemoSeed:
    deployment_id: int
    subject_id: int
    passwords: dict[str, str] = field(repr=False)  # username -> password (shown once)


def seed_demo(settings: Settings, *, video: Path, reference: Path, subject_name: str,
              camera_id: str = "demo-cam", password: str | None = None,
              hours: float = 8.0, engine: VisionEngine, loop: bool = True,
              camera_ids: Sequence[str] | None = None) -> DemoSeed:
    """Create the demo's users (on an empty store), enrol ``reference`` with the process's
    ``engine`` (the enrolment every other path uses), and start an
    ``evaluation`` deployment whose camera plays ``video``. Returns the ids and the
    passwords of the users it created (``password`` for all, or a random one each).
    ``loop=False`` plays the clip once (scanned frame by frame, to its end); ``camera_ids``
    gives the deployment several cameras, each playing the clip (the fault drill)."""
    upgrade(settings.resolved_database_url)
    store = open_store(settings)
    now = datetime.now(UTC)
    passwords: dict[str, str] = {}
    try:
        with store.session() as s:
            fresh = (s.scalar(select(func.count()).select_from(User)) or 0) == 0
            if fresh:
                admin = None
                for name, roles in DEMO_USERS.items():
                    pw = password or secrets.token_urlsafe(12)
                    user = auth.create_user(s, admin, UserCreate(
                        username=name, roles=[Role(r) for r in roles], password=pw))
                    admin = admin or user
                    passwords[name] = pw
            officer = auth.get_user(s, "officer")
            manager = auth.get_user(s, "watchlist")
            key, template = enrol_image(engine, load_image(reference))
            threshold = engine.threshold_for(settings.resolved_calibration_file).value
            subject = watchlist.add_subject(s, manager, SubjectCreate(
                reference=f"DEMO-{secrets.token_hex(3).upper()}", name=subject_name,
                category=Category.TEST_SUBJECT,
                source=f"demo photograph {reference.name} shipped with an installed package",
                justification="demonstration of OpenLFR on recorded footage",
                expires_at=now + timedelta(days=1)), [reference.read_bytes()],
                [(key, template)], now)
            dep = deployments.create_deployment(s, officer, DeploymentCreate(
                name="Demo: recorded clip", kind=DeploymentKind.EVALUATION,
                purpose="Show how OpenLFR raises a possible match for a person to decide",
                legal_basis="demonstration on recorded footage (no live capture)",
                location="recorded clip", window_start=now - timedelta(minutes=1),
                window_end=now + timedelta(hours=hours),
                cameras=[CameraSpec(camera_id=c,
                                    source_url=f"file://{video.resolve()}"
                                    + ("?loop=1" if loop else ""))
                         for c in (camera_ids or [camera_id])],
                categories=[Category.TEST_SUBJECT], dpia_reference="DEMO",
                signage_confirmed=True, authorising_officer=officer.username,
                threshold=float(threshold), embedder_key=key), now)
            watchlist.create_snapshot(s, officer, dep.id, now)
            watchlist.approve_snapshot(s, officer, dep.id, now)
            deployments.authorise(s, officer, dep.id, now)
            deployments.start(s, officer, dep.id, now)
            ids = (dep.id, subject.id)
    finally:
        store.close()
    if passwords:
        write_demo_passwords(settings.data_dir, passwords)
    return DemoSeed(ids[0], ids[1], passwords)


def write_demo_passwords(data_dir: Path, passwords: dict[str, str]) -> Path:
    """Keep the demo's first-run passwords in ``data_dir/demo-passwords.txt`` (mode 0600),
    so they can be shown again (``cat`` it). Demo stores only: a real installation's
    passwords are never written anywhere (reset one with ``openlfr user reset-password``)."""
    path = data_dir / DEMO_PASSWORDS
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write("# OpenLFR demo users (delete this file, or reset a password with\n"
                "# `openlfr user reset-password NAME --as admin`)\n")
        f.writelines(f"{name} {pw}\n" for name, pw in passwords.items())
    return path
