"""Replenishment plans: needs from the policies (or given lines), least-cost sourcing as a
background job, and a buyer's review and apply into draft purchase orders."""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from accounts import audit
from accounts.principal import Principal
from core import jobs
from core.db import UnitOfWork, read_only, retry_on_conflict, utcnow
from core.problems import Conflict, NotFound, Problem
from forecasting.models import Forecast
from inventory.catalog import product_by_sku, warehouse_by_code
from inventory.models import Product, StockLevel, Warehouse
from procurement.models import (
    Supplier,
)
from procurement.orders import writing
from procurement.replenishment import policy as stock_policy
from procurement.replenishment import sourcing
from procurement.replenishment.models import ReplenishmentLine, ReplenishmentPlan
from procurement.replenishment.policies import (
    CENT,
    LeadTime,
    SupplierTerms,
    config,
    latest_forecasts,
    lead_times,
    policy_input,
    policy_view,
    service_level_or_default,
    supplier_terms,
)

PLANNERS = ("planner", "buyer")
APPLIERS = ("buyer",)
PLAN_JOB = "replenishment_plan"


# --- plans ----------------------------------------------------------------------------------------


def start_plan(actor: Principal, data: dict[str, Any]) -> dict[str, Any]:
    """Queue a plan; it is computed by the ``replenishment_plan`` job in threads or on Celery."""
    actor.ensure_role(*PLANNERS)
    service_level_or_default(data.get("service_level"))
    with read_only() as s:
        for i, code in enumerate(data.get("warehouses") or []):
            warehouse_by_code(s, code, field=f"warehouses.{i}")
        for i, line in enumerate(data.get("lines") or []):
            product_by_sku(s, line["sku"], field=f"lines.{i}.sku")
            warehouse_by_code(s, line["warehouse"], field=f"lines.{i}.warehouse")
        for i, sku in enumerate(data.get("skus") or []):
            product_by_sku(s, sku, field=f"skus.{i}")
    params = {
        k: (str(v) if isinstance(v, Decimal) else v) for k, v in data.items() if v is not None
    }
    jobs.reconcile_abandoned()
    with UnitOfWork() as uow:
        job = jobs.enqueue(uow.session, PLAN_JOB, {}, actor)
        plan = ReplenishmentPlan(
            job_id=job.id,
            params=params,
            created_by=actor.username,
            created_by_id=actor.user_id,
        )
        uow.session.add(plan)
        uow.session.flush()
        job.params = {"plan_id": plan.id}
        job_id, plan_id = job.id, plan.id
        uow.commit()
    jobs.dispatch(job_id)
    return {"job_id": job_id, "plan_id": plan_id}


@jobs.job(PLAN_JOB, readers=PLANNERS)
def run_plan(params: dict[str, Any], report: jobs.Report) -> dict[str, Any]:
    """Compute a plan: needs from policies (or the lines given), then least-cost sourcing."""
    plan_id = int(params["plan_id"])
    with read_only() as s:
        plan = s.get(ReplenishmentPlan, plan_id)
        if plan is None:
            raise NotFound(f"No plan {plan_id}.")
        request = dict(plan.params)
    report(0.05, "reading forecasts, stock and price lists")
    with read_only() as s:
        needs, terms = _needs(s, request)
    report(0.3, f"sourcing {len(needs)} lines")
    offers = [t.offer for ts in terms.values() for t in ts]
    limits = sourcing.Limits(
        budget=Decimal(request["budget"]) if request.get("budget") is not None else None,
        supplier_capacity={
            k.upper(): int(v) for k, v in (request.get("supplier_capacity") or {}).items()
        },
        warehouse_volume={
            k.upper(): float(v) for k, v in (request.get("warehouse_volume") or {}).items()
        },
    )
    lines = [n.line for n in needs]
    result = (
        sourcing.source(
            lines, offers, limits, time_limit_s=float(config("REPLENISHMENT_TIME_LIMIT", 20))
        )
        if lines
        else None
    )
    report(0.9, "saving the plan")
    by_key = {(n.line.sku, n.line.warehouse): n for n in needs}
    supplier_ids = {t.supplier: t.supplier_id for ts in terms.values() for t in ts}
    with UnitOfWork() as uow:
        s = uow.session
        plan = s.get(ReplenishmentPlan, plan_id)
        assert plan is not None
        if result is not None:
            for pl in result.lines:
                need = by_key[(pl.sku, pl.warehouse)]
                s.add(
                    ReplenishmentLine(
                        plan_id=plan_id,
                        product_id=need.product_id,
                        warehouse_id=need.warehouse_id,
                        supplier_id=supplier_ids[pl.supplier],
                        quantity=pl.quantity,
                        unit_price=pl.unit_price,
                        total=pl.total,
                        explanation=_jsonable(pl.explanation),
                        policy=need.policies.get(pl.supplier, need.policy),
                    )
                )
            for sl in result.short:
                need = by_key[(sl.sku, sl.warehouse)]
                s.add(
                    ReplenishmentLine(
                        plan_id=plan_id,
                        product_id=need.product_id,
                        warehouse_id=need.warehouse_id,
                        supplier_id=None,
                        quantity=0,
                        short=sl.quantity_short,
                        reason=sl.reason,
                        explanation={},
                        policy=need.policy,
                    )
                )
            plan.objective = result.objective.quantize(Decimal("0.0001"))
            plan.solver = {
                "status": result.solver.status,
                "gap": result.solver.gap,
                "seconds": round(result.solver.seconds, 3),
                "backend": result.solver.backend,
                "duals": {k: round(v, 6) for k, v in result.duals.items()},
            }
        else:
            plan.objective = Decimal(0)
            plan.solver = {"status": "NOTHING_TO_BUY", "gap": 0.0, "seconds": 0.0, "backend": ""}
        uow.commit()
    return {
        "plan_id": plan_id,
        "lines": len(result.lines) if result else 0,
        "short": len(result.short) if result else 0,
        "objective": str(result.objective.quantize(CENT)) if result else "0.00",
    }


def _jsonable(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


@dataclass(frozen=True)
class _Need:
    product_id: int
    warehouse_id: int
    line: sourcing.Line
    policy: dict[str, Any] | None
    #: The policy as each supplier's lead time makes it; a purchase line shows its supplier's.
    policies: dict[str, dict[str, Any]] = field(default_factory=dict)


def _needs(
    s: Session, request: dict[str, Any]
) -> tuple[list[_Need], dict[int, list[SupplierTerms]]]:
    """The lines to source: given explicitly, or every forecast series that should order now."""
    factor = Decimal(str(config("REPLENISHMENT_SHORTAGE_FACTOR", 4)))
    history = lead_times(s)
    codes = {w.id: w.code for w in s.scalars(select(Warehouse))}
    ids = {code: wid for wid, code in codes.items()}
    if request.get("lines"):
        wanted = {}
        for line in request["lines"]:
            product = product_by_sku(s, line["sku"])
            wanted[
                (
                    product.id,
                    ids[line["warehouse"].upper()]
                    if line["warehouse"].upper() in ids
                    else warehouse_by_code(s, line["warehouse"]).id,
                )
            ] = int(line["quantity"])
        products = {
            p.id: p
            for p in s.scalars(select(Product).where(Product.id.in_({p for p, _ in wanted})))
        }
        terms = supplier_terms(s, products, history)
        needs = []
        for (pid, wid), quantity in wanted.items():
            cheapest = min(
                (t.offer.unit_prices[0].unit_price for t in terms.get(pid, [])), default=Decimal(1)
            )
            needs.append(
                _Need(
                    pid,
                    wid,
                    sourcing.Line(
                        products[pid].sku,
                        codes[wid],
                        quantity,
                        shortage_cost=(cheapest * (1 + factor)).quantize(CENT),
                        unit_volume=float(products[pid].volume_m3 or 0),
                    ),
                    None,
                )
            )
        return needs, terms
    level_target = service_level_or_default(request.get("service_level"))
    stmt = select(Forecast.product_id, Forecast.warehouse_id).distinct()
    if request.get("warehouses"):
        stmt = stmt.where(
            Forecast.warehouse_id.in_(
                [ids[c.upper()] for c in request["warehouses"] if c.upper() in ids]
            )
        )
    if request.get("skus"):
        wanted_ids = [product_by_sku(s, sku).id for sku in request["skus"]]
        stmt = stmt.where(Forecast.product_id.in_(wanted_ids))
    keys = [(p, w) for p, w in s.execute(stmt)]
    forecasts = latest_forecasts(s, keys)
    levels = (
        {
            (lv.product_id, lv.warehouse_id): lv
            for lv in s.scalars(
                select(StockLevel).where(StockLevel.product_id.in_({p for p, _ in keys}))
            )
        }
        if keys
        else {}
    )
    products = (
        {p.id: p for p in s.scalars(select(Product).where(Product.id.in_({p for p, _ in keys})))}
        if keys
        else {}
    )
    terms = supplier_terms(s, products, history)
    default_lead = LeadTime(float(config("REPLENISHMENT_DEFAULT_LEAD_DAYS", 14)), 0.0, 0)
    needs = []
    for key, forecast in sorted(forecasts.items()):
        offers = terms.get(key[0], [])
        by_supplier: dict[str, int] = {}
        views: dict[str, dict[str, Any]] = {}
        chosen: stock_policy.Policy | None = None
        chosen_view: dict[str, Any] | None = None
        ordering = False
        candidates: list[SupplierTerms | None] = [
            *sorted(offers, key=lambda t: (t.offer.unit_prices[0].unit_price, t.supplier))
        ] or [None]
        for t in candidates:
            lead = t.lead_time if t else default_lead
            pin, period_days = policy_input(forecast, levels.get(key), lead, level_target)
            p = stock_policy.compute_policy(pin, period_days=period_days)
            if chosen is None:
                chosen, chosen_view = p, policy_view(p, lead, t.supplier if t else None)
                ordering = p.inventory_position <= p.reorder_point
            if t is not None:
                # A supplier fast enough that its own order-up-to is already covered still needs
                # one unit: the optimiser may then prefer a token order from it to a big one.
                by_supplier[t.supplier] = max(1, math.ceil(p.order_up_to - p.inventory_position))
                views[t.supplier] = policy_view(p, lead, t.supplier)
        if chosen is None or not ordering or not offers:
            continue
        need = max(by_supplier.values()) if by_supplier else 0
        if need <= 0:
            continue
        cheapest = min(t.offer.unit_prices[0].unit_price for t in offers)
        risk = Decimal(str(round(chosen.stockout_probability, 4)))
        needs.append(
            _Need(
                key[0],
                key[1],
                sourcing.Line(
                    products[key[0]].sku,
                    codes[key[1]],
                    need,
                    need_by_supplier=by_supplier,
                    # A unit short costs more than buying it, and more the likelier a stock-out:
                    # a tight budget goes to the lines most at risk first.
                    shortage_cost=(cheapest * (1 + factor * max(risk, Decimal("0.01")))).quantize(
                        CENT
                    ),
                    unit_volume=float(products[key[0]].volume_m3 or 0),
                ),
                chosen_view,
                views,
            )
        )
    return needs, terms


def _plan_row(s: Session, plan_id: int) -> ReplenishmentPlan:
    plan = s.scalar(
        select(ReplenishmentPlan)
        .where(ReplenishmentPlan.id == plan_id)
        .options(selectinload(ReplenishmentPlan.lines))
    )
    if plan is None:
        raise NotFound(f"No replenishment plan {plan_id}.")
    return plan


def plan_view(s: Session, plan: ReplenishmentPlan) -> dict[str, Any]:
    job = s.get(jobs.Job, plan.job_id)
    products = {
        p.id: p
        for p in s.scalars(
            select(Product).where(Product.id.in_({ln.product_id for ln in plan.lines}))
        )
    }
    codes = {w.id: w.code for w in s.scalars(select(Warehouse))}
    suppliers = {sp.id: sp.code for sp in s.scalars(select(Supplier))}
    lines: list[dict[str, Any]] = []
    short: list[dict[str, Any]] = []
    total = Decimal(0)
    for ln in plan.lines:
        base = {
            "id": ln.id,
            "sku": products[ln.product_id].sku,
            "name": products[ln.product_id].name,
            "warehouse": codes[ln.warehouse_id],
            "policy": ln.policy,
        }
        if ln.supplier_id is None:
            short.append({**base, "quantity": ln.short, "reason": ln.reason})
        else:
            lines.append(
                {
                    **base,
                    "supplier": suppliers[ln.supplier_id],
                    "quantity": ln.quantity,
                    "unit_price": ln.unit_price,
                    "total": ln.total,
                    "explanation": ln.explanation,
                    "edited_by": ln.edited_by,
                }
            )
            total += ln.total or Decimal(0)
    return {
        "id": plan.id,
        "job_id": plan.job_id,
        "status": job.status if job else "failed",
        "progress": job.progress if job else 1.0,
        "error": job.error if job else None,
        "params": plan.params,
        "objective": plan.objective,
        "solver": plan.solver,
        "created_by": plan.created_by,
        "created_at": plan.created_at,
        "applied_at": plan.applied_at,
        "applied_by": plan.applied_by,
        "purchase_orders": plan.purchase_orders or [],
        "total": total,
        "lines": lines,
        "short": short,
    }


def get_plan(plan_id: int) -> dict[str, Any]:
    with read_only() as s:
        return plan_view(s, _plan_row(s, plan_id))


def list_plans(limit: int = 20) -> list[dict[str, Any]]:
    with read_only() as s:
        plans = s.scalars(
            select(ReplenishmentPlan).order_by(ReplenishmentPlan.id.desc()).limit(limit)
        ).all()
        out = []
        for plan in plans:
            job = s.get(jobs.Job, plan.job_id)
            out.append(
                {
                    "id": plan.id,
                    "status": job.status if job else "failed",
                    "created_by": plan.created_by,
                    "created_at": plan.created_at,
                    "objective": plan.objective,
                    "applied_at": plan.applied_at,
                    "purchase_orders": plan.purchase_orders or [],
                }
            )
        return out


def _open_plan(s: Session, plan_id: int) -> ReplenishmentPlan:
    plan = s.scalar(
        select(ReplenishmentPlan).where(ReplenishmentPlan.id == plan_id).with_for_update()
    )
    if plan is None:
        raise NotFound(f"No replenishment plan {plan_id}.")
    job = s.get(jobs.Job, plan.job_id)
    if job is None or job.status != jobs.JobStatus.SUCCEEDED.value:
        raise Conflict(
            f"Plan {plan_id} is {job.status if job else 'failed'}; only a finished plan changes.",
            slug="plan-not-ready",
        )
    if plan.applied_at is not None:
        raise Conflict(
            f"Plan {plan_id} became {', '.join(plan.purchase_orders or [])} already.",
            slug="plan-applied",
        )
    return plan


def update_line(actor: Principal, plan_id: int, line_id: int, quantity: int) -> dict[str, Any]:
    """A buyer's correction of a proposed quantity, before the plan becomes orders."""
    actor.ensure_role(*APPLIERS)
    with UnitOfWork() as uow:
        s = uow.session
        plan = _open_plan(s, plan_id)
        line = s.get(ReplenishmentLine, line_id)
        if line is None or line.plan_id != plan.id or line.supplier_id is None:
            raise NotFound(f"Plan {plan_id} has no purchase line {line_id}.")
        before = line.quantity
        line.quantity = quantity
        line.total = ((line.unit_price or Decimal(0)) * quantity).quantize(
            Decimal("0.0001"), rounding=ROUND_HALF_UP
        )
        line.edited_by = actor.username
        line.explanation = {
            **(line.explanation or {}),
            "edited": {"by": actor.username, "from": before, "to": quantity},
        }
        audit.record(
            s,
            actor,
            "replenishment_line.update",
            "replenishment_plan",
            plan.id,
            before={"line": line_id, "quantity": before},
            after={"line": line_id, "quantity": quantity},
        )
        uow.commit()
    return get_plan(plan_id)


@retry_on_conflict()
def apply_plan(actor: Principal, plan_id: int) -> dict[str, Any]:
    """Turn the plan into draft orders, one per supplier and warehouse: all of them or none.

    The drafts then follow the ordinary approval flow. A line whose quantity no longer fits the
    supplier's MOQ or pack (edited, or the price list changed) fails the whole apply with a 422
    naming it, and nothing is created.
    """
    actor.ensure_role(*APPLIERS)
    with UnitOfWork() as uow:
        s = uow.session
        plan = _open_plan(s, plan_id)
        lines = s.scalars(
            select(ReplenishmentLine)
            .where(
                ReplenishmentLine.plan_id == plan.id,
                ReplenishmentLine.supplier_id.is_not(None),
                ReplenishmentLine.quantity > 0,
            )
            .order_by(ReplenishmentLine.id)
        ).all()
        if not lines:
            raise Conflict(f"Plan {plan_id} has nothing to buy.", slug="plan-empty")
        skus = {
            p.id: p.sku
            for p in s.scalars(
                select(Product).where(Product.id.in_({ln.product_id for ln in lines}))
            )
        }
        codes = {w.id: w.code for w in s.scalars(select(Warehouse))}
        suppliers = {sp.id: sp.code for sp in s.scalars(select(Supplier))}
        groups: dict[tuple[int, int], list[ReplenishmentLine]] = defaultdict(list)
        for ln in lines:
            assert ln.supplier_id is not None
            groups[(ln.supplier_id, ln.warehouse_id)].append(ln)
        numbers = []
        for (supplier_id, warehouse_id), group in sorted(
            groups.items(), key=lambda kv: (suppliers[kv[0][0]], codes[kv[0][1]])
        ):
            try:
                po = writing.create_order(
                    actor,
                    {
                        "supplier": suppliers[supplier_id],
                        "warehouse": codes[warehouse_id],
                        "notes": f"Replenishment plan {plan.id}",
                        "lines": [
                            {"sku": skus[ln.product_id], "quantity": ln.quantity} for ln in group
                        ],
                    },
                )
            except Problem as problem:
                raise type(problem)(
                    f"{suppliers[supplier_id]} to {codes[warehouse_id]}: {problem.detail} "
                    "No order was created.",
                    errors=problem.errors,
                    status=problem.status,
                )
            numbers.append(po.number)
        plan.applied_at = utcnow()
        plan.applied_by = actor.username
        plan.purchase_orders = numbers
        audit.record(
            s,
            actor,
            "replenishment_plan.apply",
            "replenishment_plan",
            plan.id,
            after={"purchase_orders": numbers},
        )
        uow.commit()
    return get_plan(plan_id)
