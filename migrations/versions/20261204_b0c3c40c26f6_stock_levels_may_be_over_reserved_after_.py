"""Stock levels may be over-reserved after a count: a count below reserved is posted and flagged.

Revision ID: b0c3c40c26f6
Revises: 661a9ba94469
Create Date: 2026-12-04 06:08:32.953171
"""

from alembic import op
import sqlalchemy as sa


revision = 'b0c3c40c26f6'
down_revision = '661a9ba94469'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('stock_levels', schema=None) as batch_op:
        batch_op.add_column(
            sa.Column('over_reserved', sa.Boolean(), server_default=sa.false(), nullable=False)
        )
        batch_op.drop_constraint(op.f('ck_stock_levels_available_not_negative'), type_='check')
        batch_op.create_check_constraint(
            op.f('ck_stock_levels_available_not_negative'),
            'allow_negative OR over_reserved OR on_hand >= reserved',
        )


def downgrade() -> None:
    with op.batch_alter_table('stock_levels', schema=None) as batch_op:
        batch_op.drop_constraint(op.f('ck_stock_levels_available_not_negative'), type_='check')
        batch_op.create_check_constraint(
            op.f('ck_stock_levels_available_not_negative'), 'allow_negative OR on_hand >= reserved'
        )
        batch_op.drop_column('over_reserved')
