"""Demo catalog, warehouses and 18 months of sales history that look like a real retailer's.

History is simulated day by day per item and warehouse: demand with trend, weekly and yearly
seasonality, Chinese New Year slowdown, promotion spikes (618 and Double 11) and slow movers with
mostly zero days; stock is replenished by a reorder-point policy with variable lead times, so some
items run out and lose sales (what forecasting must not mistake for zero demand).
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal

import numpy as np
from sqlalchemy import insert
from sqlalchemy.orm import Session

from accounts.principal import SYSTEM
from core.db import UnitOfWork, insert_ignoring_conflicts, utcnow
from inventory.models import Product, StockLevel, StockMovement, Warehouse

WAREHOUSES = [
    # code, name, latitude, longitude, share of national demand, priority
    ("SH1", "Shanghai Qingpu fulfilment centre", 31.1508, 121.1245, 0.45, 10),
    ("BJ1", "Beijing Daxing fulfilment centre", 39.7263, 116.3412, 0.33, 20),
    ("GZ1", "Guangzhou Baiyun fulfilment centre", 23.3931, 113.2987, 0.22, 30),
]

CATEGORIES = {
    # category: (items, adjectives, cost CNY, weight kg, volume m3 ranges, peak month)
    "Kitchen": (
        [
            "Chef's knife",
            "Wok",
            "Cutting board",
            "Rice cooker",
            "Kettle",
            "Frying pan",
            "Steamer basket",
            "Chopstick set",
            "Thermos",
            "Measuring cups",
        ],
        ["Stainless", "Non-stick", "Bamboo", "Carbon steel", "Ceramic"],
        (15, 420),
        (0.2, 4.5),
        (0.001, 0.03),
        None,
    ),
    "Home textiles": (
        [
            "Duvet",
            "Pillow",
            "Bath towel",
            "Bed sheet set",
            "Throw blanket",
            "Curtain panel",
            "Bath mat",
            "Cushion cover",
            "Table runner",
        ],
        ["Cotton", "Silk", "Linen", "Microfibre", "Down"],
        (25, 680),
        (0.3, 3.5),
        (0.004, 0.06),
        12,
    ),
    "Electronics accessories": (
        [
            "USB-C cable",
            "Power bank",
            "Phone case",
            "Wireless charger",
            "Earbuds",
            "Screen protector",
            "Laptop stand",
            "HDMI adapter",
            "Bluetooth speaker",
        ],
        ["Braided", "Slim", "Magnetic", "Fast-charge", "Rugged"],
        (8, 260),
        (0.02, 0.9),
        (0.0002, 0.005),
        11,
    ),
    "Outdoor": (
        [
            "Camping chair",
            "Tent",
            "Water bottle",
            "Sun umbrella",
            "Cooler bag",
            "Hiking pole",
            "Headlamp",
            "Picnic mat",
            "Rain jacket",
            "Daypack",
        ],
        ["Ultralight", "Foldable", "Insulated", "Waterproof", "Trail"],
        (20, 900),
        (0.2, 6.0),
        (0.002, 0.08),
        7,
    ),
    "Personal care": (
        [
            "Toothbrush",
            "Shampoo",
            "Face cream",
            "Hair dryer",
            "Razor",
            "Sunscreen",
            "Body lotion",
            "Nail clipper set",
            "Hand soap",
        ],
        ["Sensitive", "Travel", "Electric", "Herbal", "Daily"],
        (6, 480),
        (0.05, 1.2),
        (0.0003, 0.006),
        None,
    ),
}

#: Shop-wide sales events; forecasting's demo records them as past promotions.
PROMOTIONS = [
    ("618 mid-year sale", (6, 16), (6, 18), 2.8),
    ("Double 11", (11, 9), (11, 11), 4.0),
    ("Double 12", (12, 11), (12, 12), 1.8),
]

HISTORY_DAYS = 548


@dataclass
class Item:
    sku: str
    name: str
    category: str
    unit_cost: Decimal
    weight_kg: Decimal
    volume_m3: Decimal
    base_rate: float
    trend: float
    peak_month: int | None
    weekend_lift: float
    intermittent: bool


def promotion_windows(start: date, end: date) -> list[tuple[str, date, date, float]]:
    """Every promotion falling between two dates, as (name, first day, last day, lift)."""
    out = []
    for year in range(start.year, end.year + 1):
        for name, (m1, d1), (m2, d2), lift in PROMOTIONS:
            first, last = date(year, m1, d1), date(year, m2, d2)
            if last >= start and first <= end:
                out.append((name, first, last, lift))
    return out


def _catalog(rng: random.Random) -> list[Item]:
    items: list[Item] = []
    for category, (nouns, adjectives, cost, weight, volume, peak) in CATEGORIES.items():
        prefix = "".join(w[0] for w in category.split()).upper()[:2]
        combos = [(a, n) for n in nouns for a in adjectives]
        rng.shuffle(combos)
        for i, (adjective, noun) in enumerate(combos[:40]):
            fraction = rng.random()
            unit_cost = cost[0] + (cost[1] - cost[0]) * fraction**2
            intermittent = rng.random() < 0.22
            # Cheap items sell faster; slow movers sell a unit every few days at most.
            rate = (
                rng.uniform(0.05, 0.6)
                if intermittent
                else rng.lognormvariate(math.log(40 / (1 + unit_cost / 40)), 0.6)
            )
            items.append(
                Item(
                    sku=f"{prefix}-{i + 1:03d}",
                    name=f"{adjective} {noun.lower() if i % 3 else noun}",
                    category=category,
                    unit_cost=Decimal(f"{unit_cost:.2f}"),
                    weight_kg=Decimal(f"{rng.uniform(*weight):.3f}"),
                    volume_m3=Decimal(f"{rng.uniform(*volume):.5f}"),
                    base_rate=rate,
                    trend=rng.uniform(-0.35, 0.6),
                    peak_month=peak,
                    weekend_lift=rng.uniform(1.0, 1.4),
                    intermittent=intermittent,
                )
            )
    return items


def _daily_rates(item: Item, days: list[date], promos: dict[date, float]) -> np.ndarray:
    n = len(days)
    t = np.arange(n) / max(n - 1, 1)
    rate = np.full(n, item.base_rate) * (1 + item.trend * t)
    if item.peak_month:
        day_of_year = np.array([d.timetuple().tm_yday for d in days])
        peak_day = (item.peak_month - 0.5) * 30.4
        rate *= 1 + 0.45 * np.cos(2 * np.pi * (day_of_year - peak_day) / 365.25)
    weekday = np.array([d.weekday() for d in days])
    rate *= np.where(weekday >= 5, item.weekend_lift, 1.0)
    for i, d in enumerate(days):
        if d in promos:
            rate[i] *= promos[d]
        if (d.month == 2 and d.day <= 10) or (d.month == 1 and d.day >= 28):
            rate[i] *= 0.5  # Chinese New Year: couriers and shoppers pause
    return np.clip(rate, 0, None)


def seed(rng: random.Random, today: date) -> list[str]:
    """Create warehouses, the catalog and the sales history up to yesterday."""
    np_rng = np.random.default_rng(rng.randrange(2**32))
    items = _catalog(rng)
    days = [today - timedelta(days=HISTORY_DAYS - i) for i in range(HISTORY_DAYS)]
    promos = {
        first + timedelta(days=k): lift
        for _, first, last, lift in promotion_windows(days[0], days[-1])
        for k in range((last - first).days + 1)
    }
    with UnitOfWork() as uow:
        s = uow.session
        warehouses = []
        for code, name, lat, lon, _share, priority in WAREHOUSES:
            w = Warehouse(code=code, name=name, latitude=lat, longitude=lon, priority=priority)
            s.add(w)
            warehouses.append(w)
        products = []
        for item in items:
            p = Product(
                sku=item.sku,
                name=item.name,
                category=item.category,
                uom="ea",
                unit_cost=item.unit_cost,
                currency="CNY",
                weight_kg=item.weight_kg,
                volume_m3=item.volume_m3,
            )
            s.add(p)
            products.append(p)
        s.flush()
        rows: list[dict[str, object]] = []
        finals: list[dict[str, object]] = []
        lost = 0
        for item, product in zip(items, products, strict=True):
            rates = _daily_rates(item, days, promos)
            for (_c, _n, _la, _lo, share, _p), warehouse in zip(
                WAREHOUSES, warehouses, strict=True
            ):
                local = rates * share * rng.uniform(0.7, 1.3)
                demand = np_rng.poisson(local)
                lead = rng.randint(5, 12)
                mean = max(float(local.mean()), 0.02)
                reorder_point = math.ceil(mean * lead * 1.3) + 1
                order_qty = max(math.ceil(mean * rng.uniform(20, 40)), 2)
                on_hand = order_qty + reorder_point
                rows.append(
                    _row(
                        product.id,
                        warehouse.id,
                        "receipt",
                        on_hand,
                        on_hand,
                        days[0],
                        "opening balance",
                        8,
                    )
                )
                pipeline: dict[int, int] = {}
                for i, day in enumerate(days):
                    if i in pipeline:
                        qty = pipeline.pop(i)
                        on_hand += qty
                        rows.append(
                            _row(
                                product.id,
                                warehouse.id,
                                "receipt",
                                qty,
                                on_hand,
                                day,
                                f"DC-{day:%Y%m%d}",
                                7,
                            )
                        )
                    sold = min(int(demand[i]), on_hand)
                    lost += int(demand[i]) - sold
                    if sold:
                        on_hand -= sold
                        rows.append(
                            _row(
                                product.id,
                                warehouse.id,
                                "issue",
                                -sold,
                                on_hand,
                                day,
                                "online orders",
                                20,
                            )
                        )
                    if on_hand <= reorder_point and not pipeline:
                        # Now and then the distribution centre is late: a real stock-out.
                        delay = lead + (rng.randint(4, 15) if rng.random() < 0.12 else 0)
                        pipeline[i + delay] = order_qty
                finals.append(
                    {
                        "product_id": product.id,
                        "warehouse_id": warehouse.id,
                        "on_hand": on_hand,
                        "reserved": 0,
                        "incoming": 0,
                        "allow_negative": False,
                        "updated_at": utcnow(),
                    }
                )
        # Backfilled history is written in bulk, and the levels are set from the very same rows
        # in the same transaction, so on_hand == sum(movements) holds as for any other posting.
        _bulk_insert_movements(s, rows)
        s.execute(
            insert_ignoring_conflicts(StockLevel.__table__, ["product_id", "warehouse_id"]), finals
        )
        uow.commit()
    issues = sum(1 for r in rows if r["type"] == "issue")
    return [
        f"{len(warehouses)} warehouses: "
        + ", ".join(f"{c} ({n.split()[0]})" for c, n, *_ in WAREHOUSES),
        f"{len(products)} products in {len(CATEGORIES)} categories",
        f"{len(rows):,} ledger movements over {HISTORY_DAYS} days "
        f"({issues:,} daily sales postings, {lost:,} units of demand lost to stock-outs)",
    ]


def _row(
    product_id: int,
    warehouse_id: int,
    kind: str,
    qty: int,
    after: int,
    day: date,
    reference: str,
    hour: int,
) -> dict[str, object]:
    at = datetime.combine(day, time(hour, 0), tzinfo=UTC)
    return {
        "product_id": product_id,
        "warehouse_id": warehouse_id,
        "type": kind,
        "quantity": qty,
        "on_hand_after": after,
        "reference": reference,
        "reason": None,
        "transfer_id": None,
        "actor_id": SYSTEM.user_id,
        "actor": SYSTEM.username,
        "created_at": at,
        "occurred_at": at,
    }


MOVEMENT_COLUMNS = (
    "product_id",
    "warehouse_id",
    "type",
    "quantity",
    "on_hand_after",
    "reference",
    "reason",
    "transfer_id",
    "actor_id",
    "actor",
    "created_at",
    "occurred_at",
)


def _bulk_insert_movements(s: Session, rows: list[dict[str, object]]) -> None:
    """PostgreSQL's COPY loads a quarter of a million rows in a second or two; SQLite batches."""
    if s.get_bind().dialect.name == "postgresql":
        cursor = s.connection().connection.driver_connection.cursor()  # type: ignore[union-attr]
        statement = f"COPY stock_movements ({', '.join(MOVEMENT_COLUMNS)}) FROM STDIN"
        with cursor.copy(statement) as copy:
            for row in rows:
                copy.write_row(tuple(row[c] for c in MOVEMENT_COLUMNS))
        return
    for start in range(0, len(rows), 20_000):
        s.execute(insert(StockMovement), rows[start : start + 20_000])
