"""What to buy from whom: quantities and suppliers at least cost under shared limits.

Each line is an (item, warehouse) that needs ``need`` units. Suppliers offer the item with
all-units price breaks (the whole order is priced at the deepest break it reaches), a minimum
order quantity and a pack size; a slower supplier may need more units to cover the same demand
(``need_by_supplier``). Units from supplier s count ``need / need_s`` towards the line, and
whatever stays uncovered costs ``shortage_cost`` per unit. Lines share a purchase budget, each
supplier's capacity (units) and each warehouse's free volume. The cost minimised is purchase
cost times (1 + the supplier's risk premium) plus the shortage cost.

Why options and not one integer quantity per (line, supplier): the cost of a quantity is a
staircase (packs, MOQ, breaks), and a model that prices it with tier binaries and pack counts
has a weak LP relaxation (it buys 1.3 packs), so the branch and bound struggles at 10,000 lines.
Instead each line gets a short list of *options* and exactly one is chosen:

* ``cover``: the smallest acceptable quantity from one supplier that covers the need alone;
* ``break``: a larger quantity at a higher break when its total is lower (a break reached);
* ``partial``: fewer units than the need (a whole range of pack counts, kept as one integer
  variable), paying shortage for the rest: what a binding budget or capacity leaves;
* ``split``: two (up to ``max_split``) suppliers at once, each inside one price tier;
* ``short``: buy nothing.

Because each option carries its own shortage, the LP relaxation of a line is the convex hull of
its options and is nearly integral; only lines at the margin of a binding limit are fractional.

Two enumerations. ``exhaustive`` gives every supplier subset (up to ``max_split``) with each
member free inside any of its price tiers; together with the single-supplier options it contains
every quantity vector worth buying (more than covers the need alone is dominated within a tier),
so it is exact, and it is used while the model stays small. ``compact`` keeps, per line, the
cover and break options, one partial range per supplier when some limit applies and a
half-and-half split per supplier pair when a capacity applies: a restriction, sized for many
thousands of lines, whose gap is reported against its own bound.

Duals come from the LP relaxation of the same option model: the budget, capacity and volume rows
with a non-zero shadow price are what bound the plan ("another 1.00 of budget saves 0.37").
"""

from __future__ import annotations

import itertools
import math
import time
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import KW_ONLY, dataclass, field
from decimal import Decimal
from fractions import Fraction
from typing import Any, Literal

from ortools.linear_solver import pywraplp

Enumeration = Literal["auto", "exhaustive", "compact"]

# Beyond this many options across all lines the exhaustive enumeration gives way to the compact.
EXHAUSTIVE_MAX_OPTIONS = 6000
_MIP_BACKENDS = ("HIGHS", "SCIP", "CBC")
_DUAL_EPS = 1e-7
_HUNDRED = Decimal(100)


@dataclass(frozen=True)
class PriceBreak:
    """From ``min_qty`` units on the order, every unit costs ``unit_price`` (all-units)."""

    min_qty: int
    unit_price: Decimal


@dataclass(frozen=True)
class Offer:
    """A supplier's terms for one item. Below the first break the first break's price applies."""

    supplier: str
    sku: str
    unit_prices: tuple[PriceBreak, ...]
    _: KW_ONLY
    moq: int = 1
    pack: int = 1
    lead_time_days: float
    risk_premium_pct: float = 0.0


@dataclass(frozen=True)
class Line:
    """An (item, warehouse) to replenish; ``need_by_supplier`` overrides ``need`` per supplier."""

    sku: str
    warehouse: str
    need: int
    _: KW_ONLY
    need_by_supplier: Mapping[str, int] | None = None
    shortage_cost: Decimal
    unit_volume: float = 0.0


@dataclass(frozen=True)
class Limits:
    """Shared limits: purchase budget, units per supplier, free m3 per warehouse."""

    budget: Decimal | None = None
    supplier_capacity: Mapping[str, int] = field(default_factory=dict)
    warehouse_volume: Mapping[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class PlannedLine:
    sku: str
    warehouse: str
    supplier: str
    quantity: int
    unit_price: Decimal
    total: Decimal
    explanation: dict[str, Any]


@dataclass(frozen=True)
class ShortLine:
    """Units of a line's need left uncovered (rounded up to whole units) and why."""

    sku: str
    warehouse: str
    quantity_short: int
    reason: str


@dataclass(frozen=True)
class SolverInfo:
    status: str
    gap: float
    seconds: float
    backend: str
    enumeration: str = "exhaustive"
    options: int = 0


@dataclass(frozen=True)
class SourcingPlan:
    lines: tuple[PlannedLine, ...]
    short: tuple[ShortLine, ...]
    objective: Decimal
    solver: SolverInfo
    duals: Mapping[str, float] = field(default_factory=dict)


# --- one line's view of its offers -----------------------------------------------------------


def _ceil_to(q: int, pack: int) -> int:
    return -(-q // pack) * pack


@dataclass(frozen=True)
class _Tier:
    index: int
    price: Decimal
    low: int  # smallest acceptable quantity priced at this tier
    high: int | None  # largest, None when unbounded


@dataclass(frozen=True)
class _Supply:
    offer: Offer
    need: int
    weight: Fraction  # how much of the line's need one unit covers
    tiers: tuple[_Tier, ...]
    cover: int  # smallest acceptable quantity covering the need alone
    factor: Decimal  # 1 + risk premium

    def tier_of(self, quantity: int) -> _Tier:
        found = self.tiers[0]
        for tier in self.tiers:
            if tier.low <= quantity:
                found = tier
        return found

    def capped_high(self, tier: _Tier) -> int:
        """More than covers the need alone is never worth it within a tier."""
        top = max(tier.low, self.cover)
        return top if tier.high is None else min(tier.high, top)


def _price_at(breaks: Sequence[PriceBreak], quantity: int) -> tuple[Decimal, int]:
    price, reached = breaks[0].unit_price, breaks[0].min_qty
    for b in breaks:
        if b.min_qty <= quantity:
            price, reached = b.unit_price, b.min_qty
    return price, reached


def _supply(offer: Offer, line: Line) -> _Supply:
    need_s = (
        line.need
        if not line.need_by_supplier
        else line.need_by_supplier.get(offer.supplier, line.need)
    )
    if need_s < 1:
        raise ValueError(
            f"need_by_supplier: {line.sku}/{line.warehouse} needs {need_s} from {offer.supplier}"
        )
    pack, moq = offer.pack, offer.moq
    breaks = sorted(offer.unit_prices, key=lambda b: b.min_qty)
    least = _ceil_to(moq, pack)
    tiers: list[_Tier] = []
    for i, b in enumerate(breaks):
        start = 1 if i == 0 else b.min_qty
        low = max(_ceil_to(start, pack), least)
        high = None if i + 1 == len(breaks) else (breaks[i + 1].min_qty - 1) // pack * pack
        if high is None or low <= high:
            tiers.append(_Tier(len(tiers), b.unit_price, low, high))
    cover = max(_ceil_to(need_s, pack), least)
    factor = 1 + Decimal(str(offer.risk_premium_pct)) / _HUNDRED
    return _Supply(offer, need_s, Fraction(line.need, need_s), tuple(tiers), cover, factor)


def _validate(
    lines: Sequence[Line], offers: Sequence[Offer], limits: Limits, max_split: int
) -> None:
    if max_split < 1:
        raise ValueError(f"max_split: must be at least 1, got {max_split}")
    seen: set[tuple[str, str]] = set()
    for o in offers:
        where = f"offer {o.supplier}/{o.sku}"
        if (o.supplier, o.sku) in seen:
            raise ValueError(f"offers: {where} is given twice")
        seen.add((o.supplier, o.sku))
        if not o.unit_prices:
            raise ValueError(f"unit_prices: {where} has no price")
        if len({b.min_qty for b in o.unit_prices}) != len(o.unit_prices):
            raise ValueError(f"unit_prices: {where} repeats a break quantity")
        if any(b.unit_price < 0 for b in o.unit_prices):
            raise ValueError(f"unit_prices: {where} has a negative price")
        if o.moq < 1:
            raise ValueError(f"moq: {where} must be at least 1, got {o.moq}")
        if o.pack < 1:
            raise ValueError(f"pack: {where} must be at least 1, got {o.pack}")
        if o.risk_premium_pct < 0:
            raise ValueError(f"risk_premium_pct: {where} must not be negative")
    for line in lines:
        if line.need < 0:
            raise ValueError(f"need: {line.sku}/{line.warehouse} must not be negative")
        if line.shortage_cost < 0:
            raise ValueError(f"shortage_cost: {line.sku}/{line.warehouse} must not be negative")
        if line.unit_volume < 0:
            raise ValueError(f"unit_volume: {line.sku}/{line.warehouse} must not be negative")
    if limits.budget is not None and limits.budget < 0:
        raise ValueError(f"budget: must not be negative, got {limits.budget}")
    if any(c < 0 for c in limits.supplier_capacity.values()):
        raise ValueError("supplier_capacity: must not be negative")
    if any(v < 0 for v in limits.warehouse_volume.values()):
        raise ValueError("warehouse_volume: must not be negative")


# --- options ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Member:
    supply: int  # index into the line's supplies
    tier: int
    low: int
    high: int  # == low for a fixed quantity


@dataclass(frozen=True)
class _Option:
    kind: str  # short, cover, break, partial, split
    members: tuple[_Member, ...]


def _single_options(s: int, sup: _Supply, *, partial: bool, all_tiers: bool) -> list[_Option]:
    options: list[_Option] = []
    cover_tier = sup.tier_of(sup.cover)
    options.append(_Option("cover", (_Member(s, cover_tier.index, sup.cover, sup.cover),)))
    best = cover_tier.price * sup.cover
    for tier in sup.tiers:
        if tier.low > sup.cover and tier.price * tier.low < best:
            best = tier.price * tier.low
            options.append(_Option("break", (_Member(s, tier.index, tier.low, tier.low),)))
    if partial:
        below = (sup.need - 1) // sup.offer.pack * sup.offer.pack  # most that still falls short
        ranges = []
        for tier in sup.tiers:
            top = below if tier.high is None else min(tier.high, below)
            if tier.low <= top:
                ranges.append(_Option("partial", (_Member(s, tier.index, tier.low, top),)))
        options.extend(ranges if all_tiers else ranges[-1:])
    return options


def _exhaustive(supplies: Sequence[_Supply], max_split: int) -> list[_Option]:
    options = [_Option("short", ())]
    for s, sup in enumerate(supplies):
        options.extend(_single_options(s, sup, partial=True, all_tiers=True))
    for size in range(2, min(max_split, len(supplies)) + 1):
        for group in itertools.combinations(range(len(supplies)), size):
            choices = [
                [_Member(s, t.index, t.low, supplies[s].capped_high(t)) for t in supplies[s].tiers]
                for s in group
            ]
            options.extend(_Option("split", members) for members in itertools.product(*choices))
    return options


def _exhaustive_count(supplies: Sequence[_Supply], max_split: int) -> int:
    tiers = [len(s.tiers) for s in supplies]
    total = 1 + sum(2 * t + 1 for t in tiers)
    for size in range(2, min(max_split, len(supplies)) + 1):
        total += sum(math.prod(c) for c in itertools.combinations(tiers, size))
    return total


def _compact(
    supplies: Sequence[_Supply], max_split: int, *, limited: bool, capacitated: set[str]
) -> list[_Option]:
    options = [_Option("short", ())]
    for s, sup in enumerate(supplies):
        options.extend(_single_options(s, sup, partial=limited, all_tiers=False))
    if max_split < 2:
        return options
    for a, b in itertools.permutations(range(len(supplies)), 2):
        sa, sb = supplies[a], supplies[b]
        if not {sa.offer.supplier, sb.offer.supplier} & capacitated:
            continue
        qa = max(_ceil_to(-(-sa.need // 2), sa.offer.pack), _ceil_to(sa.offer.moq, sa.offer.pack))
        if qa >= sa.need:
            continue
        rest = Fraction(sa.need - qa, sa.need) * sb.need  # units of b still needed
        qb = max(_ceil_to(math.ceil(rest), sb.offer.pack), _ceil_to(sb.offer.moq, sb.offer.pack))
        members = (
            _Member(a, sa.tier_of(qa).index, qa, qa),
            _Member(b, sb.tier_of(qb).index, qb, qb),
        )
        options.append(_Option("split", members))
    return options


# --- the model -------------------------------------------------------------------------------


@dataclass
class _Built:
    solver: pywraplp.Solver
    choose: list[list[Any]]  # per line, per option: the 0/1 variable
    amounts: list[list[list[Any]]]  # per line, option, member: pack-count variable or None
    rows: dict[str, Any]


def _build(
    solver: pywraplp.Solver,
    lines: Sequence[Line],
    supplies: Sequence[Sequence[_Supply]],
    options: Sequence[Sequence[_Option]],
    limits: Limits,
    *,
    integer: bool,
) -> _Built:
    inf = solver.infinity()
    objective = solver.Objective()
    objective.SetMinimization()
    rows: dict[str, Any] = {}
    if limits.budget is not None:
        rows["budget"] = solver.Constraint(-inf, float(limits.budget), "budget")
    offering = {sup.offer.supplier for line_supplies in supplies for sup in line_supplies}
    for name, cap in sorted(limits.supplier_capacity.items()):
        if name in offering:
            rows[f"capacity:{name}"] = solver.Constraint(-inf, float(cap), f"capacity:{name}")
    warehouses = {line.warehouse for line in lines if line.unit_volume > 0}
    for name, vol in sorted(limits.warehouse_volume.items()):
        if name in warehouses:
            rows[f"volume:{name}"] = solver.Constraint(-inf, float(vol), f"volume:{name}")
    budget = rows.get("budget")
    offset = 0.0
    choose: list[list[Any]] = []
    amounts: list[list[list[Any]]] = []
    for li, line in enumerate(lines):
        line_choose: list[Any] = []
        line_amounts: list[list[Any]] = []
        choose.append(line_choose)
        amounts.append(line_amounts)
        short_cost = float(line.shortage_cost)
        if not options[li]:
            offset += short_cost * line.need
            continue
        volume = rows.get(f"volume:{line.warehouse}") if line.unit_volume > 0 else None
        one = solver.Constraint(1.0, 1.0)
        for opt in options[li]:
            y = solver.BoolVar("") if integer else solver.NumVar(0.0, 1.0, "")
            one.SetCoefficient(y, 1.0)
            line_choose.append(y)
            member_vars: list[Any] = []
            line_amounts.append(member_vars)
            coef: defaultdict[str, float] = defaultdict(float)  # coefficients of y
            covered = Fraction(0)
            ranged: list[tuple[Any, float]] = []
            for m in opt.members:
                sup = supplies[li][m.supply]
                price = float(sup.tiers[m.tier].price)
                unit_cost = price * float(sup.factor)
                capacity = rows.get(f"capacity:{sup.offer.supplier}")
                if m.low == m.high:
                    member_vars.append(None)
                    coef["objective"] += unit_cost * m.low
                    coef["budget"] += price * m.low
                    coef[f"capacity:{sup.offer.supplier}"] += m.low
                    coef["volume"] += line.unit_volume * m.low
                    covered += sup.weight * m.low
                    continue
                pack = sup.offer.pack
                n = (
                    solver.IntVar(0.0, m.high // pack, "")
                    if integer
                    else solver.NumVar(0.0, m.high // pack, "")
                )
                member_vars.append(n)
                lo = solver.Constraint(0.0, inf)
                lo.SetCoefficient(n, 1.0)
                lo.SetCoefficient(y, -(m.low // pack))
                hi = solver.Constraint(-inf, 0.0)
                hi.SetCoefficient(n, 1.0)
                hi.SetCoefficient(y, -(m.high // pack))
                objective.SetCoefficient(n, unit_cost * pack)
                if budget is not None:
                    budget.SetCoefficient(n, price * pack)
                if capacity is not None:
                    capacity.SetCoefficient(n, float(pack))
                if volume is not None:
                    volume.SetCoefficient(n, line.unit_volume * pack)
                ranged.append((n, float(sup.weight) * pack))
            if not ranged:
                coef["objective"] += short_cost * float(max(Fraction(0), line.need - covered))
            elif opt.kind == "partial":
                # below the cover for every count in range: shortage is need - covered, linear
                coef["objective"] += short_cost * line.need
                for n, weight in ranged:
                    objective.SetCoefficient(n, objective.GetCoefficient(n) - short_cost * weight)
            else:
                shortage = solver.NumVar(0.0, float(line.need), "")
                objective.SetCoefficient(shortage, short_cost)
                cap_short = solver.Constraint(-inf, 0.0)
                cap_short.SetCoefficient(shortage, 1.0)
                cap_short.SetCoefficient(y, -float(line.need))
                cover_row = solver.Constraint(0.0, inf)
                cover_row.SetCoefficient(shortage, 1.0)
                cover_row.SetCoefficient(y, float(covered) - line.need)
                for n, weight in ranged:
                    cover_row.SetCoefficient(n, weight)
            objective.SetCoefficient(y, coef["objective"])
            if budget is not None and coef["budget"]:
                budget.SetCoefficient(y, coef["budget"])
            if volume is not None and coef["volume"]:
                volume.SetCoefficient(y, coef["volume"])
            for key, value in coef.items():
                if key.startswith("capacity:") and key in rows and value:
                    rows[key].SetCoefficient(y, value)
    objective.SetOffset(offset)
    return _Built(solver, choose, amounts, rows)


def _status_name(status: int) -> str:
    return {
        pywraplp.Solver.OPTIMAL: "optimal",
        pywraplp.Solver.FEASIBLE: "feasible",
        pywraplp.Solver.INFEASIBLE: "infeasible",
        pywraplp.Solver.UNBOUNDED: "unbounded",
        pywraplp.Solver.ABNORMAL: "abnormal",
        pywraplp.Solver.NOT_SOLVED: "not_solved",
    }.get(status, str(status))


def _mip_solver() -> tuple[pywraplp.Solver, str]:
    for name in _MIP_BACKENDS:
        solver = pywraplp.Solver.CreateSolver(name)
        if solver is not None:
            solver.SuppressOutput()
            if name == "HIGHS":
                # HiGHS prints its banner to stdout unless told not to, SuppressOutput or not.
                solver.SetSolverSpecificParametersAsString("output_flag=false")
            return solver, name
    raise RuntimeError("no MILP backend in this OR-Tools build (tried HiGHS, SCIP, CBC)")


# --- reading the answer back -----------------------------------------------------------------


def _dec(x: Fraction) -> Decimal:
    return Decimal(x.numerator) / Decimal(x.denominator)


def _money(x: Decimal) -> str:
    return f"{x:.2f}"


@dataclass(frozen=True)
class _Plan:
    """One line's purchase: (supply index, quantity) parts and the exact shortage left."""

    parts: tuple[tuple[int, int], ...]
    short: Fraction
    kind: str

    def purchase(self, supplies: Sequence[_Supply]) -> Decimal:
        return sum(
            (_price_at(supplies[s].offer.unit_prices, q)[0] * q for s, q in self.parts),
            Decimal(0),
        )

    def cost(self, supplies: Sequence[_Supply], line: Line) -> Decimal:
        bought = sum(
            (
                _price_at(supplies[s].offer.unit_prices, q)[0] * q * supplies[s].factor
                for s, q in self.parts
            ),
            Decimal(0),
        )
        return bought + line.shortage_cost * _dec(self.short)


def _plan_of(
    line: Line, supplies: Sequence[_Supply], parts: Sequence[tuple[int, int]], kind: str
) -> _Plan:
    covered = sum((supplies[s].weight * q for s, q in parts), Fraction(0))
    kept = tuple(sorted((s, q) for s, q in parts if q > 0))
    return _Plan(kept, max(Fraction(0), line.need - covered), kind if kept else "short")


def _standalone(line: Line, supplies: Sequence[_Supply]) -> list[_Plan]:
    """What the line would weigh up with no shared limit: short, each cover, each break."""
    plans = [_Plan((), Fraction(line.need), "short")]
    for s, sup in enumerate(supplies):
        for opt in _single_options(s, sup, partial=False, all_tiers=False):
            plans.extend([_plan_of(line, supplies, [(s, opt.members[0].low)], opt.kind)])
    return plans


def _binding_text(row: str, saving: float) -> str:
    kind, _, name = row.partition(":")
    if kind == "budget":
        return f"budget binding: another 1.00 of budget saves {saving:.2f}"
    if kind == "capacity":
        return f"capacity of {name} binding: another unit from {name} saves {saving:.2f}"
    return f"volume in {name} binding: another 1 m3 of space saves {saving:.2f}"


def _rows_of(line: Line, supplies: Sequence[_Supply]) -> list[str]:
    rows = ["budget"]
    rows += [f"capacity:{sup.offer.supplier}" for sup in supplies]
    if line.unit_volume > 0:
        rows.append(f"volume:{line.warehouse}")
    return rows


def source(
    lines: Sequence[Line],
    offers: Sequence[Offer],
    limits: Limits,
    *,
    max_split: int = 2,
    time_limit_s: float = 20.0,
    mip_gap: float = 1e-4,
    enumeration: Enumeration = "auto",
    duals: bool = True,
) -> SourcingPlan:
    """Choose, per line, suppliers and quantities (or a shortage) at least total cost.

    ``mip_gap`` is the relative gap at which the search may stop (0 proves the optimum);
    ``enumeration`` forces the exhaustive or the compact option list (see the module notes);
    ``duals`` solves the LP relaxation once more to name the binding limits.
    """
    started = time.perf_counter()
    _validate(lines, offers, limits, max_split)
    by_sku: defaultdict[str, list[Offer]] = defaultdict(list)
    for o in offers:
        by_sku[o.sku].append(o)
    supplies: list[list[_Supply]] = [
        [_supply(o, line) for o in sorted(by_sku.get(line.sku, []), key=lambda o: o.supplier)]
        if line.need > 0
        else []
        for line in lines
    ]
    capacitated = set(limits.supplier_capacity)
    if enumeration == "auto":
        total = sum(_exhaustive_count(s, max_split) for s in supplies if s)
        enumeration = "exhaustive" if total <= EXHAUSTIVE_MAX_OPTIONS else "compact"
    options: list[list[_Option]] = []
    for line, line_supplies in zip(lines, supplies, strict=True):
        if not line_supplies:
            options.append([])
        elif enumeration == "exhaustive":
            options.append(_exhaustive(line_supplies, max_split))
        else:
            limited = (
                limits.budget is not None
                or any(sup.offer.supplier in capacitated for sup in line_supplies)
                or (line.unit_volume > 0 and line.warehouse in limits.warehouse_volume)
            )
            options.append(
                _compact(line_supplies, max_split, limited=limited, capacitated=capacitated)
            )

    solver, backend = _mip_solver()
    built = _build(solver, lines, supplies, options, limits, integer=True)
    params = pywraplp.MPSolverParameters()
    params.SetDoubleParam(params.RELATIVE_MIP_GAP, mip_gap)
    solver.SetTimeLimit(max(1, int(time_limit_s * 1000)))
    # Nothing to choose when every line is empty or has no offer.
    empty = solver.NumVariables() == 0
    status = pywraplp.Solver.OPTIMAL if empty else solver.Solve(params)
    status_name = _status_name(status)
    solved = status in (pywraplp.Solver.OPTIMAL, pywraplp.Solver.FEASIBLE)

    plans: list[_Plan] = []
    for li, line in enumerate(lines):
        if not options[li] or not solved:
            plans.append(_Plan((), Fraction(line.need), "short"))
            continue
        chosen = max(range(len(options[li])), key=lambda k: built.choose[li][k].solution_value())
        opt = options[li][chosen]
        parts = []
        for m, var in zip(opt.members, built.amounts[li][chosen], strict=True):
            pack = supplies[li][m.supply].offer.pack
            q = m.low if var is None else round(var.solution_value()) * pack
            parts.append((m.supply, q))
        plans.append(_plan_of(line, supplies[li], parts, opt.kind))

    if solved and solver.NumVariables() == 0:
        gap = 0.0
    elif solved:
        value = solver.Objective().Value()
        bound = solver.Objective().BestBound()
        gap = (
            0.0
            if abs(value - bound) <= 1e-9 * max(1.0, abs(value))
            else (abs(value - bound) / max(abs(bound), 1e-9))
        )
    else:
        gap = math.inf

    shadow: dict[str, float] = {}
    if duals and solved and built.rows:
        lp = pywraplp.Solver.CreateSolver("GLOP")
        if lp is not None:
            relaxed = _build(lp, lines, supplies, options, limits, integer=False)
            if lp.Solve() == pywraplp.Solver.OPTIMAL:
                for name, row in relaxed.rows.items():
                    saving = -row.dual_value()
                    if abs(saving) > _DUAL_EPS:
                        shadow[name] = saving

    usage: defaultdict[str, Decimal] = defaultdict(Decimal)
    for line, line_supplies, plan in zip(lines, supplies, plans, strict=True):
        for s, q in plan.parts:
            usage["budget"] += _price_at(line_supplies[s].offer.unit_prices, q)[0] * q
            usage[f"capacity:{line_supplies[s].offer.supplier}"] += q
            usage[f"volume:{line.warehouse}"] += Decimal(str(line.unit_volume)) * q
    room = {"budget": limits.budget} if limits.budget is not None else {}
    room |= {f"capacity:{k}": Decimal(v) for k, v in limits.supplier_capacity.items()}
    room |= {f"volume:{k}": Decimal(str(v)) for k, v in limits.warehouse_volume.items()}

    planned: list[PlannedLine] = []
    shorts: list[ShortLine] = []
    objective = Decimal(0)
    for line, line_supplies, plan in zip(lines, supplies, plans, strict=True):
        objective += plan.cost(line_supplies, line)
        if line.need == 0:
            continue
        if not line_supplies:
            shorts.append(ShortLine(line.sku, line.warehouse, line.need, "no offer for this item"))
            continue
        binding = [
            {"constraint": r, "saving": shadow[r], "text": _binding_text(r, shadow[r])}
            for r in _rows_of(line, line_supplies)
            if r in shadow
        ]
        standalone = _standalone(line, line_supplies)
        cost = plan.cost(line_supplies, line)
        alternatives = [p for p in standalone if p.parts != plan.parts]
        next_best = min(alternatives, key=lambda p: p.cost(line_supplies, line), default=None)
        next_info = None
        if next_best is not None:
            next_info = {
                "supplier": "+".join(line_supplies[s].offer.supplier for s, _ in next_best.parts)
                or None,
                "quantity": sum(q for _, q in next_best.parts),
                "total": _money(next_best.purchase(line_supplies)),
                "cost": _money(next_best.cost(line_supplies, line)),
                "cost_difference": _money(next_best.cost(line_supplies, line) - cost),
            }
        for s, q in plan.parts:
            planned.append(_planned_line(line, line_supplies, plan, s, q, cost, next_info, binding))
        if plan.short > 0:
            shorts.append(
                ShortLine(
                    line.sku,
                    line.warehouse,
                    math.ceil(plan.short),
                    _short_reason(line, line_supplies, plan, standalone, binding, usage, room),
                )
            )

    info = SolverInfo(
        status=status_name,
        gap=gap,
        seconds=time.perf_counter() - started,
        backend=backend,
        enumeration=enumeration,
        options=sum(len(o) for o in options),
    )
    return SourcingPlan(tuple(planned), tuple(shorts), objective, info, shadow)


def _planned_line(
    line: Line,
    supplies: Sequence[_Supply],
    plan: _Plan,
    s: int,
    q: int,
    cost: Decimal,
    next_info: dict[str, Any] | None,
    binding: list[dict[str, Any]],
) -> PlannedLine:
    sup = supplies[s]
    offer = sup.offer
    price, reached = _price_at(offer.unit_prices, q)
    # units from this supplier the line needed once the other parts are counted
    others = sum((supplies[o].weight * oq for o, oq in plan.parts if o != s), Fraction(0))
    required = max(0, math.ceil((line.need - others) / sup.weight)) if plan.short == 0 else q
    messages: list[str] = []
    moq_raise = max(0, offer.moq - required) if required < offer.moq else 0
    base = max(required, offer.moq)
    pack_raise = _ceil_to(base, offer.pack) - base if plan.short == 0 else 0
    if moq_raise:
        messages.append(f"minimum order of {offer.moq} raised the quantity by {moq_raise}")
    if pack_raise:
        messages.append(f"packs of {offer.pack} raised the quantity by {pack_raise}")
    price_break = None
    smallest = max(_ceil_to(required, offer.pack), _ceil_to(offer.moq, offer.pack))
    if plan.short == 0 and q > smallest:
        small_price, _ = _price_at(offer.unit_prices, smallest)
        saves = small_price * smallest - price * q
        price_break = {
            "min_qty": reached,
            "unit_price": _money(price),
            "instead_of_quantity": smallest,
            "instead_of_unit_price": _money(small_price),
            "saves": _money(saves),
        }
        messages.append(
            f"price break at {reached} reached: {q} at {price} costs {_money(saves)} less than "
            f"{smallest} at {small_price}"
        )
    if next_info is not None:
        diff = Decimal(next_info["cost_difference"])
        who = next_info["supplier"] or "buying nothing"
        if diff >= 0:
            messages.append(f"next best: {who} at {next_info['cost']} costs {_money(diff)} more")
        else:
            messages.append(
                f"{who} alone would cost {_money(-diff)} less, but the shared limits rule it out"
            )
    messages.extend(b["text"] for b in binding)
    explanation: dict[str, Any] = {
        "option": plan.kind,
        "need": sup.need,
        "required": required,
        "moq_raise": moq_raise,
        "pack_raise": pack_raise,
        "price_break": price_break,
        "lead_time_days": offer.lead_time_days,
        "risk_premium_pct": offer.risk_premium_pct,
        "split_with": [supplies[o].offer.supplier for o, _ in plan.parts if o != s],
        "short": float(plan.short),
        "line_cost": _money(cost),
        "next_best": next_info,
        "binding": binding,
        "messages": messages,
    }
    return PlannedLine(line.sku, line.warehouse, offer.supplier, q, price, price * q, explanation)


def _short_reason(
    line: Line,
    supplies: Sequence[_Supply],
    plan: _Plan,
    standalone: Sequence[_Plan],
    binding: Sequence[Mapping[str, Any]],
    usage: Mapping[str, Decimal],
    room: Mapping[str, Decimal],
) -> str:
    best = min(standalone, key=lambda p: p.cost(supplies, line))
    if not best.parts:
        cheapest = min(
            (p for p in standalone if p.parts), key=lambda p: p.cost(supplies, line), default=None
        )
        if cheapest is not None:
            return (
                f"the shortage ({_money(best.cost(supplies, line))}) costs less than buying "
                f"({_money(cheapest.cost(supplies, line))})"
            )
    if binding:
        return "; ".join(str(b["text"]) for b in binding)
    tight = [
        r
        for r in _rows_of(line, supplies)
        if r in room and room[r] - usage.get(r, Decimal(0)) < room[r] * Decimal("0.01") + 1
    ]
    if tight:
        return "limits used up: " + ", ".join(tight)
    return "the shared limits leave no better choice"
