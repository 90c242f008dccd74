"""Sourcing: least-cost suppliers and quantities under shared budget, capacity and volume.

The optimum is checked against an independent formulation solved with scipy's ``milp``: integer
pack counts per (line, supplier, price tier), one binary per tier that also enforces the MOQ,
all-units pricing, a shortage variable per line and the shared rows. It knows nothing of the
option lists the code under test enumerates.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from decimal import Decimal

import numpy as np
import pytest
from scipy.optimize import Bounds, LinearConstraint, milp

from procurement.replenishment.sourcing import (
    Limits,
    Line,
    Offer,
    PriceBreak,
    source,
)


@dataclass(frozen=True)
class Instance:
    lines: list[Line]
    offers: list[Offer]
    limits: Limits
    max_split: int


def full_milp(inst: Instance) -> float:
    """Minimum cost by a direct MILP over pack counts, tier binaries and shortages."""
    cols_lo: list[float] = []
    cols_hi: list[float] = []
    cost: list[float] = []
    integral: list[int] = []
    rows: list[tuple[dict[int, float], float, float]] = []

    def var(lo: float, hi: float, c: float, is_int: bool) -> int:
        cols_lo.append(lo)
        cols_hi.append(hi)
        cost.append(c)
        integral.append(1 if is_int else 0)
        return len(cost) - 1

    budget: dict[int, float] = {}
    capacity: dict[str, dict[int, float]] = {s: {} for s in inst.limits.supplier_capacity}
    volume: dict[str, dict[int, float]] = {w: {} for w in inst.limits.warehouse_volume}
    constant = 0.0
    for line in inst.lines:
        offers = [o for o in inst.offers if o.sku == line.sku]
        if line.need == 0:
            continue
        if not offers:
            constant += float(line.shortage_cost) * line.need
            continue
        short = var(0, line.need, float(line.shortage_cost), False)
        cover = {short: 1.0}
        used: dict[int, float] = {}
        for o in offers:
            need_s = (line.need_by_supplier or {}).get(o.supplier, line.need)
            breaks = sorted(o.unit_prices, key=lambda b: b.min_qty)
            top = max(need_s, o.moq, breaks[-1].min_qty)
            most_packs = 2 * top // o.pack + 2  # far more than could ever pay
            for t, b in enumerate(breaks):
                start = 1 if t == 0 else b.min_qty
                end = breaks[t + 1].min_qty - 1 if t + 1 < len(breaks) else most_packs * o.pack
                z = var(0, 1, 0.0, True)
                m = var(
                    0,
                    most_packs,
                    float(b.unit_price) * (1 + o.risk_premium_pct / 100) * o.pack,
                    True,
                )
                used[z] = 1.0
                # if the tier is used: start <= q <= end and q >= moq; else q = 0
                rows.append(({m: o.pack, z: -max(start, o.moq)}, 0, np.inf))
                rows.append(({m: o.pack, z: -end}, -np.inf, 0))
                cover[m] = o.pack * line.need / need_s
                budget[m] = float(b.unit_price) * o.pack
                if o.supplier in capacity:
                    capacity[o.supplier][m] = o.pack
                if line.warehouse in volume and line.unit_volume > 0:
                    volume[line.warehouse][m] = o.pack * line.unit_volume
            # one tier per supplier: the tier binaries of a supplier sum to at most 1
            rows.append((dict.fromkeys(list(used)[-len(breaks) :], 1.0), -np.inf, 1))
        rows.append((cover, line.need, np.inf))
        rows.append((used, -np.inf, inst.max_split))
    if inst.limits.budget is not None:
        rows.append((budget, -np.inf, float(inst.limits.budget)))
    for s, coefs in capacity.items():
        rows.append((coefs, -np.inf, inst.limits.supplier_capacity[s]))
    for w, coefs in volume.items():
        rows.append((coefs, -np.inf, inst.limits.warehouse_volume[w]))
    if not cost:
        return constant
    a = np.zeros((len(rows), len(cost)))
    for i, (coefs, _, _) in enumerate(rows):
        for j, v in coefs.items():
            a[i, j] = v
    result = milp(
        c=np.array(cost),
        constraints=LinearConstraint(a, [r[1] for r in rows], [r[2] for r in rows]),
        integrality=np.array(integral),
        bounds=Bounds(np.array(cols_lo), np.array(cols_hi)),
        options={"mip_rel_gap": 0.0, "time_limit": 30},
    )
    assert result.status == 0, result.message
    return float(result.fun) + constant


def random_instance(rng: random.Random) -> Instance:
    suppliers = [f"S{i}" for i in range(rng.randint(1, 3))]
    skus = [f"K{i}" for i in range(rng.randint(1, 4))]
    warehouses = ["W0", "W1"][: rng.randint(1, 2)]
    offers: list[Offer] = []
    base = {k: rng.uniform(1, 20) for k in skus}
    for s in suppliers:
        for k in skus:
            if rng.random() < 0.8:
                price = base[k] * rng.uniform(0.8, 1.25)
                breaks = [PriceBreak(1, Decimal(f"{price:.2f}"))]
                threshold = 1
                for _ in range(rng.randint(0, 2)):
                    threshold += rng.randint(10, 80)
                    price *= rng.uniform(0.8, 0.97)
                    breaks.append(PriceBreak(threshold, Decimal(f"{price:.2f}")))
                offers.append(
                    Offer(
                        s,
                        k,
                        tuple(breaks),
                        moq=rng.choice([1, 1, 5, 10, 20, 30]),
                        pack=rng.choice([1, 1, 2, 5, 6, 10, 12]),
                        lead_time_days=rng.uniform(2, 30),
                        risk_premium_pct=rng.choice([0.0, 0.0, 2.0, 5.0]),
                    )
                )
    lines: list[Line] = []
    for _ in range(rng.randint(1, 6)):
        k = rng.choice(skus)
        need = rng.randint(1, 120)
        by_supplier = None
        if rng.random() < 0.3:
            by_supplier = {s: need + rng.randint(0, 30) for s in suppliers if rng.random() < 0.6}
        lines.append(
            Line(
                k,
                rng.choice(warehouses),
                need,
                need_by_supplier=by_supplier,
                shortage_cost=Decimal(f"{base[k] * rng.uniform(0.6, 3.0):.2f}"),
                unit_volume=rng.choice([0.0, 0.0, 0.01, 0.05]),
            )
        )
    total_need = sum(line.need for line in lines)
    cheap_cost = sum(line.need * base[line.sku] for line in lines)
    budget = None
    if rng.random() < 0.5:
        budget = Decimal(f"{cheap_cost * rng.uniform(0.2, 1.2):.2f}")
    capacity = {s: int(total_need * rng.uniform(0.2, 1.2)) for s in suppliers if rng.random() < 0.3}
    volume = {w: total_need * rng.uniform(0.002, 0.05) for w in warehouses if rng.random() < 0.2}
    return Instance(
        lines, offers, Limits(budget, capacity, volume), max_split=rng.choice([1, 2, 2, 3])
    )


@pytest.mark.parametrize("chunk", range(4))
def test_optimum_matches_an_independent_full_milp(chunk):
    rng = random.Random(20_260 + chunk)
    for case in range(50):
        inst = random_instance(rng)
        plan = source(inst.lines, inst.offers, inst.limits, max_split=inst.max_split, mip_gap=0.0)
        expected = full_milp(inst)
        assert plan.solver.status == "optimal"
        assert float(plan.objective) == pytest.approx(expected, rel=1e-6, abs=1e-6), (
            chunk,
            case,
            inst,
        )
