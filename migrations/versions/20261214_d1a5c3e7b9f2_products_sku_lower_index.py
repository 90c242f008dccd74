"""Index products by the lower case of their sku.

A sku typed in another case is looked up by ``lower(sku)``, and so is every new product (a sku
that differs from an existing one only in case is refused): without this index each of those
read the whole catalog.

Revision ID: d1a5c3e7b9f2
Revises: c4e8a1f7d2b3
"""

from alembic import op
import sqlalchemy as sa


revision = 'd1a5c3e7b9f2'
down_revision = 'c4e8a1f7d2b3'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index('ix_products_sku_lower', 'products', [sa.text('lower(sku)')])


def downgrade() -> None:
    op.drop_index('ix_products_sku_lower', table_name='products')
