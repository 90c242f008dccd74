"""Reservations planned from what the process read a moment ago (``plan_cache``), on PostgreSQL.

Another server process is a second application on the same database, with a memory of its own:
what it holds, closes or receives is invisible to the first one's memory, exactly as between two
gunicorn workers. Whatever the memory says, nothing is oversold, nothing available is refused,
and a closed warehouse takes nothing.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterator
from typing import Any

import pytest
from flask import Flask
from prometheus_client import REGISTRY

from accounts import services as accounts
from accounts.principal import SYSTEM
from core.db import dispose
from inventory import catalog, stock
from inventory.reservations import plan_cache
from tests.conftest import TEST_PASSWORD_HASH
from tests.factories import ApiClient
from tests.reservation_factories import levels_of, reserve

pytestmark = pytest.mark.pg

reserve_module = importlib.import_module("inventory.reservations.reserve")


@pytest.fixture
def app_config() -> dict[str, Any]:
    """A window no slow test machine outlasts between two requests of a test."""
    return {"RESERVATION_PLAN_SECONDS": 60}


@pytest.fixture
def world(make_product, make_warehouse, receive) -> None:  # type: ignore[no-untyped-def]
    make_product(sku="A")
    make_product(sku="B")
    make_warehouse(code="W1", priority=1)
    make_warehouse(code="W2", priority=2)
    for code in ("W1", "W2"):
        receive("A", code, 5)
        receive("B", code, 5)


@pytest.fixture
def other_process(database_url: str) -> Iterator[Flask]:
    from app import create_app

    other = create_app(
        {
            "DATABASE_URL": database_url,
            "TESTING": True,
            "SECRET_KEY": "test-secret",
            "LOG_LEVEL": "WARNING",
            "PASSWORD_HASH_METHOD": TEST_PASSWORD_HASH,
        }
    )
    yield other
    dispose(other)


@pytest.fixture
def other_storefront(other_process: Flask) -> ApiClient:
    with other_process.app_context():
        accounts.create_user("other-shop", ["storefront"])
        token = accounts.create_token("other-shop").token
    return ApiClient(other_process.test_client(), token, "other-shop")


@pytest.fixture
def attempts(monkeypatch: pytest.MonkeyPatch) -> list[tuple[bool, bool]]:
    """Each plan-and-hold attempt: (planned from memory, read again / stale)."""
    seen: list[tuple[bool, bool]] = []
    original = reserve_module._plan_and_hold

    def spy(*args: Any, from_memory: bool, **kwargs: Any) -> Any:
        try:
            done = original(*args, from_memory=from_memory, **kwargs)
        except reserve_module._StalePlan:
            seen.append((from_memory, True))
            raise
        seen.append((from_memory, done is reserve_module._READ_AGAIN))
        return done

    monkeypatch.setattr(reserve_module, "_plan_and_hold", spy)
    return seen


def counted() -> dict[tuple[str, str], float]:
    """``stockroom_reservation_plans_total`` by (source, outcome), as /metrics reports it."""
    found: dict[tuple[str, str], float] = {}
    for metric in REGISTRY.collect():
        for sample in metric.samples:
            if sample.name == "stockroom_reservation_plans_total":
                found[(sample.labels["source"], sample.labels["outcome"])] = sample.value
    return found


def added(before: dict[tuple[str, str], float]) -> dict[tuple[str, str], float]:
    return {
        key: value - before.get(key, 0)
        for key, value in counted().items()
        if value != before.get(key, 0)
    }


def warehouses_of(response: Any) -> dict[str, str]:
    return {line["sku"]: line["warehouse"] for line in response.json["lines"]}


def test_a_basket_read_a_moment_ago_is_planned_from_memory(
    app, world, storefront, attempts, check_invariants
):
    before = counted()
    first = reserve(storefront, {"A": 1}, key="k1")
    second = reserve(storefront, {"A": 1}, key="k2")
    assert first.status_code == second.status_code == 201
    assert attempts == [(False, False), (True, False)]
    assert added(before) == {("read", "done"): 1, ("memory", "done"): 1}
    assert second.json["id"] != first.json["id"]
    check_invariants()


def test_units_another_process_took_are_not_sold_twice(
    app, world, storefront, other_storefront, attempts, check_invariants
):
    """The memory says W1 still has 4 of A; the other process took them. The plan fails whole
    as stale, the basket is read again, and W2 serves it."""
    assert warehouses_of(reserve(storefront, {"A": 1}, key="k1")) == {"A": "W1"}
    assert warehouses_of(reserve(other_storefront, {"A": 4}, key="k2")) == {"A": "W1"}
    attempts.clear()
    before = counted()
    r = reserve(storefront, {"A": 3}, key="k3")
    assert r.status_code == 201, r.json
    assert warehouses_of(r) == {"A": "W2"}
    assert attempts == [(True, True), (False, False)]
    assert added(before) == {("memory", "stale"): 1, ("read", "done"): 1}
    assert sorted(reserved for _, reserved in levels_of(app).values() if reserved) == [3, 5]
    check_invariants()


def test_units_the_memory_does_not_know_of_are_not_refused(
    app, world, storefront, other_process, attempts, check_invariants
):
    """Memory says 2 of B are left in all; a receipt through the other process brought 10
    more. The memory's shortage is not an answer: the basket is read again and held."""
    assert reserve(storefront, {"B": 8}, key="k1").status_code == 201
    with other_process.app_context():
        stock.post_movement(
            SYSTEM, {"type": "receipt", "sku": "B", "warehouse": "W2", "quantity": 10}
        )
    attempts.clear()
    before = counted()
    r = reserve(storefront, {"B": 6}, key="k2")
    assert r.status_code == 201, r.json
    assert attempts == [(True, True), (False, False)]
    assert added(before) == {("memory", "read_again"): 1, ("read", "done"): 1}
    check_invariants()


def test_a_warehouse_another_process_closed_takes_nothing(
    app, world, storefront, other_process, attempts, check_invariants
):
    assert warehouses_of(reserve(storefront, {"A": 1}, key="k1")) == {"A": "W1"}
    with other_process.app_context():
        catalog.update_warehouse(SYSTEM, "W1", {"active": False})
    before = levels_of(app)
    attempts.clear()
    r = reserve(storefront, {"A": 2}, key="k2")
    assert r.status_code == 201, r.json
    assert warehouses_of(r) == {"A": "W2"}
    assert attempts == [(True, True), (False, False)]
    changed = [key for key, level in levels_of(app).items() if level != before[key]]
    assert len(changed) == 1
    check_invariants()


def test_a_write_through_the_same_process_is_seen_at_once(
    app, world, storefront, receive, attempts
):
    assert reserve(storefront, {"A": 1}, key="k1").status_code == 201
    with app.app_context():
        plans = plan_cache.current()
        assert plans is not None
        assert plans.rows(["A"]) is not None
    receive("A", "W1", 1)
    with app.app_context():
        assert plans.rows(["A"]) is None
    attempts.clear()
    assert reserve(storefront, {"A": 1}, key="k2").status_code == 201
    assert attempts == [(False, False)]


@pytest.mark.parametrize("app_config", [{"RESERVATION_PLAN_SECONDS": 0}])
def test_with_no_window_every_reservation_reads_first(app, world, storefront, attempts):
    for key in ("k1", "k2", "k3"):
        assert reserve(storefront, {"A": 1}, key=key).status_code == 201
    assert attempts == [(False, False)] * 3


def test_ids_from_memory_and_from_reads_never_collide(
    app, world, storefront, other_storefront, receive, attempts, check_invariants
):
    """Two processes, each drawing blocks of ids for its plans from memory (more than two blocks
    in all) while reads draw theirs one at a time."""
    receive("A", "W1", 300)
    ids = []
    for i in range(3 * plan_cache.ID_BLOCK):
        r = reserve(other_storefront if i % 3 == 0 else storefront, {"A": 1}, key=f"k{i}")
        assert r.status_code == 201, r.json
        ids.append(r.json["id"])
    assert len(set(ids)) == len(ids)
    assert sum(from_memory for from_memory, _ in attempts) > 2 * plan_cache.ID_BLOCK
    check_invariants()
