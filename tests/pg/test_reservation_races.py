"""Reservations under real concurrency on PostgreSQL: no oversell, one effect per key, locks.

The lock tests are deterministic: a second connection holds a lock, the test waits until
PostgreSQL reports the service's backend as waiting for it (``pg_locks``), then lets go.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import func, select, text
from sqlalchemy.exc import DBAPIError

from accounts.principal import Principal
from core import db, idempotency
from core.problems import Conflict
from inventory import reservations
from inventory.models import Product, Reservation, ReservationLine, StockLevel, Warehouse
from tests.reservation_factories import levels_of

pytestmark = pytest.mark.pg

SHOP = Principal(user_id=None, username="shop", roles=frozenset({"storefront"}))


def run_all_at_once(fns: list[Any]) -> list[Any]:
    """Start every callable in its own thread at the same instant; return their results."""
    barrier = threading.Barrier(len(fns))
    results: list[Any] = [None] * len(fns)

    def run(i: int) -> None:
        barrier.wait()
        try:
            results[i] = fns[i]()
        except BaseException as exc:  # reported by the assertions below
            results[i] = exc

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(fns))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not any(t.is_alive() for t in threads)
    return results


@pytest.fixture
def last_ten(make_product, make_warehouse, receive):
    """Ten units left in all: three skus spread over three warehouses."""
    for sku in ("A", "B", "C"):
        make_product(sku=sku)
    for code in ("W1", "W2", "W3"):
        make_warehouse(code=code)
    for sku, code, qty in [
        ("A", "W1", 2),
        ("A", "W2", 2),
        ("B", "W2", 1),
        ("B", "W3", 2),
        ("C", "W1", 1),
        ("C", "W3", 2),
    ]:
        receive(sku, code, qty)


def test_fifty_clients_racing_for_the_last_ten_units_reserve_exactly_ten(
    app, make_user, last_ten, check_invariants
):
    api = make_user("storefront")
    baskets: list[dict[str, Any]] = []
    for i in range(50):
        kind = i % 5
        lines = [{"A": 1}, {"B": 1}, {"C": 1}, {"A": 1, "B": 1}, {"C": 2}][kind]
        body: dict[str, Any] = {
            "order_ref": f"RACE-{i}",
            "lines": [{"sku": s, "quantity": q} for s, q in lines.items()],
        }
        if kind == 4:
            body["warehouse"] = "W3"
        baskets.append(body)
    clients = [app.test_client() for _ in baskets]
    headers = {"Authorization": f"Bearer {api.token}"}
    responses = run_all_at_once(
        [
            (lambda c=c, b=b: c.post("/api/v1/reservations", json=b, headers=headers))
            for c, b in zip(clients, baskets, strict=True)
        ]
    )
    statuses = Counter(r.status_code for r in responses)
    assert set(statuses) <= {201, 409}, [r.get_json() for r in responses if r.status_code >= 500]
    won = [
        (b, r.get_json()) for b, r in zip(baskets, responses, strict=True) if r.status_code == 201
    ]
    for body, reservation in won:  # every line in full, or no reservation at all
        asked = {ln["sku"]: ln["quantity"] for ln in body["lines"]}
        got: Counter[str] = Counter()
        for line in reservation["lines"]:
            got[line["sku"]] += line["quantity"]
            if "warehouse" in body:
                assert line["warehouse"] == body["warehouse"]
        assert dict(got) == asked
    reserved_units = sum(ln["quantity"] for _, r in won for ln in r["lines"])
    assert reserved_units == 10  # demand exceeds supply for every sku: all of it, never more
    levels = levels_of(app)
    assert sum(reserved for _, reserved in levels.values()) == 10
    assert all(reserved == on_hand for on_hand, reserved in levels.values())
    with app.app_context(), db.read_only() as s:
        assert s.scalar(select(func.count(Reservation.id))) == len(won)
    check_invariants()


def test_twenty_requests_with_one_idempotency_key_have_one_effect(
    app, make_user, make_product, make_warehouse, receive, check_invariants
):
    make_product(sku="A")
    make_warehouse(code="W1")
    receive("A", "W1", 100)
    api = make_user("storefront")
    headers = {"Authorization": f"Bearer {api.token}", "Idempotency-Key": "checkout-42"}
    body = {"order_ref": "ORD-42", "lines": [{"sku": "A", "quantity": 3}]}
    clients = [app.test_client() for _ in range(20)]
    responses = run_all_at_once(
        [(lambda c=c: c.post("/api/v1/reservations", json=body, headers=headers)) for c in clients]
    )
    statuses = Counter(r.status_code for r in responses)
    assert set(statuses) <= {201, 409}, statuses
    created = [r for r in responses if r.status_code == 201]
    original = [r for r in created if "Idempotent-Replayed" not in r.headers]
    assert len(original) == 1
    assert all(r.get_json() == original[0].get_json() for r in created)
    for r in responses:
        if r.status_code == 409:
            assert r.get_json()["type"].endswith("idempotency-key-in-flight")
    with app.app_context(), db.read_only() as s:
        assert s.scalar(select(func.count(Reservation.id))) == 1
    assert levels_of(app) == {next(iter(levels_of(app))): (100, 3)}
    check_invariants()


# --- deterministic lock tests ---------------------------------------------------------------------


def wait_until_someone_waits_for_a_lock(blocker: Any, timeout: float = 20) -> None:
    """Poll PostgreSQL until another backend waits for a lock that ``blocker`` holds.

    Not through ``pg_stat_activity``: inside the blocker's transaction it is a snapshot taken at
    its first reading, which never shows a backend that connected later.
    """
    deadline = time.monotonic() + timeout
    query = text(
        "SELECT count(*) FROM pg_locks "
        "WHERE NOT granted AND pg_backend_pid() = ANY(pg_blocking_pids(pid))"
    )
    while blocker.execute(query).scalar() == 0:
        assert time.monotonic() < deadline, "the service never waited for the lock"
        time.sleep(0.01)


def ids(app: Flask, sku: str, code: str) -> tuple[int, int]:
    with app.app_context(), db.read_only() as s:
        return (
            s.scalar(select(Product.id).where(Product.sku == sku)),
            s.scalar(select(Warehouse.id).where(Warehouse.code == code)),
        )


@pytest.fixture
def five(make_product, make_warehouse, receive):
    make_product(sku="A")
    make_warehouse(code="W1")
    receive("A", "W1", 5)


def reserve_in_thread(app: Flask, body: dict[str, Any]) -> tuple[threading.Thread, list[Any]]:
    outcome: list[Any] = []

    def run() -> None:
        with app.app_context():
            try:
                outcome.append(reservations.reserve(SHOP, body))
            except Exception as exc:
                outcome.append(exc)

    thread = threading.Thread(target=run)
    thread.start()
    return thread, outcome


@pytest.mark.parametrize("blocker_takes_the_units", [True, False])
def test_a_reservation_waits_for_a_locked_level_and_decides_on_what_was_committed(
    app, five, check_invariants, blocker_takes_the_units
):
    product_id, warehouse_id = ids(app, "A", "W1")
    with app.app_context():
        engine = db.engine()
    with engine.connect() as blocker:
        blocker.execute(
            text(
                "SELECT on_hand FROM stock_levels WHERE product_id = :p AND warehouse_id = :w "
                "FOR UPDATE"
            ),
            {"p": product_id, "w": warehouse_id},
        )
        body = {"order_ref": "WAIT-1", "lines": [{"sku": "A", "quantity": 5}], "warehouse": "W1"}
        thread, outcome = reserve_in_thread(app, body)
        wait_until_someone_waits_for_a_lock(blocker)
        assert thread.is_alive()  # blocked behind our row lock
        assert not outcome
        if blocker_takes_the_units:
            # Someone else ships the five units (as the ledger would) and commits first.
            blocker.execute(
                text(
                    "UPDATE stock_levels SET on_hand = on_hand - 5 "
                    "WHERE product_id = :p AND warehouse_id = :w"
                ),
                {"p": product_id, "w": warehouse_id},
            )
            blocker.execute(
                text(
                    "INSERT INTO stock_movements (product_id, warehouse_id, type, quantity, "
                    "on_hand_after, actor, created_at, occurred_at) "
                    "VALUES (:p, :w, 'issue', -5, 0, 'other', now(), now())"
                ),
                {"p": product_id, "w": warehouse_id},
            )
            blocker.commit()
        else:
            blocker.rollback()
        thread.join(30)
    assert not thread.is_alive()
    (result,) = outcome
    if blocker_takes_the_units:
        assert isinstance(result, Conflict)
        assert result.slug == "insufficient-stock"
        assert levels_of(app)[(product_id, warehouse_id)] == (0, 0)
    else:
        assert isinstance(result, dict), result
        assert levels_of(app)[(product_id, warehouse_id)] == (5, 5)
    check_invariants()


def test_a_writer_holding_a_level_lets_a_new_line_check_its_key_without_waiting(app, five):
    """Writers lock levels against each other only: the ``FOR KEY SHARE`` lock with which the
    database checks a new reservation line's reference to its level goes through at once."""
    from inventory import holds

    key = ids(app, "A", "W1")
    with app.app_context():
        engine = db.engine()
        with db.UnitOfWork() as uow:
            assert holds.lock_levels(uow.session, [key]) == {key: (5, 0, False)}
            with engine.connect() as checker:
                found = checker.execute(
                    text(
                        "SELECT 1 FROM stock_levels WHERE product_id = :p AND warehouse_id = :w "
                        "FOR KEY SHARE NOWAIT"
                    ),
                    {"p": key[0], "w": key[1]},
                ).scalar()
                assert found == 1
                with pytest.raises(DBAPIError, match="could not obtain lock"):
                    checker.execute(
                        text(
                            "SELECT 1 FROM stock_levels WHERE product_id = :p "
                            "AND warehouse_id = :w FOR NO KEY UPDATE NOWAIT"
                        ),
                        {"p": key[0], "w": key[1]},
                    )


def test_release_expired_skips_a_reservation_someone_holds_and_takes_it_later(
    app, five, clock, check_invariants
):
    with app.app_context():
        held = reservations.reserve(
            SHOP, {"order_ref": "O", "lines": [{"sku": "A", "quantity": 5}], "ttl_seconds": 10}
        )
        engine = db.engine()
    clock.advance(seconds=10)
    with engine.connect() as blocker:
        blocker.execute(
            text("SELECT id FROM reservations WHERE id = :id FOR UPDATE"), {"id": held["id"]}
        )
        with app.app_context():
            skipped = reservations.release_expired()  # returns at once: SKIP LOCKED
            assert skipped.reservations == 0
            # A new reservation does not wait for it either; the units still count as held.
            with pytest.raises(Conflict):
                reservations.reserve(
                    SHOP, {"order_ref": "P", "lines": [{"sku": "A", "quantity": 5}]}
                )
        blocker.rollback()
    with app.app_context():
        assert reservations.release_expired().reservations == 1
    check_invariants()


def test_a_commit_that_waited_while_the_hold_lapsed_is_refused(app, five, clock, check_invariants):
    """A commit granted the reservation's lock after expiry judges expiry on the clock then."""
    with app.app_context():
        held = reservations.reserve(
            SHOP, {"order_ref": "O", "lines": [{"sku": "A", "quantity": 5}], "ttl_seconds": 10}
        )
        engine = db.engine()
    outcome: list[Any] = []

    def commit() -> None:
        with app.app_context():
            try:
                outcome.append(reservations.commit_reservation(SHOP, held["id"]))
            except Exception as exc:
                outcome.append(exc)

    with engine.connect() as blocker:
        blocker.execute(
            text("SELECT id FROM reservations WHERE id = :id FOR UPDATE"), {"id": held["id"]}
        )
        thread = threading.Thread(target=commit)
        thread.start()
        wait_until_someone_waits_for_a_lock(blocker)
        clock.advance(seconds=10)  # the hold lapses while the commit waits
        blocker.rollback()
        thread.join(30)
    (result,) = outcome
    assert isinstance(result, Conflict)
    assert result.slug == "reservation-not-active"
    assert levels_of(app) == {next(iter(levels_of(app))): (5, 5)}
    check_invariants()


def test_a_request_whose_key_is_in_flight_gets_409_at_once(app, make_user, five, check_invariants):
    api = make_user("storefront")
    with app.app_context():
        engine = db.engine()
        scope = f"user:{db.session().scalar(text('SELECT max(id) FROM users'))}"
    lock_id = idempotency._advisory_lock_id(scope, "pay-1")
    with engine.connect() as other_request:
        other_request.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": lock_id})
        r = api.post(
            "/reservations",
            json={"order_ref": "O", "lines": [{"sku": "A", "quantity": 1}]},
            headers={"Idempotency-Key": "pay-1"},
        )
        assert r.status_code == 409
        assert r.json["type"].endswith("idempotency-key-in-flight")
        assert r.headers["Retry-After"] == "1"
        other_request.rollback()
    r = api.post(
        "/reservations",
        json={"order_ref": "O", "lines": [{"sku": "A", "quantity": 1}]},
        headers={"Idempotency-Key": "pay-1"},
    )
    assert r.status_code == 201
    with app.app_context(), db.read_only() as s:
        assert s.scalar(select(func.count(ReservationLine.reservation_id))) == 1
        assert s.scalar(select(StockLevel.reserved)) == 1
    check_invariants()
