"""Demo carriers: three Chinese carriers with services, rate cards and a delivery history.

Rates follow the shape of real domestic tariffs (a first-kilo price, a price per further kilo,
farther regions dearer); the history makes the scorecard and the on-time rates that assignment
uses differ between carriers. Today's shipments are left for someone to assign from the page.
"""

from __future__ import annotations

import random
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal

from sqlalchemy import select

from accounts.principal import SYSTEM
from core.db import UnitOfWork, utcnow
from demo.inventory import WAREHOUSES
from inventory.models import Warehouse
from logistics import carriers, shipments
from logistics.models import Carrier, Shipment, ShipmentEvent, ShipmentStatus

#: Region -> distance class from each warehouse (0 same region, 1 neighbour, 2 far).
REGIONS = {
    "SH1": {"EAST": 0, "CENTRAL": 1, "NORTH": 1, "SOUTH": 1, "WEST": 2},
    "BJ1": {"NORTH": 0, "EAST": 1, "CENTRAL": 1, "SOUTH": 2, "WEST": 2},
    "GZ1": {"SOUTH": 0, "CENTRAL": 1, "EAST": 1, "WEST": 1, "NORTH": 2},
}
#: carrier, name, on-time share in the history, services:
#: (code, name, transit days by distance class, daily parcels, first kilo, per kilo, fuel %)
CARRIERS = [
    (
        "SF",
        "SF Express",
        0.96,
        [
            ("SF-NEXT", "SF next day", (1, 1, 2), 60, Decimal("12"), Decimal("2.0"), 8),
            ("SF-STD", "SF standard", (1, 2, 3), 120, Decimal("9"), Decimal("1.5"), 8),
        ],
    ),
    (
        "ZTO",
        "ZTO Express",
        0.86,
        [("ZTO-ECO", "ZTO economy", (2, 3, 4), 200, Decimal("5"), Decimal("0.8"), 0)],
    ),
    (
        "JD",
        "JD Logistics",
        0.93,
        [("JD-STD", "JD standard", (1, 2, 3), 80, Decimal("7"), Decimal("1.1"), 5)],
    ),
]
BANDS = (Decimal("1"), Decimal("5"), Decimal("30"))
HISTORY_DAYS = 60


def _rate_card(first: Decimal, per_kg: Decimal) -> str:
    lines = ["origin,region,max_weight_kg,base,per_kg,minimum"]
    for origin, regions in REGIONS.items():
        for region, distance in regions.items():
            factor = Decimal(1) + Decimal("0.35") * distance
            for band in BANDS:
                base = (first * factor).quantize(Decimal("0.01"))
                kg = (per_kg * factor).quantize(Decimal("0.01"))
                minimum = base if band == BANDS[0] else 0
                lines.append(f"{origin},{region},{band},{base},{kg},{minimum}")
    return "\n".join(lines) + "\n"


def seed(rng: random.Random, today: date) -> list[str]:
    codes = [code for code, *_ in WAREHOUSES]
    service_meta: list[tuple[str, tuple[int, int, int], float]] = []
    for code, name, on_time, offered in CARRIERS:
        carriers.create_carrier(
            SYSTEM,
            {"code": code, "name": name, "webhook_secret": f"demo-{code.lower()}-secret-key"},
        )
        for s_code, s_name, transit, cap, first, per_kg, fuel in offered:
            carriers.create_service(
                SYSTEM,
                code,
                {
                    "code": s_code,
                    "name": s_name,
                    "transit_days": transit[1],
                    "daily_max_shipments": cap,
                    "fuel_surcharge_pct": Decimal(fuel),
                },
            )
            carriers.import_rates(SYSTEM, s_code, _rate_card(first, per_kg))
            service_meta.append((s_code, transit, on_time))
    delivered = late = planned = 0
    with UnitOfWork() as uow:
        s = uow.session
        warehouse_ids = dict(s.execute(select(Warehouse.code, Warehouse.id)).all())
        service_ids = {sv.code: sv.id for c in s.scalars(select(Carrier)) for sv in c.services}
        for day_offset in range(HISTORY_DAYS, 0, -1):
            ship_day = today - timedelta(days=day_offset)
            for _ in range(rng.randint(4, 9)):
                origin = rng.choice(codes)
                region = rng.choice(sorted(REGIONS[origin]))
                s_code, transit, on_time = rng.choice(service_meta)
                days = transit[REGIONS[origin][region]]
                eta = ship_day + timedelta(days=days)
                arrived = eta + timedelta(days=0 if rng.random() < on_time else rng.randint(1, 3))
                weight = Decimal(rng.choice(["0.4", "0.9", "1.6", "2.5", "4.2", "7.5"]))
                shipment = Shipment(
                    warehouse_id=warehouse_ids[origin],
                    order_ref=f"WEB-{ship_day:%y%m%d}-H{rng.randint(1, 9999):04d}",
                    region=region,
                    weight_kg=weight,
                    ship_date=ship_day,
                    deliver_by=eta + timedelta(days=1),
                    status=ShipmentStatus.DELIVERED.value,
                    service_id=service_ids[s_code],
                    cost=(Decimal(8) + weight * Decimal("1.2")).quantize(Decimal("0.01")),
                    eta=eta,
                    reason="cheapest",
                    tracking_number=f"{s_code.split('-')[0]}{rng.randint(10**9, 10**10 - 1)}",
                    delivered_at=datetime.combine(arrived, time(15), tzinfo=UTC),
                    created_by="system",
                )
                s.add(shipment)
                s.flush()
                for status, at in (
                    ("planned", datetime.combine(ship_day, time(9), tzinfo=UTC)),
                    ("picked_up", datetime.combine(ship_day, time(18), tzinfo=UTC)),
                    ("in_transit", datetime.combine(ship_day, time(23), tzinfo=UTC)),
                    ("delivered", shipment.delivered_at),
                ):
                    s.add(
                        ShipmentEvent(
                            shipment_id=shipment.id,
                            status=status,
                            occurred_at=at,
                            recorded_by="system",
                        )
                    )
                delivered += 1
                late += arrived > eta
        # Waiting for the dock's current ship day (tomorrow once today's last cut-off has passed).
        dock_day = shipments.current_ship_date(s)
        for _ in range(36):
            origin = rng.choice(codes)
            shipment = Shipment(
                warehouse_id=warehouse_ids[origin],
                order_ref=f"B2B-{dock_day:%y%m%d}-{rng.randint(1, 999):03d}",
                region=rng.choice(sorted(REGIONS[origin])),
                weight_kg=Decimal(rng.choice(["0.5", "1.2", "3.0", "6.5", "12.0"])),
                ship_date=dock_day,
                deliver_by=dock_day + timedelta(days=rng.randint(1, 4)),
                created_by="system",
            )
            s.add(shipment)
            s.flush()
            s.add(
                ShipmentEvent(
                    shipment_id=shipment.id,
                    status="planned",
                    occurred_at=utcnow(),
                    recorded_by="system",
                )
            )
            planned += 1
        uow.commit()
    return [
        f"logistics: {len(CARRIERS)} carriers, {len(service_meta)} services with rate cards, "
        f"{delivered} past deliveries ({late} late), {planned} shipments waiting for today"
    ]
