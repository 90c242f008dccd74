"""Demo promotions and a first forecast run over part of the catalog.

The inventory demo's sales history already holds the shop-wide sales events (618, Double 11,
Double 12); recording them as promotions lets forecasts learn their effect, and the upcoming ones
are planned so that the forecasts of those weeks rise accordingly.
"""

from __future__ import annotations

import random
from datetime import date, timedelta

from sqlalchemy import select

from accounts.principal import SYSTEM
from core import db, jobs
from core.db import UnitOfWork
from demo import inventory as inventory_demo
from forecasting import services
from forecasting.models import Promotion
from inventory.models import Product

#: Items forecast by the demo's first run; the rest wait for a planner's run.
DEMO_RUN_ITEMS = 12
DEMO_HORIZON_WEEKS = 12


def seed(rng: random.Random, today: date) -> list[str]:
    """Record past and upcoming sales events, then forecast a few items in the foreground."""
    first = today - timedelta(days=inventory_demo.HISTORY_DAYS)
    windows = inventory_demo.promotion_windows(first, today + timedelta(days=7 * 26))
    with UnitOfWork() as uow:
        for name, starts_on, ends_on, lift in windows:
            uow.session.add(
                Promotion(
                    name=f"{name} {starts_on.year}",
                    product_id=None,
                    starts_on=starts_on,
                    ends_on=ends_on,
                    expected_uplift=round(lift - 1, 2),
                    discount=round(rng.uniform(0.1, 0.3), 2),
                    created_by=SYSTEM.username,
                )
            )
        uow.commit()
    upcoming = [w for w in windows if w[2] >= today]
    with db.read_only() as s:
        skus = list(s.scalars(select(Product.sku).order_by(Product.sku)))
    picked = sorted(rng.sample(skus, min(DEMO_RUN_ITEMS, len(skus))))
    started = services.start_run(
        SYSTEM,
        {"horizon": DEMO_HORIZON_WEEKS, "frequency": "W", "skus": picked},
        executor=jobs.Executor.INLINE,
    )
    status = jobs.run_inline(started["job_id"])
    run = services.get_run(started["run_id"])
    mase = run["accuracy"]["mase"]
    return [
        f"{len(windows)} shop-wide promotions ({len(upcoming)} upcoming: "
        + ", ".join(f"{n} {s:%Y-%m-%d}" for n, s, *_ in upcoming)
        + ")",
        f"forecast run {run['id']} {status.value if status else 'not run'}: "
        f"{run['series_done'] - run['series_failed']} series of {len(picked)} items, "
        f"{DEMO_HORIZON_WEEKS} weeks ahead"
        + (f", backtest MASE {mase:.2f}" if mase is not None else ""),
    ]
