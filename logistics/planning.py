"""Assigning a ship day's shipments to services: a background job around the pure optimiser."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from flask import current_app
from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from accounts.principal import Principal
from core import jobs
from core.db import UnitOfWork, read_only
from inventory.catalog import warehouse_by_code
from inventory.models import Warehouse
from logistics import assignment, rating
from logistics.carriers import rate_cards
from logistics.models import (
    CarrierService,
    Shipment,
)
from logistics.shipments import (
    ST,
    current_ship_date,
    days_before_pickup,
    dock_now,
    on_time_rates,
)

PLANNABLE = (ST.PLANNED.value, ST.ASSIGNED.value)


# --- assignment -----------------------------------------------------------------------------------


def start_assignment(actor: Principal, data: dict[str, Any]) -> dict[str, Any]:
    """Queue the assignment of one ship day's shipments (one warehouse or all) to services."""
    ship_date = data.get("ship_date")
    if ship_date is None:
        with read_only() as s:
            ship_date = current_ship_date(s)
    params: dict[str, Any] = {"ship_date": ship_date.isoformat()}
    planner = actor.has_any("planner")
    if data.get("warehouse"):
        with read_only() as s:
            code = warehouse_by_code(s, data["warehouse"]).code
        if not planner:
            actor.ensure_warehouse(code)
        params["warehouses"] = [code]
    elif not planner:
        # Warehouse staff plan the docks they work at, not everyone's.
        params["warehouses"] = sorted(actor.warehouses)
    job_id = jobs.submit("carrier_assignment", params, actor)
    return {"job_id": job_id}


def _money(value: Decimal | None) -> str | None:
    return None if value is None else str(value)


@jobs.job("carrier_assignment", readers=("warehouse", "planner"))
def run_assignment(params: dict[str, Any], report: jobs.Report) -> dict[str, Any]:
    """Assign each warehouse's plannable shipments of the day, one optimisation per warehouse.

    Capacities are per service and origin warehouse per day, so warehouses do not compete.
    Shipments already assigned on that day are planned again with the rest: the plan is the
    day's, not the order in which parcels arrived.
    """
    ship_date = date.fromisoformat(params["ship_date"])
    penalty = Decimal(str(current_app.config.get("LATENESS_PENALTY_PER_DAY", "20.00")))
    with read_only() as s:
        stmt = select(Warehouse).order_by(Warehouse.code)
        if params.get("warehouses") is not None:
            stmt = stmt.where(Warehouse.code.in_(params["warehouses"]))
        warehouses = [(w.id, w.code) for w in s.scalars(stmt)]
    results: list[dict[str, Any]] = []
    plans: list[assignment.Assignment] = []
    baselines: list[assignment.Baseline] = []
    solvers = []
    for n, (warehouse_id, code) in enumerate(warehouses):
        report(n / max(1, len(warehouses)), f"warehouse {code}")
        with UnitOfWork() as uow:
            s = uow.session
            outcome = _assign_warehouse(s, warehouse_id, code, ship_date, penalty)
            uow.commit()
        if outcome is None:
            continue
        plan, baseline, rows = outcome
        results.extend(rows)
        plans.append(plan)
        baselines.append(baseline)
        solvers.append(
            {
                "warehouse": code,
                "method": plan.solver.method,
                "status": plan.solver.status,
                "seconds": round(plan.solver.seconds, 3),
                "gap": plan.solver.gap,
            }
        )
    report(1.0, f"{len(results)} shipments")
    zero = Decimal("0.00")
    rate_total = sum((p.rate_total for p in plans), zero)
    penalty_total = sum((p.penalty_total for p in plans), zero)
    cheapest_rate = sum((b.rate_total for b in baselines), zero)
    cheapest_penalty = sum((b.penalty_total for b in baselines), zero)
    return {
        "ship_date": ship_date.isoformat(),
        "shipments": results,
        "rate_total": str(rate_total),
        "penalty_total": str(penalty_total),
        "objective": str(rate_total + penalty_total),
        "unassigned": sum(p.unassigned for p in plans),
        "baseline": {
            "rate_total": str(cheapest_rate),
            "penalty_total": str(cheapest_penalty),
            "objective": str(cheapest_rate + cheapest_penalty),
            "over_capacity": sum(b.over_capacity for b in baselines),
            "first_come_objective": str(sum((b.first_come.objective for b in baselines), zero)),
            "first_come_unassigned": sum(b.first_come.unassigned for b in baselines),
        },
        "solver": solvers,
    }


def _assign_warehouse(
    s: Session, warehouse_id: int, code: str, ship_date: date, penalty: Decimal
) -> tuple[assignment.Assignment, assignment.Baseline, list[dict[str, Any]]] | None:
    shipments = list(
        s.scalars(
            select(Shipment)
            .where(
                Shipment.warehouse_id == warehouse_id,
                Shipment.ship_date == ship_date,
                Shipment.status.in_(PLANNABLE),
            )
            .order_by(Shipment.id)
            .with_for_update()
        )
    )
    if not shipments:
        return None
    services = list(
        s.scalars(
            select(CarrierService)
            .where(CarrierService.active)
            .options(selectinload(CarrierService.carrier))
            .order_by(CarrierService.code)
        )
    )
    cards = rate_cards(s, services)
    history = on_time_rates(s)
    now = dock_now()
    # A service whose cut-off has passed collects tomorrow: a day more to deliver by.
    cutoffs = {sv.code: sv.cutoff_hour for sv in services}
    waits = {code: days_before_pickup(hour, ship_date, now) for code, hour in cutoffs.items()}
    pure_services = [
        assignment.Service(
            code=sv.code,
            transit_days=sv.transit_days + waits[sv.code],
            max_shipments=sv.daily_max_shipments,
            max_kg=sv.daily_max_kg,
            on_time_rate=history.get(sv.id, 1.0),
        )
        for sv in services
        if sv.carrier.active
    ]
    pure_shipments = [
        assignment.Shipment(
            id=sh.id,
            weight_kg=sh.weight_kg,
            days_available=(sh.deliver_by - ship_date).days if sh.deliver_by else None,
            origin=code,
            region=sh.region,
        )
        for sh in shipments
    ]
    options = []
    for sh in shipments:
        for sv in pure_services:
            price = rating.quote(cards[sv.code], code, sh.region, sh.weight_kg)
            if price is not None:
                options.append(assignment.Option(sh.id, sv.code, price))
    plan = assignment.assign(
        pure_shipments, pure_services, options, lateness_penalty_per_day=penalty
    )
    baseline = assignment.cheapest_rate_baseline(
        pure_shipments, pure_services, options, lateness_penalty_per_day=penalty
    )
    ids = {sv.code: sv.id for sv in services}
    by_id = {sh.id: sh for sh in shipments}
    rows = []
    for choice in plan.choices:
        sh = by_id[choice.shipment_id]
        sh.reason = choice.reason
        if choice.service is not None and waits[choice.service]:
            sh.reason += f"; collected tomorrow (past its {cutoffs[choice.service]:02d}:00 cut-off)"
        if choice.service is None:
            sh.status, sh.service_id, sh.cost, sh.eta = ST.PLANNED.value, None, None, None
        else:
            sh.status = ST.ASSIGNED.value
            sh.service_id = ids[choice.service]
            sh.cost = choice.cost
            sh.eta = ship_date + timedelta(days=choice.eta_days or 0)
        rows.append(
            {
                "id": sh.id,
                "warehouse": code,
                "order_ref": sh.order_ref,
                "region": sh.region,
                "weight_kg": str(sh.weight_kg),
                "service": choice.service,
                "cost": _money(choice.cost),
                "penalty": _money(choice.penalty),
                "eta": sh.eta.isoformat() if sh.eta else None,
                "days_late": choice.days_late,
                "reason": sh.reason,
            }
        )
    return plan, baseline, rows
