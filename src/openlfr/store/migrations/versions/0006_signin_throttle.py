"""the sign-in throttle in the store

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-02 05:00:00

- ``signin_failures``: failed sign-ins within the throttle's window, one row per failure and
  per what it counts against (a name or an address, both as keyed hashes).
- ``signin_locks``: names and addresses locked until a time.

Both were kept in each server process's memory before, so several centres sharing one
database each counted their own (``openlfr.governance.throttle``). New tables only.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import openlfr.store.types

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "signin_failures",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("scope", sa.String(length=16), nullable=False),
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column("at", openlfr.store.types.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_signin_failures")),
    )
    op.create_index(op.f("ix_signin_failures_scope"), "signin_failures",
                    ["scope", "key", "at"], unique=False)
    op.create_index(op.f("ix_signin_failures_at"), "signin_failures", ["at"], unique=False)
    op.create_table(
        "signin_locks",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("scope", sa.String(length=16), nullable=False),
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column("until", openlfr.store.types.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_signin_locks")),
    )
    op.create_index(op.f("ix_signin_locks_scope"), "signin_locks", ["scope", "key", "until"],
                    unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_signin_locks_scope"), table_name="signin_locks")
    op.drop_table("signin_locks")
    op.drop_index(op.f("ix_signin_failures_at"), table_name="signin_failures")
    op.drop_index(op.f("ix_signin_failures_scope"), table_name="signin_failures")
    op.drop_table("signin_failures")
