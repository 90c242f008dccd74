"""Alembic's history builds exactly the schema the models describe, on SQLite and PostgreSQL."""

from __future__ import annotations

import warnings

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Column, text

from core import db
from core.db import Base
from core.health import migration_heads


def _expression_indexes() -> dict[str, str]:
    """Index name -> table of the models' indexes on an expression (``lower(sku)``)."""
    return {
        str(index.name): table.name
        for table in Base.metadata.tables.values()
        for index in table.indexes
        if any(not isinstance(part, Column) for part in index.expressions)
    }


def test_upgrade_head_on_an_empty_database_matches_the_models(app):
    """The ``database_url`` fixture is migrated by ``flask db upgrade`` from empty.

    SQLAlchemy cannot read an index on an expression back from SQLite; there, those are checked
    by name in SQLite's catalog instead."""
    expression_indexes = _expression_indexes()
    assert expression_indexes  # the check below has something to check
    with app.app_context(), db.engine().connect() as conn:
        sqlite = conn.dialect.name == "sqlite"

        def compared(obj, name, type_, reflected, compare_to):  # type: ignore[no-untyped-def]
            return not (sqlite and type_ == "index" and name in expression_indexes)

        opts = {"compare_type": True, "include_object": compared}
        context = MigrationContext.configure(conn, opts=opts)
        with warnings.catch_warnings():
            if sqlite:
                warnings.filterwarnings("ignore", "Skipped unsupported reflection of expression")
                warnings.filterwarnings("ignore", "autogenerate skipping metadata-specified expr")
            differences = compare_metadata(context, Base.metadata)
        version = conn.execute(text("SELECT version_num FROM alembic_version")).scalars().all()
        if sqlite:
            catalog = text("SELECT name, tbl_name FROM sqlite_master WHERE type = 'index'")
            found = dict(conn.execute(catalog).all())
            assert {n: found.get(n) for n in expression_indexes} == expression_indexes
    assert differences == []
    assert set(version) == migration_heads()


def test_history_is_linear():
    assert len(migration_heads()) == 1


def test_the_ledger_refuses_updates_and_deletes(app, make_product, make_warehouse, receive):
    import pytest
    from sqlalchemy.exc import DBAPIError

    make_product(sku="A")
    make_warehouse(code="W")
    receive("A", "W", 5)
    with app.app_context():
        for statement in (
            "UPDATE stock_movements SET quantity = 50",
            "DELETE FROM stock_movements",
        ):
            with pytest.raises(DBAPIError, match="append-only"), db.engine().begin() as conn:
                conn.execute(text(statement))
        with db.engine().connect() as conn:
            assert conn.execute(text("SELECT sum(quantity) FROM stock_movements")).scalar() == 5


def test_a_reservation_line_must_hold_units_of_an_existing_stock_level(
    app, make_product, make_warehouse, receive
):
    """Lines reference their level (product, warehouse): a product and a warehouse that both
    exist are not enough without stock there."""
    import pytest
    from sqlalchemy.exc import IntegrityError

    make_product(sku="A")
    make_product(sku="B")
    make_warehouse(code="W")
    receive("A", "W", 5)
    with app.app_context():
        with db.engine().begin() as conn:
            ids = dict(conn.execute(text("SELECT sku, id FROM products")).all())
            w = conn.execute(text("SELECT id FROM warehouses")).scalar_one()
            r = conn.execute(
                text(
                    "INSERT INTO reservations (order_ref, status, expires_at, created_by, "
                    "created_at, updated_at) VALUES ('O-1', 'active', CURRENT_TIMESTAMP, 'shop', "
                    "CURRENT_TIMESTAMP, CURRENT_TIMESTAMP) RETURNING id"
                )
            ).scalar_one()
        line = text(
            "INSERT INTO reservation_lines (reservation_id, product_id, warehouse_id, line_no, "
            "quantity, held, expires_at) VALUES (:r, :p, :w, 0, 1, false, CURRENT_TIMESTAMP)"
        )
        with pytest.raises(IntegrityError), db.engine().begin() as conn:
            conn.execute(line, {"r": r, "p": ids["B"], "w": w})
        with db.engine().begin() as conn:
            conn.execute(line, {"r": r, "p": ids["A"], "w": w})
        with db.engine().connect() as conn:
            held = conn.execute(text("SELECT product_id FROM reservation_lines")).scalars().all()
    assert held == [ids["A"]]
