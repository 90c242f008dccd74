"""A reservation after it is made: read, commit into the ledger, release, extend.

Only the account that made a reservation may see or change it; others hear 404.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import (
    select,
    true,
    update,
)
from sqlalchemy.orm import Session

from accounts.principal import SYSTEM, Principal
from core import db
from core.db import UnitOfWork, read_only, retry_on_conflict
from core.problems import Conflict, NotFound
from inventory import events, holds, ledger
from inventory.models import (
    Reservation,
    ReservationStatus,
)
from inventory.reservations.tables import (
    ACTIVE,
    Key,
    destination_of,
    lines,
    products,
    reference_of,
    ttl_of,
    warehouses,
)


@dataclass(frozen=True)
class _HoldLine:
    line_no: int
    product_id: int
    warehouse_id: int
    sku: str
    warehouse: str
    quantity: int
    held: bool


def _lines_of(s: Session, reservation_id: int) -> list[_HoldLine]:
    rows = s.execute(
        select(
            lines.c.line_no,
            lines.c.product_id,
            lines.c.warehouse_id,
            products.c.sku,
            warehouses.c.code,
            lines.c.quantity,
            lines.c.held,
        )
        .join(products, products.c.id == lines.c.product_id)
        .join(warehouses, warehouses.c.id == lines.c.warehouse_id)
        .where(lines.c.reservation_id == reservation_id)
        .order_by(lines.c.line_no, warehouses.c.code)
    ).all()
    return [_HoldLine(*r[:6], bool(r[6])) for r in rows]


def _view(
    s: Session, r: Reservation, hold_lines: list[_HoldLine], moment: datetime
) -> dict[str, Any]:
    requested = (
        s.scalar(select(warehouses.c.code).where(warehouses.c.id == r.warehouse_id))
        if r.warehouse_id
        else None
    )
    return {
        "id": r.id,
        "order_ref": r.order_ref,
        "status": r.status_at(moment),
        "expires_at": r.expires_at,
        "created_at": r.created_at,
        "created_by": r.created_by,
        "warehouse": requested,
        "destination": destination_of(
            r.destination_latitude, r.destination_longitude, r.destination_region
        ),
        "deliver_by": r.deliver_by,
        "reference": reference_of(r.id),
        "closed_at": r.closed_at,
        "lines": [
            {"sku": ln.sku, "quantity": ln.quantity, "warehouse": ln.warehouse} for ln in hold_lines
        ],
    }


def _owned_by(r: Reservation, actor: Principal) -> bool:
    """A reservation belongs to the account that made it; administrators see every one."""
    if actor.is_admin:
        return True
    if actor.user_id is not None:
        return r.created_by_id == actor.user_id
    return r.created_by_id is None and r.created_by == actor.username


def get_reservation(reservation_id: int, actor: Principal = SYSTEM) -> dict[str, Any]:
    """Another account's reservation is a 404, exactly like one that does not exist.

    Ids are sequential: a 403 would confirm to a guesser that the id is someone's order.
    """
    with read_only() as s:
        r = s.get(Reservation, reservation_id)
        if r is None or not _owned_by(r, actor):
            raise NotFound(f"No reservation {reservation_id}.")
        return _view(s, r, _lines_of(s, reservation_id), db.now())


def _locked(s: Session, reservation_id: int, actor: Principal) -> Reservation:
    r = s.execute(
        select(Reservation)
        .where(Reservation.id == reservation_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).scalar_one_or_none()
    if r is None or not _owned_by(r, actor):
        raise NotFound(f"No reservation {reservation_id}.")
    return r


def _ensure_holding(
    r: Reservation, hold_lines: list[_HoldLine], moment: datetime, verb: str
) -> None:
    """409 unless the reservation still holds all its units.

    ``moment`` is read after the reservation's row lock was granted: a hold that lapsed while we
    waited is expired. A hold whose lines another writer has already released (it had lapsed)
    is expired too, whatever the clock says.
    """
    status = r.status_at(moment)
    if status == ACTIVE and not all(ln.held for ln in hold_lines):
        status = ReservationStatus.EXPIRED.value
    if status != ACTIVE:
        when = f" at {r.expires_at:%Y-%m-%d %H:%M:%S} UTC" if status == "expired" else ""
        raise Conflict(
            f"Reservation {r.id} is {status}{when}; it can no longer be {verb}.",
            errors={"status": [status]},
            slug="reservation-not-active",
        )


def _unhold_lines(s: Session, reservation_id: int) -> None:
    s.execute(
        update(lines)
        .where(lines.c.reservation_id == reservation_id, lines.c.held == true())
        .values(held=False)
    )


@retry_on_conflict()
def commit_reservation(actor: Principal, reservation_id: int) -> dict[str, Any]:
    """The held units leave stock: one issue movement per line, referencing the reservation."""
    with UnitOfWork() as uow:
        s = uow.session
        r = _locked(s, reservation_id, actor)
        now = db.now()
        hold_lines = _lines_of(s, reservation_id)
        _ensure_holding(r, hold_lines, now, "committed")
        _unhold_lines(s, reservation_id)
        ledger.apply(
            s,
            [
                ledger.Move(
                    ln.product_id,
                    ln.warehouse_id,
                    "issue",
                    -ln.quantity,
                    reserved_delta=-ln.quantity,
                    reason=f"order {r.order_ref}",
                    reference=reference_of(r.id),
                    label=f"lines.{ln.line_no}",
                    sku=ln.sku,
                    warehouse_code=ln.warehouse,
                )
                for ln in hold_lines
            ],
            actor,
        )
        r.status = ReservationStatus.COMMITTED.value
        r.closed_at, r.closed_by = now, actor.username
        s.flush()
        events.reservation_committed.send(
            "inventory",
            session=s,
            reservation=r,
            lines=[
                events.CommittedLine(ln.product_id, ln.warehouse_id, ln.quantity)
                for ln in hold_lines
            ],
        )
        view = _view(s, r, hold_lines, now)
        uow.commit()
        return view


@retry_on_conflict()
def release_reservation(actor: Principal, reservation_id: int) -> dict[str, Any]:
    """The order was abandoned: its units count as available again."""
    with UnitOfWork() as uow:
        s = uow.session
        r = _locked(s, reservation_id, actor)
        now = db.now()
        hold_lines = _lines_of(s, reservation_id)
        _ensure_holding(r, hold_lines, now, "released")
        _unhold_lines(s, reservation_id)
        freed: dict[Key, int] = defaultdict(int)
        for ln in hold_lines:
            freed[(ln.product_id, ln.warehouse_id)] += ln.quantity
        holds.unhold(s, freed)
        r.status = ReservationStatus.RELEASED.value
        r.closed_at, r.closed_by = now, actor.username
        s.flush()
        view = _view(s, r, hold_lines, now)
        uow.commit()
        return view


@retry_on_conflict()
def extend_reservation(actor: Principal, reservation_id: int, ttl_seconds: int) -> dict[str, Any]:
    """Keep an active hold for ``ttl_seconds`` from now (a payment is still in progress).

    ``expires_at`` only ever moves later: asking for less time than is left changes nothing.
    """
    ttl = ttl_of(ttl_seconds)
    with UnitOfWork() as uow:
        s = uow.session
        r = _locked(s, reservation_id, actor)
        now = db.now()
        hold_lines = _lines_of(s, reservation_id)
        _ensure_holding(r, hold_lines, now, "extended")
        if now + ttl > r.expires_at:
            r.expires_at = now + ttl
            s.execute(
                update(lines)
                .where(lines.c.reservation_id == reservation_id)
                .values(expires_at=r.expires_at)
            )
        s.flush()
        view = _view(s, r, hold_lines, now)
        uow.commit()
        return view
