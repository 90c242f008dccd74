"""Carrier assignment against an independent MILP, plus the reasons a clerk reads.

The reference formulation is written here from the problem statement, not from the module: one
binary per quoted (shipment, service) pair and one "unassigned" binary per shipment with a quote,
solved lexicographically with scipy's HiGHS (first the fewest unassigned, then the lowest cost
with that many unassigned), so it does not depend on the module's choice of big-M either.
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from dataclasses import dataclass
from decimal import Decimal
from fractions import Fraction

import numpy as np
import pytest
from scipy.optimize import Bounds, LinearConstraint, milp

from logistics.assignment import (
    NO_CAPACITY,
    Assignment,
    Option,
    Service,
    Shipment,
    assign,
    cheapest_rate_baseline,
)

D = Decimal


@dataclass
class Instance:
    shipments: list[Shipment]
    services: list[Service]
    options: list[Option]
    penalty: Decimal


def random_instance(seed: int, *, kg_caps: bool) -> Instance:
    rng = np.random.default_rng(seed)
    n = int(rng.integers(4, 16))
    m = int(rng.integers(2, 6))
    services = []
    for j in range(m):
        max_shipments = int(rng.integers(0, n // 2 + 2)) if rng.random() < 0.6 else None
        max_kg = None
        if kg_caps and (j == 0 or rng.random() < 0.5):
            max_kg = D(int(rng.integers(0, 400))) / 10
        services.append(
            Service(
                code=f"S{j}",
                transit_days=int(rng.integers(1, 6)),
                max_shipments=max_shipments,
                max_kg=max_kg,
                on_time_rate=int(rng.integers(75, 101)) / 100,
                late_days_when_late=float(rng.choice([0.5, 1.0, 1.5, 2.0, 3.0])),
            )
        )
    shipments = [
        Shipment(
            id=100 + i,
            weight_kg=D(int(rng.integers(1, 200))) / 10,
            days_available=None if rng.random() < 0.3 else int(rng.integers(0, 6)),
        )
        for i in range(n)
    ]
    options = []
    for h in shipments:
        if rng.random() < 0.1:
            continue  # no rate at all
        for s in services:
            if rng.random() < 0.7:
                options.append(Option(h.id, s.code, D(int(rng.integers(300, 3000))) / 100))
                if rng.random() < 0.1:  # a second quote for the same pair
                    options.append(Option(h.id, s.code, D(int(rng.integers(300, 3000))) / 100))
    rng.shuffle(options)  # type: ignore[arg-type]
    return Instance(shipments, services, options, D(int(rng.integers(0, 1500))) / 100)


def option_cents(inst: Instance) -> dict[tuple[int, str], int]:
    """Objective per pair in cents, from the statement: rate + planned + expected lateness."""
    rates: dict[tuple[int, str], Fraction] = {}
    for o in inst.options:
        key = (o.shipment_id, o.service)
        rates[key] = min(rates.get(key, Fraction(o.cost)), Fraction(o.cost))
    services = {s.code: s for s in inst.services}
    days = {h.id: h.days_available for h in inst.shipments}
    pen = Fraction(inst.penalty)
    cents = {}
    for (sid, code), rate in rates.items():
        s = services[code]
        available = days[sid]
        late = 0 if available is None else max(0, s.transit_days - available)
        expected = pen * (1 - Fraction(str(s.on_time_rate))) * Fraction(str(s.late_days_when_late))
        penalty_cents = math.floor((pen * late + expected) * 100 + Fraction(1, 2))
        cents[(sid, code)] = int(rate * 100) + penalty_cents
    return cents


def reference(inst: Instance) -> tuple[int, int]:
    """(fewest unassigned, lowest cost in cents with that many unassigned) by HiGHS."""
    cents = option_cents(inst)
    pairs = sorted(cents)
    quoted = sorted({sid for sid, _ in pairs})
    no_rate = len(inst.shipments) - len(quoted)
    if not pairs:
        return no_rate, 0
    nx, nu = len(pairs), len(quoted)
    rows: list[np.ndarray] = []
    lower: list[float] = []
    upper: list[float] = []
    for k, sid in enumerate(quoted):
        row = np.zeros(nx + nu)
        row[[i for i, (s, _) in enumerate(pairs) if s == sid]] = 1
        row[nx + k] = 1
        rows.append(row)
        lower.append(1)
        upper.append(1)
    weights = {h.id: h.weight_kg for h in inst.shipments}
    for s in inst.services:
        on_service = [i for i, (_, code) in enumerate(pairs) if code == s.code]
        if s.max_shipments is not None:
            row = np.zeros(nx + nu)
            row[on_service] = 1
            rows.append(row)
            lower.append(-np.inf)
            upper.append(s.max_shipments)
        if s.max_kg is not None:
            row = np.zeros(nx + nu)
            for i in on_service:
                row[i] = float(weights[pairs[i][0]] * 1000)
            rows.append(row)
            lower.append(-np.inf)
            upper.append(float(s.max_kg * 1000))
    integrality = np.ones(nx + nu)
    bounds = Bounds(0, 1)
    options = {"mip_rel_gap": 0.0}
    first = milp(
        np.r_[np.zeros(nx), np.ones(nu)],
        constraints=LinearConstraint(np.array(rows), lower, upper),
        integrality=integrality,
        bounds=bounds,
        options=options,
    )
    assert first.success
    fewest = round(first.fun)
    cap_u = np.r_[np.zeros(nx), np.ones(nu)]
    second = milp(
        np.r_[[cents[p] for p in pairs], np.zeros(nu)],
        constraints=[
            LinearConstraint(np.array(rows), lower, upper),
            LinearConstraint(cap_u, -np.inf, fewest),
        ],
        integrality=integrality,
        bounds=bounds,
        options=options,
    )
    assert second.success
    x = np.round(second.x[:nx]).astype(int)
    return fewest + no_rate, sum(cents[p] for p, on in zip(pairs, x, strict=True) if on)


def check_plan(inst: Instance, plan: Assignment) -> None:
    """Capacity, one choice per shipment in order, and totals priced from the statement."""
    assert [c.shipment_id for c in plan.choices] == [h.id for h in inst.shipments]
    cents = option_cents(inst)
    weights = {h.id: h.weight_kg for h in inst.shipments}
    count: Counter[str] = Counter()
    kg: defaultdict[str, Decimal] = defaultdict(Decimal)
    total = 0
    quoted = {sid for sid, _ in cents}
    for c in plan.choices:
        if c.service is None:
            expected = NO_CAPACITY if c.shipment_id in quoted else "no rate from any service"
            assert c.reason == expected
            continue
        total += cents[(c.shipment_id, c.service)]
        count[c.service] += 1
        kg[c.service] += weights[c.shipment_id]
    for s in inst.services:
        if s.max_shipments is not None:
            assert count[s.code] <= s.max_shipments
        if s.max_kg is not None:
            assert kg[s.code] <= s.max_kg
    assert int(plan.objective * 100) == total
    assert plan.objective == plan.rate_total + plan.penalty_total
    assert plan.unassigned == sum(c.service is None for c in plan.choices)
    loads = {load.service: (load.shipments, load.kg) for load in plan.loads}
    assert loads == {s.code: (count[s.code], kg[s.code]) for s in inst.services}


@pytest.mark.parametrize("seed", range(100))
def test_count_capacities_match_the_milp_optimum_by_min_cost_flow(seed):
    inst = random_instance(seed, kg_caps=False)
    plan = assign(
        inst.shipments, inst.services, inst.options, lateness_penalty_per_day=inst.penalty
    )
    assert plan.solver.method == "min_cost_flow"
    assert plan.solver.status == "OPTIMAL"
    check_plan(inst, plan)
    assert (plan.unassigned, int(plan.objective * 100)) == reference(inst)


@pytest.mark.parametrize("seed", range(1000, 1100))
def test_weight_capacities_match_the_milp_optimum_by_cp_sat(seed):
    inst = random_instance(seed, kg_caps=True)
    plan = assign(
        inst.shipments, inst.services, inst.options, lateness_penalty_per_day=inst.penalty
    )
    assert plan.solver.method == "cp_sat"
    assert plan.solver.status == "OPTIMAL"
    assert plan.solver.gap == 0.0
    assert plan.solver.bound == plan.objective
    check_plan(inst, plan)
    assert (plan.unassigned, int(plan.objective * 100)) == reference(inst)


def test_the_baseline_is_never_better_than_the_optimum_when_it_fits_the_capacity():
    feasible_baselines = 0
    for seed in [*range(100), *range(1000, 1100)]:
        inst = random_instance(seed, kg_caps=seed >= 1000)
        kwargs = {"lateness_penalty_per_day": inst.penalty}
        plan = assign(inst.shipments, inst.services, inst.options, **kwargs)
        base = cheapest_rate_baseline(inst.shipments, inst.services, inst.options, **kwargs)
        # The baseline's rate is each shipment's lowest quote, capacity or not.
        lowest: dict[int, Decimal] = {}
        for o in inst.options:
            lowest[o.shipment_id] = min(lowest.get(o.shipment_id, o.cost), o.cost)
        assert base.rate_total == sum(lowest.values(), D(0))
        assert base.unassigned == len(inst.shipments) - len(lowest)
        if base.over_capacity == 0:
            feasible_baselines += 1
            assert base.unassigned == plan.unassigned
            assert base.objective >= plan.objective
        # Its first-come version always fits, so it can never beat the optimum.
        fc = base.first_come
        assert (fc.unassigned, fc.objective) >= (plan.unassigned, plan.objective)
    assert feasible_baselines >= 20  # the comparison above was really exercised


def test_the_baseline_counts_shipments_beyond_each_services_capacity():
    services = [
        Service("GND", 4, max_shipments=2),
        Service("ECO", 5, max_kg=D("10")),
        Service("EXP", 1),
    ]
    shipments = [Shipment(i, D(w), None) for i, w in enumerate(["4", "4", "4", "6", "3", "1"])]
    options = [
        *(Option(i, "GND", D("5")) for i in (0, 1, 2)),  # 3 on GND, room for 2: 1 over
        *(Option(i, "ECO", D("4")) for i in (3, 4, 5)),  # 6 + 3 fit in 10 kg; +1 kg fits too
        *(Option(i, "EXP", D("9")) for i in range(6)),
    ]
    base = cheapest_rate_baseline(shipments, services, options, lateness_penalty_per_day=D("1"))
    assert base.over_capacity == 1
    assert base.rate_total == D("27.00")  # 3 x 5 + 3 x 4
    assert base.penalty_total == D("0.00")
    # First come: shipment 2 finds GND full and pays EXP instead.
    assert base.first_come.rate_total == D("31.00")
    assert base.first_come.unassigned == 0

    heavy = [Shipment(0, D("6"), None), Shipment(1, D("5"), None)]
    base = cheapest_rate_baseline(
        heavy, services, [Option(0, "ECO", D("4")), Option(1, "ECO", D("4"))],
        lateness_penalty_per_day=D("1"),
    )  # fmt: skip
    assert base.over_capacity == 1  # 6 + 5 > 10 kg
    assert base.first_come.unassigned == 1


def test_shipments_that_cannot_go_are_reported_with_the_reason():
    services = [Service("GND", 3, max_shipments=1)]
    shipments = [
        Shipment(1, D("1"), None, origin="W1", region="North"),
        Shipment(2, D("1"), None, origin="W1", region="Islands"),
        Shipment(3, D("1"), None, origin="W1", region="North"),
    ]
    options = [Option(1, "GND", D("5")), Option(3, "GND", D("6"))]
    plan = assign(shipments, services, options, lateness_penalty_per_day=D("1"))
    assert [(c.shipment_id, c.service, c.reason) for c in plan.choices] == [
        (1, "GND", "cheapest"),
        (2, None, "no rate for region Islands from origin W1"),
        (3, None, "no capacity left on any service with a rate"),
    ]
    assert plan.unassigned == 2
    assert plan.rate_total == D("5.00")


@pytest.mark.parametrize("by_weight", [False, True])
def test_a_shipment_bumped_off_a_full_cheap_service_says_so(by_weight):
    gnd = Service("GND", 3, max_kg=D("3")) if by_weight else Service("GND", 3, max_shipments=1)
    services = [gnd, Service("EXP", 1)]
    shipments = [Shipment(1, D("2"), None), Shipment(2, D("2"), None)]
    options = [
        Option(1, "GND", D("5.00")),
        Option(1, "EXP", D("9.00")),  # 4.00 more to move
        Option(2, "GND", D("5.00")),
        Option(2, "EXP", D("12.00")),  # 7.00 more to move: this one keeps GND
    ]
    plan = assign(shipments, services, options, lateness_penalty_per_day=D("1"))
    assert plan.solver.method == ("cp_sat" if by_weight else "min_cost_flow")
    assert [(c.service, c.cost, c.reason) for c in plan.choices] == [
        ("EXP", D("9.00"), "cheaper GND (5.00) was full"),
        ("GND", D("5.00"), "cheapest"),
    ]
    assert plan.objective == D("14.00")


def test_a_deadline_makes_a_slower_cheaper_service_lose_and_says_it_arrives_late():
    services = [Service("GND", 5), Service("EXP", 1)]
    options = [Option(1, "GND", D("5")), Option(1, "EXP", D("9"))]
    late = assign(
        [Shipment(1, D("1"), 2)], services, options, lateness_penalty_per_day=D("10")
    )  # GND: 5 + 3 days x 10 = 35 > 9
    (c,) = late.choices
    assert (c.service, c.eta_days, c.days_late, c.penalty) == ("EXP", 1, 0, D("0.00"))
    assert c.reason == "cheaper GND (5.00) arrives 3 days late"

    # Lateness is priced, not forbidden: at 1 a day, 5 + 3 = 8 < 9 and GND ships 3 days late.
    cheap = assign([Shipment(1, D("1"), 2)], services, options, lateness_penalty_per_day=D("1"))
    (c,) = cheap.choices
    assert (c.service, c.days_late, c.penalty, c.reason) == ("GND", 3, D("3.00"), "cheapest")
    assert (cheap.rate_total, cheap.penalty_total, cheap.objective) == (
        D("5.00"),
        D("3.00"),
        D("8.00"),
    )


def test_a_service_that_is_often_late_pays_its_expected_lateness():
    services = [Service("GND", 2, on_time_rate=0.5, late_days_when_late=2.0), Service("EXP", 2)]
    options = [Option(1, "GND", D("5")), Option(1, "EXP", D("9"))]
    plan = assign([Shipment(1, D("1"), None)], services, options, lateness_penalty_per_day=D("5"))
    (c,) = plan.choices  # GND: 5 + 5 x 0.5 x 2 = 10 > 9
    assert (c.service, c.reason) == ("EXP", "cheaper GND (5.00) is on time only 50% of the time")
    plan = assign([Shipment(1, D("1"), None)], services, options, lateness_penalty_per_day=D("3"))
    (c,) = plan.choices  # GND: 5 + 3 = 8 < 9
    assert (c.service, c.penalty, c.days_late) == ("GND", D("3.00"), 0)


def test_shipping_more_beats_any_saving_even_along_a_chain_of_moves():
    # Services S0..S5, one shipment each. Shipment i is free on S_i and costs 100 on S_{i+1};
    # shipment "late" fits only S0. Shipping all needs every other shipment pushed one service
    # up (500.00 in total), far more than the dearest single option (100.00).
    services = [Service(f"S{j}", 1, max_shipments=1) for j in range(6)]
    shipments = [Shipment(i, D("1"), None) for i in range(6)]
    options = [Option(5, "S0", D("0"))]
    for i in range(5):
        options += [Option(i, f"S{i}", D("0")), Option(i, f"S{i + 1}", D("100"))]
    plan = assign(shipments, services, options, lateness_penalty_per_day=D("0"))
    assert plan.unassigned == 0
    assert plan.objective == D("500.00")
    assert plan.choices[0].reason == "cheaper S0 (0.00) was full"


def test_duplicate_quotes_keep_the_cheapest_and_bad_input_is_refused():
    services = [Service("GND", 3)]
    shipments = [Shipment(1, D("1"), None)]
    dupes = [Option(1, "GND", D("7")), Option(1, "GND", D("4.5")), Option(1, "GND", D("6"))]
    plan = assign(shipments, services, dupes, lateness_penalty_per_day=D("1"))
    assert plan.choices[0].cost == D("4.50")
    with pytest.raises(ValueError, match="unknown service 'AIR'"):
        assign(shipments, services, [Option(1, "AIR", D("1"))], lateness_penalty_per_day=D("1"))
    with pytest.raises(ValueError, match="unknown shipment 2"):
        assign(shipments, services, [Option(2, "GND", D("1"))], lateness_penalty_per_day=D("1"))
    with pytest.raises(ValueError, match="listed twice"):
        assign(shipments * 2, services, [], lateness_penalty_per_day=D("1"))


def test_no_shipments_is_an_empty_plan():
    for services in ([Service("GND", 3)], [Service("GND", 3, max_kg=D("5"))]):
        plan = assign([], services, [], lateness_penalty_per_day=D("1"))
        assert plan.choices == ()
        assert (plan.objective, plan.unassigned) == (D("0"), 0)
        assert plan.solver.status == "OPTIMAL"


def test_without_time_to_search_the_plan_is_the_feasible_start_and_says_nothing_is_proven():
    unproven = 0
    for seed in range(1000, 1030):
        inst = random_instance(seed, kg_caps=True)
        plan = assign(
            inst.shipments,
            inst.services,
            inst.options,
            lateness_penalty_per_day=inst.penalty,
            time_limit_s=0.0,
        )
        check_plan(inst, plan)
        fewest, cents = reference(inst)
        assert (plan.unassigned, int(plan.objective * 100)) >= (fewest, cents)
        if plan.solver.status == "UNKNOWN":
            unproven += 1
            assert (plan.solver.gap, plan.solver.bound) == (math.inf, D(0))
    assert unproven > 0
