"""Posting to the stock ledger inside a caller's transaction.

This is the one place stock levels change. Other features (procurement receipts, reservation
commits) call ``apply`` from their own unit of work so their business record and the stock move
commit together or not at all.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Table, and_, or_, select, true, tuple_, update
from sqlalchemy.orm import Session

from accounts.principal import Principal
from core import db
from core.db import insert_ignoring_conflicts, utcnow
from core.problems import Conflict
from inventory import events, holds
from inventory.models import StockLevel, StockMovement, Warehouse

levels: Table = StockLevel.__table__  # type: ignore[assignment]


@dataclass(frozen=True)
class Move:
    """A movement to post: ``quantity`` is signed as it will be stored."""

    product_id: int
    warehouse_id: int
    type: str
    quantity: int
    reason: str | None = None
    reference: str | None = None
    transfer_id: str | None = None
    occurred_at: datetime | None = None
    #: Change to ``reserved`` made with the same statement: committing a reservation takes the
    #: units out of on hand and out of reserved at once, leaving availability untouched.
    reserved_delta: int = 0
    #: Shown in the 409 when this move would oversell, e.g. "lines.2" or "quantity".
    label: str = "quantity"
    #: A counted fact (a cycle count): posted even below reserved, flagging the level instead.
    fact: bool = False
    sku: str = ""
    warehouse_code: str = ""


@dataclass
class Posted:
    movements: list[StockMovement] = field(default_factory=list)
    levels: dict[tuple[int, int], tuple[int, int, int]] = field(default_factory=dict)


def ensure_levels(s: Session, keys: Iterable[tuple[int, int]]) -> None:
    """Create missing level rows (zero) so that every change is a conditional UPDATE."""
    keys = sorted(set(keys))
    if not keys:
        return
    allow = dict(
        s.execute(
            select(Warehouse.id, Warehouse.allow_negative_stock).where(
                Warehouse.id.in_({w for _, w in keys})
            )
        ).all()
    )
    existing = set(
        s.execute(
            select(levels.c.product_id, levels.c.warehouse_id).where(
                tuple_(levels.c.product_id, levels.c.warehouse_id).in_(keys)
            )
        ).all()
    )
    missing = [k for k in keys if k not in existing]
    if missing:
        # A new level lists its warehouse in the sku's availability (with 0 units).
        events.availability_changed.send(
            "inventory", session=s, product_ids={p for p, _ in missing}
        )
        s.execute(
            insert_ignoring_conflicts(levels, ["product_id", "warehouse_id"]),
            [
                {
                    "product_id": p,
                    "warehouse_id": w,
                    "on_hand": 0,
                    "reserved": 0,
                    "incoming": 0,
                    "allow_negative": bool(allow.get(w, False)),
                    "updated_at": utcnow(),
                }
                for p, w in missing
            ],
        )


def apply(s: Session, moves: Sequence[Move], actor: Principal) -> Posted:
    """Post movements and move the levels with them, refusing any that would oversell.

    Rows are changed in (product, warehouse) order so that two transactions touching the same
    rows always lock them in the same order and cannot deadlock. Each change is a conditional
    UPDATE: on PostgreSQL a concurrent writer waits for the row and re-checks the condition
    against the committed value, so two issues can never both take the last unit.
    """
    ensure_levels(s, ((m.product_id, m.warehouse_id) for m in moves))
    _release_lapsed_holds(s, moves)
    now = utcnow()
    posted = Posted()
    short: dict[str, list[str]] = {}
    rows = []
    for move in sorted(moves, key=lambda m: (m.product_id, m.warehouse_id)):
        stmt = (
            update(levels)
            .where(levels.c.product_id == move.product_id)
            .where(levels.c.warehouse_id == move.warehouse_id)
            .values(
                on_hand=levels.c.on_hand + move.quantity,
                reserved=levels.c.reserved + move.reserved_delta,
                updated_at=now,
                **_over_reserved(move),
            )
            .returning(levels.c.on_hand, levels.c.reserved, levels.c.incoming)
        )
        if move.reserved_delta:
            stmt = stmt.where(levels.c.reserved + move.reserved_delta >= 0)
        if move.quantity < 0 and not move.fact:
            # Units that are not on the shelf cannot leave it, whatever is reserved.
            stmt = stmt.where(or_(levels.c.allow_negative, levels.c.on_hand + move.quantity >= 0))
        if move.quantity - move.reserved_delta < 0 and not move.fact:
            new_available = (
                levels.c.on_hand + move.quantity - levels.c.reserved - move.reserved_delta
            )
            stmt = stmt.where(or_(levels.c.allow_negative, new_available >= 0))
        row = s.execute(stmt).one_or_none()
        if row is None:
            level = s.execute(
                select(levels.c.on_hand, levels.c.reserved).where(
                    levels.c.product_id == move.product_id,
                    levels.c.warehouse_id == move.warehouse_id,
                )
            ).one()
            short.setdefault(move.label, []).append(
                f"{move.sku or move.product_id} in {move.warehouse_code or move.warehouse_id}: "
                f"{level.on_hand - level.reserved} available ({level.reserved} reserved), "
                f"{-move.quantity} requested"
            )
            continue
        on_hand, reserved, incoming = row
        posted.levels[(move.product_id, move.warehouse_id)] = (on_hand, reserved, incoming)
        rows.append(
            StockMovement(
                product_id=move.product_id,
                warehouse_id=move.warehouse_id,
                type=move.type,
                quantity=move.quantity,
                on_hand_after=on_hand,
                reason=move.reason,
                reference=move.reference,
                transfer_id=move.transfer_id,
                actor_id=actor.user_id,
                actor=actor.username,
                created_at=now,
                occurred_at=move.occurred_at or now,
            )
        )
    if short:
        raise Conflict(
            "Not enough available stock; nothing was posted.",
            errors=short,
            slug="insufficient-stock",
        )
    s.add_all(rows)
    s.flush()
    posted.movements = rows
    events.availability_changed.send(
        "inventory", session=s, product_ids={m.product_id for m in moves}
    )
    return posted


def _over_reserved(move: Move) -> dict[str, Any]:
    """The level's flag after the move: set by a counted shortfall, cleared once covered again."""
    short_after = levels.c.on_hand + move.quantity < levels.c.reserved + move.reserved_delta
    keep = true() if move.fact else levels.c.over_reserved
    return {"over_reserved": and_(short_after, keep)}


def _release_lapsed_holds(s: Session, moves: Sequence[Move]) -> None:
    """A lapsed reservation stops holding units at once, for issues and transfers too.

    Only moves that take units out of availability need it. The levels are locked in order first
    (``inventory.holds`` explains why), which costs a query only when there is
    something to release.
    """
    taking = sorted(
        {(m.product_id, m.warehouse_id) for m in moves if m.quantity - m.reserved_delta < 0}
    )
    moment = db.now()
    if taking and holds.has_lapsed(s, taking, moment):
        holds.lock_levels(s, ((m.product_id, m.warehouse_id) for m in moves))
        holds.release_lapsed(s, taking, moment)


def change_incoming(s: Session, product_id: int, warehouse_id: int, delta: int) -> None:
    """Purchase orders count as incoming from approval until received or cancelled."""
    ensure_levels(s, [(product_id, warehouse_id)])
    s.execute(
        update(levels)
        .where(levels.c.product_id == product_id, levels.c.warehouse_id == warehouse_id)
        .values(incoming=levels.c.incoming + delta, updated_at=utcnow())
    )
