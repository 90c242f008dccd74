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
its options (save the pack counts inside a range) and is nearly integral: only lines at the
margin of a binding limit come out fractional. The solve exploits that. The LP relaxation gives
the lower bound and the shadow prices; lines it already decides integrally are fixed; a small
MILP (HiGHS through OR-Tools) settles the rest within what the fixed lines leave of each limit.
When that plan is not within ``mip_gap`` of the LP bound, the full MILP runs in the time left.
The gap reported is always against a valid bound of the option model.

Two enumerations. ``exhaustive`` gives every supplier subset (up to ``max_split``) with each
member free inside any of its price tiers; with the single-supplier options it contains every
quantity vector worth buying (more than covers the need alone is dominated within a tier), so it
is exact, and it is used while the model stays small: its split ranges relax to fractional packs,
so its LP is weaker and it leans on the full MILP (60 lines of 3 suppliers take about 2 s).
``compact`` keeps, per line, the cover and break options, one partial range per supplier when
some limit applies and a half-and-half split per supplier pair when a capacity applies: a
restriction sized for many thousands of lines, whose gap is against its own bound.

The shadow prices come from scipy's HiGHS LP: OR-Tools 9.15 hands back row activities where
HiGHS duals are asked for, and GLOP takes half a minute on 10,000 lines.
"""

from __future__ import annotations

import itertools
import math
import time
from collections.abc import Mapping, Sequence
from dataclasses import KW_ONLY, dataclass, field
from decimal import Decimal
from fractions import Fraction
from typing import Any, Literal, NamedTuple

import numpy as np
import scipy.sparse as sp
from ortools.linear_solver.python import model_builder as mb
from scipy.optimize import linprog

Enumeration = Literal["auto", "exhaustive", "compact"]

# Beyond this many options across all lines the exhaustive enumeration gives way to the compact.
EXHAUSTIVE_MAX_OPTIONS = 3000
_MIP_BACKENDS = ("highs", "scip", "cbc")
_DUAL_EPS = 1e-7
_INTEGRAL = 1e-6
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
    """``gap`` is (objective - best bound) / |best bound|; ``options`` counts the choices."""

    status: str
    gap: float
    seconds: float
    backend: str
    enumeration: str = "exhaustive"
    options: int = 0
    lp_fractional_lines: int = 0


@dataclass(frozen=True)
class SourcingPlan:
    """``duals``: shadow price (saving per unit of room) of each binding shared limit."""

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
    weight: float  # how much of the line's need one unit covers: need / need_s
    tiers: tuple[_Tier, ...]
    prices: tuple[float, ...]  # per tier, for the model
    cover: int  # smallest acceptable quantity covering the need alone
    factor: Decimal  # 1 + risk premium
    breaks: tuple[PriceBreak, ...]  # by quantity

    def price_at(self, quantity: int) -> tuple[Decimal, int]:
        """Unit price for an order of ``quantity`` and the break quantity it reached."""
        price, reached = self.breaks[0].unit_price, self.breaks[0].min_qty
        for b in self.breaks:
            if b.min_qty > quantity:
                break
            price, reached = b.unit_price, b.min_qty
        return price, reached

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


def _supply(offer: Offer, line: Line) -> _Supply:
    need_s = line.need
    if line.need_by_supplier:
        need_s = line.need_by_supplier.get(offer.supplier, line.need)
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
    return _Supply(
        offer,
        need_s,
        line.need / need_s,
        tuple(tiers),
        tuple(float(t.price) for t in tiers),
        cover,
        factor,
        tuple(breaks),
    )


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


class _Member(NamedTuple):
    supply: int  # index into the line's supplies
    tier: int
    low: int
    high: int  # == low for a fixed quantity


class _Option(NamedTuple):
    kind: str  # short, cover, break, partial, split
    members: tuple[_Member, ...]


def _single_options(s: int, sup: _Supply, *, partial: bool, all_tiers: bool) -> list[_Option]:
    cover_tier = sup.tier_of(sup.cover)
    options = [_Option("cover", (_Member(s, cover_tier.index, sup.cover, sup.cover),))]
    best = sup.prices[cover_tier.index] * sup.cover
    for tier in sup.tiers:
        total = sup.prices[tier.index] * tier.low
        if tier.low > sup.cover and total < best:
            best = total
            options.append(_Option("break", (_Member(s, tier.index, tier.low, tier.low),)))
    if partial:
        pack = sup.offer.pack
        below = (sup.need - 1) // pack * pack  # the most that still falls short of the need
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
        if sa.offer.supplier not in capacitated and sb.offer.supplier not in capacitated:
            continue
        qa = max(_ceil_to(-(-sa.need // 2), sa.offer.pack), _ceil_to(sa.offer.moq, sa.offer.pack))
        if qa >= sa.need:
            continue
        rest = -(-(sa.need - qa) * sb.need // sa.need)  # units of b still needed, rounded up
        qb = max(_ceil_to(rest, sb.offer.pack), _ceil_to(sb.offer.moq, sb.offer.pack))
        members = (
            _Member(a, sa.tier_of(qa).index, qa, qa),
            _Member(b, sb.tier_of(qb).index, qb, qb),
        )
        options.append(_Option("split", members))
    return options


# --- the model -------------------------------------------------------------------------------


@dataclass
class _Model:
    """min cost.x  s.t.  a_eq x = 1 (one option per line), a_ub x <= b_ub, bounds, integrality.

    The first ``len(shared)`` rows of ``a_ub`` are the shared limits, in the order named.
    """

    cost: np.ndarray
    lower: np.ndarray
    upper: np.ndarray
    integer: np.ndarray
    low_count: np.ndarray  # for a pack-count column, its count at the low end of its range
    a_eq: sp.csr_matrix
    a_ub: sp.csr_matrix
    b_ub: np.ndarray
    shared: list[str]
    lines: list[int]  # the lines modelled, by index into the caller's lines
    entries: list[list[_Entry]]  # per modelled line: its 0/1 columns


class _Entry(NamedTuple):
    """A 0/1 column: which option it chooses and how its members' pack counts are read."""

    option: int
    y: int
    n: list[int]  # per member: the pack-count column, or -1 when the count is fixed
    counts: list[int]  # per member: the fixed pack count where ``n`` is -1


def _assemble(
    lines: Sequence[Line],
    supplies: Sequence[Sequence[_Supply]],
    options: Sequence[Sequence[_Option]],
    line_ids: Sequence[int],
    room: Mapping[str, float],
    *,
    endpoints: bool = False,
) -> _Model:
    """The option model for ``line_ids`` within ``room`` of each shared limit.

    With ``endpoints`` a one-supplier range becomes two fixed options at its ends. The LP
    relaxation is the same (a range's cost is linear, its hull is the segment between its ends)
    and it loses two rows and a column per range, which halves the LP at 10,000 lines.
    """
    cost: list[float] = []
    upper: list[float] = []
    low_count: list[float] = []
    integer: list[bool] = []
    eq_rows: list[int] = []
    eq_cols: list[int] = []
    rows: list[int] = []
    cols: list[int] = []
    vals: list[float] = []
    b_ub: list[float] = list(room.values())
    shared = list(room)
    row_of = {name: i for i, name in enumerate(shared)}
    budget = row_of.get("budget")
    entries: list[list[_Entry]] = []

    def column(high: float, unit_cost: float, is_int: bool) -> int:
        cost.append(unit_cost)
        upper.append(high)
        low_count.append(0.0)
        integer.append(is_int)
        return len(cost) - 1

    def row(entries: Sequence[tuple[int, float]]) -> None:
        r = len(b_ub)
        b_ub.append(0.0)
        for c, v in entries:
            rows.append(r)
            cols.append(c)
            vals.append(v)

    for k, li in enumerate(line_ids):
        line = lines[li]
        need = float(line.need)
        short_cost = float(line.shortage_cost)
        volume = row_of.get(f"volume:{line.warehouse}") if line.unit_volume > 0 else None
        line_entries: list[_Entry] = []
        entries.append(line_entries)
        variants: list[tuple[int, _Option, list[int]]] = []
        for o, opt in enumerate(options[li]):
            counts = [m.low // supplies[li][m.supply].offer.pack for m in opt.members]
            if endpoints and opt.kind == "partial" and opt.members[0].low < opt.members[0].high:
                m = opt.members[0]
                pack = supplies[li][m.supply].offer.pack
                for end in (m.low, m.high):
                    fixed = _Member(m.supply, m.tier, end, end)
                    variants.append((o, _Option(opt.kind, (fixed,)), [end // pack]))
            else:
                variants.append((o, opt, counts))
        for o, opt, counts in variants:
            y = column(1.0, 0.0, True)
            eq_rows.append(k)
            eq_cols.append(y)
            member_cols: list[int] = []
            line_entries.append(_Entry(o, y, member_cols, counts))
            y_cost = 0.0
            y_use: dict[int, float] = {}
            covered = 0.0
            ranged: list[tuple[int, float]] = []
            for m in opt.members:
                sup = supplies[li][m.supply]
                price = sup.prices[m.tier]
                unit_cost = price * float(sup.factor)
                use = [(budget, price), (row_of.get(f"capacity:{sup.offer.supplier}"), 1.0)]
                use.append((volume, line.unit_volume))
                if m.low == m.high:
                    member_cols.append(-1)
                    y_cost += unit_cost * m.low
                    covered += sup.weight * m.low
                    for r, per_unit in use:
                        if r is not None:
                            y_use[r] = y_use.get(r, 0.0) + per_unit * m.low
                    continue
                pack = sup.offer.pack
                n = column(float(m.high // pack), unit_cost * pack, True)
                low_count[n] = float(m.low // pack)
                member_cols.append(n)
                for r, per_unit in use:
                    if r is not None:
                        rows.append(r)
                        cols.append(n)
                        vals.append(per_unit * pack)
                row([(y, float(m.low // pack)), (n, -1.0)])  # low * y <= n
                row([(n, 1.0), (y, -float(m.high // pack))])  # n <= high * y
                ranged.append((n, sup.weight * pack))
            if not ranged:
                left = need - covered
                y_cost += short_cost * (left if left > 1e-9 else 0.0)
            elif opt.kind == "partial":
                # short of the need at every count in range: shortage = need - covered, linear
                y_cost += short_cost * need
                for n, per_pack in ranged:
                    cost[n] -= short_cost * per_pack
            else:
                shortage = column(need, short_cost, False)
                row([(shortage, 1.0), (y, -need)])
                row([(y, need - covered), (shortage, -1.0)] + [(n, -w) for n, w in ranged])
            cost[y] = y_cost
            for r, v in y_use.items():
                rows.append(r)
                cols.append(y)
                vals.append(v)
    width = len(cost)
    return _Model(
        cost=np.array(cost, dtype=float),
        lower=np.zeros(width),
        upper=np.array(upper, dtype=float),
        integer=np.array(integer, dtype=bool),
        low_count=np.array(low_count, dtype=float),
        a_eq=sp.csr_matrix(
            (np.ones(len(eq_rows)), (eq_rows, eq_cols)), shape=(len(line_ids), width)
        ),
        a_ub=sp.csr_matrix((vals, (rows, cols)), shape=(len(b_ub), width)),
        b_ub=np.array(b_ub, dtype=float),
        shared=shared,
        lines=list(line_ids),
        entries=entries,
    )


@dataclass(frozen=True)
class _Solved:
    x: np.ndarray | None
    objective: float
    bound: float
    status: str


def _solve_lp(model: _Model, time_limit: float) -> tuple[_Solved, np.ndarray]:
    """The LP relaxation, and the shadow prices (marginals) of every <= row."""
    result = linprog(
        model.cost,
        A_ub=model.a_ub,
        b_ub=model.b_ub,
        A_eq=model.a_eq,
        b_eq=np.ones(model.a_eq.shape[0]),
        bounds=np.column_stack([model.lower, model.upper]),
        method="highs",
        options={"time_limit": max(0.1, time_limit)},
    )
    if result.status != 0:
        return _Solved(None, math.inf, -math.inf, "lp_" + str(result.status)), np.zeros(0)
    return _Solved(result.x, result.fun, result.fun, "optimal"), result.ineqlin.marginals


def _solve_mip(model: _Model, time_limit: float, gap: float) -> tuple[_Solved, str]:
    m = mb.Model()
    matrix = sp.vstack([model.a_eq, model.a_ub]).tocsr()
    matrix.sum_duplicates()
    helper: Any = m.helper  # its stubs put the dtype where numpy's shape parameter goes
    helper.fill_model_from_sparse_data(
        model.lower,
        model.upper,
        model.cost,
        np.concatenate([np.ones(model.a_eq.shape[0]), np.full(len(model.b_ub), -np.inf)]),
        np.concatenate([np.ones(model.a_eq.shape[0]), model.b_ub]),
        matrix,
    )
    for j in np.flatnonzero(model.integer):
        helper.set_var_integrality(int(j), True)
    for name in _MIP_BACKENDS:
        solver = mb.Solver(name)
        if solver.solver_is_supported():
            break
    else:  # pragma: no cover - every OR-Tools wheel ships at least one
        raise RuntimeError("no MILP backend in this OR-Tools build (tried HiGHS, SCIP, CBC)")
    if name == "highs":
        # HiGHS prints a banner to stdout unless told not to.
        solver.set_solver_specific_parameters(f"output_flag=false\nmip_rel_gap={gap!r}")
    solver.set_time_limit_in_seconds(max(0.1, time_limit))
    status = solver.solve(m)
    if status not in (mb.SolveStatus.OPTIMAL, mb.SolveStatus.FEASIBLE):
        return _Solved(None, math.inf, -math.inf, status.name.lower()), name
    x = np.asarray(solver.values(m.get_variables()), dtype=float)
    value = float(solver.objective_value)
    # Through OR-Tools, HiGHS reports its incumbent as the best bound. What its status proves
    # is safer: optimal means within the relative gap asked for; otherwise only a bound that
    # is visibly below the incumbent is believed.
    if status == mb.SolveStatus.OPTIMAL:
        bound = value - gap * abs(value)
    else:
        reported = float(solver.best_objective_bound)
        bound = reported if reported < value - 1e-9 * max(1.0, abs(value)) else -math.inf
    return _Solved(x, value, bound, status.name.lower()), name


def _reopen(lines: int) -> int:
    """How many settled lines the small MILP may still change: enough to rebalance the limits."""
    return min(lines, max(100, lines // 50))


def _near_the_margin(model: _Model, marginals: np.ndarray, shared: int, count: int) -> list[int]:
    """The lines whose best option wins by the least once the limits are priced in.

    Priced at the LP's shadow prices, each option's cost is its Lagrangian cost; a line whose
    runner-up is close behind is the one a slightly different use of the budget or a capacity
    would flip, so the small MILP gets to reconsider it. Range options are priced at whichever
    end is cheaper, leaving out the shortage a split option adds.
    """
    if count <= 0 or shared == 0:
        return []
    prices = -marginals[:shared]
    if not np.any(np.abs(prices) > _DUAL_EPS):
        return []
    reduced = model.cost + model.a_ub[:shared].T @ prices
    margins: list[tuple[float, int]] = []
    for k, li in enumerate(model.lines):
        values = []
        for entry in model.entries[k]:
            value = reduced[entry.y]
            for c in entry.n:
                if c >= 0:
                    value += min(reduced[c] * model.low_count[c], reduced[c] * model.upper[c])
            values.append(value)
        if len(values) > 1:
            first, second = np.partition(np.array(values), 1)[:2]
            margins.append((second - first, li))
    margins.sort()
    return [li for _, li in margins[:count]]


def _choices(model: _Model, x: np.ndarray, only_integral: bool) -> dict[int, tuple[int, list[int]]]:
    """Per line: the chosen option and its pack counts; with ``only_integral``, the settled ones."""
    chosen: dict[int, tuple[int, list[int]]] = {}
    for k, li in enumerate(model.lines):
        entries = model.entries[k]
        if not entries:
            continue
        values = x[[e.y for e in entries]]
        best = entries[int(np.argmax(values))]
        counts = [float(f) if c < 0 else x[c] for c, f in zip(best.n, best.counts, strict=True)]
        if only_integral and (
            values.max() < 1 - _INTEGRAL or any(abs(v - round(v)) > _INTEGRAL for v in counts)
        ):
            continue
        chosen[li] = (best.option, [round(v) for v in counts])
    return chosen


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
            (supplies[s].price_at(q)[0] * q for s, q in self.parts),
            Decimal(0),
        )

    def cost(self, supplies: Sequence[_Supply], line: Line) -> Decimal:
        bought = sum(
            (supplies[s].price_at(q)[0] * q * supplies[s].factor for s, q in self.parts),
            Decimal(0),
        )
        return bought + line.shortage_cost * _dec(self.short)


def _plan_of(
    line: Line, supplies: Sequence[_Supply], parts: Sequence[tuple[int, int]], kind: str
) -> _Plan:
    kept = tuple(sorted((s, q) for s, q in parts if q > 0))
    if any(q >= supplies[s].need for s, q in kept):  # one part covers the need alone
        return _Plan(kept, Fraction(0), kind)
    covered = sum((Fraction(line.need * q, supplies[s].need) for s, q in kept), Fraction(0))
    return _Plan(kept, max(Fraction(0), line.need - covered), kind if kept else "short")


def _plan_from(
    line: Line, supplies: Sequence[_Supply], option: _Option, counts: Sequence[int]
) -> _Plan:
    parts = [
        (m.supply, m.low if m.low == m.high else c * supplies[m.supply].offer.pack)
        for m, c in zip(option.members, counts, strict=True)
    ]
    return _plan_of(line, supplies, parts, option.kind)


def _standalone(line: Line, supplies: Sequence[_Supply]) -> list[_Plan]:
    """What the line would weigh up with no shared limit: short, each cover, each break."""
    plans = [_Plan((), Fraction(line.need), "short")]
    for s, sup in enumerate(supplies):
        for opt in _single_options(s, sup, partial=False, all_tiers=False):
            plans.append(_plan_of(line, supplies, [(s, opt.members[0].low)], opt.kind))
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


# --- the entry point -------------------------------------------------------------------------


def source(
    lines: Sequence[Line],
    offers: Sequence[Offer],
    limits: Limits,
    *,
    max_split: int = 2,
    time_limit_s: float = 20.0,
    mip_gap: float = 1e-4,
    enumeration: Enumeration = "auto",
) -> SourcingPlan:
    """Choose, per line, suppliers and quantities (or a shortage) at least total cost.

    ``max_split`` caps the suppliers one line may be split across. ``mip_gap`` is the relative
    gap to the bound at which the search may stop (0 proves the optimum of the option model);
    ``enumeration`` forces the exhaustive or the compact option list (see the module notes).
    """
    started = time.perf_counter()
    _validate(lines, offers, limits, max_split)
    by_sku: dict[str, list[Offer]] = {}
    for o in offers:
        by_sku.setdefault(o.sku, []).append(o)
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

    offering = {sup.offer.supplier for ls in supplies for sup in ls}
    stocked = {line.warehouse for line, ls in zip(lines, supplies, strict=True) if ls}
    room: dict[str, float] = {}
    if limits.budget is not None:
        room["budget"] = float(limits.budget)
    for name, cap in sorted(limits.supplier_capacity.items()):
        if name in offering:
            room[f"capacity:{name}"] = float(cap)
    for name, vol in sorted(limits.warehouse_volume.items()):
        if name in stocked:
            room[f"volume:{name}"] = float(vol)

    modelled = [li for li, opts in enumerate(options) if opts]
    relaxation = _assemble(lines, supplies, options, modelled, room, endpoints=True)
    deadline = started + time_limit_s
    chosen: dict[int, tuple[int, list[int]]] = {}
    shadow: dict[str, float] = {}
    status, backend, bound, fractional = "optimal", "highs", -math.inf, 0
    searched = False  # whether the full MILP has been run
    if modelled:
        relaxed, marginals = _solve_lp(relaxation, deadline - time.perf_counter())
        if relaxed.x is not None:
            bound = relaxed.bound
            for i, name in enumerate(relaxation.shared):
                if abs(marginals[i]) > _DUAL_EPS:
                    shadow[name] = -float(marginals[i])
            chosen = _choices(relaxation, relaxed.x, only_integral=True)
            fractional = len(modelled) - len(chosen)
            near = _near_the_margin(relaxation, marginals, len(room), _reopen(len(modelled)))
            for li in near:
                chosen.pop(li, None)
            open_lines = [li for li in modelled if li not in chosen]
            if open_lines:
                used = _usage(lines, supplies, options, chosen)
                left = {k: max(0.0, v - used.get(k, 0.0)) for k, v in room.items()}
                sub = _assemble(lines, supplies, options, open_lines, left)
                solved, backend = _solve_mip(sub, deadline - time.perf_counter(), mip_gap)
                if solved.x is not None:
                    chosen.update(_choices(sub, solved.x, only_integral=False))
                else:
                    chosen.update({li: (0, []) for li in open_lines})  # option 0: short
                if len(open_lines) == len(modelled):  # that was the full MILP already
                    searched = True
                    bound = max(bound, solved.bound)
                    if solved.x is None:
                        status = solved.status
        value = _value(lines, supplies, options, chosen)
        if not searched and (relaxed.x is None or _gap(value, bound) > mip_gap + 1e-9):
            model = _assemble(lines, supplies, options, modelled, room)
            solved, backend = _solve_mip(model, deadline - time.perf_counter(), mip_gap)
            if solved.x is not None:
                bound = max(bound, solved.bound)
                full = _choices(model, solved.x, only_integral=False)
                full_value = _value(lines, supplies, options, full)
                if not chosen or full_value < value:
                    chosen, value = full, full_value
            elif not chosen:
                chosen = {li: (0, []) for li in modelled}
                value = _value(lines, supplies, options, chosen)
                status = solved.status
        gap = _gap(value, bound)
        # HiGHS's own test: the gap relative to the incumbent within what was asked for
        if status == "optimal" and value - bound > (mip_gap + 1e-9) * max(1e-9, abs(value)):
            status = "feasible"
    else:
        gap = 0.0

    plan = _report(lines, supplies, options, chosen, shadow)
    info = SolverInfo(
        status=status,
        gap=gap,
        seconds=time.perf_counter() - started,
        backend=backend,
        enumeration=enumeration,
        options=sum(len(o) for o in options),
        lp_fractional_lines=fractional,
    )
    return SourcingPlan(plan[0], plan[1], plan[2], info, shadow)


def _usage(
    lines: Sequence[Line],
    supplies: Sequence[Sequence[_Supply]],
    options: Sequence[Sequence[_Option]],
    chosen: Mapping[int, tuple[int, list[int]]],
) -> dict[str, float]:
    """How much of each shared limit the chosen lines take."""
    used: dict[str, float] = {}
    for li, (option, counts) in chosen.items():
        line, line_supplies = lines[li], supplies[li]
        plan = _plan_from(line, line_supplies, options[li][option], counts)
        for s, q in plan.parts:
            supplier = line_supplies[s].offer.supplier
            spent = float(line_supplies[s].price_at(q)[0]) * q
            used["budget"] = used.get("budget", 0.0) + spent
            used[f"capacity:{supplier}"] = used.get(f"capacity:{supplier}", 0.0) + q
            if line.unit_volume > 0:
                key = f"volume:{line.warehouse}"
                used[key] = used.get(key, 0.0) + line.unit_volume * q
    return used


def _value(
    lines: Sequence[Line],
    supplies: Sequence[Sequence[_Supply]],
    options: Sequence[Sequence[_Option]],
    chosen: Mapping[int, tuple[int, list[int]]],
) -> float:
    """The objective of the lines the model chooses for (lines without offers left out)."""
    total = Decimal(0)
    for li, (option, counts) in chosen.items():
        opt = options[li][option]
        total += _plan_from(lines[li], supplies[li], opt, counts or [0] * len(opt.members)).cost(
            supplies[li], lines[li]
        )
    return float(total)


def _gap(value: float, bound: float) -> float:
    if bound == -math.inf:
        return math.inf
    if value - bound <= 1e-9 * max(1.0, abs(value)):
        return 0.0
    return (value - bound) / max(abs(bound), 1e-9)


def _report(
    lines: Sequence[Line],
    supplies: Sequence[Sequence[_Supply]],
    options: Sequence[Sequence[_Option]],
    chosen: Mapping[int, tuple[int, list[int]]],
    shadow: Mapping[str, float],
) -> tuple[tuple[PlannedLine, ...], tuple[ShortLine, ...], Decimal]:
    planned: list[PlannedLine] = []
    shorts: list[ShortLine] = []
    objective = Decimal(0)
    for li, line in enumerate(lines):
        line_supplies = supplies[li]
        if line.need == 0:
            continue
        if not line_supplies:
            objective += line.shortage_cost * line.need
            shorts.append(ShortLine(line.sku, line.warehouse, line.need, "no offer for this item"))
            continue
        option, counts = chosen.get(li, (0, []))
        opt = options[li][option]
        plan = _plan_from(line, line_supplies, opt, counts or [0] * len(opt.members))
        cost = plan.cost(line_supplies, line)
        objective += cost
        binding = [
            {"constraint": r, "saving": shadow[r], "text": _binding_text(r, shadow[r])}
            for r in _rows_of(line, line_supplies)
            if r in shadow
        ]
        standalone = _standalone(line, line_supplies)
        alternatives = [p for p in standalone if p.parts != plan.parts]
        next_best = min(alternatives, key=lambda p: p.cost(line_supplies, line), default=None)
        next_info = None
        if next_best is not None:
            next_cost = next_best.cost(line_supplies, line)
            next_info = {
                "supplier": "+".join(line_supplies[s].offer.supplier for s, _ in next_best.parts)
                or None,
                "quantity": sum(q for _, q in next_best.parts),
                "total": _money(next_best.purchase(line_supplies)),
                "cost": _money(next_cost),
                "cost_difference": _money(next_cost - cost),
            }
        for s, q in plan.parts:
            planned.append(
                _planned_line(li, line, line_supplies, plan, s, q, cost, next_info, binding)
            )
        if plan.short > 0:
            reason = _short_reason(line, line_supplies, standalone, binding)
            shorts.append(ShortLine(line.sku, line.warehouse, math.ceil(plan.short), reason))
    return tuple(planned), tuple(shorts), objective


def _planned_line(
    index: int,
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
    price, reached = sup.price_at(q)
    # units from this supplier the line needed once the other parts are counted
    others = sum(
        (Fraction(line.need * oq, supplies[o].need) for o, oq in plan.parts if o != s),
        Fraction(0),
    )
    covers = plan.short == 0
    required = max(0, math.ceil((line.need - others) * sup.need / line.need)) if covers else q
    messages: list[str] = []
    moq_raise = offer.moq - required if covers and required < offer.moq else 0
    base = max(required, offer.moq)
    pack_raise = _ceil_to(base, offer.pack) - base if covers else 0
    if moq_raise:
        messages.append(f"minimum order of {offer.moq} raised the quantity by {moq_raise}")
    if pack_raise:
        messages.append(f"packs of {offer.pack} raised the quantity by {pack_raise}")
    price_break = None
    smallest = _ceil_to(base, offer.pack)
    if covers and q > smallest:
        small_price, _ = sup.price_at(smallest)
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
                f"{who} would cost {_money(-diff)} less, but the shared limits rule it out"
            )
    messages.extend(b["text"] for b in binding)
    explanation: dict[str, Any] = {
        "line": index,
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
    standalone: Sequence[_Plan],
    binding: Sequence[Mapping[str, Any]],
) -> str:
    costs = [(p.cost(supplies, line), p) for p in standalone]
    best_cost, best = min(costs, key=lambda c: c[0])
    if not best.parts:
        buying = min((c for c, p in costs if p.parts), default=None)
        if buying is not None:
            return f"the shortage ({_money(best_cost)}) costs less than buying ({_money(buying)})"
    if binding:
        return "; ".join(str(b["text"]) for b in binding)
    return "the shared limits leave no room for it"
