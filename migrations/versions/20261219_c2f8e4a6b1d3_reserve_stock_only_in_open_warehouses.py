"""``reserve_stock`` holds units only in open warehouses.

A reservation's plan may now come from what its server process read of the basket up to
``RESERVATION_PLAN_SECONDS`` earlier (``inventory.reservations.plan_cache``): another process may
have closed a warehouse since. The holds' conditional UPDATEs already re-check the units; they
now re-check that the warehouse is open too, and a plan that names a closed one fails whole as
stale (SQLSTATE ``SR001``), to be read and planned again. The rest of the function is unchanged.

Revision ID: c2f8e4a6b1d3
Revises: b4e7c2a9f1d6
"""

import importlib.util
from pathlib import Path
from types import ModuleType

from alembic import op

revision = "c2f8e4a6b1d3"
down_revision = "b4e7c2a9f1d6"
branch_labels = None
depends_on = None

HELD_WHERE = """         WHERE product_id = p_products[i] AND warehouse_id = p_warehouses[i]
           AND on_hand - reserved >= p_quantities[i];"""
HELD_WHERE_OPEN = """         WHERE product_id = p_products[i] AND warehouse_id = p_warehouses[i]
           AND on_hand - reserved >= p_quantities[i]
           AND EXISTS (SELECT FROM warehouses w WHERE w.id = p_warehouses[i] AND w.active);"""


def _previous_function() -> str:
    path = Path(__file__).with_name("20261217_a9d3f5c1e7b2_reserve_stock_record_as_columns.py")
    spec = importlib.util.spec_from_file_location(path.stem, path)
    assert spec is not None and spec.loader is not None
    module: ModuleType = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    text: str = module.RESERVE_STOCK
    assert HELD_WHERE in text, "reserve_stock's holds are not where this revision expects them"
    return text.replace("CREATE FUNCTION", "CREATE OR REPLACE FUNCTION", 1)


def upgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        return
    op.execute(_previous_function().replace(HELD_WHERE, HELD_WHERE_OPEN))


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        return
    op.execute(_previous_function())
