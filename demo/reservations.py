"""Demo storefront reservations: orders being paid right now, and a few already settled.

Runs after ``inventory.demo.seed`` (it needs stock). Holds last from ten minutes to a few hours so
that the Holds page has something to show for a while after seeding, with some close to expiry.
"""

from __future__ import annotations

import random
from datetime import date, timedelta

from sqlalchemy import select

from accounts.principal import Principal
from core import db
from core.problems import Conflict
from inventory import reservations
from inventory.models import Product, StockLevel

DEMO_STOREFRONT = Principal(None, "storefront-demo", frozenset({"storefront"}))

#: Customers' cities (latitude, longitude), so allocation picks the nearest warehouse.
#: (latitude, longitude, the carriers' delivery region): Shanghai, Beijing, Guangzhou, Chengdu,
#: Shenzhen, Wuhan.
CITIES = [
    (31.23, 121.47, "EAST"),
    (39.90, 116.41, "NORTH"),
    (23.13, 113.26, "SOUTH"),
    (30.57, 104.07, "WEST"),
    (22.54, 114.06, "SOUTH"),
    (30.59, 114.31, "CENTRAL"),
]


def seed(rng: random.Random, today: date) -> list[str]:
    with db.read_only() as s:
        skus = sorted(
            set(
                s.scalars(
                    select(Product.sku)
                    .join(StockLevel, StockLevel.product_id == Product.id)
                    .where(StockLevel.on_hand - StockLevel.reserved >= 20)
                )
            )
        )
    if not skus:
        return ["reservations: no stock to hold, skipped"]
    held = committed = released = 0
    for i in range(40):
        basket = rng.sample(skus, rng.randint(1, 3))
        order = {
            "order_ref": f"WEB-{today:%y%m%d}-{i + 1:04d}",
            "lines": [{"sku": sku, "quantity": rng.randint(1, 3)} for sku in basket],
            "ttl_seconds": rng.choice([600, 900, 1800, 3600, 4 * 3600, 6 * 3600]),
            "destination": dict(
                zip(("latitude", "longitude", "region"), rng.choice(CITIES), strict=True)
            ),
            "deliver_by": today + timedelta(days=rng.randint(2, 5)),
        }
        try:
            view = reservations.reserve(DEMO_STOREFRONT, order)
        except Conflict:
            continue
        fate = rng.random()
        if fate < 0.2:
            reservations.commit_reservation(DEMO_STOREFRONT, view["id"])
            committed += 1
        elif fate < 0.3:
            reservations.release_reservation(DEMO_STOREFRONT, view["id"])
            released += 1
        else:
            held += 1
    return [f"reservations: {held} active holds, {committed} committed, {released} released"]
