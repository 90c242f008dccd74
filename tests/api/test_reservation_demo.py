"""The demo's reservations go through the real services and leave consistent stock."""

from __future__ import annotations

import random
from datetime import date

from sqlalchemy import func, select

from core.db import read_only
from demo import reservations as reservation_demo
from inventory.models import Reservation


def test_demo_reservations_hold_commit_and_release(
    app, make_product, make_warehouse, receive, check_invariants
):
    make_warehouse(code="SH1", latitude=31.15, longitude=121.12)
    make_warehouse(code="BJ1", latitude=39.73, longitude=116.34)
    for i in range(6):
        make_product(sku=f"D-{i}")
        receive(f"D-{i}", "SH1" if i % 2 else "BJ1", 200)
    with app.app_context():
        (line,) = reservation_demo.seed(random.Random(3), date(2026, 11, 25))
        with read_only() as s:
            counts = dict(
                s.execute(
                    select(Reservation.status, func.count()).group_by(Reservation.status)
                ).all()
            )
    assert counts.get("active", 0) > 0
    assert f"{counts['active']} active holds" in line
    assert sum(counts.values()) == 40
    check_invariants()
