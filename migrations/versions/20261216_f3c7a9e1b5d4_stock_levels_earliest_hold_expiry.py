"""Each stock level keeps a moment before which none of its held lines lapses.

Reads look for lapsed holds only on levels where ``earliest_hold_expiry`` has passed (or is not
known), instead of on every level with something reserved: at a promotion's peak, most of them.
The column is filled from the held lines, and ``reserve_stock`` keeps it, as the Python code does
on SQLite (``inventory.holds.hold_expiry_bound``): no later than the hold it takes, read again
from the held lines once it has passed.

Revision ID: f3c7a9e1b5d4
Revises: e2b6d4f8a1c3
"""

import importlib.util
from pathlib import Path
from types import ModuleType

import sqlalchemy as sa
from alembic import op

revision = "f3c7a9e1b5d4"
down_revision = "e2b6d4f8a1c3"
branch_labels = None
depends_on = None


def _reserve_stock_revision() -> ModuleType:
    """The migration that created ``reserve_stock``, whose text this one amends."""
    path = Path(__file__).with_name("20261213_c4e8a1f7d2b3_reserve_stock_in_one_statement.py")
    spec = importlib.util.spec_from_file_location("reserve_stock_in_one_statement", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


HOLD = """
           SET reserved = reserved + p_quantities[i], updated_at = p_now
"""

HOLD_KEEPING_THE_EARLIEST_EXPIRY = """
           SET reserved = reserved + p_quantities[i], updated_at = p_now,
               earliest_hold_expiry = CASE
                   WHEN earliest_hold_expiry > p_now THEN LEAST(earliest_hold_expiry, p_expires_at)
                   ELSE (SELECT LEAST(min(l.expires_at), p_expires_at) FROM reservation_lines l
                          WHERE l.held AND l.product_id = p_products[i]
                            AND l.warehouse_id = p_warehouses[i])
               END
"""


def upgrade() -> None:
    with op.batch_alter_table("stock_levels", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("earliest_hold_expiry", sa.DateTime(timezone=True), nullable=True)
        )
    op.execute(
        "UPDATE stock_levels SET earliest_hold_expiry = (SELECT min(l.expires_at) "
        "FROM reservation_lines l WHERE l.held AND l.product_id = stock_levels.product_id "
        "AND l.warehouse_id = stock_levels.warehouse_id) WHERE reserved > 0"
    )
    if op.get_bind().dialect.name == "sqlite":
        return
    previous = _reserve_stock_revision().RESERVE_STOCK
    assert HOLD in previous
    op.execute(previous.replace(HOLD, HOLD_KEEPING_THE_EARLIEST_EXPIRY))


def downgrade() -> None:
    if op.get_bind().dialect.name != "sqlite":
        op.execute(_reserve_stock_revision().RESERVE_STOCK)
    with op.batch_alter_table("stock_levels", schema=None) as batch_op:
        batch_op.drop_column("earliest_hold_expiry")
