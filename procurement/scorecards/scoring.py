"""Supplier scorecards from delivery history: plain data in, figures out.

An order counts once it is *settled*: fully received, closed (short), or past its expected date
with units still owed. Orders still on their way are not judged yet, and a period in which a
supplier had no settled orders has no score at all, rather than a bad one.

Per counted order:
- on time: everything it brought arrived on or before the expected date, and nothing is still
  owed past that date;
- in full: every line's accepted units reached the ordered quantity (rejected units do not count;
  replacements that arrived later do).

Across counted orders:
- reject rate: rejected units / delivered units (accepted + rejected);
- lead time: days from sending the order to the delivery that completed it (received or closed
  orders), mean and sample standard deviation (None with fewer than two);
- price index: the supplier's price relative to the median of other suppliers' prices for the
  same items, weighted by the quantities ordered (1.0 = at the market, below 1 = cheaper).

A period with fewer than ``Rules.min_orders`` settled orders gets its figures and score but no
grade. The 0-100 score is the weighted mean of the parts that could be measured, each scaled to 0-1:
on time and in full as rates, quality as 1 - reject rate / reject tolerance, lead time as
1 - coefficient of variation, price as 1 - (index - 1) / price tolerance (at or below the market
scores 1). Parts that cannot be measured leave the mean instead of counting as zero.
"""

from __future__ import annotations

import statistics
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal


@dataclass(frozen=True)
class OrderLine:
    sku: str
    ordered: int


@dataclass(frozen=True)
class Delivery:
    on: date
    sku: str
    accepted: int
    rejected: int = 0
    #: The receipt it came with; lines of one receipt are one delivery. None: one per day.
    receipt: int | None = None


@dataclass(frozen=True)
class Order:
    reference: str
    sent_on: date
    expected_on: date
    lines: tuple[OrderLine, ...]
    deliveries: tuple[Delivery, ...] = ()
    #: Closed short: what was not delivered will not come.
    closed: bool = False


@dataclass(frozen=True)
class PriceQuote:
    """This supplier's price for an item, and the other suppliers' prices for it."""

    sku: str
    own: Decimal
    others: tuple[Decimal, ...]


@dataclass(frozen=True)
class Rules:
    weights: Mapping[str, float] = field(
        default_factory=lambda: {
            "on_time": 30.0,
            "in_full": 25.0,
            "quality": 25.0,
            "lead_time": 10.0,
            "price": 10.0,
        }
    )
    #: Lowest score of each grade, best first; below the last is D.
    grades: Mapping[str, float] = field(default_factory=lambda: {"A": 85.0, "B": 70.0, "C": 50.0})
    reject_tolerance: float = 0.2
    price_tolerance: float = 0.25
    #: Fewer settled orders than this get a score but no grade: one unlucky delivery is not
    #: a verdict on a supplier.
    min_orders: int = 3


COMPONENTS = ("on_time", "in_full", "quality", "lead_time", "price")


@dataclass(frozen=True)
class Scorecard:
    start: date
    end: date
    orders_counted: int
    on_time_rate: float | None
    in_full_rate: float | None
    reject_rate: float | None
    lead_time_mean_days: float | None
    lead_time_std_days: float | None
    price_index: float | None
    units_delivered: int
    #: Each measured part on a 0-1 scale, for showing what drives the score.
    components: dict[str, float]
    score: float | None
    grade: str | None
    #: How much evidence stands behind each figure: deliveries (receipts) of the counted
    #: orders, orders with a lead time, and items priced against other suppliers.
    deliveries: int = 0
    lead_time_orders: int = 0
    priced_items: int = 0


# --------------------------------------------------------------------------------------------------
# One order


def _accepted_by_sku(order: Order) -> dict[str, int]:
    accepted: dict[str, int] = defaultdict(int)
    for d in order.deliveries:
        accepted[d.sku] += d.accepted
    return accepted


def is_complete(order: Order) -> bool:
    accepted = _accepted_by_sku(order)
    return all(accepted[line.sku] >= line.ordered for line in order.lines)


def settled_on(order: Order, as_of: date) -> date | None:
    """The day the order's performance was decided, or None while it is still under way."""
    if is_complete(order) or order.closed:
        if order.deliveries:
            return max(d.on for d in order.deliveries)
        return order.expected_on
    if order.expected_on < as_of:
        return order.expected_on
    return None


def on_time(order: Order) -> bool:
    finished = is_complete(order) or order.closed
    return (
        finished
        and bool(order.deliveries)
        and all(d.on <= order.expected_on for d in order.deliveries)
    )


def lead_time_days(order: Order) -> int | None:
    if not order.deliveries or not (is_complete(order) or order.closed):
        return None
    return (max(d.on for d in order.deliveries) - order.sent_on).days


# --------------------------------------------------------------------------------------------------
# Price index


def price_index(quotes: Iterable[PriceQuote], ordered: Mapping[str, int]) -> float | None:
    """Own price / median of the others', weighted by quantity ordered (equal weights if none)."""
    ratios = _price_ratios(quotes, ordered)
    if not ratios:
        return None
    total_weight = sum(w for _, w in ratios)
    if total_weight == 0:
        return sum(r for r, _ in ratios) / len(ratios)
    return sum(r * w for r, w in ratios) / total_weight


def _price_ratios(
    quotes: Iterable[PriceQuote], ordered: Mapping[str, int]
) -> list[tuple[float, float]]:
    ratios: list[tuple[float, float]] = []
    for q in quotes:
        if not q.others or q.own <= 0:
            continue
        market = statistics.median(q.others)
        if market <= 0:
            continue
        ratios.append((float(q.own / market), float(ordered.get(q.sku, 0))))
    return ratios


# --------------------------------------------------------------------------------------------------
# A period


def _clamp(x: float) -> float:
    return max(0.0, min(1.0, x))


def grade_of(score: float | None, rules: Rules, orders_counted: int | None = None) -> str | None:
    if score is None or (orders_counted is not None and orders_counted < rules.min_orders):
        return None
    for grade, lowest in sorted(rules.grades.items(), key=lambda g: -g[1]):
        if score >= lowest:
            return grade
    return "D"


def scorecard(
    orders: Sequence[Order],
    quotes: Sequence[PriceQuote],
    *,
    start: date,
    end: date,
    as_of: date,
    rules: Rules | None = None,
) -> Scorecard:
    """Figures for the orders settled from ``start`` to ``end`` (inclusive), seen at ``as_of``."""
    rules = rules or Rules()
    counted = [
        o
        for o in orders
        if (settled := settled_on(o, as_of)) is not None and start <= settled <= end
    ]
    n = len(counted)
    accepted = sum(d.accepted for o in counted for d in o.deliveries)
    rejected = sum(d.rejected for o in counted for d in o.deliveries)
    delivered = accepted + rejected
    lead_times = [lt for o in counted if (lt := lead_time_days(o)) is not None]
    ordered: dict[str, int] = defaultdict(int)
    for o in counted:
        for line in o.lines:
            ordered[line.sku] += line.ordered

    on_time_rate = sum(on_time(o) for o in counted) / n if n else None
    in_full_rate = sum(is_complete(o) for o in counted) / n if n else None
    reject_rate = rejected / delivered if delivered else None
    lt_mean = statistics.fmean(lead_times) if lead_times else None
    lt_std = statistics.stdev(lead_times) if len(lead_times) >= 2 else None
    index = price_index(quotes, ordered) if n else None
    receipts = {
        (o.reference, d.receipt if d.receipt is not None else d.on)
        for o in counted
        for d in o.deliveries
    }

    components: dict[str, float] = {}
    if n:
        components["on_time"] = on_time_rate or 0.0
        components["in_full"] = in_full_rate or 0.0
        if reject_rate is not None:
            components["quality"] = _clamp(1 - reject_rate / rules.reject_tolerance)
        if lt_mean is not None and lt_std is not None:
            cv = lt_std / lt_mean if lt_mean > 0 else 0.0
            components["lead_time"] = _clamp(1 - cv)
        if index is not None:
            components["price"] = _clamp(1 - max(0.0, index - 1) / rules.price_tolerance)
    weights = {k: float(rules.weights.get(k, 0)) for k in components}
    total_weight = sum(weights.values())
    score = (
        round(100 * sum(components[k] * weights[k] for k in components) / total_weight, 1)
        if total_weight > 0
        else None
    )
    return Scorecard(
        start=start,
        end=end,
        orders_counted=n,
        on_time_rate=on_time_rate,
        in_full_rate=in_full_rate,
        reject_rate=reject_rate,
        lead_time_mean_days=lt_mean,
        lead_time_std_days=lt_std,
        price_index=index,
        units_delivered=delivered,
        components=components,
        score=score,
        grade=grade_of(score, rules, n),
        deliveries=len(receipts),
        lead_time_orders=len(lead_times),
        priced_items=len(_price_ratios(quotes, ordered)) if n else 0,
    )


def best(values: Sequence[float | None], *, higher: bool) -> set[int]:
    """Positions of the best of figures compared side by side (all of them on a tie).

    Nothing is best with fewer than two figures to compare: one supplier's rate alone beats
    nobody.
    """
    known = [(i, v) for i, v in enumerate(values) if v is not None]
    if len(known) < 2:
        return set()
    top = max(v for _, v in known) if higher else min(v for _, v in known)
    return {i for i, v in known if abs(v - top) <= 1e-9}


# --------------------------------------------------------------------------------------------------
# Quarters


def quarter_of(day: date) -> tuple[int, int]:
    return day.year, (day.month - 1) // 3 + 1


def quarter_bounds(year: int, quarter: int) -> tuple[date, date]:
    start = date(year, 3 * quarter - 2, 1)
    next_start = date(year + 1, 1, 1) if quarter == 4 else date(year, 3 * quarter + 1, 1)
    return start, next_start - timedelta(days=1)


def last_quarters(as_of: date, count: int) -> list[tuple[str, date, date]]:
    """The ``count`` calendar quarters up to and including ``as_of``'s, oldest first."""
    year, q = quarter_of(as_of)
    out = []
    for _ in range(count):
        start, end = quarter_bounds(year, q)
        out.append((f"{year}-Q{q}", start, end))
        year, q = (year - 1, 4) if q == 1 else (year, q - 1)
    return out[::-1]


@dataclass(frozen=True)
class TrendPoint:
    quarter: str
    card: Scorecard


def quarterly_trend(
    orders: Sequence[Order],
    quotes: Sequence[PriceQuote],
    *,
    as_of: date,
    quarters: int = 8,
    rules: Rules | None = None,
) -> list[TrendPoint]:
    """One scorecard per quarter; quarters without settled orders carry no score."""
    return [
        TrendPoint(
            label, scorecard(orders, quotes, start=s, end=min(e, as_of), as_of=as_of, rules=rules)
        )
        for label, s, e in last_quarters(as_of, quarters)
    ]
