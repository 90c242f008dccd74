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
from fractions import Fraction

import numpy as np
import pytest
from scipy.optimize import Bounds, LinearConstraint, milp

from procurement.replenishment.sourcing import (
    Limits,
    Line,
    Offer,
    PlannedLine,
    PriceBreak,
    SourcingPlan,
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
        check_plan(inst, plan)
        assert float(plan.objective) == pytest.approx(expected, rel=1e-6, abs=1e-6), (
            chunk,
            case,
            inst,
        )


def check_plan(inst: Instance, plan: SourcingPlan) -> None:
    """The plan keeps every rule and limit, and its objective is what its lines cost."""
    offers = {(o.supplier, o.sku): o for o in inst.offers}
    spent = Decimal(0)
    units: dict[str, int] = {}
    volume: dict[str, float] = {}
    cost = Decimal(0)
    parts: dict[int, list[PlannedLine]] = {}
    for pl in plan.lines:
        o = offers[(pl.supplier, pl.sku)]
        assert pl.quantity >= o.moq
        assert pl.quantity % o.pack == 0
        reached = [b for b in o.unit_prices if b.min_qty <= pl.quantity]
        deepest = max(reached, key=lambda b: b.min_qty) if reached else o.unit_prices[0]
        assert pl.unit_price == deepest.unit_price
        assert pl.total == pl.unit_price * pl.quantity
        spent += pl.total
        units[pl.supplier] = units.get(pl.supplier, 0) + pl.quantity
        cost += pl.total * (1 + Decimal(str(o.risk_premium_pct)) / 100)
        parts.setdefault(pl.explanation["line"], []).append(pl)
    for index, line in enumerate(inst.lines):
        mine = parts.get(index, [])
        assert len(mine) <= inst.max_split
        assert all((pl.sku, pl.warehouse) == (line.sku, line.warehouse) for pl in mine)
        covered = sum(
            (
                Fraction(
                    line.need * pl.quantity,
                    (line.need_by_supplier or {}).get(pl.supplier, line.need),
                )
                for pl in mine
            ),
            Fraction(0),
        )
        short = max(Fraction(0), line.need - covered)
        cost += line.shortage_cost * Decimal(short.numerator) / Decimal(short.denominator)
        volume[line.warehouse] = volume.get(line.warehouse, 0.0) + sum(
            pl.quantity * line.unit_volume for pl in mine
        )
    if inst.limits.budget is not None:
        assert spent <= inst.limits.budget
    for s, cap in inst.limits.supplier_capacity.items():
        assert units.get(s, 0) <= cap
    for w, room in inst.limits.warehouse_volume.items():
        assert volume.get(w, 0.0) <= room + 1e-9
    assert float(cost) == pytest.approx(float(plan.objective), rel=1e-12, abs=1e-9)


def offer(supplier: str, *breaks: tuple[int, str], **kwargs: object) -> Offer:
    return Offer(
        supplier,
        "A",
        tuple(PriceBreak(q, Decimal(p)) for q, p in breaks),
        lead_time_days=kwargs.pop("lead_time_days", 7.0),  # type: ignore[arg-type]
        **kwargs,  # type: ignore[arg-type]
    )


def line(need: int, shortage: str = "100", sku: str = "A", **kwargs: object) -> Line:
    return Line(sku, "W", need, shortage_cost=Decimal(shortage), **kwargs)  # type: ignore[arg-type]


def test_moq_raises_the_quantity():
    plan = source([line(30)], [offer("S", (1, "2.00"), moq=50)], Limits())
    (pl,) = plan.lines
    assert pl.quantity == 50
    assert pl.total == Decimal("100.00")
    assert pl.explanation["moq_raise"] == 20
    assert pl.explanation["pack_raise"] == 0
    assert plan.short == ()
    assert plan.objective == Decimal("100.00")


def test_pack_rounds_the_quantity_up():
    plan = source([line(30)], [offer("S", (1, "2.00"), pack=12)], Limits())
    (pl,) = plan.lines
    assert pl.quantity == 36
    assert pl.explanation["pack_raise"] == 6
    assert pl.explanation["moq_raise"] == 0
    assert any("packs of 12" in m for m in pl.explanation["messages"])


def test_buying_up_to_a_price_break_when_it_costs_less():
    # 90 at 10.00 = 900.00; 100 at 8.50 = 850.00
    plan = source([line(90)], [offer("S", (1, "10.00"), (100, "8.50"))], Limits())
    (pl,) = plan.lines
    assert (pl.quantity, pl.unit_price, pl.total) == (100, Decimal("8.50"), Decimal("850.00"))
    reached = pl.explanation["price_break"]
    assert reached["min_qty"] == 100
    assert reached["instead_of_quantity"] == 90
    assert reached["saves"] == "50.00"
    # a break that would cost more in total is not reached
    plan = source([line(60)], [offer("S", (1, "10.00"), (100, "8.50"))], Limits())
    assert plan.lines[0].quantity == 60
    assert plan.lines[0].explanation["price_break"] is None


def test_budget_covers_the_most_costly_shortages_first():
    lines = [
        line(10, "15", sku="LOW"),
        line(10, "50", sku="HIGH"),
        line(10, "30", sku="MID"),
    ]
    offers = [
        Offer("S", sku, (PriceBreak(1, Decimal("10")),), lead_time_days=5)
        for sku in ("LOW", "HIGH", "MID")
    ]
    plan = source(lines, offers, Limits(budget=Decimal("200")))
    assert {pl.sku: pl.quantity for pl in plan.lines} == {"HIGH": 10, "MID": 10}
    (short,) = plan.short
    assert (short.sku, short.quantity_short) == ("LOW", 10)
    assert "budget binding" in short.reason
    # one more unit of money buys 0.1 unit of LOW, saving 1.50 - 1.00 = 0.50
    assert plan.duals["budget"] == pytest.approx(0.5)
    assert any(
        "another 1.00 of budget saves 0.50" in m
        for pl in plan.lines
        for m in pl.explanation["messages"]
    )
    assert plan.objective == Decimal("350")


def test_budget_left_over_buys_part_of_a_line():
    lines = [line(10, "50", sku="HIGH"), line(10, "30", sku="MID")]
    offers = [
        Offer("S", sku, (PriceBreak(1, Decimal("10")),), lead_time_days=5)
        for sku in ("HIGH", "MID")
    ]
    plan = source(lines, offers, Limits(budget=Decimal("170")))
    assert {pl.sku: pl.quantity for pl in plan.lines} == {"HIGH": 10, "MID": 7}
    (short,) = plan.short
    assert (short.sku, short.quantity_short) == ("MID", 3)
    assert plan.objective == Decimal("170") + 3 * Decimal("30")


def test_capacity_forces_a_split_to_a_second_supplier():
    offers = [offer("CHEAP", (1, "5.00")), offer("DEAR", (1, "6.00"))]
    plan = source([line(100)], offers, Limits(supplier_capacity={"CHEAP": 60}))
    assert {pl.supplier: pl.quantity for pl in plan.lines} == {"CHEAP": 60, "DEAR": 40}
    assert plan.objective == Decimal("540.00")
    # each unit more from CHEAP saves 6 - 5
    assert plan.duals["capacity:CHEAP"] == pytest.approx(1.0)
    cheap = next(pl for pl in plan.lines if pl.supplier == "CHEAP")
    assert cheap.explanation["option"] == "split"
    assert cheap.explanation["split_with"] == ["DEAR"]
    assert any("capacity of CHEAP binding" in m for m in cheap.explanation["messages"])


def test_without_splits_capacity_sends_the_line_elsewhere():
    offers = [offer("CHEAP", (1, "5.00")), offer("DEAR", (1, "6.00"))]
    plan = source([line(100)], offers, Limits(supplier_capacity={"CHEAP": 60}), max_split=1)
    assert [(pl.supplier, pl.quantity) for pl in plan.lines] == [("DEAR", 100)]
    assert plan.lines[0].explanation["next_best"]["supplier"] == "CHEAP"
    assert plan.lines[0].explanation["next_best"]["cost_difference"] == "-100.00"


def test_no_offer_is_short_with_a_reason():
    plan = source([line(10, "4", sku="NONE")], [offer("S", (1, "1.00"))], Limits())
    assert plan.lines == ()
    (short,) = plan.short
    assert (short.sku, short.quantity_short) == ("NONE", 10)
    assert short.reason == "no offer for this item"
    assert plan.objective == Decimal("40")
    assert plan.solver.status == "optimal"


def test_shortage_cheaper_than_buying_is_left_short():
    plan = source([line(10, "3")], [offer("S", (1, "5.00"))], Limits())
    assert plan.lines == ()
    (short,) = plan.short
    assert "costs less than buying" in short.reason


def test_a_slower_supplier_needs_more_units():
    # FAST: 100 units at 7 = 700; SLOW: 150 units at 5 = 750
    offers = [offer("FAST", (1, "7.00")), offer("SLOW", (1, "5.00"))]
    plan = source([line(100, need_by_supplier={"SLOW": 150})], offers, Limits())
    assert [(pl.supplier, pl.quantity) for pl in plan.lines] == [("FAST", 100)]
    nxt = plan.lines[0].explanation["next_best"]
    assert (nxt["supplier"], nxt["quantity"], nxt["cost_difference"]) == ("SLOW", 150, "50.00")


def test_risk_premium_weighs_on_the_choice_but_not_the_price_paid():
    offers = [
        offer("RISKY", (1, "10.00"), risk_premium_pct=10.0),
        offer("SAFE", (1, "10.50")),
    ]
    plan = source([line(10)], offers, Limits())
    assert [(pl.supplier, pl.total) for pl in plan.lines] == [("SAFE", Decimal("105.00"))]


def test_warehouse_volume_limits_what_is_bought():
    offers = [offer("S", (1, "1.00"))]
    plan = source([line(100, "5", unit_volume=0.5)], offers, Limits(warehouse_volume={"W": 20.0}))
    assert [pl.quantity for pl in plan.lines] == [40]
    # one more m3 holds 2 units, each saving 5 - 1
    assert plan.duals["volume:W"] == pytest.approx(8.0)


def test_large_models_use_the_compact_enumeration():
    lines = [line(10 + i % 7, "20", sku=f"K{i}") for i in range(800)]
    offers = [
        Offer(
            s,
            f"K{i}",
            (PriceBreak(1, Decimal(p)), PriceBreak(12, Decimal("4.5"))),
            pack=2,
            lead_time_days=3,
        )
        for i in range(800)
        for s, p in (("S1", "5.00"), ("S2", "5.20"))
    ]
    plan = source(lines, offers, Limits(budget=Decimal("30000"), supplier_capacity={"S1": 5000}))
    assert plan.solver.enumeration == "compact"
    assert plan.solver.status == "optimal"
    assert plan.solver.gap <= 1e-4
    assert sum(pl.total for pl in plan.lines) <= Decimal("30000")
    assert sum(pl.quantity for pl in plan.lines if pl.supplier == "S1") <= 5000


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"max_split": 0}, "max_split"),
        ({"limits": Limits(budget=Decimal("-1"))}, "budget"),
        ({"limits": Limits(supplier_capacity={"S": -1})}, "supplier_capacity"),
        ({"offers": [offer("S", (1, "1")), offer("S", (1, "2"))]}, "offers"),
        ({"offers": [offer("S", (1, "1"), moq=0)]}, "moq"),
        ({"offers": [offer("S", (1, "1"), pack=0)]}, "pack"),
        ({"offers": [offer("S")]}, "unit_prices"),
        ({"lines": [line(-1)]}, "need"),
        ({"lines": [line(5, need_by_supplier={"S": 0})]}, "need_by_supplier"),
    ],
)
def test_invalid_inputs_name_the_field(kwargs, field):
    args: dict[str, object] = {
        "lines": [line(5)],
        "offers": [offer("S", (1, "1"))],
        "limits": Limits(),
    }
    args.update(kwargs)
    max_split = args.pop("max_split", 2)
    with pytest.raises(ValueError, match=field):
        source(args["lines"], args["offers"], args["limits"], max_split=max_split)  # type: ignore[arg-type]
