"""Absolute query budgets on the hottest paths: a change that adds a round trip to the storefront's
availability check, its reserve call, a stock movement or the buyers' order list fails here first.

Transaction control (BEGIN/COMMIT/ROLLBACK/SAVEPOINT) is not counted: it is not a query the database
plans, and SQLite and PostgreSQL drivers issue it differently.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from flask import Flask
from sqlalchemy import event

from core import db
from tests.conftest import backend
from tests.factories import ApiClient, MakeUser
from tests.procurement_factories import create_order
from tests.reservation_factories import reserve

CONTROL = ("BEGIN", "COMMIT", "ROLLBACK", "SAVEPOINT", "RELEASE")

# (SQLite, PostgreSQL): PostgreSQL locks the idempotency key row before it is written.
BUDGET = {
    "availability": (1, 1),
    "reserve": (7, 8),
    "movement": (8, 8),
    "order_list": (4, 4),
}


def budget(path: str) -> int:
    sqlite, postgres = BUDGET[path]
    return postgres if backend() == "postgresql" else sqlite


@contextmanager
def counting(app: Flask) -> Iterator[list[str]]:
    """Statements sent on both pools: the sessions' and the autocommit one for hot reads."""
    statements: list[str] = []

    def record(_conn, _cursor, statement, *_args) -> None:  # type: ignore[no-untyped-def]
        if not statement.lstrip().upper().startswith(CONTROL):
            statements.append(statement)

    with app.app_context():
        engines = {db.engine(), db.read_engine()}
    for engine in engines:
        event.listen(engine, "before_cursor_execute", record)
    try:
        yield statements
    finally:
        for engine in engines:
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
    api.get("/me")  # the token cache is warm in a running server
    return api


def test_availability_of_several_skus_is_one_query(app, stocked, storefront):
    with counting(app) as statements:
        r = storefront.get("/availability?sku=A&sku=B&sku=C")
    assert r.status_code == 200
    # Exactly: a counter that missed the autocommit pool would see none.
    assert len(statements) == budget("availability"), statements


def test_a_basket_of_1000_skus_is_one_query_with_the_lapsed_holds_in_it(
    app, stocked, storefront, clock
):
    assert reserve(storefront, {"A": 5}, warehouse="W1", ttl_seconds=60).status_code == 201
    clock.advance(seconds=61)  # the hold has lapsed but nothing has released it
    skus = ["A", "B", "C"] + [f"NOPE-{i:03d}" for i in range(997)]
    with counting(app) as statements:
        r = storefront.post("/availability", json={"skus": skus})
    assert r.status_code == 200
    assert len(statements) == 1, statements
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
