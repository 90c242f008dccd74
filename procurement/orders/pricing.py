"""Prices and order quantities from a supplier's price list: pure rules, no database."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

CENT = Decimal("0.01")


@dataclass(frozen=True)
class PriceBreak:
    """From ``min_quantity`` units on one order line, each unit costs ``unit_price``."""

    min_quantity: int
    unit_price: Decimal


def unit_price_for(base_price: Decimal, breaks: Sequence[PriceBreak], quantity: int) -> Decimal:
    """The price per unit for a line of ``quantity``: the deepest break the quantity reaches."""
    price = base_price
    reached = 0
    for b in breaks:
        if b.min_quantity <= quantity and b.min_quantity > reached:
            price, reached = b.unit_price, b.min_quantity
    return price


def amount(quantity: int, unit_price: Decimal) -> Decimal:
    """A line's value, rounded to the cent the way an invoice shows it."""
    return (unit_price * quantity).quantize(CENT, rounding=ROUND_HALF_UP)


def quantity_problems(quantity: int, moq: int, pack_size: int) -> list[str]:
    """Why a supplier would refuse this quantity, in words a buyer can act on; empty if fine."""
    problems: list[str] = []
    if quantity < moq:
        problems.append(f"below the supplier's minimum order quantity of {moq}")
    if pack_size > 1 and quantity % pack_size:
        lower = quantity - quantity % pack_size
        upper = lower + pack_size
        options = f"{lower} or {upper}" if lower >= max(moq, 1) else f"{upper}"
        problems.append(f"not a whole number of packs of {pack_size}; {options} would be")
    return problems


def break_problems(base_price: Decimal, breaks: Sequence[PriceBreak]) -> dict[str, list[str]]:
    """Breaks must reward larger quantities; a break that raises the price is a typo."""
    problems: dict[str, list[str]] = {}
    seen: set[int] = set()
    ordered = sorted(enumerate(breaks), key=lambda ib: ib[1].min_quantity)
    previous = base_price
    for i, b in ordered:
        messages = []
        if b.min_quantity in seen:
            messages.append(f"a second break at {b.min_quantity} units")
        seen.add(b.min_quantity)
        if b.min_quantity < 2:
            problems[str(i)] = ["a break starts at 2 units or more; the unit price covers 1"]
            continue
        if b.unit_price > previous:
            messages.append(
                f"costs more per unit ({b.unit_price}) than smaller quantities ({previous})"
            )
        previous = min(previous, b.unit_price)
        if messages:
            problems[str(i)] = messages
    return problems


def in_base_currency(
    total: Decimal, currency: str, base: str, rates: Mapping[str, Decimal]
) -> Decimal | None:
    """A total in the currency of the approval limits (``base``), or None when ``rates`` has no
    rate for ``currency``: the caller then takes the strictest route rather than guessing."""
    if currency == base:
        return total
    rate = rates.get(currency)
    return total * rate if rate else None
