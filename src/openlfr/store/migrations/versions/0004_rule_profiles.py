"""rule profiles, urgent use, under-18 subjects, recorded bias evaluations

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-02 10:00:00

- ``deployments``: the rule profile it is authorised under (``profile``, existing rows
  ``custom``; ``profile_version``) and per-deployment overrides with their reasons
  (``profile_overrides``, JSON); the authorising officer's rank, the watchlist criteria, the
  FRIA reference, the two-person verification exception, the authorities' notification
  reference; the external authorisation record (authority, reference, date, scope, decision,
  when recorded); urgent use (flag, reason, deadline, when its data was deleted).
- ``subjects.under_18`` and ``subjects.under_18_justification``.
- ``bias_evaluations``: recorded ``openlfr evaluate bias`` results (the bias gate).
- ``audit_head.base_seq``/``base_hash``: the last audit entry purged by retention (after the
  six-month floor); the chain verifies from there.

Added columns only on existing tables (SQLite ALTER TABLE in place; see 0002 on why no
table is recreated).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import openlfr.store.types

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

_DT = openlfr.store.types.UTCDateTime


def _deployment_columns() -> list[sa.Column[object]]:
    return [
        sa.Column("profile", sa.String(length=32), nullable=False, server_default="custom"),
        sa.Column("profile_version", sa.String(length=32), nullable=True),
        sa.Column("profile_overrides", sa.JSON(), nullable=False,
                  server_default=sa.text("'{}'")),
        sa.Column("authorising_officer_rank", sa.String(length=64), nullable=True),
        sa.Column("watchlist_criteria", sa.Text(), nullable=True),
        sa.Column("fria_reference", sa.String(length=200), nullable=True),
        sa.Column("two_person_exception", sa.Text(), nullable=True),
        sa.Column("notification_reference", sa.String(length=200), nullable=True),
        sa.Column("external_authority", sa.String(length=200), nullable=True),
        sa.Column("external_reference", sa.String(length=200), nullable=True),
        sa.Column("external_date", _DT(), nullable=True),
        sa.Column("external_scope", sa.Text(), nullable=True),
        sa.Column("external_decision", sa.String(length=16), nullable=True),
        sa.Column("external_recorded_at", _DT(), nullable=True),
        sa.Column("urgent", sa.Boolean(), nullable=False, server_default=sa.false()),
        sa.Column("urgent_reason", sa.Text(), nullable=True),
        sa.Column("urgent_deadline", _DT(), nullable=True),
        sa.Column("urgent_purged_at", _DT(), nullable=True),
    ]


_SUBJECT_COLUMNS = ("under_18", "under_18_justification")


def upgrade() -> None:
    with op.batch_alter_table("deployments", schema=None, recreate="never") as b:
        for col in _deployment_columns():
            b.add_column(col)
    with op.batch_alter_table("subjects", schema=None, recreate="never") as b:
        b.add_column(sa.Column("under_18", sa.Boolean(), nullable=False,
                               server_default=sa.false()))
        b.add_column(sa.Column("under_18_justification", sa.Text(), nullable=True))
    with op.batch_alter_table("audit_head", schema=None, recreate="never") as b:
        b.add_column(sa.Column("base_seq", sa.Integer(), nullable=False, server_default="0"))
        b.add_column(sa.Column("base_hash", sa.String(length=64), nullable=False,
                               server_default="0" * 64))
    op.create_table(
        "bias_evaluations",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("created_at", _DT(), nullable=False),
        sa.Column("embedder_key", sa.String(length=200), nullable=False),
        sa.Column("flip", sa.Boolean(), nullable=False),
        sa.Column("dataset_name", sa.String(length=200), nullable=False),
        sa.Column("dataset_description", sa.Text(), nullable=False),
        sa.Column("thresholds_covered_min", sa.Float(), nullable=False),
        sa.Column("thresholds_covered_max", sa.Float(), nullable=False),
        sa.Column("result", sa.JSON(), nullable=False),
        sa.Column("created_by_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(["created_by_id"], ["users.id"],
                                name=op.f("fk_bias_evaluations_created_by_id_users")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_bias_evaluations")),
        sqlite_autoincrement=True,
    )
    with op.batch_alter_table("bias_evaluations", schema=None) as b:
        b.create_index(b.f("ix_bias_evaluations_embedder_key"), ["embedder_key", "flip"],
                       unique=False)


def _drop_columns(table: str, *columns: str) -> None:
    if op.get_bind().dialect.name == "sqlite":  # natively, so referencing rows stay
        for column in columns:
            op.execute(f'ALTER TABLE "{table}" DROP COLUMN "{column}"')
    else:
        with op.batch_alter_table(table, schema=None) as b:
            for column in columns:
                b.drop_column(column)


def downgrade() -> None:
    with op.batch_alter_table("bias_evaluations", schema=None) as b:
        b.drop_index(b.f("ix_bias_evaluations_embedder_key"))
    op.drop_table("bias_evaluations")
    _drop_columns("audit_head", "base_hash", "base_seq")
    _drop_columns("subjects", *reversed(_SUBJECT_COLUMNS))
    _drop_columns("deployments", *reversed([c.name for c in _deployment_columns()]))
