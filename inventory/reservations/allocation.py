"""Which warehouses serve an order: pure logic, no Flask and no database.

The rules, in order:

1. If one warehouse can fill every line, one warehouse ships it: a single parcel is cheaper and
   arrives together. Among those that can, the nearest to the destination wins (great-circle
   distance), then the lower ``priority``, then the code, so the choice is stable.
2. Otherwise the order is split across the fewest warehouses that together can fill it; among
   equally small sets, the one whose members rank best in that same order. Within the chosen set
   each line takes from the best-ranked warehouse first.
3. If even all warehouses together cannot fill a line, nothing is allocated and the short lines
   are reported (a reservation is all or nothing).

The smallest set is found exactly by trying sets of growing size in rank order; for very many
warehouses the number of sets to try is capped and the remainder is chosen greedily (the warehouse
covering the most still-missing units next), which is rarely worse by more than one warehouse.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import NamedTuple

EARTH_RADIUS_KM = 6371.0088
#: Sets of warehouses examined per size before falling back to the greedy choice.
MAX_SETS_PER_SIZE = 20_000


class Site(NamedTuple):
    """A warehouse as allocation sees it.

    This and the other values below are named tuples, immutable like frozen dataclasses but made
    at a tuple's cost: a frozen dataclass sets each field through ``object.__setattr__``, and a
    reservation makes a dozen of them (``benchmarks/instructions.py``: 1.65 to 1.62 million
    instructions a reservation).
    """

    code: str
    priority: int = 100
    latitude: float | None = None
    longitude: float | None = None


class Line(NamedTuple):
    sku: str
    quantity: int


class Pick(NamedTuple):
    """``quantity`` units of the line at ``line`` (its position in the order) from ``warehouse``."""

    line: int
    sku: str
    warehouse: str
    quantity: int


class Shortage(NamedTuple):
    line: int
    sku: str
    requested: int
    available: int


@dataclass
class Allocation:
    picks: list[Pick] = field(default_factory=list)
    shortages: list[Shortage] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.shortages

    @property
    def warehouses(self) -> list[str]:
        return list(dict.fromkeys(p.warehouse for p in self.picks))


Stock = Mapping[str, Mapping[str, int]]
"""sku -> warehouse code -> units available now."""


def great_circle_km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Haversine distance on a spherical Earth; plenty for ranking warehouses."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_KM * math.asin(min(1.0, math.sqrt(a)))


def rank(sites: Iterable[Site], destination: tuple[float, float] | None = None) -> list[Site]:
    """Best first: nearest to the destination (sites without coordinates last), priority, code."""

    def key(site: Site) -> tuple[float, int, str]:
        distance = 0.0
        if destination is not None:
            if site.latitude is None or site.longitude is None:
                distance = math.inf
            else:
                distance = great_circle_km(
                    destination[0], destination[1], site.latitude, site.longitude
                )
        return (distance, site.priority, site.code)

    return sorted(sites, key=key)


def _units(stock: Stock, sku: str, code: str) -> int:
    return max(0, stock.get(sku, {}).get(code, 0))


def _fills(lines: Sequence[Line], stock: Stock, codes: Sequence[str]) -> bool:
    return all(sum(_units(stock, ln.sku, c) for c in codes) >= ln.quantity for ln in lines)


def _greedy(lines: Sequence[Line], stock: Stock, ranked: Sequence[str]) -> list[str]:
    missing = {i: ln.quantity for i, ln in enumerate(lines)}
    chosen: list[str] = []
    while any(missing.values()):
        best, best_cover = None, 0
        for code in ranked:
            if code in chosen:
                continue
            cover = sum(min(q, _units(stock, lines[i].sku, code)) for i, q in missing.items())
            if cover > best_cover:
                best, best_cover = code, cover
        if best is None:
            break
        chosen.append(best)
        for i, q in missing.items():
            missing[i] = q - min(q, _units(stock, lines[i].sku, best))
    return chosen


def fewest_warehouses(lines: Sequence[Line], stock: Stock, ranked: Sequence[str]) -> list[str]:
    """The smallest set of warehouses (best-ranked among equals) that fills every line."""
    useful = [c for c in ranked if any(_units(stock, ln.sku, c) for ln in lines)]
    for size in range(1, len(useful) + 1):
        for tried, combo in enumerate(itertools.combinations(useful, size)):
            if tried >= MAX_SETS_PER_SIZE:
                return [c for c in ranked if c in set(_greedy(lines, stock, useful))]
            if _fills(lines, stock, combo):
                return list(combo)
    return []


def allocate(
    lines: Sequence[Line],
    stock: Stock,
    sites: Sequence[Site],
    destination: tuple[float, float] | None = None,
) -> Allocation:
    """Decide where each line's units come from, or report every line that cannot be filled."""
    ranked = [s.code for s in rank(sites, destination)]
    shortages = []
    for i, ln in enumerate(lines):
        total = sum(_units(stock, ln.sku, c) for c in ranked)
        if total < ln.quantity:
            shortages.append(Shortage(i, ln.sku, ln.quantity, total))
    if shortages:
        return Allocation(shortages=shortages)
    chosen = fewest_warehouses(lines, stock, ranked)
    picks = []
    for i, ln in enumerate(lines):
        need = ln.quantity
        for code in chosen:
            take = min(need, _units(stock, ln.sku, code))
            if take:
                picks.append(Pick(i, ln.sku, code, take))
                need -= take
            if not need:
                break
    return Allocation(picks=picks)
