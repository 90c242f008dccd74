"""Supplier scorecards from the orders and receipts in the database, and the stored grade.

The figures come from ``scoring`` (pure); this module only gathers history and remembers the
latest grade on the supplier so lists can show it and a fall to D can raise a flag.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

from flask import current_app
from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from accounts import audit
from accounts.principal import SYSTEM
from core.db import UnitOfWork, read_only, utcnow
from core.problems import Invalid, NotFound
from inventory.catalog import product_by_sku
from inventory.models import Product
from procurement.models import (
    PurchaseOrder,
    PurchaseOrderLine,
    Receipt,
    ReceiptLine,
    Supplier,
    SupplierEvent,
    SupplierItem,
    SupplierStatus,
    po_number,
)
from procurement.orders.workflow import POStatus
from procurement.scorecards import scoring

#: Orders that reached the supplier and were not withdrawn; only these say anything about it.
JUDGED_STATES = (
    POStatus.SENT.value,
    POStatus.PARTIALLY_RECEIVED.value,
    POStatus.RECEIVED.value,
    POStatus.CLOSED.value,
)
OPEN_STATES = (POStatus.SENT.value, POStatus.PARTIALLY_RECEIVED.value)


def rules() -> scoring.Rules:
    config = current_app.config
    return scoring.Rules(
        weights={k: float(v) for k, v in config["SCORECARD_WEIGHTS"].items()},
        grades={k: float(v) for k, v in config["SCORECARD_GRADES"].items()},
        reject_tolerance=float(config["SCORECARD_REJECT_TOLERANCE"]),
        price_tolerance=float(config["SCORECARD_PRICE_TOLERANCE"]),
        min_orders=config["SCORECARD_MIN_ORDERS"],
    )


def history(s: Session, supplier_id: int, since: date) -> list[scoring.Order]:
    """Orders that could have settled on or after ``since``, as plain data for scoring.

    Three flat queries (orders, their lines, their deliveries) rather than loading the orders as
    objects: this runs inside every receipt, and a busy supplier has hundreds of orders a year.
    """
    since_ts = datetime.combine(since, time.min, tzinfo=UTC)
    judged = (
        PurchaseOrder.supplier_id == supplier_id,
        PurchaseOrder.status.in_(JUDGED_STATES),
        or_(
            PurchaseOrder.status.in_(OPEN_STATES),
            PurchaseOrder.expected_date >= since,
            PurchaseOrder.received_at >= since_ts,
            PurchaseOrder.closed_at >= since_ts,
        ),
    )
    wanted = select(PurchaseOrder.id).where(*judged)
    heads = s.execute(
        select(
            PurchaseOrder.id,
            PurchaseOrder.sent_at,
            PurchaseOrder.expected_date,
            PurchaseOrder.status,
        )
        .where(*judged)
        .order_by(PurchaseOrder.id)
    ).all()
    lines: dict[int, list[scoring.OrderLine]] = defaultdict(list)
    for order_id, sku, quantity in s.execute(
        select(PurchaseOrderLine.order_id, Product.sku, PurchaseOrderLine.quantity)
        .join(Product, Product.id == PurchaseOrderLine.product_id)
        .where(PurchaseOrderLine.order_id.in_(wanted))
        .order_by(PurchaseOrderLine.order_id, PurchaseOrderLine.line_no)
    ):
        lines[order_id].append(scoring.OrderLine(sku, quantity))
    deliveries: dict[int, list[scoring.Delivery]] = defaultdict(list)
    for order_id, receipt_id, received_at, sku, accepted, rejected in s.execute(
        select(
            Receipt.order_id,
            Receipt.id,
            Receipt.received_at,
            Product.sku,
            ReceiptLine.accepted,
            ReceiptLine.rejected,
        )
        .join(ReceiptLine, ReceiptLine.receipt_id == Receipt.id)
        .join(PurchaseOrderLine, PurchaseOrderLine.id == ReceiptLine.order_line_id)
        .join(Product, Product.id == PurchaseOrderLine.product_id)
        .where(Receipt.order_id.in_(wanted))
        .order_by(Receipt.id)
    ):
        deliveries[order_id].append(
            scoring.Delivery(received_at.date(), sku, accepted, rejected, receipt_id)
        )
    return [
        scoring.Order(
            reference=po_number(order_id),
            sent_on=sent_at.date(),
            expected_on=expected_date,
            lines=tuple(lines[order_id]),
            deliveries=tuple(deliveries[order_id]),
            closed=status == POStatus.CLOSED.value,
        )
        for order_id, sent_at, expected_date, status in heads
        # judged orders were sent, so both dates are set; the guard only narrows the types
        if sent_at is not None and expected_date is not None
    ]


def quotes(s: Session, supplier: Supplier) -> list[scoring.PriceQuote]:
    """The supplier's current list prices against other approved suppliers' for the same items."""
    own = s.execute(
        select(SupplierItem.product_id, Product.sku, SupplierItem.unit_price)
        .join(Product, Product.id == SupplierItem.product_id)
        .where(SupplierItem.supplier_id == supplier.id, SupplierItem.active.is_(True))
    ).all()
    others: dict[int, list[Decimal]] = defaultdict(list)
    for product_id, price in s.execute(
        select(SupplierItem.product_id, SupplierItem.unit_price)
        .join(Supplier, Supplier.id == SupplierItem.supplier_id)
        .where(
            SupplierItem.product_id.in_([product_id for product_id, _, _ in own]),
            SupplierItem.supplier_id != supplier.id,
            SupplierItem.active.is_(True),
            SupplierItem.currency == supplier.currency,
            Supplier.status == SupplierStatus.APPROVED.value,
        )
    ):
        others[product_id].append(price)
    return [
        scoring.PriceQuote(sku=sku, own=price, others=tuple(others[product_id]))
        for product_id, sku, price in own
    ]


@dataclass(frozen=True)
class SupplierScorecard:
    supplier: Supplier
    card: scoring.Scorecard
    trend: list[scoring.TrendPoint]
    days: int


def compute(
    s: Session, supplier: Supplier, *, days: int, quarters: int, as_of: date
) -> SupplierScorecard:
    start = as_of - timedelta(days=days - 1)
    trend_start = scoring.last_quarters(as_of, quarters)[0][1] if quarters else start
    orders = history(s, supplier.id, min(start, trend_start))
    price_quotes = quotes(s, supplier)
    r = rules()
    card = scoring.scorecard(orders, price_quotes, start=start, end=as_of, as_of=as_of, rules=r)
    trend = (
        scoring.quarterly_trend(orders, price_quotes, as_of=as_of, quarters=quarters, rules=r)
        if quarters
        else []
    )
    return SupplierScorecard(supplier, card, trend, days)


def scorecard_for(
    code: str, *, days: int | None = None, quarters: int = 8, as_of: date | None = None
) -> SupplierScorecard:
    with read_only() as s:
        supplier = s.scalar(select(Supplier).where(Supplier.code == code))
        if supplier is None:
            raise NotFound(f"No supplier {code}.")
        return compute(
            s,
            supplier,
            days=days or current_app.config["SCORECARD_DAYS"],
            quarters=quarters,
            as_of=as_of or utcnow().date(),
        )


def rescore(s: Session, supplier: Supplier, *, as_of: date) -> scoring.Scorecard:
    """Store the supplier's current grade; a fall to D flags it for an approver's review.

    Runs inside the caller's unit of work (a receipt, a closed order, the nightly rescore).
    """
    card = compute(
        s, supplier, days=current_app.config["SCORECARD_DAYS"], quarters=0, as_of=as_of
    ).card
    previous = supplier.grade
    supplier.grade = card.grade
    supplier.score = Decimal(str(card.score)) if card.score is not None else None
    supplier.graded_at = utcnow()
    if card.grade == "D" and previous != "D" and not supplier.flagged_for_review:
        reason = (
            f"grade fell to D (score {card.score:.1f} over {card.orders_counted} orders "
            f"up to {as_of.isoformat()})"
        )
        supplier.flagged_for_review = True
        supplier.flag_reason = reason
        supplier.flagged_at = utcnow()
        s.add(
            SupplierEvent(
                supplier_id=supplier.id,
                kind="flagged",
                from_status=supplier.status,
                to_status=supplier.status,
                reason=reason,
                actor_id=None,
                actor=SYSTEM.username,
            )
        )
        audit.record(
            s,
            SYSTEM,
            "supplier.flag",
            "supplier",
            supplier.code,
            reason=reason,
            before={"grade": previous},
            after={"grade": "D", "flagged_for_review": True},
        )
    return card


def rescore_all(as_of: date | None = None) -> list[tuple[str, str | None, bool]]:
    """Re-grade every supplier; run daily so that orders going overdue count without an event."""
    as_of = as_of or utcnow().date()
    out = []
    with read_only() as s:
        ids = list(s.scalars(select(Supplier.id).order_by(Supplier.code)))
    for supplier_id in ids:
        with UnitOfWork() as uow:
            supplier = uow.session.scalar(
                select(Supplier).where(Supplier.id == supplier_id).with_for_update()
            )
            if supplier is None:
                continue
            rescore(uow.session, supplier, as_of=as_of)
            out.append((supplier.code, supplier.grade, supplier.flagged_for_review))
            uow.commit()
    return out


def card_view(card: scoring.Scorecard) -> dict[str, Any]:
    """Rounded figures for the API and the pages."""

    def r(x: float | None, places: int = 4) -> float | None:
        return None if x is None else round(x, places)

    return {
        "start": card.start,
        "end": card.end,
        "orders_counted": card.orders_counted,
        "on_time_rate": r(card.on_time_rate),
        "in_full_rate": r(card.in_full_rate),
        "reject_rate": r(card.reject_rate),
        "lead_time_mean_days": r(card.lead_time_mean_days, 2),
        "lead_time_std_days": r(card.lead_time_std_days, 2),
        "price_index": r(card.price_index),
        "units_delivered": card.units_delivered,
        "components": {k: round(100 * v, 1) for k, v in card.components.items()},
        "score": card.score,
        "grade": card.grade,
        "deliveries": card.deliveries,
        "lead_time_orders": card.lead_time_orders,
        "priced_items": card.priced_items,
    }


# --- side by side ---------------------------------------------------------------------------------

#: The rows of a comparison: the figure, and whether more of it is better.
COMPARED_FIGURES: tuple[tuple[str, bool], ...] = (
    ("on_time_rate", True),
    ("in_full_rate", True),
    ("reject_rate", False),
    ("lead_time_mean_days", False),
    ("lead_time_std_days", False),
    ("price_index", False),
    ("unit_price", False),
    ("score", True),
)
#: A product may have many approved suppliers; a side-by-side table stays readable up to this.
MAX_FOR_PRODUCT = 12


@dataclass(frozen=True)
class Offer:
    """What the supplier's price list quotes for the compared item."""

    unit_price: Decimal
    currency: str
    moq: int
    pack_size: int
    lead_time_days: int


@dataclass(frozen=True)
class Compared:
    supplier: Supplier
    card: scoring.Scorecard
    offer: Offer | None


@dataclass(frozen=True)
class Comparison:
    sku: str | None
    product_name: str | None
    days: int
    suppliers: list[Compared]
    #: Figure -> positions in ``suppliers`` holding its best value (empty: nothing to compare).
    best: dict[str, set[int]]
    #: Unit prices in different currencies are shown but not ranked.
    mixed_currencies: bool


def compare(
    codes: Sequence[str],
    sku: str | None = None,
    *,
    days: int | None = None,
    as_of: date | None = None,
) -> Comparison:
    """Scorecards of the named suppliers (or of every approved one listing ``sku``) side by side.

    With an item, each supplier's price list line for it is shown too, so a buyer choosing where
    to order sees reliability and price together.
    """
    days = days or current_app.config["SCORECARD_DAYS"]
    as_of = as_of or utcnow().date()
    with read_only() as s:
        product = None
        if sku:
            try:
                product = product_by_sku(s, sku)
            except NotFound as missing:
                raise Invalid(missing.detail, errors=missing.errors) from None
        if codes:
            found = {x.code: x for x in s.scalars(select(Supplier).where(Supplier.code.in_(codes)))}
            unknown = [c for c in codes if c not in found]
            if unknown:
                raise Invalid(
                    "Some suppliers do not exist.",
                    errors={"supplier": [f"unknown supplier {c}" for c in unknown]},
                )
            chosen = [found[c] for c in dict.fromkeys(codes)]
        elif product is not None:
            chosen = list(
                s.scalars(
                    select(Supplier)
                    .join(SupplierItem, SupplierItem.supplier_id == Supplier.id)
                    .where(
                        SupplierItem.product_id == product.id,
                        SupplierItem.active.is_(True),
                        Supplier.status == SupplierStatus.APPROVED.value,
                    )
                    .order_by(Supplier.code)
                    .limit(MAX_FOR_PRODUCT)
                )
            )
            if not chosen:
                raise Invalid(
                    f"No approved supplier lists {product.sku}.",
                    errors={"sku": [f"no approved supplier lists {product.sku}"]},
                )
        else:
            raise Invalid(
                "Name the suppliers to compare, or an item.",
                errors={"supplier": ["name 2 to 4 suppliers, or an item"]},
            )
        offers: dict[int, Offer] = {}
        if product is not None:
            for item in s.scalars(
                select(SupplierItem).where(
                    SupplierItem.product_id == product.id,
                    SupplierItem.active.is_(True),
                    SupplierItem.supplier_id.in_([x.id for x in chosen]),
                )
            ):
                offers[item.supplier_id] = Offer(
                    item.unit_price,
                    item.currency,
                    item.moq,
                    item.pack_size,
                    item.lead_time_days
                    if item.lead_time_days is not None
                    else item.supplier.default_lead_time_days,
                )
        rows = [
            Compared(x, compute(s, x, days=days, quarters=0, as_of=as_of).card, offers.get(x.id))
            for x in chosen
        ]
    currencies = {o.currency for o in offers.values()}
    best: dict[str, set[int]] = {}
    for figure, higher in COMPARED_FIGURES:
        if figure == "unit_price":
            values = [float(r.offer.unit_price) if r.offer else None for r in rows]
            best[figure] = set() if len(currencies) > 1 else scoring.best(values, higher=higher)
        else:
            best[figure] = scoring.best([getattr(r.card, figure) for r in rows], higher=higher)
    return Comparison(
        sku=product.sku if product else None,
        product_name=product.name if product else None,
        days=days,
        suppliers=rows,
        best=best,
        mixed_currencies=len(currencies) > 1,
    )


def comparison_view(comparison: Comparison) -> dict[str, Any]:
    """The comparison as the API sends it: best values named by supplier code."""
    codes = [r.supplier.code for r in comparison.suppliers]
    return {
        "sku": comparison.sku,
        "name": comparison.product_name,
        "days": comparison.days,
        "suppliers": [
            {
                "supplier": r.supplier.code,
                "name": r.supplier.name,
                "status": r.supplier.status,
                "offer": None
                if r.offer is None
                else {
                    "unit_price": r.offer.unit_price,
                    "currency": r.offer.currency,
                    "moq": r.offer.moq,
                    "pack_size": r.offer.pack_size,
                    "lead_time_days": r.offer.lead_time_days,
                },
                **card_view(r.card),
            }
            for r in comparison.suppliers
        ],
        "best": {k: sorted(codes[i] for i in v) for k, v in comparison.best.items()},
        "mixed_currencies": comparison.mixed_currencies,
    }
