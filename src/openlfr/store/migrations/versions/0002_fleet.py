"""fleet: idempotent alerts and counters, the sink outbox, recorded-clip progress

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-01 09:00:00

- ``alerts.uid``: the camera's alert id (recording is idempotent on it); existing rows get
  ``legacy`` + their zero-padded id. ``alerts.frame_index`` and ``alerts.media_time_s``.
- ``deployments.sinks``: sinks of the server config that this deployment's alerts go to.
- ``alert_deliveries``: the outbox (one row per alert and sink), deleted with its alert.
- ``camera_runs``: cumulative counters per camera process lifetime (idempotent counters).
- ``camera_progress``: the next frame to analyse of a recorded clip, per camera.
- ``centre_leader``: which of several servers sharing the database assigns the cameras.

SQLite: ``alerts`` and ``deployments`` are referenced by other tables with ``ON DELETE
CASCADE`` and the connection has ``foreign_keys`` on, so recreating them (what batch mode
does for most changes) would delete the referencing rows. Only changes SQLite's ALTER TABLE
does in place are made to them: columns are added (``alerts.uid`` NOT NULL needs a default
there, ``''``, which every insert overrides) and dropped natively (SQLite >= 3.35).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import openlfr.store.types

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def _sqlite() -> bool:
    return op.get_bind().dialect.name == "sqlite"


def upgrade() -> None:
    sqlite = _sqlite()
    with op.batch_alter_table("alerts", schema=None, recreate="never") as batch_op:
        if sqlite:
            batch_op.add_column(sa.Column("uid", sa.String(length=32), nullable=False,
                                          server_default=""))
        else:
            batch_op.add_column(sa.Column("uid", sa.String(length=32), nullable=True))
        batch_op.add_column(sa.Column("frame_index", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("media_time_s", sa.Float(), nullable=True))
    legacy = ("'legacy' || printf('%026d', id)" if sqlite
              else "'legacy' || lpad(id::text, 26, '0')")
    op.execute(f"UPDATE alerts SET uid = {legacy}")
    with op.batch_alter_table("alerts", schema=None, recreate="never") as batch_op:
        if not sqlite:
            batch_op.alter_column("uid", existing_type=sa.String(length=32), nullable=False)
        batch_op.create_index(batch_op.f("ix_alerts_uid"), ["uid"], unique=True)

    with op.batch_alter_table("deployments", schema=None, recreate="never") as batch_op:
        batch_op.add_column(sa.Column("sinks", sa.JSON(), nullable=False,
                                      server_default=sa.text("'[]'")))

    op.create_table(
        "alert_deliveries",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("alert_id", sa.Integer(), nullable=False),
        sa.Column("sink", sa.String(length=200), nullable=False),
        sa.Column(
            "status",
            sa.Enum("pending", "delivered", "failed", name="deliverystatus",
                    native_enum=False, length=32),
            nullable=False,
        ),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", openlfr.store.types.UTCDateTime(), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("created_at", openlfr.store.types.UTCDateTime(), nullable=False),
        sa.Column("delivered_at", openlfr.store.types.UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["alert_id"], ["alerts.id"], name=op.f("fk_alert_deliveries_alert_id_alerts"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_alert_deliveries")),
        sa.UniqueConstraint("alert_id", "sink", name=op.f("uq_alert_deliveries_alert_id")),
        sqlite_autoincrement=True,
    )
    with op.batch_alter_table("alert_deliveries", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_alert_deliveries_status"),
                              ["status", "next_attempt_at"], unique=False)

    op.create_table(
        "camera_runs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("run_id", sa.String(length=32), nullable=False),
        sa.Column("deployment_id", sa.Integer(), nullable=False),
        sa.Column("camera_id", sa.String(length=64), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("frames", sa.Integer(), nullable=False),
        sa.Column("dropped", sa.Integer(), nullable=False),
        sa.Column("faces", sa.Integer(), nullable=False),
        sa.Column("tracks", sa.Integer(), nullable=False),
        sa.Column("updated_at", openlfr.store.types.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["deployment_id"], ["deployments.id"],
            name=op.f("fk_camera_runs_deployment_id_deployments"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_camera_runs")),
        sa.UniqueConstraint("run_id", name=op.f("uq_camera_runs_run_id")),
        sqlite_autoincrement=True,
    )
    with op.batch_alter_table("camera_runs", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_camera_runs_deployment_id"), ["deployment_id"],
                              unique=False)

    op.create_table(
        "camera_progress",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("deployment_id", sa.Integer(), nullable=False),
        sa.Column("camera_id", sa.String(length=64), nullable=False),
        sa.Column("frame_index", sa.Integer(), nullable=False),
        sa.Column("finished", sa.Boolean(), nullable=False),
        sa.Column("updated_at", openlfr.store.types.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["deployment_id"], ["deployments.id"],
            name=op.f("fk_camera_progress_deployment_id_deployments"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_camera_progress")),
        sa.UniqueConstraint("deployment_id", "camera_id",
                            name=op.f("uq_camera_progress_deployment_id")),
        sqlite_autoincrement=True,
    )

    op.create_table(
        "centre_leader",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("holder", sa.String(length=64), nullable=False),
        sa.Column("until", openlfr.store.types.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_centre_leader")),
    )


def _drop_columns(table: str, *columns: str) -> None:
    if _sqlite():  # natively, in place (see the module docstring)
        for c in columns:
            op.execute(f'ALTER TABLE "{table}" DROP COLUMN "{c}"')
        return
    with op.batch_alter_table(table, schema=None) as batch_op:
        for c in columns:
            batch_op.drop_column(c)


def downgrade() -> None:
    op.drop_table("centre_leader")
    op.drop_table("camera_progress")
    with op.batch_alter_table("camera_runs", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_camera_runs_deployment_id"))
    op.drop_table("camera_runs")
    with op.batch_alter_table("alert_deliveries", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_alert_deliveries_status"))
    op.drop_table("alert_deliveries")
    _drop_columns("deployments", "sinks")
    with op.batch_alter_table("alerts", schema=None, recreate="never") as batch_op:
        batch_op.drop_index(batch_op.f("ix_alerts_uid"))
    _drop_columns("alerts", "media_time_s", "frame_index", "uid")
