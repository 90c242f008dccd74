"""Concurrent stock writers on real PostgreSQL: the conditional update never oversells."""

from __future__ import annotations

import threading

import pytest
from flask import Flask

from inventory import stock

pytestmark = pytest.mark.pg


def race(app: Flask, token: str, bodies: list[dict]) -> dict[str, int]:
    """POST every body at once, each from its own thread, client and database connection."""
    barrier = threading.Barrier(len(bodies))
    outcomes = {"ok": 0, "conflict": 0, "error": 0}
    lock = threading.Lock()

    def worker(body: dict) -> None:
        client = app.test_client()
        barrier.wait()
        r = client.post(
            "/api/v1/stock/movements", json=body, headers={"Authorization": f"Bearer {token}"}
        )
        key = {201: "ok", 409: "conflict"}.get(r.status_code, "error")
        with lock:
            outcomes[key] += 1

    threads = [threading.Thread(target=worker, args=(b,)) for b in bodies]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    return outcomes


def test_twenty_concurrent_issues_against_ten_units(
    app, admin, make_product, make_warehouse, receive
):
    make_product(sku="LAST")
    make_warehouse(code="W1")
    receive("LAST", "W1", 10)
    body = {"type": "issue", "sku": "LAST", "warehouse": "W1", "quantity": 1}
    outcomes = race(app, admin.token, [dict(body) for _ in range(20)])
    assert outcomes == {"ok": 10, "conflict": 10, "error": 0}
    with app.app_context():
        (level,), _ = stock.stock_levels({"sku": "LAST", "warehouse": "W1", "limit": 5})
        movements, _ = stock.list_movements({"sku": "LAST", "limit": 100})
    assert level.on_hand == 0
    assert sum(m["quantity"] for m in movements) == 0
    assert len([m for m in movements if m["type"] == "issue"]) == 10


def test_crossing_transfers_do_not_deadlock(app, admin, make_product, make_warehouse, receive):
    """A->B and B->A at once lock rows in the same (product, warehouse) order."""
    make_product(sku="X")
    make_warehouse(code="A")
    make_warehouse(code="B")
    receive("X", "A", 100)
    receive("X", "B", 100)
    bodies = [
        {"type": "transfer", "sku": "X", "warehouse": src, "to_warehouse": dst, "quantity": 1}
        for _ in range(10)
        for src, dst in (("A", "B"), ("B", "A"))
    ]
    outcomes = race(app, admin.token, bodies)
    assert outcomes == {"ok": 20, "conflict": 0, "error": 0}
    with app.app_context():
        levels, _ = stock.stock_levels({"sku": "X", "limit": 5})
    assert {lv.warehouse: lv.on_hand for lv in levels} == {"A": 100, "B": 100}
