"""The OpenLFR store: typed SQLAlchemy 2 models.

Biometric data (watchlist images, templates, alert probe images) is kept only as AES-GCM
ciphertext (``*_blob`` columns, see :mod:`openlfr.governance.crypto`), bound to its row by the
associated data. Nothing about people who do not match is stored: only aggregate counters.

Ids are never reused (``sqlite_autoincrement``), so a reference in the audit log names one
row forever, even after retention deleted it. Schema changes go through Alembic
(``openlfr/store/migrations``); a test checks that the migrations and these models agree.

The tables live in one module per area, all re-exported here (import from
``openlfr.store.models``): :mod:`~openlfr.store.models_base` (the declarative base, its naming
convention, the enums), :mod:`~openlfr.store.models_users`,
:mod:`~openlfr.store.models_deployments`, :mod:`~openlfr.store.models_watchlist`,
:mod:`~openlfr.store.models_alerts`, :mod:`~openlfr.store.models_fleet` and
:mod:`~openlfr.store.models_audit`.
"""

from __future__ import annotations

# isort: off
# In the order the tables were first written (one models.py), which is the order of
# Base.metadata.tables and so of sorted_tables' ties: keep it.
from openlfr.store.models_base import (
    AlertStatus,
    Base,
    Category,
    DeliveryStatus,
    DeploymentKind,
    DeploymentStatus,
    Outcome,
    Role,
)
from openlfr.store.models_users import ApiToken, SignInFailure, SignInLock, User, UserRole
from openlfr.store.models_deployments import Deployment, DeploymentCamera
from openlfr.store.models_watchlist import Subject, SubjectImage, Template
from openlfr.store.models_watchlist import Snapshot, SnapshotSubject, SnapshotTemplate
from openlfr.store.models_alerts import Adjudication, Alert, AlertDelivery, DeploymentCounter
from openlfr.store.models_fleet import CameraProgress, CameraRun, CentreLeader
from openlfr.store.models_audit import AuditEntry, AuditHead, BiasEvaluation
# isort: on

__all__ = [
    "Base", "Role", "DeploymentKind", "DeploymentStatus", "Category", "AlertStatus", "Outcome",
    "User", "UserRole", "ApiToken", "Deployment", "DeploymentCamera", "Subject", "SubjectImage",
    "Template", "Snapshot", "SnapshotSubject", "SnapshotTemplate", "Alert", "Adjudication",
    "DeploymentCounter", "AuditEntry", "AuditHead", "CentreLeader", "DeliveryStatus",
    "AlertDelivery", "CameraRun", "CameraProgress", "BiasEvaluation", "SignInFailure", "SignInLock",
]
