"""Carrier assignment: which service carries each shipment leaving on one ship day.

The model. Every (shipment, service) pair with a quoted rate is an option. Taking it costs, in
integer cents,

    rate + penalty_per_day * max(0, transit_days - days_available)        (planned lateness)
         + penalty_per_day * (1 - on_time_rate) * late_days_when_late       (expected lateness)

The first term is the price; the second prices a promise we already know we will break; the
third prices the service's record, because a cheap service that is late one time in five is not
as cheap as its rate. The two penalties are added and rounded half up to the cent once per
option, so the objective is an exact integer and ties are real ties.

Each service has a daily capacity: at most ``max_shipments`` parcels and/or ``max_kg`` in total.
Shipping everything matters more than shipping cheaply, so leaving a shipment unassigned costs a
big-M larger than the whole plan's worst possible cost: no saving elsewhere can pay for dropping
one. (An M just above the dearest single option is not enough: moving one shipment in can push a
chain of others onto dearer services, and that chain can cost more than any one option.) The plan
therefore ships as many shipments as capacity allows and, among those plans, is cheapest. A
shipment that cannot go is reported with the reason, never silently dropped.

Two solvers, chosen by the shape of the capacities:

* count capacities only: the problem is a transportation problem, solved exactly as a min-cost
  flow (source -> shipment -> service -> sink, plus an "unassigned" arc per shipment at M).
  Network flow has integral optimal solutions, so it is optimal, and fast at 20,000 shipments.
* any weight capacity: weights make it a generalised assignment problem (NP-hard), solved with
  CP-SAT under a time limit; the result carries the status, the proven bound and the gap.

Weights enter the weight constraints in whole grams, rounded up, and weight limits rounded down,
so a plan never exceeds a real limit because of rounding.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import ROUND_CEILING, ROUND_FLOOR, ROUND_HALF_UP, Decimal
from typing import Literal, NamedTuple

import numpy as np
from ortools.graph.python import min_cost_flow
from ortools.sat.python import cp_model
from scipy.optimize import linprog
from scipy.sparse import csr_matrix

CENT = Decimal("0.01")
GRAM = Decimal("0.001")
ZERO = Decimal("0.00")
NO_CAPACITY = "no capacity left on any service with a rate"


@dataclass(frozen=True)
class Service:
    """A carrier service as the planner sees it: speed, daily limits and delivery record."""

    code: str
    transit_days: int
    max_shipments: int | None = None
    max_kg: Decimal | None = None
    on_time_rate: float = 1.0
    late_days_when_late: float = 1.0


@dataclass(frozen=True)
class Shipment:
    """A parcel to ship today; ``days_available`` is days until deliver-by, None without one.

    ``origin`` and ``region`` only name the lane when no service has a rate for it.
    """

    id: int
    weight_kg: Decimal
    days_available: int | None
    origin: str | None = None
    region: str | None = None


@dataclass(frozen=True)
class Option:
    """A service's quoted rate for one shipment; a shipment without options has no rate at all."""

    shipment_id: int
    service: str
    cost: Decimal


@dataclass(frozen=True)
class Choice:
    """What one shipment gets, and why, so a shipping clerk can check the plan line by line."""

    shipment_id: int
    service: str | None
    cost: Decimal | None
    eta_days: int | None
    days_late: int
    penalty: Decimal
    reason: str


@dataclass(frozen=True)
class ServiceLoad:
    """How much of a service's day the plan uses, next to its limits."""

    service: str
    shipments: int
    kg: Decimal
    max_shipments: int | None
    max_kg: Decimal | None


@dataclass(frozen=True)
class SolverInfo:
    """How far to trust the plan: a min-cost flow is always optimal, CP-SAT may stop early.

    ``gap`` is (objective - bound) over the plan's rate plus penalty; ``bound`` is the proven
    lower bound on rate plus penalty for a plan shipping as many shipments as this one. When
    CP-SAT finds nothing in time the plan is its feasible starting point, with an infinite gap.
    ``seconds`` covers building and solving the model, not checking and pricing the quotes;
    the CP-SAT time limit applies to its search.
    """

    method: Literal["min_cost_flow", "cp_sat"]
    status: str
    seconds: float
    gap: float
    bound: Decimal


@dataclass(frozen=True)
class Assignment:
    """A day's plan: one choice per shipment in input order, the totals and the service loads."""

    choices: tuple[Choice, ...]
    rate_total: Decimal
    penalty_total: Decimal
    objective: Decimal
    unassigned: int
    solver: SolverInfo
    loads: tuple[ServiceLoad, ...]


@dataclass(frozen=True)
class Totals:
    """Rate, penalty and unassigned count of a plan, for side-by-side comparisons."""

    rate_total: Decimal
    penalty_total: Decimal
    objective: Decimal
    unassigned: int


@dataclass(frozen=True)
class Baseline:
    """The cheapest rate for every shipment, the way a shop without a planner ships.

    The top-level totals ignore capacity and deadlines, so they can look cheaper than any plan
    the carriers would accept; ``over_capacity`` says how many shipments would be refused (taken
    first come, first served, per service). ``first_come`` is that same habit made honest: each
    shipment in input order takes the cheapest rate still with room, else goes unassigned.
    """

    rate_total: Decimal
    penalty_total: Decimal
    objective: Decimal
    unassigned: int
    over_capacity: int
    first_come: Totals


class _Opt(NamedTuple):
    # Field order is the preference order: tuples sort cheapest objective, then rate, first.
    cents: int
    cost: Decimal
    service: int
    penalty: Decimal
    days_late: int
    usable: bool


@dataclass(frozen=True)
class _Problem:
    shipments: Sequence[Shipment]
    services: Sequence[Service]
    options: list[list[_Opt]]  # per shipment, cheapest objective first
    grams: list[int]
    cap_grams: list[int | None]
    big_m: int


def _grams_up(kg: Decimal) -> int:
    return int((kg / GRAM).to_integral_value(rounding=ROUND_CEILING))


def _grams_down(kg: Decimal) -> int:
    return int((kg / GRAM).to_integral_value(rounding=ROUND_FLOOR))


def _cents(amount: Decimal) -> int:
    return int(amount.scaleb(2).to_integral_value(rounding=ROUND_HALF_UP))


def _prepare(
    shipments: Sequence[Shipment],
    services: Sequence[Service],
    options: Iterable[Option],
    penalty_per_day: Decimal,
) -> _Problem:
    if penalty_per_day < 0:
        raise ValueError(f"lateness penalty must not be negative, got {penalty_per_day}")
    service_index: dict[str, int] = {}
    for j, s in enumerate(services):
        if s.code in service_index:
            raise ValueError(f"service {s.code!r} is listed twice")
        service_index[s.code] = j
        if s.transit_days < 0:
            raise ValueError(f"service {s.code}: transit days must not be negative")
        if s.max_shipments is not None and s.max_shipments < 0:
            raise ValueError(f"service {s.code}: max_shipments must not be negative")
        if s.max_kg is not None and s.max_kg < 0:
            raise ValueError(f"service {s.code}: max_kg must not be negative")
        if not 0.0 <= s.on_time_rate <= 1.0:
            raise ValueError(f"service {s.code}: on-time rate must be between 0 and 1")
        if s.late_days_when_late < 0:
            raise ValueError(f"service {s.code}: late days when late must not be negative")
    shipment_index: dict[int, int] = {}
    for i, h in enumerate(shipments):
        if h.id in shipment_index:
            raise ValueError(f"shipment {h.id} is listed twice")
        shipment_index[h.id] = i
        if h.weight_kg < 0:
            raise ValueError(f"shipment {h.id}: weight must not be negative")

    # Duplicate quotes for one pair (two cards, a re-import) keep the cheapest: it is a real offer.
    best: dict[tuple[int, int], Decimal] = {}
    for o in options:
        found_j = service_index.get(o.service)
        if found_j is None:
            raise ValueError(
                f"option for shipment {o.shipment_id} names unknown service {o.service!r}"
            )
        found_i = shipment_index.get(o.shipment_id)
        if found_i is None:
            raise ValueError(f"option names unknown shipment {o.shipment_id}")
        i, j = found_i, found_j
        if o.cost < 0:
            raise ValueError(f"option {o.service} for shipment {o.shipment_id} has a negative cost")
        previous = best.get((i, j))
        if previous is None or o.cost < previous:
            best[(i, j)] = o.cost

    grams = [_grams_up(h.weight_kg) for h in shipments]
    cap_grams = [None if s.max_kg is None else _grams_down(s.max_kg) for s in services]
    expected = [
        penalty_per_day * (1 - Decimal(repr(s.on_time_rate))) * Decimal(repr(s.late_days_when_late))
        for s in services
    ]
    # Rates repeat across shipments and penalties depend on (service, days late) only: price
    # each distinct value once, because a day can hold hundreds of thousands of quotes.
    penalties: dict[tuple[int, int], tuple[Decimal, int]] = {}
    rates: dict[Decimal, tuple[Decimal, int]] = {}
    open_service = [s.max_shipments != 0 for s in services]
    per_shipment: list[list[_Opt]] = [[] for _ in shipments]
    for (i, j), raw_cost in best.items():
        available = shipments[i].days_available
        late = 0 if available is None else max(0, services[j].transit_days - available)
        penalty = penalties.get((j, late))
        if penalty is None:
            amount = (penalty_per_day * late + expected[j]).quantize(CENT, rounding=ROUND_HALF_UP)
            penalty = penalties[(j, late)] = (amount, _cents(amount))
        rate = rates.get(raw_cost)
        if rate is None:
            cost = raw_cost.quantize(CENT, rounding=ROUND_HALF_UP)
            rate = rates[raw_cost] = (cost, _cents(cost))
        cap = cap_grams[j]
        usable = open_service[j] and (cap is None or grams[i] <= cap)
        # tuple.__new__ skips NamedTuple's Python-level constructor, a third of this loop.
        fields = (rate[1] + penalty[1], rate[0], j, penalty[0], late, usable)
        per_shipment[i].append(tuple.__new__(_Opt, fields))
    big_m = 1
    for opts in per_shipment:
        opts.sort()
        big_m += max((o.cents for o in opts if o.usable), default=0)
    return _Problem(shipments, services, per_shipment, grams, cap_grams, big_m)


def _solve_flow(p: _Problem) -> tuple[list[int | None], str]:
    n, m = len(p.shipments), len(p.services)
    source, sink = 0, n + m + 1
    tails: list[int] = []
    heads: list[int] = []
    caps: list[int] = []
    costs: list[int] = []
    pairs: list[tuple[int, int]] = []  # (shipment, option position) per shipment->service arc
    supply = 0
    for i, opts in enumerate(p.options):
        usable = [(k, o) for k, o in enumerate(opts) if o.usable]
        if not usable:
            continue
        supply += 1
        for k, o in usable:
            tails.append(1 + i)
            heads.append(1 + n + o.service)
            caps.append(1)
            costs.append(o.cents)
            pairs.append((i, k))
    option_arcs = len(tails)
    for i, opts in enumerate(p.options):
        if any(o.usable for o in opts):
            tails += [source, 1 + i]
            heads += [1 + i, sink]
            caps += [1, 1]
            costs += [0, p.big_m]
    for j, s in enumerate(p.services):
        tails.append(1 + n + j)
        heads.append(sink)
        caps.append(supply if s.max_shipments is None else min(s.max_shipments, supply))
        costs.append(0)
    flow = min_cost_flow.SimpleMinCostFlow()
    flow.add_arcs_with_capacity_and_unit_cost(
        np.asarray(tails, dtype=np.int32),
        np.asarray(heads, dtype=np.int32),
        np.asarray(caps, dtype=np.int64),
        np.asarray(costs, dtype=np.int64),
    )
    flow.set_node_supply(source, supply)
    flow.set_node_supply(sink, -supply)
    status = flow.solve()
    if status != flow.OPTIMAL:
        raise RuntimeError(f"min-cost flow failed with status {status}")
    picked: list[int | None] = [None] * n
    if option_arcs:
        used = flow.flows(np.arange(option_arcs, dtype=np.int32))
        for a in np.flatnonzero(used):
            i, k = pairs[int(a)]
            picked[i] = k
    return picked, "OPTIMAL"


def _place(p: _Problem, preferences: Iterable[tuple[int, Sequence[int]]]) -> list[int | None]:
    """Each shipment in turn takes its first preferred option that still fits: always feasible."""
    count = [0] * len(p.services)
    grams = [0] * len(p.services)
    picked: list[int | None] = [None] * len(p.shipments)
    for i, ranked in preferences:
        for k in ranked:
            o = p.options[i][k]
            if o.usable and _fits(p, o.service, i, count, grams):
                picked[i] = k
                count[o.service] += 1
                grams[o.service] += p.grams[i]
                break
    return picked


def _greedy(p: _Problem) -> list[int | None]:
    """Cheapest rate plus penalty with room, in input order."""
    return _place(p, ((i, range(len(opts))) for i, opts in enumerate(p.options)))


def _lp_rounding(p: _Problem) -> list[int | None]:
    """A near-optimal start from the LP relaxation, which is tight for this problem.

    A basic LP solution has at most one fractional shipment per capacity row, so keeping the
    integral part and placing the few fractional shipments greedily loses very little. CP-SAT's
    own search finds plans like this slowly on thousands of shipments (its bound is good, its
    first plans are not), so it starts from this one.
    """
    cols = [
        (i, k, o.service, o.cents)
        for i, opts in enumerate(p.options)
        for k, o in enumerate(opts)
        if o.usable
    ]
    if not cols:
        return [None] * len(p.shipments)
    ship = np.array([c[0] for c in cols])
    service = np.array([c[2] for c in cols])
    quoted, row_of_col = np.unique(ship, return_inverse=True)
    nx, nu = len(cols), len(quoted)
    cost = np.r_[np.array([c[3] for c in cols], dtype=float), np.full(nu, float(p.big_m))]
    a_eq = csr_matrix(
        (np.ones(nx + nu), (np.r_[row_of_col, np.arange(nu)], np.arange(nx + nu))),
        shape=(nu, nx + nu),
    )
    rows: list[np.ndarray] = []
    coefs: list[np.ndarray] = []
    cols_of_row: list[np.ndarray] = []
    limits: list[float] = []
    weight = np.array(p.grams, dtype=float)[ship]
    for j, s in enumerate(p.services):
        on = np.flatnonzero(service == j)
        for coef, limit in ((np.ones(len(on)), s.max_shipments), (weight[on], p.cap_grams[j])):
            if limit is not None:
                rows.append(np.full(len(on), len(limits)))
                coefs.append(coef)
                cols_of_row.append(on)
                limits.append(float(limit))
    a_ub = None
    if limits:
        a_ub = csr_matrix(
            (np.concatenate(coefs), (np.concatenate(rows), np.concatenate(cols_of_row))),
            shape=(len(limits), nx + nu),
        )
    result = linprog(
        cost,
        A_ub=a_ub,
        b_ub=limits or None,
        A_eq=a_eq,
        b_eq=np.ones(nu),
        bounds=(0, 1),
        method="highs",
    )
    if result.status != 0:
        return _greedy(p)
    x = result.x[:nx]
    value: dict[tuple[int, int], float] = {
        (c[0], c[1]): float(v) for c, v in zip(cols, x, strict=True)
    }
    settled = {c[0] for c, v in zip(cols, x, strict=True) if v > 1 - 1e-6}

    def ranked(i: int) -> list[int]:
        return sorted(
            range(len(p.options[i])), key=lambda k: (-value.get((i, k), 0.0), p.options[i][k].cents)
        )

    # Shipments that some unlimited service would take can always be placed, so they go last
    # and give way; among the rest, the LP's whole choices first, then the split ones.
    unlimited = [
        s.max_shipments is None and c is None for s, c in zip(p.services, p.cap_grams, strict=True)
    ]
    flexible = {
        i
        for i, opts in enumerate(p.options)
        if any(o.usable and unlimited[o.service] for o in opts)
    }
    order = sorted(range(len(p.shipments)), key=lambda i: (i in flexible, i not in settled))
    return _place(p, ((i, ranked(i)) for i in order))


def _score(p: _Problem, picked: Sequence[int | None]) -> int:
    return sum(
        p.big_m if k is None else p.options[i][k].cents
        for i, k in enumerate(picked)
        if any(o.usable for o in p.options[i])
    )


def _fits(p: _Problem, j: int, i: int, count: list[int], grams: list[int]) -> bool:
    s, cap = p.services[j], p.cap_grams[j]
    if s.max_shipments is not None and count[j] >= s.max_shipments:
        return False
    return cap is None or grams[j] + p.grams[i] <= cap


def _solve_cp_sat(
    p: _Problem, time_limit_s: float
) -> tuple[list[int | None], str, int | None, int | None]:
    model = cp_model.CpModel()
    hint = min(_lp_rounding(p), _greedy(p), key=lambda plan: _score(p, plan))
    by_service: list[list[tuple[int, cp_model.IntVar]]] = [[] for _ in p.services]
    chosen: list[list[tuple[int, cp_model.IntVar]]] = []
    objective: list[tuple[int, cp_model.IntVar]] = []
    for i, opts in enumerate(p.options):
        literals: list[tuple[int, cp_model.IntVar]] = []
        for k, o in enumerate(opts):
            if not o.usable:
                continue
            x = model.new_bool_var(f"x{i}_{o.service}")
            model.add_hint(x, hint[i] == k)
            literals.append((k, x))
            by_service[o.service].append((i, x))
            objective.append((o.cents, x))
        chosen.append(literals)
        if literals:
            u = model.new_bool_var(f"u{i}")
            model.add_hint(u, hint[i] is None)
            model.add_exactly_one([x for _, x in literals] + [u])
            objective.append((p.big_m, u))
    for j, s in enumerate(p.services):
        xs = by_service[j]
        if s.max_shipments is not None and len(xs) > s.max_shipments:
            model.add(cp_model.LinearExpr.sum([x for _, x in xs]) <= s.max_shipments)
        cap = p.cap_grams[j]
        if cap is not None and sum(p.grams[i] for i, _ in xs) > cap:
            weights = [p.grams[i] for i, _ in xs]
            model.add(cp_model.LinearExpr.weighted_sum([x for _, x in xs], weights) <= cap)
    model.minimize(
        cp_model.LinearExpr.weighted_sum([v for _, v in objective], [c for c, _ in objective])
    )
    solver = cp_model.CpSolver()
    solver.parameters.num_workers = 8
    solver.parameters.max_time_in_seconds = time_limit_s
    status = solver.solve(model)
    name = solver.status_name(status)
    if status not in (cp_model.OPTIMAL, cp_model.FEASIBLE):
        # No solution in time: the starting plan is feasible by construction, so ship that.
        return hint, name, None, None
    picked: list[int | None] = [None] * len(p.shipments)
    for i, literals in enumerate(chosen):
        for k, x in literals:
            if solver.boolean_value(x):
                picked[i] = k
    return picked, name, round(solver.objective_value), round(solver.best_objective_bound)


def _plural_days(n: int) -> str:
    return f"{n} day" if n == 1 else f"{n} days"


def _reason(p: _Problem, i: int, k: int, count: list[int], grams: list[int]) -> str:
    opts = p.options[i]
    chosen = opts[k]
    cheaper = [o for o in opts if o.cents < chosen.cents]
    if cheaper:
        o = cheaper[0]
        code = p.services[o.service].code
        if not o.usable or not _fits(p, o.service, i, count, grams):
            return f"cheaper {code} ({o.cost}) was full"
        return f"cheaper {code} ({o.cost}) had room; the solver stopped at its time limit"
    # Nothing beats the choice on rate plus penalty; a lower rate lost on lateness alone.
    lower_rate = [o for o in opts if o.cost < chosen.cost]
    if lower_rate:
        o = min(lower_rate, key=lambda o: (o.cost, o.cents))
        service = p.services[o.service]
        if o.days_late:
            return f"cheaper {service.code} ({o.cost}) arrives {_plural_days(o.days_late)} late"
        on_time = f"{service.on_time_rate:.0%}"
        return f"cheaper {service.code} ({o.cost}) is on time only {on_time} of the time"
    return "cheapest"


def _no_rate(h: Shipment) -> str:
    if h.region is not None and h.origin is not None:
        return f"no rate for region {h.region} from origin {h.origin}"
    return "no rate from any service"


def assign(
    shipments: Sequence[Shipment],
    services: Sequence[Service],
    options: Iterable[Option],
    *,
    lateness_penalty_per_day: Decimal,
    time_limit_s: float = 30.0,
) -> Assignment:
    """The day's plan: most shipments shipped, then the lowest rate plus lateness penalty."""
    p = _prepare(shipments, services, options, lateness_penalty_per_day)
    started = time.perf_counter()
    method: Literal["min_cost_flow", "cp_sat"]
    if all(s.max_kg is None for s in services):
        method = "min_cost_flow"
        picked, status = _solve_flow(p)
        value: int | None = None
        bound: int | None = None
    else:
        method = "cp_sat"
        picked, status, value, bound = _solve_cp_sat(p, time_limit_s)
    seconds = time.perf_counter() - started

    count = [0] * len(services)
    grams = [0] * len(services)
    kg = [Decimal(0)] * len(services)
    for i, k in enumerate(picked):
        if k is not None:
            j = p.options[i][k].service
            count[j] += 1
            grams[j] += p.grams[i]
            kg[j] += shipments[i].weight_kg
    choices: list[Choice] = []
    rate_total = penalty_total = ZERO
    unassigned = 0
    for i, h in enumerate(shipments):
        k = picked[i]
        if k is None:
            unassigned += 1
            reason = NO_CAPACITY if p.options[i] else _no_rate(h)
            choices.append(Choice(h.id, None, None, None, 0, ZERO, reason))
            continue
        o = p.options[i][k]
        service = services[o.service]
        rate_total += o.cost
        penalty_total += o.penalty
        reason = _reason(p, i, k, count, grams)
        choices.append(
            Choice(h.id, service.code, o.cost, service.transit_days, o.days_late, o.penalty, reason)
        )
    objective = rate_total + penalty_total
    plan_cents = _cents(objective)
    if value is None or bound is None:
        gap, bound_cents = 0.0, plan_cents
        if method == "cp_sat":  # fell back to the starting plan: nothing proven
            gap, bound_cents = float("inf"), 0
    else:
        # Bounds and values include M per unassigned shipment; the gap is read in money.
        in_model = sum(
            1 for i, k in enumerate(picked) if k is None and any(o.usable for o in p.options[i])
        )
        bound_cents = max(0, bound - in_model * p.big_m)
        gap = max(0, value - bound) / max(1, plan_cents)
    loads = tuple(
        ServiceLoad(s.code, count[j], kg[j], s.max_shipments, s.max_kg)
        for j, s in enumerate(services)
    )
    return Assignment(
        choices=tuple(choices),
        rate_total=rate_total,
        penalty_total=penalty_total,
        objective=objective,
        unassigned=unassigned,
        solver=SolverInfo(method, status, seconds, gap, Decimal(bound_cents).scaleb(-2)),
        loads=loads,
    )


def cheapest_rate_baseline(
    shipments: Sequence[Shipment],
    services: Sequence[Service],
    options: Iterable[Option],
    *,
    lateness_penalty_per_day: Decimal,
) -> Baseline:
    """What shops without a planner do: the lowest rate, whatever the deadline or the truck."""
    p = _prepare(shipments, services, options, lateness_penalty_per_day)

    def by_rate(opts: list[_Opt]) -> list[_Opt]:
        return sorted(opts, key=lambda o: (o.cost, o.cents, o.service))

    rate = penalty = ZERO
    no_rate = over = 0
    count = [0] * len(services)
    grams = [0] * len(services)
    for i, opts in enumerate(p.options):
        if not opts:
            no_rate += 1
            continue
        o = by_rate(opts)[0]
        rate += o.cost
        penalty += o.penalty
        if o.usable and _fits(p, o.service, i, count, grams):
            count[o.service] += 1
            grams[o.service] += p.grams[i]
        else:
            over += 1

    fc_rate = fc_penalty = ZERO
    fc_unassigned = 0
    count = [0] * len(services)
    grams = [0] * len(services)
    for i, opts in enumerate(p.options):
        for o in by_rate(opts):
            if o.usable and _fits(p, o.service, i, count, grams):
                count[o.service] += 1
                grams[o.service] += p.grams[i]
                fc_rate += o.cost
                fc_penalty += o.penalty
                break
        else:
            fc_unassigned += 1
    return Baseline(
        rate_total=rate,
        penalty_total=penalty,
        objective=rate + penalty,
        unassigned=no_rate,
        over_capacity=over,
        first_come=Totals(fc_rate, fc_penalty, fc_rate + fc_penalty, fc_unassigned),
    )
