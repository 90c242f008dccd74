"""Alembic's history builds exactly the schema the models describe, on SQLite and PostgreSQL."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import text

from core import db
from core.db import Base
from core.health import migration_heads


def test_upgrade_head_on_an_empty_database_matches_the_models(app):
    """The ``database_url`` fixture is migrated by ``flask db upgrade`` from empty."""
    with app.app_context(), db.engine().connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        differences = compare_metadata(context, Base.metadata)
        version = conn.execute(text("SELECT version_num FROM alembic_version")).scalars().all()
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
