"""AVAILABILITY_CACHE_SECONDS: repeats answered from memory, this process's writes seen at once.

"Another process" is played by a second connection writing to the database behind the app's
back, as another gunicorn worker or a command would: the cache is not told, so its answer may
stay stale for the configured seconds, and no longer.
"""

from __future__ import annotations

from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask
from sqlalchemy import event
from sqlalchemy.orm import Session

from core.config import normalise_database_url
from inventory.reservations.availability_cache import EXTENSION, PENDING, AvailabilityCache
from tests.api.test_query_budget import counting
from tests.factories import assert_problem
from tests.reservation_factories import reserve


@pytest.fixture
def app_config() -> dict[str, Any]:
    return {"AVAILABILITY_CACHE_SECONDS": 60}


@pytest.fixture
def world(make_product, make_warehouse, receive):
    for sku in ("A", "B"):
        make_product(sku=sku)
    make_warehouse(code="W1")
    make_warehouse(code="W2")
    receive("A", "W1", 7)
    receive("A", "W2", 3)
    receive("B", "W2", 4)


class Ticker:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


@pytest.fixture
def ticker(app: Flask) -> Ticker:
    fake = Ticker()
    app.extensions[EXTENSION].clock = fake
    return fake


def elsewhere(database_url: str, sku: str, warehouse: str, on_hand: int) -> None:
    """Another process sets a level's on hand (a stock take written by a command, say)."""
    engine = sa.create_engine(normalise_database_url(database_url))
    with engine.begin() as conn:
        conn.execute(
            sa.text(
                "UPDATE stock_levels SET on_hand = :on_hand "
                "WHERE product_id = (SELECT id FROM products WHERE sku = :sku) "
                "AND warehouse_id = (SELECT id FROM warehouses WHERE code = :warehouse)"
            ),
            {"on_hand": on_hand, "sku": sku, "warehouse": warehouse},
        )
    engine.dispose()


def available(api, *skus: str, warehouse: str | None = None) -> dict[str, int]:
    query = "&".join(f"sku={s}" for s in skus) + (f"&warehouse={warehouse}" if warehouse else "")
    r = api.get("/availability?" + query)
    assert r.status_code == 200, r.json
    return {item["sku"]: item["available"] for item in r.json["items"]}


def test_a_repeated_question_is_answered_from_memory(app, database_url, storefront, world):
    assert available(storefront, "A", "B") == {"A": 10, "B": 4}
    elsewhere(database_url, "A", "W1", 1)
    with counting(app) as statements:
        assert available(storefront, "A", "B") == {"A": 10, "B": 4}
    assert statements.round_trips == 0, statements


def test_another_process_write_is_seen_once_the_answer_is_older_than_the_setting(
    database_url, storefront, world, ticker
):
    assert available(storefront, "A") == {"A": 10}
    elsewhere(database_url, "A", "W1", 1)
    ticker.t += 59.9
    assert available(storefront, "A") == {"A": 10}
    ticker.t += 0.1
    assert available(storefront, "A") == {"A": 4}


def test_only_the_skus_not_remembered_are_read(app, database_url, storefront, world):
    assert available(storefront, "A") == {"A": 10}
    elsewhere(database_url, "A", "W1", 1)
    elsewhere(database_url, "B", "W2", 1)
    with counting(app) as statements:
        assert available(storefront, "B", "A") == {"B": 1, "A": 10}
    assert len(statements) == 1


def test_reservations_made_through_this_process_are_seen_at_once(storefront, world):
    assert available(storefront, "A") == {"A": 10}
    r = reserve(storefront, {"A": 5}, warehouse="W1")
    assert r.status_code == 201
    assert available(storefront, "A") == {"A": 5}
    assert storefront.post(f"/reservations/{r.json['id']}/release").status_code == 200
    assert available(storefront, "A") == {"A": 10}
    r = reserve(storefront, {"A": 2}, warehouse="W2", order_ref="ORD-2")
    assert available(storefront, "A") == {"A": 8}
    assert storefront.post(f"/reservations/{r.json['id']}/commit").status_code == 200
    assert available(storefront, "A") == {"A": 8}
    assert available(storefront, "A", warehouse="W2") == {"A": 1}


def test_stock_movements_and_counts_made_here_are_seen_at_once(admin, storefront, world):
    assert available(storefront, "A", "B") == {"A": 10, "B": 4}
    body = {"type": "receipt", "sku": "B", "warehouse": "W1", "quantity": 6}
    assert admin.post("/stock/movements", json=body).status_code == 201
    assert available(storefront, "A", "B") == {"A": 10, "B": 10}
    count = {"warehouse": "W1", "lines": [{"sku": "A", "counted": 2}]}
    assert admin.post("/stock/counts", json=count).status_code == 201
    assert available(storefront, "A", "B") == {"A": 5, "B": 10}


def test_a_product_added_or_a_warehouse_closed_here_is_seen_at_once(admin, storefront, world):
    r = storefront.get("/availability?sku=NEW&sku=A")
    assert r.json["items"][0]["known"] is False
    assert admin.post("/products", json={"sku": "NEW", "name": "New"}).status_code == 201
    r = storefront.get("/availability?sku=NEW&sku=A")
    assert r.json["items"][0] == {"sku": "NEW", "known": True, "available": 0, "warehouses": []}
    assert admin.patch("/warehouses/W2", json={"active": False}).status_code == 200
    r = storefront.get("/availability?sku=A")
    assert r.json["items"][0]["warehouses"] == [{"code": "W1", "available": 7}]


def test_a_write_here_forgets_only_the_products_it_touched(admin, database_url, storefront, world):
    assert available(storefront, "A", "B") == {"A": 10, "B": 4}
    elsewhere(database_url, "B", "W2", 1)
    body = {"type": "receipt", "sku": "A", "warehouse": "W1", "quantity": 1}
    assert admin.post("/stock/movements", json=body).status_code == 201
    assert available(storefront, "A", "B") == {"A": 11, "B": 4}


def test_a_read_while_a_write_commits_does_not_bring_the_old_figure_back(admin, storefront, world):
    assert available(storefront, "A") == {"A": 10}
    read_meanwhile: list[dict[str, int]] = []

    def read_before_the_commit(session: Session) -> None:
        if PENDING in session.info and not read_meanwhile:
            read_meanwhile.append(available(storefront, "A"))

    body = {"type": "receipt", "sku": "A", "warehouse": "W1", "quantity": 1}
    event.listen(Session, "before_commit", read_before_the_commit)
    try:
        assert admin.post("/stock/movements", json=body).status_code == 201
    finally:
        event.remove(Session, "before_commit", read_before_the_commit)
    assert read_meanwhile == [{"A": 10}]
    assert available(storefront, "A") == {"A": 11}


def test_each_warehouse_asked_is_its_own_answer(database_url, storefront, world):
    assert available(storefront, "A", warehouse="W1") == {"A": 7}
    assert available(storefront, "A") == {"A": 10}
    assert available(storefront, "A", warehouse="W2") == {"A": 3}
    assert_problem(storefront.get("/availability?sku=A&warehouse=NOWHERE"), 422, "warehouse")


def test_reserving_checks_the_database_whatever_the_cache_says(database_url, storefront, world):
    assert available(storefront, "A") == {"A": 10}
    elsewhere(database_url, "A", "W1", 0)
    elsewhere(database_url, "A", "W2", 0)
    assert available(storefront, "A") == {"A": 10}  # stale, within the setting
    assert_problem(reserve(storefront, {"A": 1}), 409, "lines.0.quantity")
    assert available(storefront, "A") == {"A": 10}  # a refused reservation changed nothing


def test_a_read_that_raced_a_write_is_not_kept():
    cache: AvailabilityCache[str] = AvailabilityCache(60)
    hits, generation = cache.lookup(["A"], None)
    assert hits == {}
    cache.forget({1})  # a write of this process ended while the answer was being read
    cache.store([("A", 1, "old figure")], None, generation)
    assert cache.lookup(["A"], None)[0] == {}
    hits, generation = cache.lookup(["A"], None)
    cache.store([("A", 1, "new figure")], None, generation)
    assert cache.lookup(["A"], None)[0] == {"A": "new figure"}


def test_forgetting_a_product_drops_its_answers_for_every_warehouse_asked():
    cache: AvailabilityCache[str] = AvailabilityCache(60)
    cache.store([("A", 1, "a"), ("B", 2, "b"), ("X", None, "unknown")], None, 0)
    cache.store([("A", 1, "a in W1")], "W1", 0)
    cache.forget({1})
    assert cache.lookup(["A", "B", "X"], None)[0] == {"B": "b", "X": "unknown"}
    assert cache.lookup(["A"], "W1")[0] == {}
    cache.forget(None)
    assert len(cache) == 0


def test_memory_is_bounded():
    cache: AvailabilityCache[str] = AvailabilityCache(60, max_entries=3)
    cache.store([(f"S{i}", i, "x") for i in range(10)], None, 0)
    assert len(cache) <= 3
