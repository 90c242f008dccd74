"""Lists cost the same number of queries whatever the page size: no query per row (N+1)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from sqlalchemy import event

from core import db
from tests.procurement_factories import create_order


@contextmanager
def counting(app) -> Iterator[list[str]]:
    statements: list[str] = []

    def record(_conn, _cursor, statement, *_args) -> None:
        statements.append(statement)

    with app.app_context():
        engine = db.engine()
    event.listen(engine, "before_cursor_execute", record)
    try:
        yield statements
    finally:
        event.remove(engine, "before_cursor_execute", record)


@pytest.fixture
def busy(make_product, make_warehouse, receive):
    make_warehouse(code="W1")
    make_warehouse(code="W2")
    for i in range(30):
        make_product(sku=f"P{i:03d}")
        receive(f"P{i:03d}", "W1", 5)


@pytest.mark.parametrize(
    "path",
    [
        "/products",
        "/warehouses",
        "/stock",
        "/stock/movements",
        "/audit",
        "/suppliers",
        "/purchase-orders",
    ],
)
def test_page_size_does_not_change_the_number_of_queries(app, admin, busy, path):
    admin.get("/me")  # warm the token cache so both measurements start alike
    with counting(app) as small:
        assert admin.get(path, query_string={"limit": 2}).status_code == 200
    with counting(app) as large:
        assert admin.get(path, query_string={"limit": 25}).status_code == 200
    assert len(large) == len(small), large


def test_order_list_costs_the_same_for_two_or_eight_orders(app, world, buyer, make_supplier):
    make_supplier(code="BETA", items={"A": {"unit_price": "9.50"}})
    for i in range(8):
        create_order(
            buyer, supplier="ACME" if i % 2 else "BETA", lines=[{"sku": "A", "quantity": 10 + i}]
        )
    for path in ("/purchase-orders", "/suppliers"):
        with counting(app) as small:
            assert buyer.get(path, query_string={"limit": 1}).status_code == 200
        with counting(app) as large:
            assert buyer.get(path, query_string={"limit": 8}).status_code == 200
        assert len(large) == len(small), (path, large)
