"""What re-grading the supplier inside every receipt costs, as the supplier's history grows.

A receipt against a purchase order posts the ledger movement, updates the order and ``incoming``
and re-scores the supplier from its last year of orders, all in one transaction. The baseline,
measured in the same run on the same database, is a plain stock receipt through the ledger.
Also timed: computing a scorecard with its 8-quarter trend (the supplier page and the API).

    python benchmarks/procurement_receipts.py            # SQLite in a temporary directory
    BENCH_DATABASE_URL=postgresql://postgres@127.0.0.1:5432/<empty db> python benchmarks/...
"""

from __future__ import annotations

import os
import random
import statistics
import sys
import tempfile
import time
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

HISTORIES = (0, 100, 400)
SAMPLES = 25


def at(day: date, hour: int) -> datetime:
    return datetime(day.year, day.month, day.day, hour, tzinfo=UTC)


def main() -> None:
    from flask_migrate import upgrade

    from accounts.principal import Principal
    from app import create_app
    from inventory import catalog, stock
    from procurement import scorecards, suppliers
    from procurement.orders import receiving, transitions, writing

    url = os.environ.get("BENCH_DATABASE_URL")
    tmp = tempfile.TemporaryDirectory()
    url = url or f"sqlite:///{tmp.name}/bench.db"
    app = create_app({"DATABASE_URL": url, "LOG_LEVEL": "WARNING"})
    buyer = Principal(None, "bench-buyer", frozenset({"buyer"}))
    approver = Principal(None, "bench-approver", frozenset({"approver", "admin"}))
    rng = random.Random(1)
    today = datetime.now(UTC).date()
    print(f"database: {url.split('://')[0]}; {SAMPLES} samples per figure, median (p90) in ms")
    with app.app_context():
        upgrade()
        catalog.create_warehouse(approver, {"code": "W", "name": "Bench"})
        skus = [f"B{i:03d}" for i in range(20)]
        for sku in skus:
            catalog.create_product(approver, {"sku": sku, "name": sku})
        made = 0
        for history in HISTORIES:
            code = f"S{history}"
            suppliers.create_supplier(
                buyer, {"code": code, "name": code, "default_lead_time_days": 7}
            )
            suppliers.change_status(approver, code, "approve", "bench")
            for sku in skus:
                suppliers.add_item(buyer, code, {"sku": sku, "unit_price": Decimal("3")})

            def sent_order(day: date, code: str = code) -> int:
                po = writing.create_order(
                    buyer,
                    {
                        "supplier": code,
                        "warehouse": "W",
                        "expected_date": day + timedelta(days=7),
                        "lines": [
                            {"sku": s, "quantity": 10} for s in rng.sample(skus, rng.randint(1, 4))
                        ],
                    },
                    at=at(day, 8),
                )
                transitions.submit(buyer, po.id, at=at(day, 9))
                return transitions.send(buyer, po.id, at=at(day, 10)).id

            started = time.perf_counter()
            for _ in range(history):
                day = today - timedelta(days=rng.randint(20, 360))
                po_id = sent_order(day)
                po = writing.get_order(po_id)
                lines = [{"sku": line.product.sku, "accepted": 10} for line in po.lines]
                receiving.receive(
                    approver,
                    po_id,
                    {
                        "lines": lines,
                        "received_at": at(day + timedelta(days=rng.randint(3, 12)), 14),
                    },
                )
            made += history
            setup = time.perf_counter() - started

            receipt, baseline, card = [], [], []
            for i in range(SAMPLES):
                po_id = sent_order(today - timedelta(days=2))
                sku = writing.get_order(po_id).lines[0].product.sku
                t = time.perf_counter()
                receiving.receive(approver, po_id, {"lines": [{"sku": sku, "accepted": 10}]})
                receipt.append(time.perf_counter() - t)
                t = time.perf_counter()
                stock.post_movement(
                    approver,
                    {
                        "type": "receipt",
                        "sku": skus[i % len(skus)],
                        "warehouse": "W",
                        "quantity": 10,
                    },
                )
                baseline.append(time.perf_counter() - t)
                t = time.perf_counter()
                scorecards.scorecard_for(code, quarters=8)
                card.append(time.perf_counter() - t)

            def fmt(xs: list[float]) -> str:
                xs = sorted(xs)
                return f"{1000 * statistics.median(xs):6.1f} ({1000 * xs[int(0.9 * len(xs))]:6.1f})"

            ratio = statistics.median(receipt) / statistics.median(baseline)
            print(
                f"history {history:4d} orders (built in {setup:5.1f}s): "
                f"PO receipt {fmt(receipt)}  plain receipt {fmt(baseline)}  "
                f"= {ratio:4.1f}x   scorecard+trend {fmt(card)}"
            )
    tmp.cleanup()


if __name__ == "__main__":
    main()
