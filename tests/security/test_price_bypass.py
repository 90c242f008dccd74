"""Typing a low unit price does not get a large purchase order past its approvers."""

from __future__ import annotations

import pytest

from tests.procurement_factories import create_order, step


@pytest.mark.parametrize("typed", ["0", "0.01", "1.00"])
def test_low_typed_price_on_a_large_order_needs_approval(buyer, world, typed):
    # 500 x list price 10.00 = 5000, above the 1000 auto-approval limit.
    po = create_order(buyer, lines=[{"sku": "A", "quantity": 500, "unit_price": typed}])
    submitted = step(buyer, po, "submit")
    assert submitted["status"] == "pending_approval"
    assert submitted["approvals_required"] >= 1
    assert "far below the price list" in submitted["status_reason"]
    assert "line 1 (A)" in submitted["status_reason"]


def test_list_price_total_above_second_limit_needs_two_approvers(buyer, world):
    # 6000 x 10.00 = 60000 at list price, above the 50000 second-approval limit.
    po = create_order(buyer, lines=[{"sku": "A", "quantity": 6000, "unit_price": "0"}])
    assert step(buyer, po, "submit")["approvals_required"] == 2


def test_small_order_with_a_far_lower_price_is_flagged_not_auto_approved(buyer, world):
    po = create_order(buyer, lines=[{"sku": "A", "quantity": 5, "unit_price": "1.00"}])
    submitted = step(buyer, po, "submit")
    assert submitted["status"] == "pending_approval"
    assert submitted["approvals_required"] == 1


def test_a_fair_discount_on_a_small_order_is_still_auto_approved(buyer, world):
    po = create_order(buyer, lines=[{"sku": "A", "quantity": 5, "unit_price": "9.00"}])
    submitted = step(buyer, po, "submit")
    assert submitted["status"] == "approved"
    assert submitted["approvals_required"] == 0


def test_a_typed_price_above_list_is_judged_by_the_typed_total(buyer, world):
    # 90 x 12.00 = 1080 typed, 900 at list: the higher one decides.
    po = create_order(buyer, lines=[{"sku": "A", "quantity": 90, "unit_price": "12.00"}])
    assert step(buyer, po, "submit")["status"] == "pending_approval"
