"""Reading demand, stock-outs and promotions for many series from the database at once.

A run reads series in batches of items: one query for the batch's ledger rows, one for its
imported days, one for its promotions, so a run over thousands of series makes a few hundred
queries rather than a few per series.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

import pandas as pd
from sqlalchemy import and_, func, or_, select, union
from sqlalchemy.orm import Session

from forecasting import demand
from forecasting.demand import DemandSeries, PromotionWindow
from forecasting.models import DemandRecord, Promotion
from inventory.models import MovementType, Product, StockLevel, StockMovement, Warehouse


@dataclass(frozen=True)
class SeriesKey:
    """One (item, warehouse) whose demand is forecast."""

    product_id: int
    warehouse_id: int
    sku: str
    warehouse: str
    #: Warehouses allowed to go below zero keep selling at zero: no censoring there.
    allow_negative: bool = False

    @property
    def ids(self) -> tuple[int, int]:
        return (self.product_id, self.warehouse_id)

    @property
    def label(self) -> str:
        return f"{self.sku}@{self.warehouse}"


def series_keys(
    s: Session, skus: Sequence[str] | None = None, warehouses: Sequence[str] | None = None
) -> list[SeriesKey]:
    """Every active (item, warehouse) with stock history or imported demand, in sku order."""
    pairs = union(
        select(StockLevel.product_id, StockLevel.warehouse_id),
        select(DemandRecord.product_id, DemandRecord.warehouse_id).distinct(),
    ).subquery()
    stmt = (
        select(
            Product.id,
            Warehouse.id,
            Product.sku,
            Warehouse.code,
            Warehouse.allow_negative_stock,
        )
        .join(pairs, pairs.c.product_id == Product.id)
        .join(Warehouse, Warehouse.id == pairs.c.warehouse_id)
        .where(Product.active.is_(True), Warehouse.active.is_(True))
        .order_by(Product.sku, Warehouse.code)
    )
    if skus:
        stmt = stmt.where(Product.sku.in_(list(skus)))
    if warehouses:
        stmt = stmt.where(Warehouse.code.in_(list(warehouses)))
    return [SeriesKey(p, w, sku, code, bool(neg)) for p, w, sku, code, neg in s.execute(stmt)]


def _window(end: date, frequency: str) -> date:
    """First day a run reads: enough for the longest history it keeps, plus a period's slack."""
    first = end
    for _ in range(demand.MAX_PERIODS[frequency] + 1):
        first = demand.period_start(first - timedelta(days=1), frequency)
    return first


def _midnight(day: date) -> datetime:
    return datetime.combine(day, time(0), tzinfo=UTC)


def load_demand(
    s: Session, keys: Sequence[SeriesKey], frequency: str, end: date
) -> dict[tuple[int, int], DemandSeries]:
    """Demand series of ``keys`` up to ``end`` (the last day of a complete period)."""
    if not keys:
        return {}
    wanted = {k.ids for k in keys}
    product_ids = sorted({k.product_id for k in keys})
    warehouse_ids = sorted({k.warehouse_id for k in keys})
    first = _window(end, frequency)
    lo, hi = _midnight(first), _midnight(end + timedelta(days=1))

    m = StockMovement
    in_batch = and_(m.product_id.in_(product_ids), m.warehouse_id.in_(warehouse_ids))
    rows = s.execute(
        select(m.product_id, m.warehouse_id, m.type, m.quantity, m.on_hand_after, m.occurred_at)
        .where(in_batch, m.occurred_at >= lo, m.occurred_at < hi)
        .order_by(m.product_id, m.warehouse_id, m.occurred_at, m.id)
    ).all()
    # The level each series had when the window opened (its last movement before it), and
    # whether it was stocked before: then the window's first days are real history, not absence.
    last_before = (
        select(func.max(m.id).label("id"))
        .where(in_batch, m.occurred_at < lo)
        .group_by(m.product_id, m.warehouse_id)
        .subquery()
    )
    opening = {
        (p, w): level
        for p, w, level in s.execute(
            select(m.product_id, m.warehouse_id, m.on_hand_after).join(
                last_before, last_before.c.id == m.id
            )
        )
    }
    imported = s.execute(
        select(
            DemandRecord.product_id,
            DemandRecord.warehouse_id,
            DemandRecord.day,
            DemandRecord.quantity,
            DemandRecord.stockout,
        ).where(
            DemandRecord.product_id.in_(product_ids),
            DemandRecord.warehouse_id.in_(warehouse_ids),
            DemandRecord.day <= end,
        )
    ).all()

    events: dict[tuple[int, int], list[tuple[str, int, int, datetime]]] = defaultdict(list)
    for p, w, kind, qty, after, occurred in rows:
        if (p, w) in wanted:
            events[(p, w)].append((kind, qty, after, occurred))
    days_imported: dict[tuple[int, int], list[tuple[date, int, bool]]] = defaultdict(list)
    for p, w, day, qty, stockout in imported:
        if (p, w) in wanted:
            days_imported[(p, w)].append((day, qty, stockout))

    out: dict[tuple[int, int], DemandSeries] = {}
    for key in keys:
        out[key.ids] = _series_of(
            key,
            events.get(key.ids, []),
            opening.get(key.ids),
            days_imported.get(key.ids, []),
            first,
            end,
            frequency,
        )
    return out


def _series_of(
    key: SeriesKey,
    events: list[tuple[str, int, int, datetime]],
    opening_level: int | None,
    imported: list[tuple[date, int, bool]],
    window_first: date,
    end: date,
    frequency: str,
) -> DemandSeries:
    starts: list[date] = []
    if opening_level is not None:
        starts.append(window_first)  # stocked before the window opened
    if events:
        starts.append(_utc_day(events[0][3]))
    if imported:
        starts.append(min(day for day, *_ in imported))
    if not starts:
        return demand.empty_series(frequency)
    first = max(min(starts), window_first)

    issued: dict[date, int] = defaultdict(int)
    for kind, qty, _after, occurred in events:
        if kind == MovementType.ISSUE.value:
            issued[_utc_day(occurred)] += -qty
    quantity = pd.Series(issued, dtype=float)
    if key.allow_negative or not (events or opening_level is not None):
        censored = pd.Series(dtype=bool)
    else:
        flags = demand.censored_days(
            [e[3] for e in events],
            [e[2] for e in events],
            first,
            end,
            opening_level=opening_level,
        )
        censored = pd.Series(flags, index=pd.date_range(first, end, freq="D"))
    if imported:
        # An imported day is the complete statement of that day's demand.
        days = pd.DatetimeIndex([pd.Timestamp(d) for d, *_ in imported])
        quantity = _override(quantity, days, [float(q) for _, q, _ in imported])
        censored = _override(censored, days, [bool(c) for *_, c in imported])
    return demand.build_series(
        quantity, censored, first, end, frequency, max_periods=demand.MAX_PERIODS[frequency]
    )


def _override(series: pd.Series, days: pd.DatetimeIndex, values: list[object]) -> pd.Series:
    base = series.copy()
    base.index = pd.DatetimeIndex(pd.to_datetime(base.index))
    patch = pd.Series(values, index=days)
    if base.empty:
        return patch
    base = base.astype(patch.dtype) if base.dtype != patch.dtype else base
    return patch.combine_first(base)


def _utc_day(moment: datetime) -> date:
    return moment.astimezone(UTC).date() if moment.tzinfo else moment.date()


def load_promotions(
    s: Session, keys: Sequence[SeriesKey], first: date, last: date
) -> dict[tuple[int, int], list[PromotionWindow]]:
    """Promotions touching ``first``..``last`` that apply to each series."""
    if not keys:
        return {}
    product_ids = sorted({k.product_id for k in keys})
    promos = s.scalars(
        select(Promotion).where(
            or_(Promotion.product_id.is_(None), Promotion.product_id.in_(product_ids)),
            Promotion.ends_on >= first,
            Promotion.starts_on <= last,
        )
    ).all()
    out: dict[tuple[int, int], list[PromotionWindow]] = {k.ids: [] for k in keys}
    for promo in promos:
        window = PromotionWindow(promo.starts_on, promo.ends_on, promo.expected_uplift)
        scope = {pw.warehouse_id for pw in promo.warehouses}
        for key in keys:
            if promo.product_id not in (None, key.product_id):
                continue
            if scope and key.warehouse_id not in scope:
                continue
            out[key.ids].append(window)
    return out
