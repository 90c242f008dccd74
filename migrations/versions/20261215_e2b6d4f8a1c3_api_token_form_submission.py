"""A token issued from the admin page keeps the value its form drew, unique.

The same form sent twice (a reload of the page that shows the new secret, a double click) must
issue one token; the unique column decides it even when both requests arrive at once.

Revision ID: e2b6d4f8a1c3
Revises: d1a5c3e7b9f2
"""

from alembic import op
import sqlalchemy as sa


revision = 'e2b6d4f8a1c3'
down_revision = 'd1a5c3e7b9f2'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('api_tokens', schema=None) as batch_op:
        batch_op.add_column(sa.Column('form_submission', sa.String(length=32), nullable=True))
        batch_op.create_unique_constraint(
            batch_op.f('uq_api_tokens_form_submission'), ['form_submission']
        )


def downgrade() -> None:
    with op.batch_alter_table('api_tokens', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('uq_api_tokens_form_submission'), type_='unique')
        batch_op.drop_column('form_submission')
