"""The reservation made in one statement (``reserve_stock``) on PostgreSQL, against the transaction
path it falls back to: the same answers, all or nothing, one effect per Idempotency-Key."""

from __future__ import annotations

import importlib
import threading
from collections import Counter
from collections.abc import Callable
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import func, select, text

from accounts.principal import Principal
from core import db
from core.idempotency import IdempotencyRecord
from inventory import api as inventory_api
from inventory import reservations
from inventory.models import Reservation
from tests.factories import MakeUser, assert_problem
from tests.reservation_factories import levels_of, reserve

pytestmark = pytest.mark.pg

#: The module (the package re-exports its function under the same name).
reserve_module = importlib.import_module("inventory.reservations.reserve")

SHOP = Principal(user_id=None, username="shop", roles=frozenset({"storefront"}))
SH = {"latitude": 31.23, "longitude": 121.47}
BJ = {"latitude": 39.90, "longitude": 116.41}
GZ = {"latitude": 23.13, "longitude": 113.26}


@pytest.fixture
def world(make_product, make_warehouse, receive):
    for sku in ("A", "B", "C"):
        make_product(sku=sku)
    make_warehouse(code="SH1", **SH)
    make_warehouse(code="BJ1", **BJ)
    make_warehouse(code="GZ1", **GZ)
    for sku, code, qty in [
        ("A", "SH1", 5),
        ("A", "BJ1", 5),
        ("A", "GZ1", 5),
        ("B", "BJ1", 5),
        ("B", "GZ1", 2),
        ("C", "GZ1", 3),
    ]:
        receive(sku, code, qty)


@pytest.fixture
def paths(monkeypatch: pytest.MonkeyPatch) -> Counter[str]:
    """Which path each reservation took: ``one statement`` or the ``transaction`` fallback."""
    taken: Counter[str] = Counter()
    one_statement = reserve_module._reserve_in_one_statement
    in_transaction = reserve_module._reserve_in_transaction

    def spy_one(*args: Any, **kwargs: Any) -> Any:
        done = one_statement(*args, **kwargs)
        if done is not None:
            taken["one statement"] += 1
        return done

    def spy_transaction(*args: Any, **kwargs: Any) -> Any:
        taken["transaction"] += 1
        return in_transaction(*args, **kwargs)

    monkeypatch.setattr(reserve_module, "_reserve_in_one_statement", spy_one)
    monkeypatch.setattr(reserve_module, "_reserve_in_transaction", spy_transaction)
    return taken


def no_one_statement(*_args: Any, **_kwargs: Any) -> None:
    raise reserve_module._StalePlan


def count(app: Flask, column: Any) -> int:
    with app.app_context(), db.read_only() as s:
        return int(s.scalar(select(func.count(column))) or 0)


BASKETS: list[dict[str, Any]] = [
    {"lines": {"A": 2}, "destination": SH},
    {"lines": {"A": 2, "B": 2}, "destination": SH},  # one warehouse with both beats the nearest
    {"lines": {"A": 12, "B": 6}, "destination": GZ},  # split across the fewest
    {"lines": {"B": 2, "C": 1}, "warehouse": "GZ1"},
    {"lines": {"A": 1, "C": 3}, "destination": {**BJ, "region": "north"}, "ttl_seconds": 60},
]


@pytest.mark.parametrize("basket", BASKETS, ids=lambda b: ",".join(b["lines"]))
def test_one_statement_and_the_locked_fallback_reserve_the_same(
    app, storefront, world, clock, paths, monkeypatch, check_invariants, basket
):
    extra = {k: v for k, v in basket.items() if k != "lines"}
    before = levels_of(app)
    fast = reserve(storefront, basket["lines"], key="fast", **extra)
    assert fast.status_code == 201, fast.json
    assert paths == {"one statement": 1}
    held = levels_of(app)
    assert held != before
    assert storefront.get(f"/reservations/{fast.json['id']}").json == fast.json
    check_invariants()
    assert storefront.post(f"/reservations/{fast.json['id']}/release").status_code == 200
    assert levels_of(app) == before

    monkeypatch.setattr(reserve_module, "_reserve_in_one_statement", no_one_statement)
    locked = reserve(storefront, basket["lines"], key="locked", **extra)
    assert locked.status_code == 201, locked.json
    assert paths["transaction"] >= 1
    assert levels_of(app) == held

    def same(body: dict[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in body.items() if k not in ("id", "reference")}

    assert same(locked.json) == same(fast.json)
    check_invariants()


def test_a_large_basket_is_read_with_a_statement_shared_by_its_size_class(
    app, storefront, make_product, make_warehouse, receive, paths, check_invariants
):
    """Eleven lines are read with the sixteen-parameter statement (five sent as NULL, which
    match nothing): every line is held once, and an unknown sku is still named."""
    make_warehouse(code="W1")
    skus = [f"L{i:02d}" for i in range(11)]
    for sku in skus:
        make_product(sku=sku)
        receive(sku, "W1", 5)
    lines = {sku: 1 + i % 3 for i, sku in enumerate(skus)}
    made = reserve(storefront, lines, key="eleven")
    assert made.status_code == 201, made.json
    assert paths == {"one statement": 1}
    assert {ln["sku"]: ln["quantity"] for ln in made.json["lines"]} == lines
    assert reserve_module._listed_size(11) == 16
    assert sum(reserved for _, reserved in levels_of(app).values()) == sum(lines.values())
    unknown = reserve(storefront, {**lines, "NOPE": 1}, key="twelve")
    assert_problem(unknown, 422, "lines.11.sku")
    check_invariants()


def test_a_line_found_short_by_the_statement_rolls_back_every_line(
    app, storefront, world, paths, monkeypatch, receive, check_invariants
):
    """The plan saw 2 units of B; another order takes them before the statement runs. The
    statement has already held A when it finds B short: nothing of it stays, not even the
    Idempotency-Key's record, and the answer is the transaction path's 409."""
    respond = inventory_api._reservation_created
    thief: dict[str, Any] = {}

    def respond_after_a_rival_took_b(view: dict[str, Any]) -> Any:
        if not thief:
            thief.update(
                reservations.reserve(
                    SHOP, {"order_ref": "RIVAL", "lines": [{"sku": "B", "quantity": 7}]}
                )
            )
        return respond(view)

    monkeypatch.setattr(inventory_api, "_reservation_created", respond_after_a_rival_took_b)
    before = levels_of(app)
    r = reserve(storefront, {"A": 1, "B": 2}, key="checkout-1", warehouse="GZ1")
    body = assert_problem(r, 409, "lines.1.quantity")
    assert body["type"].endswith("insufficient-stock")
    assert paths["one statement"] == 1  # the rival's; ours failed whole and fell back
    assert paths["transaction"] == 1
    after = levels_of(app)
    changed = {key for key in before if before[key] != after[key]}
    assert len(changed) == 2  # B in BJ1 and GZ1, by the rival only: A is untouched
    assert sum(reserved for _, reserved in after.values()) == 7
    assert count(app, Reservation.id) == 1
    assert count(app, IdempotencyRecord.key) == 0  # a 409 is not stored...
    check_invariants()

    monkeypatch.setattr(inventory_api, "_reservation_created", respond)
    receive("B", "GZ1", 2)
    again = reserve(storefront, {"A": 1, "B": 2}, key="checkout-1", warehouse="GZ1")
    assert again.status_code == 201, again.json  # ...so the retry after a receipt succeeds
    assert "Idempotent-Replayed" not in again.headers
    check_invariants()


def test_a_retry_replays_the_reservation_whether_or_not_stock_is_left(
    app, storefront, world, paths, check_invariants
):
    first = reserve(storefront, {"C": 2}, key="last-c")
    assert first.status_code == 201
    held = levels_of(app)
    # Stock is left: the statement finds the key's record and holds nothing.
    again = reserve(storefront, {"C": 2}, key="last-c")
    assert again.status_code == 201
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.json == first.json
    assert again.headers["Location"] == first.headers["Location"]
    assert levels_of(app) == held
    # No stock is left: the plan is short, and the key's answer still wins over the 409.
    assert reserve(storefront, {"C": 1}, key="someone-else").status_code == 201
    assert_problem(reserve(storefront, {"C": 1}, key="too-late"), 409)
    late = reserve(storefront, {"C": 2}, key="last-c")
    assert late.status_code == 201
    assert late.headers["Idempotent-Replayed"] == "true"
    assert late.json == first.json
    assert count(app, Reservation.id) == 2
    assert paths == {"one statement": 2}
    assert_problem(reserve(storefront, {"C": 1}, key="last-c"), 422, "Idempotency-Key")
    check_invariants()


def run_all_at_once(fns: list[Callable[[], Any]]) -> list[Any]:
    barrier = threading.Barrier(len(fns))
    results: list[Any] = [None] * len(fns)

    def run(i: int) -> None:
        barrier.wait()
        try:
            results[i] = fns[i]()
        except BaseException as exc:
            results[i] = exc

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(fns))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not any(t.is_alive() for t in threads)
    return results


@pytest.fixture
def hot_sku(make_product, make_warehouse, receive) -> None:
    """25 units of one sku left, in two warehouses."""
    make_product(sku="HOT")
    make_warehouse(code="W1")
    make_warehouse(code="W2")
    receive("HOT", "W1", 15)
    receive("HOT", "W2", 10)


def test_forty_clients_racing_for_the_last_25_units_of_one_sku_reserve_exactly_25(
    app, make_user: MakeUser, hot_sku, paths, check_invariants
):
    api = make_user("storefront")
    clients = [app.test_client() for _ in range(40)]
    headers = {"Authorization": f"Bearer {api.token}"}

    def order(i: int) -> Callable[[], Any]:
        body = {"order_ref": f"HOT-{i}", "lines": [{"sku": "HOT", "quantity": 1}]}
        return lambda: clients[i].post(
            "/api/v1/reservations",
            json=body,
            headers={**headers, "Idempotency-Key": f"hot-{i}"},
        )

    responses = run_all_at_once([order(i) for i in range(40)])
    statuses = Counter(getattr(r, "status_code", r) for r in responses)
    assert set(statuses) <= {201, 409}, statuses
    won = [r.get_json() for r in responses if r.status_code == 201]
    assert len(won) == 25  # all of the stock, never more
    for r in responses:
        if r.status_code == 409:
            assert r.get_json()["type"].endswith("insufficient-stock")
    assert levels_of(app) == {
        key: (on_hand, on_hand) for key, (on_hand, _) in levels_of(app).items()
    }
    assert count(app, Reservation.id) == len(won)
    assert count(app, IdempotencyRecord.key) == len(won)
    assert paths["one statement"] >= 1
    check_invariants()
    # Each winner's retry replays its reservation; no one gets a second.
    for i, r in enumerate(responses):
        if r.status_code == 201:
            again = order(i)()
            assert again.headers["Idempotent-Replayed"] == "true"
            assert again.get_json() == r.get_json()
    assert count(app, Reservation.id) == len(won)


def test_without_a_key_the_last_units_are_never_oversold(app, hot_sku, check_invariants):
    def take(i: int) -> Callable[[], Any]:
        def run() -> Any:
            with app.app_context():
                body = {"order_ref": f"N-{i}", "lines": [{"sku": "HOT", "quantity": 2}]}
                return reservations.reserve(SHOP, body)

        return run

    results = run_all_at_once([take(i) for i in range(30)])
    won = [r for r in results if isinstance(r, dict)]
    lost = [r for r in results if not isinstance(r, dict)]
    assert all(getattr(r, "slug", None) == "insufficient-stock" for r in lost), lost
    assert len(won) == 12  # 25 units, 2 each: 24 held, one left over
    assert sum(r for _, r in levels_of(app).values()) == 24
    check_invariants()


def test_the_read_draws_ids_from_the_sequence_behind_reservations_id(app):
    """The optimistic read names the sequence as a constant; a migration that changed the
    column's sequence would otherwise leave it drawing ids from the wrong one."""
    with app.app_context(), db.engine().connect() as conn:
        assert conn.scalar(
            text(
                "SELECT pg_get_serial_sequence('reservations', 'id')::regclass = "
                f"{reserve_module.ID_SEQUENCE.name}"
            )
        )
