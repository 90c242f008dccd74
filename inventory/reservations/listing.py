"""The reservations page: every reservation a person may read, searched, filtered and sorted.

Who sees what follows the rules of the API and of the holds page: an administrator every
reservation; warehouse staff those holding (or having held) stock in their warehouses, with only
the lines in those warehouses counted; a storefront account the reservations it made.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import and_, func, literal_column, or_, select
from sqlalchemy.sql import ColumnElement

from accounts.principal import Principal
from core import db
from core.api import AnySelect
from core.db import read_only
from core.listing import ListQuery, ListSpec, Page, matching, page_of, stream, within
from core.problems import Forbidden
from inventory.models import ReservationStatus
from inventory.reservations.tables import ACTIVE, lines, products, reservations, warehouses

#: The roles this page is for (administrators too, as everywhere).
RESERVATION_READERS = ("warehouse", "storefront")
EXPIRED = ReservationStatus.EXPIRED.value


@dataclass(frozen=True)
class ReservationFilter:
    #: As the reservation reads now: an active one past its expiry is ``expired``.
    status: str | None = None
    #: Reservations with a line in this warehouse.
    warehouse: str | None = None


RESERVATION_STATUS_CHOICES = tuple(s.value for s in ReservationStatus)

RESERVATION_LIST = ListSpec(
    name="reservations",
    filters=ReservationFilter,
    sorts={
        "id": reservations.c.id,
        "order_ref": reservations.c.order_ref,
        # Columns of the page's own select (their lines depend on who is looking).
        "lines": literal_column("lines"),
        "units": literal_column("units"),
        "expires_at": reservations.c.expires_at,
        "created_at": reservations.c.created_at,
        "created_by": reservations.c.created_by,
    },
    default_sort="-created_at",
    tiebreak=(reservations.c.id,),
    dated=True,
)

RESERVATION_CSV_HEADER = (
    "id",
    "order_ref",
    "status",
    "warehouses",
    "lines",
    "units",
    "skus",
    "destination_region",
    "deliver_by",
    "expires_at_utc",
    "created_by",
    "created_at_utc",
    "closed_at_utc",
)


@dataclass(frozen=True)
class ReservationRow:
    id: int
    order_ref: str
    status: str
    warehouses: list[str]
    lines: int
    units: int
    skus: list[str]
    destination_region: str | None
    deliver_by: date | None
    expires_at: datetime
    created_by: str
    created_at: datetime
    closed_at: datetime | None

    def csv(self) -> tuple[Any, ...]:
        return (
            self.id,
            self.order_ref,
            self.status,
            " ".join(self.warehouses),
            self.lines,
            self.units,
            " ".join(self.skus),
            self.destination_region,
            self.deliver_by,
            self.expires_at,
            self.created_by,
            self.created_at,
            self.closed_at,
        )


def _line_scope(principal: Principal) -> ColumnElement[bool] | None:
    """Lines a warehouse person may see (None: all of them, for admins and storefronts)."""
    if principal.is_admin or "storefront" in principal.roles:
        return None
    codes = select(warehouses.c.id).where(warehouses.c.code.in_(sorted(principal.warehouses)))
    return lines.c.warehouse_id.in_(codes)


def _visible(principal: Principal) -> ColumnElement[bool] | None:
    """The reservations ``principal`` may read; None for all. 403 for roles that may read none."""
    if principal.is_admin:
        return None
    allowed = []
    if "storefront" in principal.roles:
        allowed.append(reservations.c.created_by_id == principal.user_id)
    if "warehouse" in principal.roles:
        codes = select(warehouses.c.id).where(warehouses.c.code.in_(sorted(principal.warehouses)))
        allowed.append(
            reservations.c.id.in_(
                select(lines.c.reservation_id).where(lines.c.warehouse_id.in_(codes))
            )
        )
    if not allowed:
        raise Forbidden(f"This needs one of the roles: {', '.join(RESERVATION_READERS)}.")
    return or_(*allowed)


def _codes_and_skus(scope: ColumnElement[bool] | None) -> tuple[Any, Any]:
    """Per reservation: its warehouses' codes and its skus, each joined by spaces, in any order
    (the rows put them in order)."""
    pairs = select(lines.c.reservation_id, warehouses.c.code.label("code")).join(
        warehouses, warehouses.c.id == lines.c.warehouse_id
    )
    items = select(lines.c.reservation_id, products.c.sku.label("sku")).join(
        products, products.c.id == lines.c.product_id
    )
    if scope is not None:
        pairs, items = pairs.where(scope), items.where(scope)
    site = pairs.distinct().subquery("sites")
    sku = items.distinct().subquery("items")
    return (
        select(func.aggregate_strings(site.c.code, " "))
        .where(site.c.reservation_id == reservations.c.id)
        .scalar_subquery(),
        select(func.aggregate_strings(sku.c.sku, " "))
        .where(sku.c.reservation_id == reservations.c.id)
        .scalar_subquery(),
    )


def _reservation_list(principal: Principal, query: ListQuery[ReservationFilter]) -> AnySelect:
    f = query.filters
    now = db.now()
    line_scope = _line_scope(principal)
    counted = select(
        lines.c.reservation_id,
        func.count().label("lines"),
        func.sum(lines.c.quantity).label("units"),
    )
    if line_scope is not None:
        counted = counted.where(line_scope)
    stats = counted.group_by(lines.c.reservation_id).subquery("stats")
    lapsed = and_(reservations.c.status == ACTIVE, reservations.c.expires_at <= now)
    codes, skus = _codes_and_skus(line_scope)
    stmt = select(
        reservations.c.id,
        reservations.c.order_ref,
        reservations.c.status,
        lapsed.label("lapsed"),
        codes.label("warehouses"),
        func.coalesce(stats.c.lines, 0).label("lines"),
        func.coalesce(stats.c.units, 0).label("units"),
        skus.label("skus"),
        reservations.c.destination_region,
        reservations.c.deliver_by,
        reservations.c.expires_at,
        reservations.c.created_by,
        reservations.c.created_at,
        reservations.c.closed_at,
    ).outerjoin(stats, stats.c.reservation_id == reservations.c.id)
    visible = _visible(principal)
    if visible is not None:
        stmt = stmt.where(visible)
    if f.status == ACTIVE:
        stmt = stmt.where(reservations.c.status == ACTIVE, reservations.c.expires_at > now)
    elif f.status == EXPIRED:
        stmt = stmt.where(or_(reservations.c.status == EXPIRED, lapsed))
    elif f.status:
        stmt = stmt.where(reservations.c.status == f.status)
    if f.warehouse:
        here = select(lines.c.reservation_id).join(
            warehouses, warehouses.c.id == lines.c.warehouse_id
        )
        stmt = stmt.where(reservations.c.id.in_(here.where(warehouses.c.code == f.warehouse)))
    found = matching(query, reservations.c.order_ref, reservations.c.created_by)
    if found is not None:
        stmt = stmt.where(found)
    return within(stmt, query, reservations.c.created_at)


def _row(r: Any) -> ReservationRow:
    return ReservationRow(
        id=r.id,
        order_ref=r.order_ref,
        status=EXPIRED if r.lapsed else r.status,
        warehouses=sorted(set((r.warehouses or "").split())),
        lines=int(r.lines),
        units=int(r.units),
        skus=sorted(set((r.skus or "").split())),
        destination_region=r.destination_region,
        deliver_by=r.deliver_by,
        expires_at=r.expires_at,
        created_by=r.created_by,
        created_at=r.created_at,
        closed_at=r.closed_at,
    )


def warehouses_for(principal: Principal) -> list[str]:
    """The warehouse codes ``principal`` may filter reservations by."""
    with read_only() as s:
        stmt = select(warehouses.c.code).order_by(warehouses.c.code)
        if not principal.is_admin and "storefront" not in principal.roles:
            stmt = stmt.where(warehouses.c.code.in_(sorted(principal.warehouses)))
        return list(s.scalars(stmt))


def reservation_page(
    principal: Principal, query: ListQuery[ReservationFilter]
) -> Page[ReservationRow]:
    """One page of the reservations ``principal`` may read, with the number matching in all."""
    stmt = _reservation_list(principal, query)
    with read_only() as s:
        return page_of(s, stmt, query, _row)


def reservation_rows(
    principal: Principal, query: ListQuery[ReservationFilter]
) -> Iterator[Sequence[Any]]:
    """Every reservation of the query in ``RESERVATION_CSV_HEADER``'s columns, in batches."""
    return stream(_reservation_list(principal, query), query, lambda r: _row(r).csv())
