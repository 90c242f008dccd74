"""Price breaks, MOQ and pack sizes, and the approval rule by amount."""

from __future__ import annotations

from decimal import Decimal

import pytest

from procurement.orders.pricing import (
    PriceBreak,
    amount,
    break_problems,
    in_base_currency,
    quantity_problems,
    unit_price_for,
)
from procurement.orders.workflow import approvals_required

BREAKS = [PriceBreak(100, Decimal("9.00")), PriceBreak(500, Decimal("8.00"))]


@pytest.mark.parametrize(
    ("quantity", "price"),
    [(1, "10.00"), (99, "10.00"), (100, "9.00"), (499, "9.00"), (500, "8.00"), (10_000, "8.00")],
)
def test_the_deepest_break_a_quantity_reaches_sets_its_price(quantity, price):
    assert unit_price_for(Decimal("10.00"), BREAKS, quantity) == Decimal(price)


def test_breaks_apply_in_any_order():
    assert unit_price_for(Decimal("10"), list(reversed(BREAKS)), 600) == Decimal("8.00")


def test_line_amounts_round_to_the_cent_half_up():
    assert amount(3, Decimal("0.3350")) == Decimal("1.01")  # 1.005
    assert amount(7, Decimal("1.4285")) == Decimal("10.00")  # 9.9995


def test_quantity_below_moq_is_named():
    assert quantity_problems(40, moq=50, pack_size=1) == [
        "below the supplier's minimum order quantity of 50"
    ]


def test_quantity_not_in_whole_packs_names_the_nearest_good_ones():
    assert quantity_problems(60, moq=1, pack_size=25) == [
        "not a whole number of packs of 25; 50 or 75 would be"
    ]
    assert quantity_problems(10, moq=1, pack_size=25) == [
        "not a whole number of packs of 25; 25 would be"
    ]


def test_both_rules_at_once_and_good_quantities():
    assert len(quantity_problems(30, moq=50, pack_size=25)) == 2
    assert quantity_problems(50, moq=50, pack_size=25) == []
    assert quantity_problems(1, moq=1, pack_size=1) == []


def test_a_break_that_raises_the_price_or_repeats_is_refused():
    problems = break_problems(
        Decimal("10"),
        [
            PriceBreak(100, Decimal("9")),
            PriceBreak(500, Decimal("9.50")),
            PriceBreak(100, Decimal("8")),
            PriceBreak(1, Decimal("5")),
        ],
    )
    assert set(problems) == {"1", "2", "3"}
    assert "costs more per unit" in problems["1"][0]
    assert "second break" in problems["2"][0]
    assert "2 units or more" in problems["3"][0]
    assert break_problems(Decimal("10"), BREAKS) == {}


@pytest.mark.parametrize(
    ("total", "required"),
    [
        ("0", 0),
        ("999.99", 0),
        ("1000", 1),
        ("50000", 1),
        ("50000.01", 2),
        (None, 2),
    ],
)
def test_approvals_required_by_amount(total, required):
    value = Decimal(total) if total is not None else None
    assert approvals_required(value, Decimal("1000"), Decimal("50000")) == required


def test_totals_reach_the_base_currency_only_through_a_configured_rate():
    rates = {"USD": Decimal("0.9")}
    assert in_base_currency(Decimal("1000"), "EUR", "EUR", rates) == Decimal("1000")
    assert in_base_currency(Decimal("1000"), "USD", "EUR", rates) == Decimal("900.0")
    # No rate: unknown, not 1:1, so the caller can take the strictest route.
    assert in_base_currency(Decimal("1000"), "GBP", "EUR", rates) is None
    assert approvals_required(None, Decimal("500"), Decimal("5000")) == 2
