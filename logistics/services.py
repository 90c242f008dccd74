"""Use cases of logistics: carriers and rate cards, shipments and their journey, assignment.

Each write is one transaction that commits itself or changes nothing. The computation lives in
the pure modules ``rating`` (what a service charges) and ``assignment`` (who carries what).
"""

from __future__ import annotations

import csv
import hashlib
import hmac
import io
import json
from collections import defaultdict
from collections.abc import Iterable, Sequence
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

from flask import current_app
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, selectinload

from accounts import audit
from accounts.audit import snapshot
from accounts.principal import Principal
from core import csv_rows, jobs
from core.api import keyset_page
from core.db import UnitOfWork, read_only, utcnow
from core.problems import Conflict, Invalid, NotFound, Unauthorized
from inventory import events
from inventory.catalog import warehouse_by_code
from inventory.models import Product, Reservation, Warehouse
from logistics import assignment, rating
from logistics.models import (
    Carrier,
    CarrierService,
    RateRow,
    Shipment,
    ShipmentEvent,
    ShipmentStatus,
)
from logistics.schemas import RateCsvRow

ST = ShipmentStatus
#: Where a shipment may go next. ``assigned`` is reached only by assignment (or a person choosing
#: a service); a shipment not yet picked up may be assigned again, or cancelled.
TRANSITIONS: dict[str, frozenset[str]] = {
    ST.PLANNED: frozenset({ST.ASSIGNED, ST.CANCELLED}),
    ST.ASSIGNED: frozenset({ST.ASSIGNED, ST.PICKED_UP, ST.EXCEPTION, ST.CANCELLED}),
    ST.PICKED_UP: frozenset({ST.IN_TRANSIT, ST.OUT_FOR_DELIVERY, ST.DELIVERED, ST.EXCEPTION}),
    ST.IN_TRANSIT: frozenset({ST.OUT_FOR_DELIVERY, ST.DELIVERED, ST.EXCEPTION, ST.RETURNED}),
    ST.OUT_FOR_DELIVERY: frozenset({ST.DELIVERED, ST.EXCEPTION, ST.RETURNED}),
    ST.EXCEPTION: frozenset(
        {ST.IN_TRANSIT, ST.OUT_FOR_DELIVERY, ST.DELIVERED, ST.RETURNED, ST.CANCELLED}
    ),
    ST.DELIVERED: frozenset(),
    ST.RETURNED: frozenset(),
    ST.CANCELLED: frozenset(),
}
#: Statuses a tracking event may report (assignment is not an event).
EVENT_STATUSES = tuple(s.value for s in ST if s not in (ST.PLANNED, ST.ASSIGNED))
#: A shipment assignment may (re)plan: nothing has left the dock yet.
PLANNABLE = (ST.PLANNED.value, ST.ASSIGNED.value)
SERVICE_FIELDS = (
    "name",
    "transit_days",
    "daily_max_shipments",
    "daily_max_kg",
    "cutoff_hour",
    "fuel_surcharge_pct",
    "active",
)
#: On-time history starts from this prior (as if ``PRIOR_SHIPMENTS`` had been delivered at
#: ``PRIOR_ON_TIME``), so one late parcel does not condemn a new service, nor one on-time parcel
#: crown it.
PRIOR_ON_TIME = 0.9
PRIOR_SHIPMENTS = 10
SIGNATURE_HEADER = "X-Stockroom-Signature"


# --- carriers and services ------------------------------------------------------------------------


def carrier_by_code(s: Session, code: str, *, field: str = "carrier") -> Carrier:
    carrier = s.scalar(select(Carrier).where(func.upper(Carrier.code) == code.upper()))
    if carrier is None:
        raise NotFound(f"No carrier {code}.", errors={field: [f"unknown carrier {code}"]})
    return carrier


def service_by_code(s: Session, code: str, *, field: str = "service") -> CarrierService:
    service = s.scalar(
        select(CarrierService).where(func.upper(CarrierService.code) == code.upper())
    )
    if service is None:
        raise NotFound(f"No service {code}.", errors={field: [f"unknown service {code}"]})
    return service


def create_carrier(actor: Principal, data: dict[str, Any]) -> Carrier:
    with UnitOfWork() as uow:
        s = uow.session
        carrier = Carrier(
            code=data["code"].upper(),
            name=data["name"],
            webhook_secret=data.get("webhook_secret"),
        )
        s.add(carrier)
        try:
            s.flush()
        except IntegrityError:
            raise Conflict(f"A carrier {carrier.code} exists.", errors={"code": ["taken"]})
        audit.record(
            s, actor, "carrier.create", "carrier", carrier.code, after={"name": carrier.name}
        )
        uow.commit()
        return carrier


def list_carriers() -> list[Carrier]:
    with read_only() as s:
        return list(
            s.scalars(
                select(Carrier).options(selectinload(Carrier.services)).order_by(Carrier.code)
            )
        )


def get_carrier(code: str) -> Carrier:
    with read_only() as s:
        carrier = carrier_by_code(s, code)
        _ = carrier.services
        return carrier


def create_service(actor: Principal, carrier_code: str, data: dict[str, Any]) -> CarrierService:
    with UnitOfWork() as uow:
        s = uow.session
        carrier = carrier_by_code(s, carrier_code)
        service = CarrierService(carrier=carrier, code=data["code"].upper(), name=data["name"])
        for name in SERVICE_FIELDS:
            if name in data and name != "name":
                setattr(service, name, data[name])
        s.add(service)
        try:
            s.flush()
        except IntegrityError:
            raise Conflict(f"A service {service.code} exists.", errors={"code": ["taken"]})
        audit.record(
            s,
            actor,
            "carrier_service.create",
            "carrier_service",
            service.code,
            after=snapshot(service, SERVICE_FIELDS),
        )
        uow.commit()
        return service


def update_service(actor: Principal, code: str, changes: dict[str, Any]) -> CarrierService:
    with UnitOfWork() as uow:
        s = uow.session
        service = service_by_code(s, code)
        before = snapshot(service, changes)
        for name, value in changes.items():
            setattr(service, name, value)
        audit.record(
            s,
            actor,
            "carrier_service.update",
            "carrier_service",
            service.code,
            before=before,
            after=snapshot(service, changes),
        )
        uow.commit()
        return service


# --- rate cards -----------------------------------------------------------------------------------


def import_rates(actor: Principal, service_code: str, content: bytes | str) -> dict[str, Any]:
    """Replace a service's rate card with the file's rows: all of them or, on any bad row, none.

    Columns: origin, region, max_weight_kg, base, per_kg, minimum. A band is the rows of one
    (origin, region); a weight belongs to the smallest band at or above it.
    """
    parsed = csv_rows.parse(csv_rows.decode(content), RateCsvRow)
    with UnitOfWork() as uow:
        s = uow.session
        service = service_by_code(s, service_code)
        codes = {w.code.upper(): w.id for w in s.scalars(select(Warehouse))}
        errors: dict[str, list[str]] = {}
        seen: dict[tuple[str, str, Decimal], int] = {}
        rows: list[RateRow] = []
        for row_no, data in parsed.rows:
            origin, region = data["origin"].upper(), data["region"].upper()
            problems = []
            if origin not in codes:
                problems.append(f"origin: no warehouse {data['origin']}")
            key = (origin, region, data["max_weight_kg"])
            if key in seen:
                problems.append(f"the same band as row {seen[key]}")
            seen.setdefault(key, row_no)
            if problems:
                errors[f"row {row_no}"] = problems
                continue
            rows.append(
                RateRow(
                    service_id=service.id,
                    origin_id=codes[origin],
                    region=region,
                    max_weight_kg=data["max_weight_kg"],
                    base=data["base"],
                    per_kg=data["per_kg"],
                    minimum=data["minimum"],
                )
            )
        parsed.fail_if_any(errors)
        replaced = s.query(RateRow).filter(RateRow.service_id == service.id).delete()
        s.add_all(rows)
        audit.record(
            s,
            actor,
            "rate_card.import",
            "carrier_service",
            service.code,
            reason=f"{len(rows)} rows replace {replaced}",
        )
        uow.commit()
        return {"service": service.code, "rows": len(rows), "replaced": replaced}


def export_rates(service_code: str) -> str:
    """The rate card as the CSV ``import_rates`` reads, so a card round-trips unchanged."""
    with read_only() as s:
        service = service_by_code(s, service_code)
        rows = s.execute(
            select(RateRow, Warehouse.code)
            .join(Warehouse, Warehouse.id == RateRow.origin_id)
            .where(RateRow.service_id == service.id)
            .order_by(Warehouse.code, RateRow.region, RateRow.max_weight_kg)
        ).all()
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["origin", "region", "max_weight_kg", "base", "per_kg", "minimum"])
    for row, origin in rows:
        writer.writerow(
            [
                origin,
                row.region,
                _plain(row.max_weight_kg),
                _plain(row.base),
                _plain(row.per_kg),
                _plain(row.minimum),
            ]
        )
    return out.getvalue()


def _plain(value: Decimal) -> str:
    return format(value.normalize(), "f")


def _cards(s: Session, services: Sequence[CarrierService]) -> dict[str, rating.RateCard]:
    by_service: dict[int, list[rating.RateRow]] = defaultdict(list)
    stmt = (
        select(RateRow, Warehouse.code)
        .join(Warehouse, Warehouse.id == RateRow.origin_id)
        .where(RateRow.service_id.in_([sv.id for sv in services]))
    )
    for row, origin in s.execute(stmt):
        by_service[row.service_id].append(
            rating.RateRow(
                origin=origin,
                region=row.region,
                max_weight_kg=row.max_weight_kg,
                base=row.base,
                per_kg=row.per_kg,
                minimum=row.minimum,
            )
        )
    return {
        sv.code: rating.RateCard(sv.code, sv.fuel_surcharge_pct, tuple(by_service[sv.id]))
        for sv in services
    }


def quote(args: dict[str, Any]) -> list[dict[str, Any]]:
    """Every active service's price and arrival for one parcel, cheapest first."""
    with read_only() as s:
        warehouse = warehouse_by_code(s, args["warehouse"])
        services = list(s.scalars(select(CarrierService).where(CarrierService.active)))
        cards = _cards(s, services)
    out = []
    for sv in services:
        price = rating.quote(cards[sv.code], warehouse.code, args["region"], args["weight_kg"])
        if price is not None:
            out.append({"service": sv.code, "price": price, "transit_days": sv.transit_days})
    return sorted(out, key=lambda q: (q["price"], q["transit_days"], q["service"]))


# --- shipments ------------------------------------------------------------------------------------


def _ship_date(warehouse: Warehouse, services_cutoff: int = 17) -> date:
    """Today, or tomorrow once the usual carrier cut-off hour has passed (UTC)."""
    now = utcnow()
    return now.date() + timedelta(days=1) if now.hour >= services_cutoff else now.date()


def _weight(s: Session, lines: Iterable[tuple[int, int]]) -> Decimal:
    """Total kilograms of (product id, quantity) pairs; items without a weight count as 0."""
    pairs = list(lines)
    weights: dict[int, Decimal | None] = {}
    for pid, kg in s.execute(
        select(Product.id, Product.weight_kg).where(Product.id.in_([p for p, _ in pairs]))
    ):
        weights[pid] = kg
    return sum((Decimal(weights.get(p) or 0) * q for p, q in pairs), Decimal(0))


def create_shipment(actor: Principal, data: dict[str, Any]) -> Shipment:
    """A shipment entered by hand (a B2B order, a replacement): weight given or from its lines."""
    with UnitOfWork() as uow:
        s = uow.session
        warehouse = warehouse_by_code(s, data["warehouse"])
        weight = data.get("weight_kg")
        if weight is None:
            lines = []
            for i, line in enumerate(data.get("lines") or []):
                product = s.scalar(
                    select(Product).where(func.lower(Product.sku) == line["sku"].lower())
                )
                if product is None:
                    raise Invalid(
                        f"No item {line['sku']}.",
                        errors={"lines": {str(i): {"sku": [f"unknown item {line['sku']}"]}}},
                    )
                lines.append((product.id, line["quantity"]))
            if not lines:
                raise Invalid(
                    "Give weight_kg or the lines shipped.",
                    errors={"weight_kg": ["required without lines"]},
                )
            weight = _weight(s, lines)
        shipment = Shipment(
            warehouse_id=warehouse.id,
            order_ref=data.get("order_ref"),
            region=data["region"].upper(),
            weight_kg=weight,
            ship_date=data.get("ship_date") or _ship_date(warehouse),
            deliver_by=data.get("deliver_by"),
            created_by=actor.username,
        )
        s.add(shipment)
        s.flush()
        _event(s, shipment, ST.PLANNED.value, actor.username, note="created")
        audit.record(s, actor, "shipment.create", "shipment", shipment.id)
        uow.commit()
        return shipment


def _on_reservation_committed(
    sender: Any,
    *,
    session: Session,
    reservation: Reservation,
    lines: Sequence[events.CommittedLine],
) -> None:
    """One shipment per warehouse the committed order ships from, in the commit's transaction."""
    if not reservation.destination_region:
        return  # pick-up in store, or a storefront that ships with its own carrier
    by_warehouse: dict[int, list[tuple[int, int]]] = defaultdict(list)
    for line in lines:
        by_warehouse[line.warehouse_id].append((line.product_id, line.quantity))
    for warehouse_id, pairs in sorted(by_warehouse.items()):
        warehouse = session.get(Warehouse, warehouse_id)
        assert warehouse is not None
        shipment = Shipment(
            warehouse_id=warehouse_id,
            reservation_id=reservation.id,
            order_ref=reservation.order_ref,
            region=reservation.destination_region,
            weight_kg=_weight(session, pairs),
            ship_date=_ship_date(warehouse),
            deliver_by=reservation.deliver_by,
            created_by=reservation.closed_by or reservation.created_by,
        )
        session.add(shipment)
        session.flush()
        _event(session, shipment, ST.PLANNED.value, shipment.created_by, note="order committed")


def _event(
    s: Session,
    shipment: Shipment,
    status: str,
    who: str,
    *,
    occurred_at: datetime | None = None,
    note: str | None = None,
    location: str | None = None,
    carrier_id: int | None = None,
    carrier_event_id: str | None = None,
) -> ShipmentEvent:
    event = ShipmentEvent(
        shipment_id=shipment.id,
        status=status,
        occurred_at=occurred_at or utcnow(),
        note=note,
        location=location,
        recorded_by=who,
        carrier_id=carrier_id,
        carrier_event_id=carrier_event_id,
    )
    s.add(event)
    return event


def _locked_shipment(s: Session, shipment_id: int) -> Shipment:
    shipment = s.scalar(select(Shipment).where(Shipment.id == shipment_id).with_for_update())
    if shipment is None:
        raise NotFound(f"No shipment {shipment_id}.")
    return shipment


def _move(shipment: Shipment, status: str, at: datetime) -> None:
    """Apply a transition from the table, or 409 naming the states it may go to."""
    allowed = TRANSITIONS[ST(shipment.status)]
    if status not in allowed:
        options = ", ".join(sorted(allowed)) or "nothing (it is finished)"
        raise Conflict(
            f"Shipment {shipment.id} is {shipment.status}; it can go to {options}.",
            errors={"status": [f"not allowed after {shipment.status}"]},
        )
    shipment.status = status
    if status == ST.DELIVERED:
        shipment.delivered_at = at


def record_event(actor: Principal, shipment_id: int, data: dict[str, Any]) -> Shipment:
    """Warehouse staff report what happened (picked up, handed back...)."""
    with UnitOfWork() as uow:
        s = uow.session
        shipment = _locked_shipment(s, shipment_id)
        actor.ensure_warehouse(_warehouse_code(s, shipment))
        at = data.get("occurred_at") or utcnow()
        _move(shipment, data["status"], at)
        if data.get("tracking_number"):
            shipment.tracking_number = data["tracking_number"]
        _event(
            s,
            shipment,
            data["status"],
            actor.username,
            occurred_at=at,
            note=data.get("note"),
            location=data.get("location"),
        )
        uow.commit()
        return shipment


def _warehouse_code(s: Session, shipment: Shipment) -> str:
    return s.scalar(select(Warehouse.code).where(Warehouse.id == shipment.warehouse_id)) or ""


def sign(secret: str, body: bytes) -> str:
    """What a carrier puts in ``X-Stockroom-Signature`` for ``body``."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def carrier_webhook(carrier_code: str, body: bytes, signature: str | None) -> dict[str, Any]:
    """A carrier's tracking event, accepted only with a valid signature of the exact body.

    The carrier's own event id makes a redelivered event harmless: it is acknowledged and
    ignored. An unknown carrier and a bad signature get the same 401, so probing learns nothing.
    """
    with UnitOfWork() as uow:
        s = uow.session
        carrier = s.scalar(select(Carrier).where(func.upper(Carrier.code) == carrier_code.upper()))
        secret = carrier.webhook_secret if carrier is not None else None
        if (
            carrier is None
            or not secret
            or not signature
            or not hmac.compare_digest(sign(secret, body), signature.strip())
        ):
            raise Unauthorized(
                f"A valid {SIGNATURE_HEADER} (sha256=HMAC of the body) is required.",
                headers={},
            )
        try:
            payload = json.loads(body)
        except ValueError:
            raise Invalid("The body is not JSON.", errors={"body": ["not JSON"]})
        from logistics.schemas import WebhookEventSchema

        data = WebhookEventSchema().load(payload if isinstance(payload, dict) else {})
        duplicate = s.scalar(
            select(ShipmentEvent.id).where(
                ShipmentEvent.carrier_id == carrier.id,
                ShipmentEvent.carrier_event_id == data["event_id"],
            )
        )
        if duplicate is not None:
            return {"accepted": False, "duplicate": True, "event_id": data["event_id"]}
        shipment = s.scalar(
            select(Shipment)
            .where(Shipment.tracking_number == data["tracking_number"])
            .with_for_update()
        )
        if shipment is None:
            raise NotFound(
                f"No shipment with tracking number {data['tracking_number']}.",
                errors={"tracking_number": ["unknown"]},
            )
        at = data.get("occurred_at") or utcnow()
        _move(shipment, data["status"], at)
        _event(
            s,
            shipment,
            data["status"],
            f"carrier:{carrier.code}",
            occurred_at=at,
            location=data.get("location"),
            note=data.get("note"),
            carrier_id=carrier.id,
            carrier_event_id=data["event_id"],
        )
        uow.commit()
        return {"accepted": True, "duplicate": False, "event_id": data["event_id"]}


def shipment_view(s: Session, shipment: Shipment) -> dict[str, Any]:
    service = s.get(CarrierService, shipment.service_id) if shipment.service_id else None
    return {
        "id": shipment.id,
        "warehouse": _warehouse_code(s, shipment),
        "order_ref": shipment.order_ref,
        "reservation_id": shipment.reservation_id,
        "region": shipment.region,
        "weight_kg": shipment.weight_kg,
        "ship_date": shipment.ship_date,
        "deliver_by": shipment.deliver_by,
        "status": shipment.status,
        "service": service.code if service else None,
        "carrier": service.carrier.code if service else None,
        "cost": shipment.cost,
        "eta": shipment.eta,
        "reason": shipment.reason,
        "tracking_number": shipment.tracking_number,
        "delivered_at": shipment.delivered_at,
        "late": _late(shipment),
        "events": [
            {
                "status": e.status,
                "occurred_at": e.occurred_at,
                "location": e.location,
                "note": e.note,
                "recorded_by": e.recorded_by,
            }
            for e in shipment.events
        ],
    }


def _late(shipment: Shipment) -> bool | None:
    """Delivered after its ETA (or after the promised date when there was no ETA)?"""
    promise = shipment.eta or shipment.deliver_by
    if shipment.delivered_at is None or promise is None:
        return None
    return shipment.delivered_at.date() > promise


def get_shipment(shipment_id: int) -> dict[str, Any]:
    with read_only() as s:
        shipment = s.get(Shipment, shipment_id)
        if shipment is None:
            raise NotFound(f"No shipment {shipment_id}.")
        return shipment_view(s, shipment)


def list_shipments(args: dict[str, Any]) -> tuple[list[dict[str, Any]], str | None]:
    stmt = select(Shipment)
    if args.get("warehouse"):
        with read_only() as s:
            warehouse = warehouse_by_code(s, args["warehouse"])
        stmt = stmt.where(Shipment.warehouse_id == warehouse.id)
    if args.get("status"):
        stmt = stmt.where(Shipment.status == args["status"])
    if args.get("ship_date"):
        stmt = stmt.where(Shipment.ship_date == args["ship_date"])
    with read_only() as s:
        rows, cursor = keyset_page(
            s,
            stmt,
            [Shipment.id],
            lambda r: [r.id],
            limit=args.get("limit", 50),
            cursor=args.get("cursor"),
            descending=True,
        )
        return [shipment_view(s, r) for r in rows], cursor


# --- on-time history and the scorecard ------------------------------------------------------------


def on_time_rates(s: Session) -> dict[int, float]:
    """Each service's on-time share of delivered shipments, shrunk towards a prior."""
    rows = s.execute(
        select(Shipment.service_id, Shipment.delivered_at, Shipment.eta)
        .where(Shipment.status == ST.DELIVERED.value, Shipment.service_id.is_not(None))
        .where(Shipment.eta.is_not(None))
    ).all()
    delivered: dict[int, int] = defaultdict(int)
    on_time: dict[int, int] = defaultdict(int)
    for service_id, delivered_at, eta in rows:
        if service_id is None or delivered_at is None or eta is None:
            continue
        delivered[service_id] += 1
        on_time[service_id] += int(delivered_at.date() <= eta)
    return {
        sid: (on_time[sid] + PRIOR_ON_TIME * PRIOR_SHIPMENTS) / (delivered[sid] + PRIOR_SHIPMENTS)
        for sid in delivered
    }


def carrier_scorecard() -> list[dict[str, Any]]:
    """Per carrier: delivered, on time, exceptions, cost per kg, from real shipments."""
    with read_only() as s:
        rows = s.execute(
            select(Carrier.code, Carrier.name, Shipment)
            .join(CarrierService, CarrierService.carrier_id == Carrier.id)
            .join(Shipment, Shipment.service_id == CarrierService.id)
        ).all()
        exceptions: dict[str, int] = {}
        for code, count in s.execute(
            select(Carrier.code, func.count(ShipmentEvent.id))
            .join(CarrierService, CarrierService.carrier_id == Carrier.id)
            .join(Shipment, Shipment.service_id == CarrierService.id)
            .join(ShipmentEvent, ShipmentEvent.shipment_id == Shipment.id)
            .where(ShipmentEvent.status == ST.EXCEPTION.value)
            .group_by(Carrier.code)
        ):
            exceptions[code] = count
        names: dict[str, str] = {}
        for code, name in s.execute(select(Carrier.code, Carrier.name)):
            names[code] = name
    stats: dict[str, dict[str, Any]] = {
        code: {
            "carrier": code,
            "name": name,
            "shipments": 0,
            "delivered": 0,
            "on_time": 0,
            "cost": Decimal(0),
            "kg": Decimal(0),
        }
        for code, name in names.items()
    }
    for code, _name, shipment in rows:
        st = stats[code]
        st["shipments"] += 1
        if shipment.cost is not None:
            st["cost"] += shipment.cost
            st["kg"] += shipment.weight_kg
        late = _late(shipment)
        if shipment.status == ST.DELIVERED.value:
            st["delivered"] += 1
            st["on_time"] += int(late is False)
    out = []
    for code in sorted(stats):
        st = stats[code]
        out.append(
            {
                "carrier": code,
                "name": st["name"],
                "shipments": st["shipments"],
                "delivered": st["delivered"],
                "on_time_rate": st["on_time"] / st["delivered"] if st["delivered"] else None,
                "exceptions": int(exceptions.get(code, 0)),
                "cost_per_kg": (st["cost"] / st["kg"]).quantize(Decimal("0.0001"))
                if st["kg"]
                else None,
            }
        )
    return out


# --- assignment -----------------------------------------------------------------------------------


def start_assignment(actor: Principal, data: dict[str, Any]) -> dict[str, Any]:
    """Queue the assignment of one ship day's shipments (one warehouse or all) to services."""
    params: dict[str, Any] = {"ship_date": (data.get("ship_date") or utcnow().date()).isoformat()}
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
    cards = _cards(s, services)
    history = on_time_rates(s)
    pure_services = [
        assignment.Service(
            code=sv.code,
            transit_days=sv.transit_days,
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
                "reason": choice.reason,
            }
        )
    return plan, baseline, rows


def init_app_signals() -> None:
    """Make a shipment whenever a reservation with a destination region is committed."""
    events.reservation_committed.connect(_on_reservation_committed, weak=False)
