"""Sourcing 10,000 (item, warehouse) lines from 3 suppliers under a binding budget.

Each line is below its reorder point: it needs ``order_up_to - position`` units (more from a
slower supplier). Suppliers have MOQs, packs, three all-units breaks and limited capacity; the
budget is 60 % of the full need at list price, so the optimiser has to choose what goes
short. The baseline, on the same data, is an Odoo-style min/max rule: every line below its
minimum orders ``max - min`` from its first supplier, rounded up to the pack and MOQ, with no
regard for budget or capacity.

    python benchmarks/replenishment.py [--lines 10000] [--seed 7]

Exits non-zero when the solve takes more than 20 s or stops further than 0.1 % from its bound.
"""

from __future__ import annotations

import argparse
import math
import random
import sys
import time
from decimal import Decimal
from fractions import Fraction
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from procurement.replenishment.sourcing import (
    Limits,
    Line,
    Offer,
    PriceBreak,
    source,
)

TARGET_SECONDS = 20.0
TARGET_GAP = 0.001
SUPPLIERS = (  # name, price factor, extra lead days, risk premium %
    ("ACME", 0.92, 1, 3.0),
    ("BOLT", 1.00, 1, 1.0),
    ("CRUX", 1.08, 0, 0.0),
)
WAREHOUSES = ("NORTH", "SOUTH")


def make_data(
    n_lines: int, seed: int
) -> tuple[list[Line], list[Offer], Limits, dict[tuple[str, str], tuple[int, int, int]]]:
    """Lines, offers, limits, and per line the (position, min, max) the baseline works from."""
    rng = random.Random(seed)
    n_skus = (n_lines + len(WAREHOUSES) - 1) // len(WAREHOUSES)
    offers: list[Offer] = []
    lines: list[Line] = []
    levels: dict[tuple[str, str], tuple[int, int, int]] = {}
    cheapest = Decimal(0)
    for k in range(n_skus):
        sku = f"SKU-{k:05d}"
        price = rng.uniform(2, 120)
        daily = rng.uniform(1, 30)
        pack = rng.choice([1, 1, 6, 12, 24, 50])
        for name, factor, _, risk in SUPPLIERS:
            p = price * factor * rng.uniform(0.95, 1.05)
            first = max(pack, int(daily * rng.uniform(10, 20)))
            second = first * rng.choice([2, 3])
            offers.append(
                Offer(
                    name,
                    sku,
                    (
                        PriceBreak(1, Decimal(f"{p:.2f}")),
                        PriceBreak(first, Decimal(f"{p * 0.95:.2f}")),
                        PriceBreak(second, Decimal(f"{p * 0.90:.2f}")),
                    ),
                    moq=rng.choice([1, pack, 2 * pack, int(daily * 5)]),
                    pack=pack,
                    lead_time_days=14.0 + rng.uniform(-2, 2),
                    risk_premium_pct=risk,
                )
            )
        for w in WAREHOUSES:
            if len(lines) == n_lines:
                break
            lead, review = 14, 7
            minimum = round(daily * lead * 1.2)
            maximum = round(daily * (lead + review) * 1.2)
            position = rng.randint(round(minimum * 0.6), minimum)
            need = maximum - position
            by_supplier = {
                name: need + round(daily * extra) for name, _, extra, _ in SUPPLIERS if extra
            }
            lines.append(
                Line(
                    sku,
                    w,
                    need,
                    need_by_supplier=by_supplier,
                    shortage_cost=Decimal(f"{price * rng.uniform(1.3, 3.0):.2f}"),
                    unit_volume=rng.uniform(0.001, 0.02),
                )
            )
            levels[(sku, w)] = (position, minimum, maximum)
            cheapest += Decimal(f"{price:.2f}") * need
    total_need = sum(line.need for line in lines)
    limits = Limits(
        budget=(cheapest * Decimal("0.6")).quantize(Decimal("1")),
        supplier_capacity={"ACME": int(total_need * 0.45), "BOLT": int(total_need * 0.35)},
    )
    return lines, offers, limits, levels


def _price(offer: Offer, quantity: int) -> Decimal:
    price = offer.unit_prices[0].unit_price
    for b in sorted(offer.unit_prices, key=lambda b: b.min_qty):
        if b.min_qty <= quantity:
            price = b.unit_price
    return price


def baseline(
    lines: list[Line],
    offers: list[Offer],
    levels: dict[tuple[str, str], tuple[int, int, int]],
) -> tuple[Decimal, Decimal, int, dict[str, int]]:
    """Odoo-style min/max: purchase cost, objective, units short and units per supplier.

    Units short are counted as the optimiser's are: per line, rounded up to whole units.
    """
    first: dict[str, Offer] = {}
    for o in offers:
        first.setdefault(o.sku, o)
    cost = Decimal(0)
    objective = Decimal(0)
    short = 0
    units: dict[str, int] = {}
    for line in lines:
        position, minimum, maximum = levels[(line.sku, line.warehouse)]
        o = first[line.sku]
        q = 0
        if position < minimum:
            q = max(-(-(maximum - minimum) // o.pack) * o.pack, -(-o.moq // o.pack) * o.pack)
        total = _price(o, q) * q
        need_s = (line.need_by_supplier or {}).get(o.supplier, line.need)
        gap = max(Fraction(0), line.need - Fraction(q * line.need, need_s))
        cost += total
        objective += total * (1 + Decimal(str(o.risk_premium_pct)) / 100)
        objective += line.shortage_cost * Decimal(gap.numerator) / Decimal(gap.denominator)
        short += math.ceil(gap)
        units[o.supplier] = units.get(o.supplier, 0) + q
    return cost, objective, short, units


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--lines", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--time-limit", type=float, default=TARGET_SECONDS)
    args = parser.parse_args()

    lines, offers, limits, levels = make_data(args.lines, args.seed)
    assert limits.budget is not None
    print(
        f"{len(lines)} lines, {len(offers)} offers from {len(SUPPLIERS)} suppliers; "
        f"budget {limits.budget}; capacity {dict(limits.supplier_capacity)}"
    )
    started = time.perf_counter()
    plan = source(lines, offers, limits, time_limit_s=args.time_limit)
    seconds = time.perf_counter() - started
    purchase = sum((pl.total for pl in plan.lines), Decimal(0))
    units_short = sum(s.quantity_short for s in plan.short)
    lines_short = len({(s.sku, s.warehouse) for s in plan.short})
    per_supplier: dict[str, int] = {}
    for pl in plan.lines:
        per_supplier[pl.supplier] = per_supplier.get(pl.supplier, 0) + pl.quantity
    splits = len(plan.lines) - len({(pl.sku, pl.warehouse) for pl in plan.lines})
    s = plan.solver
    print("optimised:")
    print(f"  seconds          {seconds:.2f} (solver reports {s.seconds:.2f})")
    print(f"  status           {s.status} via {s.backend}, {s.enumeration} options: {s.options}")
    fractional = f"{s.lp_fractional_lines} lines fractional in the LP"
    print(f"  gap              {s.gap * 100:.6f} % ({fractional})")
    print(f"  objective        {plan.objective:.2f}")
    left = limits.budget - purchase
    print(f"  purchase cost    {purchase:.2f} (budget {limits.budget}, left {left:.2f})")
    print(f"  units short      {units_short} on {lines_short} lines")
    print(f"  units/supplier   {per_supplier}; split lines {splits}")
    print(f"  binding          {', '.join(f'{k}: {v:.4f}' for k, v in plan.duals.items())}")

    b_cost, b_objective, b_short, b_units = baseline(lines, offers, levels)
    over = b_cost - limits.budget
    print("baseline (min/max, first supplier, no budget):")
    print(f"  objective        {b_objective:.2f}")
    side = "over" if over > 0 else "under"
    print(f"  purchase cost    {b_cost:.2f} ({side} budget by {abs(over):.2f})")
    print(f"  units short      {b_short}")
    over_cap = {
        k: v - limits.supplier_capacity[k]
        for k, v in b_units.items()
        if k in limits.supplier_capacity and v > limits.supplier_capacity[k]
    }
    print(f"  units/supplier   {b_units}; over capacity {over_cap}")

    missed = []
    if seconds > TARGET_SECONDS:
        missed.append(f"took {seconds:.1f} s > {TARGET_SECONDS:.0f} s")
    if not s.gap <= TARGET_GAP:
        missed.append(f"gap {s.gap * 100:.3f} % > {TARGET_GAP * 100:.1f} %")
    if s.status not in ("optimal", "feasible"):
        missed.append(f"status {s.status}")
    print("targets: " + ("met" if not missed else "MISSED: " + "; ".join(missed)))
    return 1 if missed else 0


if __name__ == "__main__":
    raise SystemExit(main())
