"""camera credentials encrypted at rest; the track id a resumed recorded clip starts at

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-01 23:30:00

- ``deployment_cameras.source_secret``: the camera's source URL, AES-GCM encrypted with the
  store's keyring (associated data ``deployment_cameras:<id>:source_secret``), as templates
  are. ``deployment_cameras.source_url`` keeps the URL with its password redacted, for
  display. Encrypting needs the key, which a migration does not have: existing rows keep
  their plain URL (``source_secret`` NULL) and the service encrypts each on its first read
  with the key (:func:`openlfr.governance.deployments.camera_source`), redacting
  ``source_url`` in the same transaction.
- ``camera_progress.next_track_id``: the first track id of a run resumed at
  ``frame_index``, so its replayed alerts keep their ids.

Both are added columns only (SQLite ALTER TABLE in place; see 0002 on why no table is
recreated).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("deployment_cameras", schema=None, recreate="never") as b:
        b.add_column(sa.Column("source_secret", sa.LargeBinary(), nullable=True))
    with op.batch_alter_table("camera_progress", schema=None, recreate="never") as b:
        b.add_column(sa.Column("next_track_id", sa.Integer(), nullable=False,
                               server_default="1"))


def downgrade() -> None:
    # a migration has no key: URLs stored only encrypted keep their redacted form (their
    # passwords are lost and must be entered again)
    bind = op.get_bind()
    for table, column in (("camera_progress", "next_track_id"),
                          ("deployment_cameras", "source_secret")):
        if bind.dialect.name == "sqlite":
            op.execute(f'ALTER TABLE "{table}" DROP COLUMN "{column}"')
        else:
            with op.batch_alter_table(table, schema=None) as b:
                b.drop_column(column)
