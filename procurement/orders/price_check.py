"""What approvers look at: each line's price against other approved suppliers' for the same
quantity, and the order's cost relative to buying the same lines at the market median."""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal

from sqlalchemy.orm import Session

from core.db import read_only
from core.problems import NotFound
from procurement import suppliers
from procurement.models import PurchaseOrder
from procurement.orders.changes import order_id
from procurement.orders.pricing import unit_price_for


@dataclass(frozen=True)
class LineComparison:
    sku: str
    quantity: int
    unit_price: Decimal
    list_price: Decimal | None
    #: Other approved suppliers' prices for this quantity (price breaks applied).
    market_median: Decimal | None
    cheapest: Decimal | None
    cheapest_supplier: str | None
    alternatives: int

    @property
    def vs_market(self) -> float | None:
        """This line's price relative to the market median (1.0 = at the median)."""
        if self.market_median is None or self.market_median <= 0:
            return None
        return float(self.unit_price / self.market_median)


@dataclass(frozen=True)
class PriceCheck:
    lines: list[LineComparison]

    @property
    def index(self) -> float | None:
        """The order's cost relative to buying the same lines at the market median."""
        comparable = [c for c in self.lines if c.market_median is not None]
        market = sum((c.market_median * c.quantity for c in comparable), Decimal(0))  # type: ignore[operator]
        if not comparable or market <= 0:
            return None
        own = sum((c.unit_price * c.quantity for c in comparable), Decimal(0))
        return float(own / market)


def price_check(s: Session, po: PurchaseOrder) -> PriceCheck:
    """Each line's price against the other approved suppliers' for the same quantity."""
    others = suppliers.market_prices(
        s, [line.product_id for line in po.lines], po.currency, exclude_supplier=po.supplier_id
    )
    out = []
    for line in po.lines:
        offers = sorted(
            (unit_price_for(i.unit_price, i.breaks, line.quantity), i.supplier.code)
            for i in others.get(line.product_id, [])
        )
        prices = [p for p, _ in offers]
        out.append(
            LineComparison(
                sku=line.product.sku,
                quantity=line.quantity,
                unit_price=line.unit_price,
                list_price=line.list_price,
                market_median=statistics.median(prices) if prices else None,
                cheapest=offers[0][0] if offers else None,
                cheapest_supplier=offers[0][1] if offers else None,
                alternatives=len(offers),
            )
        )
    return PriceCheck(out)


def price_check_for(po: PurchaseOrder) -> PriceCheck:
    """The check of an order the caller has loaded already (a page shows both)."""
    with read_only() as s:
        return price_check(s, po)


def price_checks_for(orders: Sequence[PurchaseOrder]) -> dict[int, PriceCheck]:
    """Checks of loaded orders by order id, in one read (the approvers' queue)."""
    with read_only() as s:
        return {po.id: price_check(s, po) for po in orders}


def get_price_check(ref: str | int) -> PriceCheck:
    with read_only() as s:
        po = s.get(PurchaseOrder, order_id(ref))
        if po is None:
            raise NotFound(f"No purchase order {ref}.")
        return price_check(s, po)
