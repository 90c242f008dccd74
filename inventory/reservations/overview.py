"""The warehouse staff's view of stock tied up by holds."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import (
    and_,
    bindparam,
    func,
    select,
    true,
    tuple_,
)

from accounts.principal import Principal
from core import db
from core.api import decode_cursor, encode_cursor
from core.db import read_only
from core.problems import Forbidden, Invalid
from inventory import holds
from inventory.reservations.tables import (
    lines,
    products,
    reservations,
    warehouses,
)


@dataclass(frozen=True)
class WarehouseHolds:
    code: str
    name: str
    reservations: int
    units: int
    next_expiry: datetime | None
    lapsed_units: int


@dataclass(frozen=True)
class HeldOrder:
    id: int
    order_ref: str
    expires_at: datetime
    created_at: datetime
    created_by: str
    lines: list[tuple[str, str, int]]
    """(warehouse, sku, quantity) of the lines in the warehouses shown."""


def holds_overview(
    principal: Principal, warehouse: str | None, limit: int, cursor: str | None
) -> tuple[list[WarehouseHolds], list[HeldOrder], str | None]:
    """Active holds per warehouse, and the orders holding them soonest expiry first.

    Warehouse staff see their own warehouses, admins every one; ``warehouse`` narrows the list of
    orders (not the per-warehouse summary) to one of those.
    """
    now = db.now()
    with read_only() as s:
        site_stmt = select(warehouses.c.id, warehouses.c.code, warehouses.c.name).order_by(
            warehouses.c.code
        )
        if not principal.is_admin:
            site_stmt = site_stmt.where(warehouses.c.code.in_(sorted(principal.warehouses)))
        sites = {r.id: (r.code, r.name) for r in s.execute(site_stmt)}
        shown = [w for w, (code, _) in sites.items() if warehouse in (None, code)]
        if warehouse is not None and not shown:
            raise Forbidden(f"{principal.username} may not see holds in {warehouse}.")
        if not sites:
            return [], [], None
        held_here = and_(lines.c.held == true(), lines.c.warehouse_id.in_(list(sites)))
        live = reservations.c.expires_at > now
        summary = {
            w: (n, u, first)
            for w, n, u, first in s.execute(
                select(
                    lines.c.warehouse_id,
                    func.count(func.distinct(lines.c.reservation_id)),
                    func.sum(lines.c.quantity),
                    func.min(reservations.c.expires_at),
                )
                .join(reservations, reservations.c.id == lines.c.reservation_id)
                .where(held_here, reservations.c.status == holds.ACTIVE, live)
                .group_by(lines.c.warehouse_id)
            )
        }
        lapsed = dict(
            s.execute(
                select(lines.c.warehouse_id, func.sum(lines.c.quantity))
                .join(reservations, reservations.c.id == lines.c.reservation_id)
                .where(held_here, reservations.c.status == holds.ACTIVE, ~live)
                .group_by(lines.c.warehouse_id)
            ).all()
        )
        in_shown = and_(lines.c.held == true(), lines.c.warehouse_id.in_(shown))
        overview = [
            WarehouseHolds(
                code,
                name,
                summary.get(w, (0, 0, None))[0],
                int(summary.get(w, (0, 0, None))[1] or 0),
                summary.get(w, (0, 0, None))[2],
                int(lapsed.get(w) or 0),
            )
            for w, (code, name) in sites.items()
        ]
        order_stmt = (
            select(
                reservations.c.id,
                reservations.c.order_ref,
                reservations.c.expires_at,
                reservations.c.created_at,
                reservations.c.created_by,
            )
            .where(reservations.c.status == holds.ACTIVE, live)
            .where(reservations.c.id.in_(select(lines.c.reservation_id).where(in_shown)))
            .order_by(reservations.c.expires_at, reservations.c.id)
            .limit(limit + 1)
        )
        if cursor:
            after_expiry, after_id = decode_cursor(cursor, 2)
            try:
                after = datetime.fromisoformat(after_expiry)
            except (TypeError, ValueError):
                after = None
            if after is None or after.tzinfo is None or not isinstance(after_id, int):
                raise Invalid("Not a cursor of this page.", errors={"cursor": ["invalid"]})
            order_stmt = order_stmt.where(
                tuple_(reservations.c.expires_at, reservations.c.id)
                > tuple_(bindparam(None, after, type_=reservations.c.expires_at.type), after_id)
            )
        rows = s.execute(order_stmt).all()
        next_cursor = None
        if len(rows) > limit:
            rows = rows[:limit]
            next_cursor = encode_cursor([rows[-1].expires_at.isoformat(), rows[-1].id])
        by_order: dict[int, list[tuple[str, str, int]]] = defaultdict(list)
        if rows:
            for rid, w, sku, q in s.execute(
                select(
                    lines.c.reservation_id, lines.c.warehouse_id, products.c.sku, lines.c.quantity
                )
                .join(products, products.c.id == lines.c.product_id)
                .where(lines.c.reservation_id.in_([r.id for r in rows]), in_shown)
                .order_by(lines.c.reservation_id, lines.c.line_no)
            ):
                by_order[rid].append((sites[w][0], sku, q))
        orders = [
            HeldOrder(r.id, r.order_ref, r.expires_at, r.created_at, r.created_by, by_order[r.id])
            for r in rows
        ]
    return overview, orders, next_cursor
