"""Absolute query budgets on the hottest paths: a change that adds a round trip to the storefront's
availability check, its reserve call, a stock movement or the buyers' order list fails here first.

Transaction control (BEGIN/COMMIT/ROLLBACK/SAVEPOINT) is not counted in the budgets: it is not a
query the database plans, and SQLite and PostgreSQL drivers issue it differently. On PostgreSQL
every statement psycopg sends is seen, from either pool, as is every one ``core.db.DriverStatement``
runs through libpq itself, and the control psycopg sends (including the BEGIN it adds before the
first statement of a transaction, and a pool's pre-ping) is counted apart, so that round trips
can be checked where they matter.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import psycopg
import pytest
from flask import Flask
from psycopg.pq import TransactionStatus
from sqlalchemy import event

from core import db
from tests.conftest import backend
from tests.factories import ApiClient, MakeUser
from tests.procurement_factories import create_order
from tests.reservation_factories import reserve

#: The module, not the function ``inventory.reservations`` exports under the same name.
availability = importlib.import_module("inventory.reservations.availability")

CONTROL = ("BEGIN", "COMMIT", "ROLLBACK", "SAVEPOINT", "RELEASE")
#: What a pool sends to check a connection before lending it (pre-ping): a round trip, not a query.
PINGS = (";", "SELECT 1")

# (SQLite, PostgreSQL). PostgreSQL reserves in one read and one call of ``reserve_stock``, which
# claims the Idempotency-Key, holds, inserts and records; SQLite runs the statements one by one.
BUDGET = {
    "availability": (1, 1),
    "reserve": (7, 2),
    "movement": (8, 8),
    "order_list": (4, 4),
}


def budget(path: str) -> int:
    sqlite, postgres = BUDGET[path]
    return postgres if backend() == "postgresql" else sqlite


@dataclass
class Sent:
    """What reached the database: statements, and transaction control (counted apart)."""

    statements: list[str] = field(default_factory=list)
    control: list[str] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.statements)

    def __iter__(self) -> Iterator[str]:
        return iter(self.statements)

    def __repr__(self) -> str:
        return repr(self.statements + self.control)

    def record(self, statement: str) -> None:
        text = statement.strip()
        if text.upper().startswith(CONTROL) or text in PINGS:
            self.control.append(statement)
        else:
            self.statements.append(statement)

    @property
    def round_trips(self) -> int:
        return len(self.statements) + len(self.control)


@contextmanager
def _psycopg_sends(sent: Sent) -> Iterator[None]:
    """Every statement any psycopg connection sends, and the BEGIN/COMMIT/ROLLBACK it adds."""
    execute, executemany = psycopg.Cursor.execute, psycopg.Cursor.executemany
    commit, rollback = psycopg.Connection.commit, psycopg.Connection.rollback
    run_prepared, send_prepared = db._run_prepared, db._send_prepared

    def counted_run_prepared(raw, name, sql, types, values):  # type: ignore[no-untyped-def]
        sent.record(sql)
        return run_prepared(raw, name, sql, types, values)

    def counted_send_prepared(raw, name, sql, types, values, **kwargs):  # type: ignore[no-untyped-def]
        sent.record(sql)
        return send_prepared(raw, name, sql, types, values, **kwargs)

    def in_transaction(conn: Any) -> bool:
        return conn.info.transaction_status != TransactionStatus.IDLE

    def counted_execute(self, query, params=None, **kwargs):  # type: ignore[no-untyped-def]
        if not self.connection.autocommit and not in_transaction(self.connection):
            sent.record("BEGIN")
        sent.record(str(query))
        return execute(self, query, params, **kwargs)

    def counted_executemany(self, query, params_seq, **kwargs):  # type: ignore[no-untyped-def]
        if not self.connection.autocommit and not in_transaction(self.connection):
            sent.record("BEGIN")
        sent.record(str(query))  # one round trip: psycopg pipelines the rows
        return executemany(self, query, params_seq, **kwargs)

    def counted(method, name):  # type: ignore[no-untyped-def]
        def run(self):  # type: ignore[no-untyped-def]
            if in_transaction(self):
                sent.record(name)
            return method(self)

        return run

    psycopg.Cursor.execute = counted_execute  # type: ignore[method-assign]
    psycopg.Cursor.executemany = counted_executemany  # type: ignore[method-assign]
    psycopg.Connection.commit = counted(commit, "COMMIT")  # type: ignore[method-assign]
    psycopg.Connection.rollback = counted(rollback, "ROLLBACK")  # type: ignore[method-assign]
    db._run_prepared = counted_run_prepared
    db._send_prepared = counted_send_prepared
    try:
        yield
    finally:
        db._run_prepared = run_prepared
        db._send_prepared = send_prepared
        psycopg.Cursor.execute = execute  # type: ignore[method-assign]
        psycopg.Cursor.executemany = executemany  # type: ignore[method-assign]
        psycopg.Connection.commit = commit  # type: ignore[method-assign]
        psycopg.Connection.rollback = rollback  # type: ignore[method-assign]


@contextmanager
def counting(app: Flask) -> Iterator[Sent]:
    sent = Sent()
    if backend() == "postgresql":
        with _psycopg_sends(sent):
            yield sent
        return

    def record(_conn, _cursor, statement, *_args) -> None:  # type: ignore[no-untyped-def]
        sent.record(statement)

    with app.app_context():
        engine = db.engine()
    event.listen(engine, "before_cursor_execute", record)
    try:
        yield sent
    finally:
        event.remove(engine, "before_cursor_execute", record)


@pytest.fixture
def stocked(make_product, make_warehouse, receive) -> None:  # type: ignore[no-untyped-def]
    make_warehouse(code="W1")
    make_warehouse(code="W2")
    for sku in ("A", "B", "C"):
        make_product(sku=sku)
        receive(sku, "W1", 50)
        receive(sku, "W2", 50)


@pytest.fixture
def storefront(make_user: MakeUser) -> ApiClient:
    api = make_user("storefront")
    # The token cache and both pools are warm in a running server.
    api.get("/me")
    api.get("/availability?sku=warm-up")
    return api


def test_availability_of_several_skus_is_one_query(app, stocked, storefront):
    with counting(app) as statements:
        r = storefront.get("/availability?sku=A&sku=B&sku=C")
    assert r.status_code == 200
    # Exactly: a counter that missed how availability reaches the database would see none.
    assert len(statements) == budget("availability"), statements


def test_a_basket_of_1000_skus_is_one_query_with_the_lapsed_holds_in_it(
    app, stocked, storefront, clock
):
    """PostgreSQL reads it in parts sent at once (``availability.PART_SKUS``): a query each, one
    wait."""
    assert reserve(storefront, {"A": 5}, warehouse="W1", ttl_seconds=60).status_code == 201
    clock.advance(seconds=61)  # the hold has lapsed but nothing has released it
    skus = ["A", "B", "C"] + [f"NOPE-{i:03d}" for i in range(997)]
    with counting(app) as statements:
        r = storefront.post("/availability", json={"skus": skus})
    assert r.status_code == 200
    parts = -(-len(skus) // availability.PART_SKUS) if backend() == "postgresql" else 1
    assert len(statements) == parts, statements
    items = r.json["items"]
    assert [i["sku"] for i in items] == skus
    assert items[0]["warehouses"] == [
        {"code": "W1", "available": 50},
        {"code": "W2", "available": 50},
    ]
    assert items[3] == {"sku": "NOPE-000", "known": False, "available": 0, "warehouses": []}


def test_reserve_with_an_idempotency_key_stays_within_budget(app, stocked, storefront):
    with counting(app) as statements:
        r = reserve(storefront, {"A": 3, "B": 2}, key="budget-1")
    assert r.status_code == 201, r.get_data(as_text=True)
    assert len(statements) <= budget("reserve"), statements


@pytest.mark.skipif(backend() != "postgresql", reason="round trips are PostgreSQL's concern")
def test_a_reservation_with_an_idempotency_key_is_two_round_trips(app, stocked, storefront):
    """No BEGIN, COMMIT, SAVEPOINT or pre-ping: a read, then one statement that is its own
    transaction (the conditional holds, the reservation, its lines and the key's record)."""
    with counting(app) as sent:
        r = reserve(storefront, {"A": 3, "B": 2}, key="budget-2")
        again = reserve(storefront, {"A": 3, "B": 2}, key="budget-2")
    assert r.status_code == again.status_code == 201, r.get_data(as_text=True)
    assert again.headers["Idempotent-Replayed"] == "true"
    assert sent.round_trips == 4, sent


@pytest.mark.skipif(backend() != "postgresql", reason="round trips are PostgreSQL's concern")
@pytest.mark.parametrize("app_config", [{"RESERVATION_PLAN_SECONDS": 60}])
def test_a_basket_read_a_moment_ago_is_one_round_trip(app, stocked, storefront):
    """The process plans from its read of the same skus (``plan_cache``): the second reservation
    draws a block of ids with its holding statement, the third sends that statement alone."""
    for key in ("memory-1", "memory-2"):
        assert reserve(storefront, {"A": 1, "B": 1}, key=key).status_code == 201
    with counting(app) as sent:
        r = reserve(storefront, {"A": 1, "B": 1}, key="memory-3")
    assert r.status_code == 201, r.get_data(as_text=True)
    assert sent.round_trips == 1, sent


def test_posting_a_movement_stays_within_budget(app, stocked, admin):
    admin.get("/me")
    body = {"type": "receipt", "sku": "A", "warehouse": "W1", "quantity": 5}
    with counting(app) as statements:
        r = admin.post("/stock/movements", json=body)
    assert r.status_code == 201, r.get_data(as_text=True)
    assert len(statements) <= budget("movement"), statements


def test_purchase_order_list_stays_within_budget(app, world, buyer):
    for i in range(5):
        create_order(buyer, lines=[{"sku": "A", "quantity": 10 + i}])
    with counting(app) as statements:
        r = buyer.get("/purchase-orders", query_string={"limit": 50})
    assert r.status_code == 200
    assert len(r.json["items"]) == 5
    assert len(statements) <= budget("order_list"), statements
