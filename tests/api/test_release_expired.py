"""The periodic release of expired holds: CLI command and in-process timer."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from accounts.models import AuditEntry
from core import db, idempotency
from core.db import read_only, utcnow
from inventory.models import Reservation
from inventory.reservations.sweeper import PeriodicRelease
from tests.reservation_factories import FakeClock, reserve


@pytest.fixture
def world(make_product, make_warehouse, receive):
    make_product(sku="A")
    make_product(sku="B")
    make_warehouse(code="W1")
    make_warehouse(code="W2")
    receive("A", "W1", 10)
    receive("B", "W2", 10)


def statuses(app) -> dict[int, str]:
    with app.app_context(), read_only() as s:
        return dict(s.execute(select(Reservation.id, Reservation.status)).all())


def test_release_expired_stores_expired_returns_units_and_keeps_live_holds(
    app, storefront, world, clock, check_invariants
):
    old = reserve(storefront, {"A": 3, "B": 2}, ttl_seconds=60, key="k-old").json["id"]
    live = reserve(storefront, {"A": 4}, ttl_seconds=600).json["id"]
    clock.advance(seconds=61)
    result = app.test_cli_runner().invoke(args=["inventory", "release-expired"])
    assert result.exit_code == 0, result.output
    assert "released 1 expired reservations (5 units)" in result.output
    assert statuses(app) == {old: "expired", live: "active"}
    (level,) = storefront.get("/stock?sku=A&warehouse=W1").json["items"]
    assert level["reserved"] == 4
    check_invariants()
    with app.app_context(), read_only() as s:
        entry = s.scalars(select(AuditEntry).where(AuditEntry.action == "reservation.expire")).one()
        assert entry.actor == "system"
        assert entry.after == {"reservations": [old], "units_released": 5}
    again = app.test_cli_runner().invoke(args=["inventory", "release-expired"])
    assert "released 0 expired reservations" in again.output


def test_release_finishes_a_hold_another_writer_released_in_part(
    app, storefront, world, clock, check_invariants
):
    first = reserve(storefront, {"A": 10, "B": 10}, ttl_seconds=30).json["id"]
    clock.advance(seconds=30)
    assert reserve(storefront, {"A": 10}).status_code == 201  # releases the A line only
    check_invariants()
    result = app.test_cli_runner().invoke(args=["inventory", "release-expired"])
    assert "(10 units)" in result.output
    assert statuses(app)[first] == "expired"
    (level,) = storefront.get("/stock?sku=B&warehouse=W2").json["items"]
    assert level["reserved"] == 0
    check_invariants()


def test_release_works_in_batches(app, storefront, world, clock, check_invariants):
    for i in range(7):
        reserve(storefront, {"A": 1}, order_ref=f"O-{i}", ttl_seconds=10)
    clock.advance(seconds=10)
    result = app.test_cli_runner().invoke(args=["inventory", "release-expired", "--batch", "3"])
    assert "released 7 expired reservations (7 units)" in result.output
    assert set(statuses(app).values()) == {"expired"}
    check_invariants()


def test_day_old_idempotency_keys_are_purged(app, storefront, world, clock):
    reserve(storefront, {"A": 1}, key="k1")
    clock.advance(hours=12)
    reserve(storefront, {"A": 1}, key="k2")
    clock.advance(hours=12)
    result = app.test_cli_runner().invoke(args=["inventory", "release-expired"])
    assert "purged 1 idempotency keys" in result.output
    with app.app_context(), read_only() as s:
        keys = s.scalars(select(idempotency.IdempotencyRecord.key)).all()
    assert keys == ["k2"]


def test_the_timer_releases_expired_holds_inside_the_server(
    database_url, make_product, make_warehouse, receive, make_user, world
):
    from app import create_app

    clock = FakeClock(utcnow())
    app = create_app(
        {
            "DATABASE_URL": database_url,
            "TESTING": True,
            "LOG_LEVEL": "WARNING",
            "RESERVATION_SWEEP_SECONDS": 0.01,
            "CLOCK": clock,
        }
    )
    try:
        assert "stockroom.sweeper" not in app.extensions  # nothing starts before serving
        with app.app_context():
            from accounts import services

            services.create_user("shop-timer", ["storefront"])
            token = services.create_token("shop-timer").token
        client = app.test_client()
        headers = {"Authorization": f"Bearer {token}"}
        body = {"order_ref": "T-1", "lines": [{"sku": "A", "quantity": 2}], "ttl_seconds": 5}
        held = client.post("/api/v1/reservations", json=body, headers=headers).json["id"]
        thread: PeriodicRelease = app.extensions["stockroom.sweeper"]
        assert thread.is_alive()
        clock.advance(seconds=5)
        for _ in range(2):  # the second sweep surely began after the clock moved
            thread.swept.clear()
            assert thread.swept.wait(10)
        assert statuses(app)[held] == "expired"
    finally:
        thread = app.extensions.get("stockroom.sweeper")
        if thread is not None:
            thread.stop()
            thread.join(10)
        db.dispose(app)


def test_no_timer_unless_configured(app, storefront, world):
    storefront.get("/availability?sku=A")
    assert "stockroom.sweeper" not in app.extensions
