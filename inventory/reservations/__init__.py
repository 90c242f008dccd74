"""Storefront availability and reservations: holds with a time limit, committed or released.

A reservation holds units for an order while it is being paid. Holding means counting them in
``stock_levels.reserved`` (``inventory.holds`` explains how a lapsed hold stops counting at once).
Committing turns the held units into issue movements in the ledger; releasing, or the periodic
release of expired holds, gives them back to availability.

- ``availability``: the storefront's read model;
- ``reserve``: allocating (pure, in ``allocation``) and holding every line or none;
- ``lifecycle``: reading, committing, releasing, extending a reservation;
- ``sweep`` / ``sweeper``: releasing expired holds, once or on a timer;
- ``overview`` and ``views``: what warehouse staff see of the holds.
"""

from __future__ import annotations

from inventory.reservations.availability import SkuAvailability, availability
from inventory.reservations.lifecycle import (
    commit_reservation,
    extend_reservation,
    get_reservation,
    release_reservation,
)
from inventory.reservations.overview import HeldOrder, WarehouseHolds, holds_overview
from inventory.reservations.reserve import reserve, reserve_and_respond
from inventory.reservations.sweep import Sweep, release_expired
from inventory.reservations.tables import reference_of

__all__ = [
    "HeldOrder",
    "SkuAvailability",
    "Sweep",
    "WarehouseHolds",
    "availability",
    "commit_reservation",
    "extend_reservation",
    "get_reservation",
    "holds_overview",
    "reference_of",
    "release_expired",
    "release_reservation",
    "reserve",
    "reserve_and_respond",
]
