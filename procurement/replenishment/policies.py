"""Stock policies: safety stock, reorder point and order-up-to from forecasts and lead times.

The numbers come from three places: the latest forecast of each (item, warehouse) gives demand
and its uncertainty per period; the stock level gives the inventory position; approved suppliers'
price lists and their receipt history give prices, MOQs, packs and lead times (mean and spread of
days from sending an order to its first delivery). ``policy`` does the maths.
"""

from __future__ import annotations

import math
import statistics
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal
from typing import Any

from flask import current_app
from sqlalchemy import func, select
from sqlalchemy.orm import Session, selectinload

from core.db import read_only, utcnow
from core.problems import Invalid, NotFound
from forecasting.models import Forecast
from inventory.catalog import product_by_sku, warehouse_by_code
from inventory.models import Product, StockLevel, Warehouse
from procurement.models import (
    PurchaseOrder,
    Receipt,
    Supplier,
    SupplierItem,
    SupplierStatus,
)
from procurement.replenishment import policy as stock_policy
from procurement.replenishment import sourcing

#: Scorecard grade -> risk premium in % of the price; D suppliers are not offered at all.
DEFAULT_GRADE_PREMIUM = {"A": 0.0, "B": 2.0, "C": 5.0}
INTERMITTENT_MODELS = ("croston", "sba", "tsb")
CENT = Decimal("0.01")


@dataclass(frozen=True)
class LeadTime:
    mean_days: float
    sd_days: float
    observations: int


@dataclass(frozen=True)
class SupplierTerms:
    """What one approved supplier offers for one item, with its record."""

    supplier: str
    supplier_id: int
    currency: str
    offer: sourcing.Offer
    lead_time: LeadTime


def config(name: str, default: Any) -> Any:
    return current_app.config.get(name, default)


# --- inputs ---------------------------------------------------------------------------------------


def lead_times(s: Session, since_days: int = 365) -> dict[int, LeadTime]:
    """Days from sending each order to its first delivery, per supplier, over the last year."""
    since = utcnow() - timedelta(days=since_days)
    first = (
        select(Receipt.order_id, func.min(Receipt.received_at).label("received_at"))
        .group_by(Receipt.order_id)
        .subquery()
    )
    rows = s.execute(
        select(PurchaseOrder.supplier_id, PurchaseOrder.sent_at, first.c.received_at)
        .join(first, first.c.order_id == PurchaseOrder.id)
        .where(PurchaseOrder.sent_at.is_not(None), PurchaseOrder.sent_at >= since)
    ).all()
    days: dict[int, list[float]] = defaultdict(list)
    for supplier_id, sent_at, received_at in rows:
        if sent_at is not None and received_at is not None:
            days[supplier_id].append(max(0.0, (received_at - sent_at).total_seconds() / 86400))
    return {
        sid: LeadTime(
            statistics.fmean(values),
            statistics.stdev(values) if len(values) > 1 else 0.0,
            len(values),
        )
        for sid, values in days.items()
    }


def supplier_terms(
    s: Session, product_ids: Iterable[int], history: dict[int, LeadTime]
) -> dict[int, list[SupplierTerms]]:
    """Offers of approved suppliers in good standing, per product; D-graded ones left out."""
    premium: dict[str, float] = config("REPLENISHMENT_GRADE_PREMIUM", DEFAULT_GRADE_PREMIUM)
    items = s.scalars(
        select(SupplierItem)
        .join(Supplier, Supplier.id == SupplierItem.supplier_id)
        .where(
            SupplierItem.product_id.in_(list(product_ids)),
            SupplierItem.active,
            Supplier.status == SupplierStatus.APPROVED.value,
        )
        .options(selectinload(SupplierItem.price_breaks))
    ).all()
    out: dict[int, list[SupplierTerms]] = defaultdict(list)
    for item in items:
        supplier = item.supplier
        if supplier.grade == "D" or supplier.flagged_for_review:
            continue
        recorded = history.get(supplier.id)
        promised = float(item.lead_time_days or supplier.default_lead_time_days)
        lead = recorded or LeadTime(promised, 0.0, 0)
        breaks = [sourcing.PriceBreak(1, item.unit_price)]
        breaks += [
            sourcing.PriceBreak(b.min_quantity, b.unit_price)
            for b in sorted(item.price_breaks, key=lambda b: b.min_quantity)
        ]
        out[item.product_id].append(
            SupplierTerms(
                supplier=supplier.code,
                supplier_id=supplier.id,
                currency=item.currency,
                offer=sourcing.Offer(
                    supplier.code,
                    item.product.sku,
                    tuple(breaks),
                    moq=item.moq,
                    pack=item.pack_size,
                    lead_time_days=lead.mean_days,
                    risk_premium_pct=premium.get(supplier.grade or "", 0.0),
                ),
                lead_time=lead,
            )
        )
    return out


def latest_forecasts(
    s: Session, keys: Sequence[tuple[int, int]]
) -> dict[tuple[int, int], Forecast]:
    if not keys:
        return {}
    newest = (
        select(func.max(Forecast.id))
        .where(Forecast.product_id.in_({p for p, _ in keys}))
        .group_by(Forecast.product_id, Forecast.warehouse_id)
    )
    rows = s.scalars(select(Forecast).where(Forecast.id.in_(newest))).all()
    wanted = set(keys)
    return {
        (f.product_id, f.warehouse_id): f for f in rows if (f.product_id, f.warehouse_id) in wanted
    }


def policy_input(
    forecast: Forecast, level: StockLevel | None, lead: LeadTime, service_level: float
) -> tuple[stock_policy.PolicyInput, float]:
    period_days = 7.0 if forecast.frequency == "W" else 1.0
    means = [float(p["mean"]) for p in forecast.periods]
    sds = [
        stock_policy.sd_from_quantiles(float(p["mean"]), p.get("quantiles") or {})
        for p in forecast.periods
    ]
    review_days = float(config("REPLENISHMENT_REVIEW_DAYS", 7))
    return (
        stock_policy.PolicyInput(
            period_means=means,
            period_sds=sds,
            lead_time=lead.mean_days / period_days,
            lead_time_sd=lead.sd_days / period_days,
            review_period=review_days / period_days,
            service_level=service_level,
            intermittent=any(m in forecast.model for m in INTERMITTENT_MODELS),
            on_hand=level.on_hand if level else 0,
            reserved=level.reserved if level else 0,
            incoming=level.incoming if level else 0,
        ),
        period_days,
    )


def policy_view(p: stock_policy.Policy, lead: LeadTime, supplier: str | None) -> dict[str, Any]:
    def r(x: float | None, places: int = 2) -> float | None:
        return None if x is None or not math.isfinite(x) else round(x, places)

    return {
        "method": p.method,
        "supplier": supplier,
        "lead_time_days": r(lead.mean_days),
        "lead_time_sd_days": r(lead.sd_days),
        "lead_time_observations": lead.observations,
        "protection_periods": r(p.protection_interval),
        "demand_over_protection": r(p.demand_mean),
        "demand_sd": r(p.demand_sd),
        "safety_stock": r(p.safety_stock),
        "reorder_point": r(p.reorder_point),
        "order_up_to": r(p.order_up_to),
        "inventory_position": r(p.inventory_position),
        "suggested_order": p.suggested_order,
        "days_of_cover": r(p.days_of_cover, 1),
        "stockout_probability": r(p.stockout_probability, 4),
    }


def service_level_or_default(value: float | None) -> float:
    level = value if value is not None else float(config("REPLENISHMENT_SERVICE_LEVEL", 0.95))
    if not 0.5 <= level < 1:
        raise Invalid("A service level is between 0.5 and 1.", errors={"service_level": ["range"]})
    return level


# --- one policy -----------------------------------------------------------------------------------


def policy_of(sku: str, warehouse: str, service_level: float | None = None) -> dict[str, Any]:
    """Safety stock, reorder point and order-up-to of one item in one warehouse, per supplier."""
    level_target = service_level_or_default(service_level)
    with read_only() as s:
        product = product_by_sku(s, sku)
        site = warehouse_by_code(s, warehouse)
        forecast = latest_forecasts(s, [(product.id, site.id)]).get((product.id, site.id))
        if forecast is None:
            raise NotFound(
                f"No forecast of {product.sku} in {site.code} yet; start a forecast run.",
                slug="no-forecast",
            )
        level = s.scalar(
            select(StockLevel).where(
                StockLevel.product_id == product.id, StockLevel.warehouse_id == site.id
            )
        )
        history = lead_times(s)
        terms = supplier_terms(s, [product.id], history).get(product.id, [])
    by_supplier = []
    for t in sorted(terms, key=lambda t: (t.offer.unit_prices[0].unit_price, t.supplier)):
        pin, period_days = policy_input(forecast, level, t.lead_time, level_target)
        result = stock_policy.compute_policy(pin, period_days=period_days)
        by_supplier.append(policy_view(result, t.lead_time, t.supplier))
    if by_supplier:
        main = by_supplier[0]
    else:
        promised = LeadTime(float(config("REPLENISHMENT_DEFAULT_LEAD_DAYS", 14)), 0.0, 0)
        pin, period_days = policy_input(forecast, level, promised, level_target)
        main = policy_view(
            stock_policy.compute_policy(pin, period_days=period_days), promised, None
        )
    return {
        "sku": product.sku,
        "warehouse": site.code,
        "service_level": level_target,
        "forecast": {
            "run_id": forecast.run_id,
            "model": forecast.model,
            "frequency": forecast.frequency,
        },
        "on_hand": level.on_hand if level else 0,
        "reserved": level.reserved if level else 0,
        "incoming": level.incoming if level else 0,
        **main,
        "suppliers": by_supplier,
    }


# --- the dashboard --------------------------------------------------------------------------------


def risk_overview(args: dict[str, Any]) -> list[dict[str, Any]]:
    """Every forecast (item, warehouse) with its policy, riskiest first, for the planner's list.

    ``view``: ``risk`` (stock-out before the next receipt is likely), ``below`` (at or below the
    reorder point), ``over`` (above order-up-to by ``overstock_margin``), or everything.
    """
    level_target = service_level_or_default(args.get("service_level"))
    margin = float(args.get("overstock_margin") or config("REPLENISHMENT_OVERSTOCK_MARGIN", 0.5))
    with read_only() as s:
        stmt = select(Forecast.product_id, Forecast.warehouse_id).distinct()
        if args.get("warehouse"):
            stmt = stmt.where(Forecast.warehouse_id == warehouse_by_code(s, args["warehouse"]).id)
        keys = [(p, w) for p, w in s.execute(stmt)]
        forecasts = latest_forecasts(s, keys)
        levels = {
            (lv.product_id, lv.warehouse_id): lv
            for lv in s.scalars(
                select(StockLevel).where(StockLevel.product_id.in_({p for p, _ in keys}))
            )
        }
        history = lead_times(s)
        terms = supplier_terms(s, {p for p, _ in keys}, history)
        products = {
            p.id: p for p in s.scalars(select(Product).where(Product.id.in_({p for p, _ in keys})))
        }
        codes = {w.id: w.code for w in s.scalars(select(Warehouse))}
    default_lead = LeadTime(float(config("REPLENISHMENT_DEFAULT_LEAD_DAYS", 14)), 0.0, 0)
    out = []
    q = (args.get("q") or "").strip().lower()
    for key, forecast in forecasts.items():
        product = products[key[0]]
        if q and q not in product.sku.lower() and q not in product.name.lower():
            continue
        offers = sorted(terms.get(key[0], []), key=lambda t: t.offer.unit_prices[0].unit_price)
        lead = offers[0].lead_time if offers else default_lead
        pin, period_days = policy_input(forecast, levels.get(key), lead, level_target)
        p = stock_policy.compute_policy(pin, period_days=period_days)
        horizon_days = len(forecast.periods) * period_days
        yearly = sum(pin.period_means) * 365 / horizon_days if horizon_days else 0.0
        level = levels.get(key)
        on_hand = level.on_hand if level else 0
        row = {
            "sku": product.sku,
            "name": product.name,
            "warehouse": codes[key[1]],
            **policy_view(p, lead, offers[0].supplier if offers else None),
            "on_hand": on_hand,
            "turns": round(yearly / on_hand, 1) if on_hand > 0 else None,
            "below_reorder_point": p.inventory_position <= p.reorder_point,
            "overstock": p.inventory_position > p.order_up_to * (1 + margin),
        }
        out.append(row)
    view = args.get("view")
    if view == "risk":
        out = [r for r in out if (r["stockout_probability"] or 0) >= 1 - level_target]
    elif view == "below":
        out = [r for r in out if r["below_reorder_point"]]
    elif view == "over":
        out = [r for r in out if r["overstock"]]
    out.sort(key=lambda r: (-(r["stockout_probability"] or 0), r["days_of_cover"] or 0, r["sku"]))
    return out


def projection(sku: str, warehouse: str, policy: dict[str, Any]) -> dict[str, Any]:
    """Projected stock per forecast period if nothing is ordered, beside the policy's levels."""
    from forecasting import services as forecasts

    forecast = forecasts.latest_forecast(sku, warehouse)
    position = float(policy["inventory_position"] or 0)
    days, stock = [], []
    for period in forecast["periods"]:
        position -= float(period["mean"])
        days.append(period["start"].isoformat())
        stock.append(round(position, 2))
    return {
        "periods": days,
        "stock": stock,
        "reorder_point": policy["reorder_point"],
        "safety_stock": policy["safety_stock"],
        "order_up_to": policy["order_up_to"],
    }
