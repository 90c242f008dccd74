"""Users keep their UI language and last sign-in; API tokens may expire.

Revision ID: c4e8a1f2d3b6
Revises: b0c3c40c26f6
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "c4e8a1f2d3b6"
down_revision = "b0c3c40c26f6"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("users") as batch:
        batch.add_column(sa.Column("language", sa.String(length=16), nullable=True))
        batch.add_column(sa.Column("last_sign_in_at", sa.DateTime(timezone=True), nullable=True))
    with op.batch_alter_table("api_tokens") as batch:
        batch.add_column(sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("api_tokens") as batch:
        batch.drop_column("expires_at")
    with op.batch_alter_table("users") as batch:
        batch.drop_column("last_sign_in_at")
        batch.drop_column("language")
