"""Scorecard figures against a small history worked out by hand (see the comments)."""

from __future__ import annotations

import math
from datetime import date
from decimal import Decimal

import pytest

from procurement.scorecards.scoring import (
    Delivery,
    Order,
    OrderLine,
    PriceQuote,
    Rules,
    last_quarters,
    price_index,
    quarterly_trend,
    scorecard,
    settled_on,
)

D = date

# PO1: on time, in full; lead time 9 days; 100 units delivered, none rejected.
PO1 = Order(
    "PO1",
    sent_on=D(2026, 1, 5),
    expected_on=D(2026, 1, 15),
    lines=(OrderLine("A", 100),),
    deliveries=(Delivery(D(2026, 1, 14), "A", 100),),
)
# PO2: first delivery two days late with 5 of A rejected, replacements a week later: late but in
# full; lead time 19 days (Feb 1 -> Feb 20); 75 units delivered, 5 rejected.
PO2 = Order(
    "PO2",
    sent_on=D(2026, 2, 1),
    expected_on=D(2026, 2, 11),
    lines=(OrderLine("A", 50), OrderLine("B", 20)),
    deliveries=(
        Delivery(D(2026, 2, 13), "A", 45, 5),
        Delivery(D(2026, 2, 13), "B", 20),
        Delivery(D(2026, 2, 20), "A", 5),
    ),
)
# PO3: 30 of 40 delivered on time, then closed short: on time, not in full; lead time 8 days.
PO3 = Order(
    "PO3",
    sent_on=D(2026, 3, 1),
    expected_on=D(2026, 3, 10),
    lines=(OrderLine("B", 40),),
    deliveries=(Delivery(D(2026, 3, 9), "B", 30),),
    closed=True,
)
# PO4: nothing delivered, overdue since Apr 20: late and not in full, no lead time.
PO4 = Order("PO4", sent_on=D(2026, 4, 1), expected_on=D(2026, 4, 20), lines=(OrderLine("A", 10),))
# PO5: partly delivered and not yet due on Jun 30: still under way, not judged.
PO5 = Order(
    "PO5",
    sent_on=D(2026, 6, 20),
    expected_on=D(2026, 7, 5),
    lines=(OrderLine("A", 10),),
    deliveries=(Delivery(D(2026, 6, 25), "A", 4),),
)
# PO6: settled in November 2025, before the window; on time and in full.
PO6 = Order(
    "PO6",
    sent_on=D(2025, 11, 1),
    expected_on=D(2025, 11, 10),
    lines=(OrderLine("A", 20),),
    deliveries=(Delivery(D(2025, 11, 10), "A", 20),),
)
HISTORY = [PO1, PO2, PO3, PO4, PO5, PO6]
# Own price of A is 10 against others' 9, 11, 12 (median 11): 10/11; B 2.40 against 2.00: 1.2.
# C has no other supplier and cannot be compared.
QUOTES = [
    PriceQuote("A", Decimal("10"), (Decimal("9"), Decimal("11"), Decimal("12"))),
    PriceQuote("B", Decimal("2.40"), (Decimal("2.00"),)),
    PriceQuote("C", Decimal("5"), ()),
]
AS_OF = D(2026, 6, 30)


def test_first_half_of_2026_by_hand():
    card = scorecard(HISTORY, QUOTES, start=D(2026, 1, 1), end=AS_OF, as_of=AS_OF)
    # PO1..PO4 are settled in the window; PO5 is under way and PO6 settled before it.
    assert card.orders_counted == 4
    assert card.on_time_rate == pytest.approx(0.5)  # PO1, PO3
    assert card.in_full_rate == pytest.approx(0.5)  # PO1, PO2
    assert card.units_delivered == 205  # 100 + 75 + 30
    assert card.reject_rate == pytest.approx(5 / 205)
    assert card.lead_time_mean_days == pytest.approx(12.0)  # (9 + 19 + 8) / 3
    assert card.lead_time_std_days == pytest.approx(math.sqrt(37))  # (9 + 49 + 16) / 2
    # Weighted by units ordered in counted orders: A 100+50+10 = 160, B 20+40 = 60.
    assert card.price_index == pytest.approx((160 * 10 / 11 + 60 * 1.2) / 220)
    # Parts on 0-1: on time .5, in full .5, quality 1 - 0.02439/0.2 = .87805,
    # lead time 1 - 6.0828/12 = .49310, price 1 (cheaper than the market).
    # Weighted 30/25/25/10/10: 15 + 12.5 + 21.951 + 4.931 + 10 = 64.38.
    assert card.score == 64.4
    assert card.grade == "C"


def test_quarterly_trend_scores_each_quarter_and_leaves_empty_ones_blank():
    trend = quarterly_trend(HISTORY, QUOTES, as_of=AS_OF, quarters=4, rules=Rules(min_orders=1))
    assert [p.quarter for p in trend] == ["2025-Q3", "2025-Q4", "2026-Q1", "2026-Q2"]
    q3, q4, q1, q2 = (p.card for p in trend)
    # No orders in 2025-Q3: no score at all, rather than a bad one.
    assert (q3.orders_counted, q3.score, q3.grade) == (0, None, None)
    # 2025-Q4: PO6 alone, perfect; one lead time gives no spread, so that part is left out:
    # (30 + 25 + 25 + 10) / 90 = 100.
    assert (q4.orders_counted, q4.score, q4.grade) == (1, 100.0, "A")
    assert q4.lead_time_std_days is None
    # 2026-Q1: PO1..PO3: on time 2/3, in full 2/3, quality .87805, lead time .49310, price 1:
    # 20 + 16.667 + 21.951 + 4.931 + 10 = 73.55.
    assert (q1.orders_counted, q1.score, q1.grade) == (3, 73.5, "B")
    # 2026-Q2: only PO4, overdue with nothing delivered: no quality or lead time to measure;
    # price 1 over weight 10 of 65: 15.4.
    assert (q2.orders_counted, q2.score, q2.grade) == (1, 15.4, "D")
    assert q2.reject_rate is None


def test_too_few_orders_get_a_score_but_no_grade():
    q2 = scorecard(HISTORY, QUOTES, start=D(2026, 4, 1), end=AS_OF, as_of=AS_OF)
    assert (q2.orders_counted, q2.score, q2.grade) == (1, 15.4, None)
    assert (
        scorecard(
            HISTORY, QUOTES, start=D(2026, 4, 1), end=AS_OF, as_of=AS_OF, rules=Rules(min_orders=1)
        ).grade
        == "D"
    )


def test_a_period_without_orders_has_no_score():
    card = scorecard(HISTORY, QUOTES, start=D(2025, 1, 1), end=D(2025, 6, 30), as_of=AS_OF)
    assert card.orders_counted == 0
    assert card.score is None
    assert card.grade is None
    assert card.on_time_rate is None
    assert card.price_index is None


def test_orders_under_way_are_not_judged_until_due():
    assert settled_on(PO5, AS_OF) is None
    assert settled_on(PO5, D(2026, 7, 6)) == D(2026, 7, 5)  # overdue the day after
    assert settled_on(PO4, AS_OF) == D(2026, 4, 20)
    assert settled_on(PO2, AS_OF) == D(2026, 2, 20)  # the delivery that completed it


def test_an_order_completed_early_counts_when_completed_not_when_due():
    early = Order(
        "E",
        sent_on=D(2026, 6, 1),
        expected_on=D(2026, 7, 31),
        lines=(OrderLine("A", 5),),
        deliveries=(Delivery(D(2026, 6, 10), "A", 5),),
    )
    card = scorecard([early], [], start=D(2026, 6, 1), end=AS_OF, as_of=AS_OF)
    assert card.orders_counted == 1
    assert card.on_time_rate == 1.0


def test_weights_and_cut_offs_are_configurable():
    only_on_time = Rules(weights={"on_time": 1}, grades={"A": 90, "B": 60, "C": 40}, min_orders=1)
    card = scorecard(
        HISTORY, QUOTES, start=D(2026, 1, 1), end=AS_OF, as_of=AS_OF, rules=only_on_time
    )
    assert card.score == 50.0
    assert card.grade == "C"


def test_price_index_is_weighted_by_quantity_and_equal_without_orders():
    assert price_index(QUOTES, {"A": 1, "B": 1}) == pytest.approx((10 / 11 + 1.2) / 2)
    assert price_index(QUOTES, {"A": 3, "B": 1}) == pytest.approx((3 * 10 / 11 + 1.2) / 4)
    assert price_index(QUOTES, {}) == pytest.approx((10 / 11 + 1.2) / 2)
    assert price_index([PriceQuote("C", Decimal("5"), ())], {"C": 10}) is None


def test_being_dearer_than_the_market_lowers_the_price_part():
    expensive = [PriceQuote("A", Decimal("11"), (Decimal("10"),))]  # index 1.1
    card = scorecard([PO1], expensive, start=D(2026, 1, 1), end=AS_OF, as_of=AS_OF)
    # 1 - 0.1 / 0.25 = 0.6
    assert card.components["price"] == pytest.approx(0.6)


def test_last_quarters_cross_year_boundaries():
    labels = [q for q, _, _ in last_quarters(D(2026, 2, 14), 6)]
    assert labels == ["2024-Q4", "2025-Q1", "2025-Q2", "2025-Q3", "2025-Q4", "2026-Q1"]
    _, start, end = last_quarters(D(2026, 2, 14), 1)[0]
    assert (start, end) == (D(2026, 1, 1), D(2026, 3, 31))
