"""``DB_PREPARE_THRESHOLD=none``: no statement is prepared on the server, as PgBouncer's
transaction pooling (without its own prepared statement support) needs."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import text

from core import db

pytestmark = pytest.mark.pg


def prepared_after_repeats(app: Any, engine_of: Any) -> int:
    with app.app_context(), engine_of().connect() as conn:
        for _ in range(10):
            conn.execute(text("SELECT count(*) FROM products WHERE sku = :sku"), {"sku": "A"})
        return int(conn.execute(text("SELECT count(*) FROM pg_prepared_statements")).scalar())


@pytest.mark.parametrize("threshold", [5, None])
def test_statements_are_prepared_only_when_the_threshold_allows(database_url, threshold):
    from app import create_app

    app = create_app(
        {
            "DATABASE_URL": database_url,
            "TESTING": True,
            "LOG_LEVEL": "WARNING",
            "DB_PREPARE_THRESHOLD": threshold,
        }
    )
    try:
        for engine_of in (db.engine, db._read_engine):
            prepared = prepared_after_repeats(app, engine_of)
            assert (prepared > 0) is (threshold is not None), (engine_of, prepared)
    finally:
        db.dispose(app)
