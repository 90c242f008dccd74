"""Fixtures for availability and reservations: a clock tests can move, and ledger invariants."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import func, select

from core.db import read_only, utcnow
from inventory.models import Reservation, ReservationLine, StockLevel, StockMovement
from tests.factories import ApiClient, MakeUser


class FakeClock:
    """The app's business clock (``CLOCK``), moved by tests to cross an expiry without sleeping."""

    def __init__(self, start: datetime) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> datetime:
        self.now += timedelta(**delta)
        return self.now


@pytest.fixture
def clock(app: Flask) -> FakeClock:
    fake = FakeClock(utcnow().replace(microsecond=0))
    app.config["CLOCK"] = fake
    return fake


@pytest.fixture
def storefront(make_user: MakeUser) -> ApiClient:
    return make_user("storefront")


def reserve(api: ApiClient, lines: dict[str, int], key: str | None = None, **extra: Any) -> Any:
    """POST /reservations for ``{"SKU": quantity}`` with an order reference."""
    body = {
        "order_ref": extra.pop("order_ref", "ORD-1"),
        "lines": [{"sku": sku, "quantity": q} for sku, q in lines.items()],
        **extra,
    }
    headers = {"Idempotency-Key": key} if key else None
    return api.post("/reservations", json=body, headers=headers)


def levels_of(app: Flask) -> dict[tuple[int, int], tuple[int, int]]:
    with app.app_context(), read_only() as s:
        return {
            (lv.product_id, lv.warehouse_id): (lv.on_hand, lv.reserved)
            for lv in s.scalars(select(StockLevel))
        }


@pytest.fixture
def check_invariants(app: Flask) -> Callable[[], None]:
    """The ledger's invariants, plus: ``reserved`` equals the held reservation lines, and no
    level's ``earliest_hold_expiry`` is later than one of its held lines'."""

    def check() -> None:
        with app.app_context(), read_only() as s:
            sums = {
                (p, w): q
                for p, w, q in s.execute(
                    select(
                        StockMovement.product_id,
                        StockMovement.warehouse_id,
                        func.sum(StockMovement.quantity),
                    ).group_by(StockMovement.product_id, StockMovement.warehouse_id)
                )
            }
            # Per level: the units its held lines hold, and the earliest of their expiries.
            held, earliest = {}, {}
            for p, w, units, first in s.execute(
                select(
                    ReservationLine.product_id,
                    ReservationLine.warehouse_id,
                    func.sum(ReservationLine.quantity),
                    func.min(ReservationLine.expires_at),
                )
                .where(ReservationLine.held.is_(True))
                .group_by(ReservationLine.product_id, ReservationLine.warehouse_id)
            ):
                held[(p, w)], earliest[(p, w)] = int(units), first
            for lv in s.scalars(select(StockLevel)):
                key = (lv.product_id, lv.warehouse_id)
                assert lv.on_hand == sums.get(key, 0), key
                assert lv.reserved == held.get(key, 0), key
                # Never later than a held line's expiry: reads would miss that hold lapsing.
                bound = lv.earliest_hold_expiry
                assert bound is None or key not in earliest or bound <= earliest[key], key
                assert lv.reserved >= 0, key
                assert lv.allow_negative or lv.over_reserved or lv.reserved <= lv.on_hand, key
            assert set(held) <= {
                (lv.product_id, lv.warehouse_id) for lv in s.scalars(select(StockLevel))
            }
            # Every line carries its reservation's expiry (extend moves both together).
            mismatched = s.execute(
                select(ReservationLine.reservation_id)
                .join(Reservation, Reservation.id == ReservationLine.reservation_id)
                .where(ReservationLine.expires_at != Reservation.expires_at)
            ).all()
            assert mismatched == []

    return check
