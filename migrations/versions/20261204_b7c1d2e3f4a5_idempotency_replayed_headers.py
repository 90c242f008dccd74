"""Idempotency records keep a few response headers (ETag) so a replay is the same response.

Revision ID: b7c1d2e3f4a5
Revises: 970011b372fe
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "b7c1d2e3f4a5"
down_revision = "970011b372fe"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("idempotency_keys") as batch:
        batch.add_column(sa.Column("headers", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("idempotency_keys") as batch:
        batch.drop_column("headers")
