"""Rate cards: what one carrier service charges to move a parcel from a warehouse to a region.

A card is a table of weight bands per (origin, region) lane. Each band covers weights up to and
including its ``max_weight_kg``, so a parcel of exactly 5 kg is priced in the "up to 5 kg" band,
not the next one; carriers publish bands that way and a parcel on the line would otherwise pay
the heavier band's price. Within a band the price is ``base + per_kg * weight``, never below the
band's ``minimum``, and the service's fuel surcharge is applied on top as a percentage before
rounding to the cent (half up, the way carriers invoice).

Origins are warehouse codes and match exactly; regions come from typed-in addresses, so they
match regardless of case.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal

CENT = Decimal("0.01")
HUNDRED = Decimal(100)


@dataclass(frozen=True)
class RateRow:
    """One weight band on one lane: parcels up to ``max_weight_kg`` pay this band's price."""

    origin: str
    region: str
    max_weight_kg: Decimal
    base: Decimal
    per_kg: Decimal
    minimum: Decimal


@dataclass(frozen=True)
class RateCard:
    """A service's published rates; the surcharge is a percentage carriers revise monthly."""

    service: str
    fuel_surcharge_pct: Decimal
    rows: tuple[RateRow, ...]
    # Lanes indexed once, bands sorted by weight: quoting 100,000s of parcels must not scan rows.
    _lanes: dict[tuple[str, str], tuple[tuple[Decimal, ...], tuple[RateRow, ...]]] = field(
        init=False, repr=False, compare=False, hash=False
    )

    def __post_init__(self) -> None:
        grouped: dict[tuple[str, str], list[RateRow]] = {}
        for row in self.rows:
            grouped.setdefault((row.origin, row.region.casefold()), []).append(row)
        lanes = {}
        for key, rows in grouped.items():
            rows.sort(key=lambda r: r.max_weight_kg)
            lanes[key] = (tuple(r.max_weight_kg for r in rows), tuple(rows))
        object.__setattr__(self, "_lanes", lanes)

    def band(self, origin: str, region: str, weight_kg: Decimal) -> RateRow | None:
        """The lightest band that still covers the weight, or None off the card."""
        lane = self._lanes.get((origin, region.casefold()))
        if lane is None:
            return None
        limits, rows = lane
        i = bisect_left(limits, weight_kg)  # first limit >= weight: a boundary weight stays put
        return rows[i] if i < len(rows) else None


def quote(card: RateCard, origin: str, region: str, weight_kg: Decimal) -> Decimal | None:
    """The price of one parcel, or None when the service does not carry it (lane or weight)."""
    if weight_kg < 0:
        raise ValueError(f"weight must not be negative, got {weight_kg} kg")
    row = card.band(origin, region, weight_kg)
    if row is None:
        return None
    price = max(row.minimum, row.base + row.per_kg * weight_kg)
    price *= 1 + card.fuel_surcharge_pct / HUNDRED
    return price.quantize(CENT, rounding=ROUND_HALF_UP)


def validate_rows(rows: Iterable[RateRow]) -> list[str]:
    """Mistakes that would silently misprice parcels when a card is imported; empty if none."""
    problems: list[str] = []
    seen: set[tuple[str, str, Decimal]] = set()
    for i, row in enumerate(rows):
        where = f"row {i + 1} ({row.origin} -> {row.region}, up to {row.max_weight_kg} kg)"
        key = (row.origin, row.region.casefold(), row.max_weight_kg)
        if key in seen:
            problems.append(f"{where}: a second band with the same weight limit on this lane")
        seen.add(key)
        if row.max_weight_kg <= 0:
            problems.append(f"{where}: the weight limit must be positive")
        for name in ("base", "per_kg", "minimum"):
            if getattr(row, name) < 0:
                problems.append(f"{where}: {name} must not be negative")
    return problems
