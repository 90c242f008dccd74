"""Shipments and their journey: planned from committed orders, tracked by staff and by carriers'
signed webhooks; late deliveries feed each service's on-time record and the carrier scorecard."""

from __future__ import annotations

import hashlib
import hmac
import json
from collections import defaultdict
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from flask import current_app
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from accounts import audit
from accounts.principal import Principal
from core.api import AnySelect, keyset_page
from core.db import UnitOfWork, read_only, utcnow
from core.listing import ListQuery, ListSpec, Page, matching, page_of, stream, within
from core.problems import Conflict, Invalid, NotFound, Unauthorized
from inventory import events
from inventory.catalog import warehouse_by_code
from inventory.models import Product, Reservation, Warehouse
from logistics.models import (
    Carrier,
    CarrierService,
    Shipment,
    ShipmentEvent,
    ShipmentStatus,
)

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


#: On-time history starts from this prior (as if ``PRIOR_SHIPMENTS`` had been delivered at
#: ``PRIOR_ON_TIME``), so one late parcel does not condemn a new service, nor one on-time parcel
#: crown it.
PRIOR_ON_TIME = 0.9
PRIOR_SHIPMENTS = 10
SIGNATURE_HEADER = "X-Stockroom-Signature"


# --- shipments ------------------------------------------------------------------------------------


def current_ship_date(s: Session) -> date:
    """Today at the dock, or tomorrow once the last active service's cut-off hour has passed.

    Cut-off hours are local hours of the warehouses' time zone (``DISPLAY_TIMEZONE``); with no
    service yet, 17:00 stands in.
    """
    latest = s.scalar(select(func.max(CarrierService.cutoff_hour)).where(CarrierService.active))
    local = dock_now()
    cutoff = latest if latest is not None else 17
    return local.date() + timedelta(days=1) if local.hour >= cutoff else local.date()


def dock_now() -> datetime:
    """Now in the warehouses' time zone (``DISPLAY_TIMEZONE``), whose hours cut-offs are."""
    zone = ZoneInfo(current_app.config.get("DISPLAY_TIMEZONE", "Asia/Shanghai"))
    return utcnow().astimezone(zone)


def days_before_pickup(cutoff_hour: int, ship_date: date, now: datetime) -> int:
    """Days a service's parcels of ``ship_date`` wait at the dock: one when that date is today
    (``now`` at the dock) and the service's cut-off hour has passed, since its next collection is
    tomorrow's; else none. The day still ships with the services whose cut-off is later."""
    return 1 if ship_date == now.date() and now.hour >= cutoff_hour else 0


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
            ship_date=data.get("ship_date") or current_ship_date(s),
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
            ship_date=current_ship_date(session),
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


# --- the shipments page ---------------------------------------------------------------------------


@dataclass(frozen=True)
class ShipmentFilter:
    warehouse: str | None = None
    status: str | None = None


SHIPMENT_STATUS_CHOICES = tuple(s.value for s in ST)

SHIPMENT_LIST = ListSpec(
    name="shipments",
    filters=ShipmentFilter,
    sorts={
        "id": Shipment.id,
        "order_ref": Shipment.order_ref,
        "warehouse": Warehouse.code,
        "region": Shipment.region,
        "weight_kg": Shipment.weight_kg,
        "ship_date": Shipment.ship_date,
        "deliver_by": Shipment.deliver_by,
        "status": Shipment.status,
        "service": CarrierService.code,
        "cost": Shipment.cost,
        "eta": Shipment.eta,
    },
    default_sort="-id",
    tiebreak=(Shipment.id,),
    dated=True,
)

SHIPMENT_CSV_HEADER = (
    "id",
    "order_ref",
    "warehouse",
    "region",
    "weight_kg",
    "ship_date",
    "deliver_by",
    "status",
    "carrier",
    "service",
    "cost",
    "eta",
    "tracking_number",
    "delivered_at_utc",
    "reason",
)


def _shipment_list(query: ListQuery[ShipmentFilter]) -> AnySelect:
    """Shipments matching the query; the search finds part of the order reference or region,
    and the date range applies to the ship date (a day, not a time)."""
    f = query.filters
    stmt = (
        select(
            Shipment.id,
            Shipment.order_ref,
            Warehouse.code.label("warehouse"),
            Shipment.region,
            Shipment.weight_kg,
            Shipment.ship_date,
            Shipment.deliver_by,
            Shipment.status,
            Carrier.code.label("carrier"),
            CarrierService.code.label("service"),
            Shipment.cost,
            Shipment.eta,
            Shipment.tracking_number,
            Shipment.delivered_at,
            Shipment.reason,
        )
        .join(Warehouse, Warehouse.id == Shipment.warehouse_id)
        .outerjoin(CarrierService, CarrierService.id == Shipment.service_id)
        .outerjoin(Carrier, Carrier.id == CarrierService.carrier_id)
    )
    if f.warehouse:
        stmt = stmt.where(Warehouse.code == f.warehouse)
    if f.status:
        stmt = stmt.where(Shipment.status == f.status)
    found = matching(query, Shipment.order_ref, Shipment.region)
    if found is not None:
        stmt = stmt.where(found)
    return within(stmt, query, Shipment.ship_date)


def shipment_page(query: ListQuery[ShipmentFilter]) -> Page[Any]:
    """One page of shipments (rows named like ``SHIPMENT_CSV_HEADER``)."""
    with read_only() as s:
        return page_of(s, _shipment_list(query), query, lambda r: r)


def shipment_rows(query: ListQuery[ShipmentFilter]) -> Iterator[Sequence[Any]]:
    return stream(_shipment_list(query), query, tuple)


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


def init_app_signals() -> None:
    """Make a shipment whenever a reservation with a destination region is committed."""
    events.reservation_committed.connect(_on_reservation_committed, weak=False)
