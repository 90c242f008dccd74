"""Carrier assignment for one ship day: the optimal plan against shipping at the cheapest rate.

Data (seeded, generated here): 3 warehouses, 10 regions, services in three tiers (ground 4-5
days, two-day, express) from several carriers, each with its own rate card (weight bands up to
70 kg, 30 kg for express; lanes a carrier does not serve; 5-15% fuel surcharge). Shipments weigh
0.2-80 kg (log-normal, a few above every card), most have a deliver-by 1-6 days out, and a small
share goes to a region no card serves. Rates come from ``logistics.rating.quote``.

Capacities bind on purpose: ground services take 40% of the shipments that would pick them at
the cheapest rate (at least 1/40 of the day) and two-day services an eighth of the day; express
is unlimited. With weight limits, ground also takes 40% of those shipments' kilograms and
two-day a tenth of the day's. So the cheap services fill up and the plan decides who gets them.

Run 1 (count capacities, min-cost flow, 20,000 x 12 by default): time ``assign`` (target 5 s,
must be optimal). Run 2 (weight capacities, CP-SAT, 2,000 x 12 by default): seconds and gap.
Baselines measured in the same runs on the same data: every shipment at its cheapest rate (which
the carriers would partly refuse: the over-capacity count says how much), and the same habit
made feasible, first come first served, spilling to the next cheapest rate with room.

    python benchmarks/carrier_assignment.py [--shipments N] [--services M] [--seed S]

Exits 1 if the flow solve is slower than 5 s or not optimal, or if either optimum ships fewer
shipments than the feasible baseline or costs more at the same count.
"""

from __future__ import annotations

import argparse
import sys
import time
from decimal import Decimal
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from logistics.assignment import (  # noqa: E402
    Assignment,
    Baseline,
    Option,
    Service,
    Shipment,
    assign,
    cheapest_rate_baseline,
)
from logistics.rating import RateCard, RateRow, quote  # noqa: E402

D = Decimal
FLOW_SECONDS = 5.0
PENALTY_PER_DAY = D("4.00")
ORIGINS = ("W1", "W2", "W3")
REGIONS = tuple(f"R{r:02d}" for r in range(10))
UNSERVED_REGION = "Outer Isles"
BANDS = (1, 2, 5, 10, 20, 30, 50, 70)
# tier: (transit days, base, per kg, minimum, heaviest band)
TIERS = {
    "GND": ((4, 5), 4.0, 0.35, 5.5, 70),
    "2DY": ((2, 2), 7.0, 0.60, 8.0, 70),
    "EXP": ((1, 1), 12.0, 1.10, 14.0, 30),
}


def money(x: float) -> Decimal:
    return D(str(round(x, 2)))


def make_cards(rng: np.random.Generator, n_services: int) -> list[tuple[Service, RateCard]]:
    """Services cycle through the tiers, each carrier pricing its lanes its own way."""
    tiers = list(TIERS)
    made = []
    for j in range(n_services):
        tier = tiers[j % 3]
        (fast, slow), base, per_kg, minimum, top = TIERS[tier]
        code = f"{tier}-{j // 3 + 1}"
        carrier_level = rng.uniform(0.85, 1.2)
        rows = []
        for origin in ORIGINS:
            for region in REGIONS:
                if rng.random() < 0.1:
                    continue  # a lane this carrier does not serve
                lane = carrier_level * rng.uniform(0.9, 1.15)
                for k, limit in enumerate(b for b in BANDS if b <= top):
                    step = 1 + 0.04 * k  # heavier bands cost a little more per kg
                    rows.append(
                        RateRow(
                            origin,
                            region.lower() if rng.random() < 0.2 else region,
                            D(limit),
                            money(base * lane * step),
                            money(per_kg * lane * step),
                            money(minimum * lane),
                        )
                    )
        service = Service(
            code=code,
            transit_days=int(rng.integers(fast, slow + 1)),
            on_time_rate=round(float(rng.uniform(0.80, 0.99)), 2),
            late_days_when_late=float(rng.choice([1.0, 1.5, 2.0, 3.0])),
        )
        card = RateCard(code, money(float(rng.uniform(5, 15))), tuple(rows))
        made.append((service, card))
    return made


def make_day(
    n_shipments: int, n_services: int, seed: int
) -> tuple[list[Shipment], list[Service], list[RateCard], list[Option]]:
    rng = np.random.default_rng(seed)
    made = make_cards(rng, n_services)
    services = [s for s, _ in made]
    cards = [c for _, c in made]
    weights = np.clip(rng.lognormal(1.0, 1.0, n_shipments), 0.2, 80.0)
    shipments = []
    for i in range(n_shipments):
        region = UNSERVED_REGION if rng.random() < 0.005 else str(rng.choice(REGIONS))
        days = None if rng.random() < 0.2 else int(rng.integers(1, 7))
        origin = str(rng.choice(ORIGINS))
        shipments.append(Shipment(i + 1, D(f"{weights[i]:.1f}"), days, origin, region))
    options = []
    for h in shipments:
        for card in cards:
            price = quote(card, h.origin or "", h.region or "", h.weight_kg)
            if price is not None:
                options.append(Option(h.id, card.service, price))
    return shipments, services, cards, options


def with_capacities(
    shipments: list[Shipment], services: list[Service], options: list[Option], *, by_weight: bool
) -> list[Service]:
    """Ground gets 40% of its cheapest-rate demand, two-day an eighth of the day."""
    cheapest: dict[int, Option] = {}
    for o in options:
        if o.shipment_id not in cheapest or o.cost < cheapest[o.shipment_id].cost:
            cheapest[o.shipment_id] = o
    weight = {h.id: h.weight_kg for h in shipments}
    demand = {s.code: 0 for s in services}
    demand_kg = {s.code: D(0) for s in services}
    for o in cheapest.values():
        demand[o.service] += 1
        demand_kg[o.service] += weight[o.shipment_id]
    total_kg = sum(weight.values(), D(0))
    capped = []
    for s in services:
        count: int | None = None
        kg: Decimal | None = None
        if s.code.startswith("GND"):
            count = max(int(0.4 * demand[s.code]), len(shipments) // 40)
            if by_weight:
                kg = max(demand_kg[s.code] * D("0.4"), total_kg / 40).quantize(D(1))
        elif s.code.startswith("2DY"):
            count = len(shipments) // 8
            kg = (total_kg / 10).quantize(D(1)) if by_weight else None
        capped.append(
            Service(s.code, s.transit_days, count, kg, s.on_time_rate, s.late_days_when_late)
        )
    return capped


def limit(value: object) -> str:
    return "-" if value is None else str(value)


def report(title: str, plan: Assignment, base: Baseline) -> bool:
    fc = base.first_come
    info = plan.solver
    print(f"\n{title}")
    print(
        f"  optimum          {info.method} {info.status}  {info.seconds:.2f} s  gap {info.gap:.4%}"
        f"  bound {info.bound}"
    )
    print(
        f"  optimum          objective {plan.objective} = rate {plan.rate_total}"
        f" + lateness {plan.penalty_total}; unassigned {plan.unassigned}"
    )
    print(
        f"  cheapest rate    objective {base.objective} = rate {base.rate_total}"
        f" + lateness {base.penalty_total}; no rate {base.unassigned};"
        f" over capacity {base.over_capacity} shipments"
    )
    print(
        f"  first come       objective {fc.objective} = rate {fc.rate_total}"
        f" + lateness {fc.penalty_total}; unassigned {fc.unassigned}"
    )
    saving = fc.objective - plan.objective
    share = saving / fc.objective if fc.objective else D(0)
    print(
        f"  saving vs first come: {saving} ({share:.1%}), "
        f"{fc.unassigned - plan.unassigned} more shipped; lateness "
        f"{base.penalty_total - plan.penalty_total} below the cheapest-rate habit"
    )
    late = sum(c.days_late > 0 for c in plan.choices)
    full = sum("was full" in c.reason for c in plan.choices)
    print(f"  plan: {late} shipments planned late, {full} moved off a full cheaper service")
    return (plan.unassigned, plan.objective) <= (fc.unassigned, fc.objective)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shipments", type=int, default=20_000, help="run 1 size (flow)")
    parser.add_argument("--services", type=int, default=12)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--kg-shipments", type=int, default=2_000, help="run 2 size (CP-SAT)")
    parser.add_argument("--time-limit", type=float, default=20.0, help="CP-SAT seconds")
    args = parser.parse_args(argv)

    shipments, services, _, options = make_day(args.shipments, args.services, args.seed)
    services = with_capacities(shipments, services, options, by_weight=False)
    print(
        f"run 1: {len(shipments)} shipments x {len(services)} services, {len(options)} quotes, "
        f"penalty {PENALTY_PER_DAY}/day late; capacities "
        + ", ".join(f"{s.code} {limit(s.max_shipments)}" for s in services)
    )
    t0 = time.perf_counter()
    plan = assign(shipments, services, options, lateness_penalty_per_day=PENALTY_PER_DAY)
    flow_seconds = time.perf_counter() - t0
    print(f"  assign() wall time {flow_seconds:.2f} s (solver {plan.solver.seconds:.2f} s)")
    base = cheapest_rate_baseline(
        shipments, services, options, lateness_penalty_per_day=PENALTY_PER_DAY
    )
    flow_beats = report("run 1: count capacities", plan, base)

    shipments, services, _, options = make_day(args.kg_shipments, args.services, args.seed + 1)
    services = with_capacities(shipments, services, options, by_weight=True)
    print(
        f"\nrun 2: {len(shipments)} shipments x {len(services)} services, {len(options)} quotes; "
        "capacities "
        + ", ".join(f"{s.code} {limit(s.max_shipments)}/{limit(s.max_kg)} kg" for s in services)
    )
    t0 = time.perf_counter()
    kg_plan = assign(
        shipments,
        services,
        options,
        lateness_penalty_per_day=PENALTY_PER_DAY,
        time_limit_s=args.time_limit,
    )
    print(f"  assign() wall time {time.perf_counter() - t0:.2f} s")
    kg_base = cheapest_rate_baseline(
        shipments, services, options, lateness_penalty_per_day=PENALTY_PER_DAY
    )
    cp_beats = report("run 2: weight capacities", kg_plan, kg_base)

    checks = [
        (f"flow solve within {FLOW_SECONDS:.0f} s", flow_seconds <= FLOW_SECONDS),
        ("flow solve optimal", plan.solver.status == "OPTIMAL"),
        ("flow optimum no worse than first come", flow_beats),
        ("CP-SAT plan no worse than first come", cp_beats),
    ]
    print()
    for label, ok in checks:
        print(f"{'PASS' if ok else 'FAIL'}  {label}")
    return 0 if all(ok for _, ok in checks) else 1


if __name__ == "__main__":
    raise SystemExit(main())
