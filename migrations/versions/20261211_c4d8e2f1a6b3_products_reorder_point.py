"""Products may carry a reorder point: the stock page calls an item low at or below it.

Revision ID: c4d8e2f1a6b3
Revises: c4e8a1f2d3b6
"""

from alembic import op
import sqlalchemy as sa


revision = 'c4d8e2f1a6b3'
down_revision = 'c4e8a1f2d3b6'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('products', schema=None) as batch_op:
        batch_op.add_column(sa.Column('reorder_point', sa.Integer(), nullable=True))
        batch_op.create_check_constraint(
            op.f('ck_products_reorder_point_not_negative'),
            'reorder_point IS NULL OR reorder_point >= 0',
        )


def downgrade() -> None:
    with op.batch_alter_table('products', schema=None) as batch_op:
        batch_op.drop_constraint(op.f('ck_products_reorder_point_not_negative'), type_='check')
        batch_op.drop_column('reorder_point')
