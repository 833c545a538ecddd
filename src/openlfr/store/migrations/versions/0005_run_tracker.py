"""the tracker settings of each camera run

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-02 02:30:00

- ``camera_runs.tracker_fingerprint``: the fingerprint of the tracker settings a camera run's
  tracks come from (``openlfr.pipeline.tracker.settings_fingerprint``), reported with its
  counters, so a report can say what its denominator, tracks, is made of on those settings.
  Runs recorded before it have none (reports then say the settings were not recorded).

An added column only (SQLite ALTER TABLE in place; see 0002 on why no table is recreated).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("camera_runs", schema=None, recreate="never") as b:
        b.add_column(sa.Column("tracker_fingerprint", sa.String(length=32), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("camera_runs", schema=None, recreate="never") as b:
        b.drop_column("tracker_fingerprint")
