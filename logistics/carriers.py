"""Carriers, their services and rate cards: who can carry, how fast, how much, at what price."""

from __future__ import annotations

import csv
import io
from collections import defaultdict
from collections.abc import Sequence
from decimal import Decimal
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, selectinload

from accounts import audit
from accounts.audit import snapshot
from accounts.principal import Principal
from core import csv_rows
from core.db import UnitOfWork, read_only
from core.problems import Conflict, NotFound
from inventory.catalog import warehouse_by_code
from inventory.models import Warehouse
from logistics import rating
from logistics.models import (
    Carrier,
    CarrierService,
    RateRow,
)
from logistics.schemas import RateCsvRow

SERVICE_FIELDS = (
    "name",
    "transit_days",
    "daily_max_shipments",
    "daily_max_kg",
    "cutoff_hour",
    "fuel_surcharge_pct",
    "active",
)


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


def rate_cards(s: Session, services: Sequence[CarrierService]) -> dict[str, rating.RateCard]:
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
        cards = rate_cards(s, services)
    out = []
    for sv in services:
        price = rating.quote(cards[sv.code], warehouse.code, args["region"], args["weight_kg"])
        if price is not None:
            out.append({"service": sv.code, "price": price, "transit_days": sv.transit_days})
    return sorted(out, key=lambda q: (q["price"], q["transit_days"], q["service"]))
