"""Units held by reservations, and the rule that a hold stops counting the moment it lapses.

``stock_levels.reserved`` is a projection: the sum of the *held* reservation lines on that level.
A reservation past ``expires_at`` keeps its lines held until someone releases them, so:

- reads add the lapsed units back: ``available = on_hand - reserved + lapsed``, where ``lapsed``
  is the held lines on that level whose ``expires_at`` has passed. Each held line carries its
  reservation's ``expires_at``, and a partial index on held lines by (warehouse, product, expiry)
  makes that one index range per level that finds only lapsed lines (usually none): the hot
  availability read stays one cheap query, whatever the number of active holds on a popular sku,
  and it is right at the instant of expiry because it is judged against the request's clock, not
  against a sweeper's last run;
- each level keeps ``earliest_hold_expiry``, a moment before which none of its held lines lapses,
  and reads look for lapsed lines only on levels where that moment has passed. At a promotion's
  peak most levels hold something and nothing on them has lapsed: without it a 1,000-sku basket
  looked for lapsed lines on half its 5,000 levels, which cost the database more than the rest of
  the read. The moment only has to be early, never late: holding units lowers it to the new
  hold's expiry (``hold_expiry_bound``), an extended hold only moves later, and a released or
  committed one leaves it early, so the next hold or release on the level (``unhold``) sets it
  again from the held lines when it has passed;
- writers that need the units release the lapsed lines *on the levels they touch* first, in their
  own transaction (``release_lapsed``), so ``0 <= reserved <= on_hand`` holds throughout.

Locking. Everyone locks in the same order: a reservation row, then stock levels in (product,
warehouse) order. ``release_lapsed`` runs with the levels already locked and so takes reservation
rows out of order; it therefore uses ``FOR UPDATE SKIP LOCKED`` and never waits: a reservation
that someone is committing, releasing or extending right now is left alone (its units keep counting
as reserved, which can only make us refuse, never oversell). Lines are only ever changed by the
holder of their reservation's row lock.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Table, and_, case, func, literal_column, or_, select, true, tuple_, update
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnClause

from inventory import events
from inventory.models import Reservation, ReservationLine, StockLevel

reservations = cast(Table, Reservation.__table__)
lines = cast(Table, ReservationLine.__table__)
levels = cast(Table, StockLevel.__table__)

Key = tuple[int, int]
"""(product id, warehouse id): one stock level."""

#: Written as SQL text so that the planner matches the partial index ``status = 'active'`` even
#: when it plans the statement once for many executions (a bound parameter would hide the value).
ACTIVE: ColumnClause[str] = literal_column("'active'")


def _keys_clause(keys: Sequence[Key]) -> Any:
    if len(keys) == 1:
        (p, w), *_ = keys
        return and_(lines.c.product_id == p, lines.c.warehouse_id == w)
    return tuple_(lines.c.product_id, lines.c.warehouse_id).in_(sorted(keys))


def lapsed_units(now: datetime | Any) -> Any:
    """Held units of lapsed holds on the stock level of the enclosing query (0 when none).

    A scalar subquery correlated to ``stock_levels``; ``now`` is a time or a bound parameter. It
    is only run on levels with something reserved (``reserved`` is the sum of the level's held
    lines, so a level with nothing reserved has no held line, lapsed or not) whose
    ``earliest_hold_expiry`` has passed or is not known: a 1,000-sku basket then costs one index
    probe per level where a hold may have lapsed, whatever the number of active holds.
    """
    held_lapsed = (
        select(func.coalesce(func.sum(lines.c.quantity), 0))
        .where(
            lines.c.warehouse_id == levels.c.warehouse_id,
            lines.c.product_id == levels.c.product_id,
            lines.c.held == true(),
            lines.c.expires_at <= now,
        )
        .correlate(levels)
        .scalar_subquery()
    )
    none: ColumnClause[int] = literal_column("0")
    earliest = levels.c.earliest_hold_expiry
    may_have_lapsed = and_(levels.c.reserved > none, or_(earliest.is_(None), earliest <= now))
    return case((may_have_lapsed, held_lapsed), else_=none)


def _earliest_held_expiry() -> Any:
    """The earliest expiry among the held lines of the level being updated (None: none held)."""
    return (
        select(func.min(lines.c.expires_at))
        .where(
            lines.c.warehouse_id == levels.c.warehouse_id,
            lines.c.product_id == levels.c.product_id,
            lines.c.held == true(),
        )
        .scalar_subquery()
    )


def hold_expiry_bound(expires_at: Any, now: Any) -> Any:
    """``earliest_hold_expiry`` for a level taking a hold that lapses at ``expires_at``.

    The level's moment if it is still ahead, else the earliest expiry of its held lines, read
    again; and no later than the new hold. (The database function ``reserve_stock`` does the same
    in SQL.)
    """
    earliest = levels.c.earliest_hold_expiry
    held = _earliest_held_expiry()
    return case(
        (earliest > now, case((earliest < expires_at, earliest), else_=expires_at)),
        (held < expires_at, held),  # None when nothing is held: the new hold's expiry
        else_=expires_at,
    )


def lock_levels(s: Session, keys: Iterable[Key]) -> dict[Key, tuple[int, int, bool]]:
    """``SELECT ... FOR NO KEY UPDATE`` in (product, warehouse) order -> (on_hand, reserved,
    negative ok).

    The lock writers of a level's figures take: it excludes every other writer, and not the
    ``FOR KEY SHARE`` lock that checking a new reservation line's foreign key takes on its level
    (``FOR UPDATE`` would make that check wait for the whole of this transaction). SQLite has no
    row locks; its unit of work already holds the database's write lock.
    """
    keys = sorted(set(keys))
    if not keys:
        return {}
    stmt = (
        select(
            levels.c.product_id,
            levels.c.warehouse_id,
            levels.c.on_hand,
            levels.c.reserved,
            levels.c.allow_negative,
        )
        .where(tuple_(levels.c.product_id, levels.c.warehouse_id).in_(keys))
        .order_by(levels.c.product_id, levels.c.warehouse_id)
        .with_for_update(key_share=True)
    )
    return {(r[0], r[1]): (r[2], r[3], bool(r[4])) for r in s.execute(stmt)}


def has_lapsed(s: Session, keys: Sequence[Key], now: datetime) -> bool:
    """Whether any of these levels carry lapsed holds (one indexed look-up, no locks)."""
    if not keys:
        return False
    stmt = (
        select(lines.c.reservation_id)
        .where(lines.c.held == true(), lines.c.expires_at <= now, _keys_clause(keys))
        .limit(1)
    )
    return s.execute(stmt).first() is not None


def unhold(s: Session, units: Mapping[Key, int]) -> None:
    """Take units out of ``reserved``, level by level in lock order."""
    if any(units.values()):
        events.availability_changed.send(
            "inventory", session=s, product_ids={p for (p, _), qty in units.items() if qty}
        )
    for (p, w), qty in sorted(units.items()):
        if qty:
            # The released lines are no longer held: the level's moment is read again from the
            # lines still held (None when none is).
            s.execute(
                update(levels)
                .where(levels.c.product_id == p, levels.c.warehouse_id == w)
                .values(
                    reserved=levels.c.reserved - qty, earliest_hold_expiry=_earliest_held_expiry()
                )
            )


def release_lapsed(s: Session, keys: Sequence[Key], now: datetime) -> dict[Key, int]:
    """Release the held lines of lapsed holds on these levels; returns units freed per level.

    The caller must hold the locks on these levels (``lock_levels``). Only the lines on these
    levels are released; the reservation's other lines stay held until the periodic release (or
    another writer on their levels) gets to them, and the reservation reads as expired meanwhile.
    """
    if not keys:
        return {}
    candidates = (
        select(reservations.c.id)
        .where(reservations.c.status == ACTIVE, reservations.c.expires_at <= now)
        .where(
            reservations.c.id.in_(
                select(lines.c.reservation_id).where(
                    lines.c.held == true(), lines.c.expires_at <= now, _keys_clause(keys)
                )
            )
        )
        .order_by(reservations.c.id)
        .with_for_update(skip_locked=True)
    )
    ids = list(s.scalars(candidates))
    if not ids:
        return {}
    released = s.execute(
        update(lines)
        .where(lines.c.reservation_id.in_(ids), lines.c.held == true(), _keys_clause(keys))
        .values(held=False)
        .returning(lines.c.product_id, lines.c.warehouse_id, lines.c.quantity)
    ).all()
    freed: dict[Key, int] = defaultdict(int)
    for p, w, qty in released:
        freed[(p, w)] += qty
    unhold(s, freed)
    return dict(freed)
