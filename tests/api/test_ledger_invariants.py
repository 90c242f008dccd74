"""A long seeded random walk of movements keeps the ledger and the levels in agreement.

Each step is checked against a simple model (what a person would expect on the shelf) and, after
every step, the database invariants of DESIGN.md are checked directly in SQL.
"""

from __future__ import annotations

import random

import pytest
from sqlalchemy import text

from accounts.principal import SYSTEM
from core import db
from core.problems import Conflict
from inventory import stock

SKUS = ["A", "B", "C"]
WAREHOUSES = {"W1": False, "W2": False, "NEG": True}  # code -> allows negative stock


def check_invariants() -> None:
    with db.engine().connect() as conn:
        rows = conn.execute(
            text(
                "SELECT l.product_id, l.warehouse_id, l.on_hand, l.reserved, l.allow_negative,"
                " COALESCE((SELECT SUM(m.quantity) FROM stock_movements m"
                "  WHERE m.product_id = l.product_id AND m.warehouse_id = l.warehouse_id), 0)"
                " FROM stock_levels l"
            )
        ).all()
        last = conn.execute(
            text(
                "SELECT m.product_id, m.warehouse_id, m.on_hand_after"
                " FROM stock_movements m WHERE m.id IN"
                " (SELECT MAX(id) FROM stock_movements GROUP BY product_id, warehouse_id)"
            )
        ).all()
    by_pair = {(p, w): after for p, w, after in last}
    for product_id, warehouse_id, on_hand, reserved, allow_negative, total in rows:
        assert on_hand == total, "on_hand must equal the sum of the movements"
        assert reserved >= 0
        if not allow_negative:
            assert 0 <= reserved <= on_hand
        if (product_id, warehouse_id) in by_pair:
            assert by_pair[(product_id, warehouse_id)] == on_hand


@pytest.mark.parametrize("seed", [1, 2])
def test_random_walk_keeps_ledger_and_levels_consistent(app, make_product, make_warehouse, seed):
    for sku in SKUS:
        make_product(sku=sku)
    for code, negative in WAREHOUSES.items():
        make_warehouse(code=code, allow_negative_stock=negative)
    rng = random.Random(seed)
    model = {(s, w): 0 for s in SKUS for w in WAREHOUSES}
    outcomes = {"posted": 0, "refused": 0}
    lowest_in_neg = 0
    with app.app_context():
        for _ in range(250):
            sku, wh = rng.choice(SKUS), rng.choice(list(WAREHOUSES))
            kind = rng.choice(["receipt", "issue", "issue", "adjustment", "transfer", "count"])
            qty = rng.randint(1, 12)
            if kind == "count":
                counted = rng.randint(0, 15)
                delta = counted - model[(sku, wh)]
                allowed = WAREHOUSES[wh] or model[(sku, wh)] + delta >= 0
                count = {"warehouse": wh, "lines": [{"sku": sku, "counted": counted}]}
                body = None
                effects = {(sku, wh): delta}
            else:
                count = None
                body = {"type": kind, "sku": sku, "warehouse": wh, "quantity": qty}
                if kind == "adjustment":
                    body["quantity"] = qty * rng.choice([1, -1])
                    body["reason"] = "random walk"
                if kind == "transfer":
                    body["to_warehouse"] = rng.choice([w for w in WAREHOUSES if w != wh])
                sign = {"receipt": 1, "issue": -1, "adjustment": 1, "transfer": -1}[kind]
                delta = sign * body["quantity"]
                effects = {(sku, wh): delta}
                if kind == "transfer":
                    effects[(sku, body["to_warehouse"])] = -delta
                allowed = delta >= 0 or WAREHOUSES[wh] or model[(sku, wh)] + delta >= 0
            try:
                if count is not None:
                    stock.post_count(SYSTEM, count)
                else:
                    stock.post_movement(SYSTEM, body)
            except Conflict:
                assert not allowed, f"{kind} refused although stock allowed it"
                outcomes["refused"] += 1
            else:
                assert allowed, f"{kind} posted although it oversold"
                for pair, change in effects.items():
                    model[pair] += change
                outcomes["posted"] += 1
                lowest_in_neg = min(lowest_in_neg, *(model[(s, "NEG")] for s in SKUS))
            check_invariants()
        levels, _ = stock.stock_levels({"limit": 500})
    assert {(lv.sku, lv.warehouse): lv.on_hand for lv in levels} == model
    # The walk must have exercised both paths for the test to mean anything.
    assert outcomes["posted"] > 100
    assert outcomes["refused"] > 10
    assert lowest_in_neg < 0, "the walk never used the warehouse that allows negative stock"
