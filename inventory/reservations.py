"""Storefront availability and reservations: holds with a time limit, committed or released.

A reservation holds units for an order while it is being paid. Holding means counting them in
``stock_levels.reserved`` (see ``inventory.holds`` for how a lapsed hold stops counting at once).
Committing turns the held units into issue movements in the ledger; releasing, or the periodic
release of expired holds, gives them back to availability.

Concurrency (PostgreSQL). Creating a reservation is optimistic first: read availability without
locks, allocate (pure), then raise ``reserved`` with conditional UPDATEs in (product, warehouse)
order, ``... WHERE on_hand - reserved >= :qty``. A concurrent writer that took the units first makes
an UPDATE match nothing; the attempt is then rolled back and made again with every candidate level
locked before reading (``SELECT ... FOR UPDATE`` in the same order), which decides for certain.
Every line of a reservation is in one transaction, so it is held entirely or not at all, and the
CHECK ``on_hand >= reserved`` stays behind all of it. SQLite serialises writers instead.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

from flask import current_app
from sqlalchemy import (
    Select,
    String,
    Table,
    and_,
    bindparam,
    func,
    insert,
    select,
    true,
    tuple_,
    update,
)
from sqlalchemy.dialects import postgresql
from sqlalchemy.orm import Session

from accounts import audit
from accounts.principal import SYSTEM, Principal
from core import db, idempotency
from core.api import decode_cursor, encode_cursor
from core.db import UnitOfWork, UTCDateTime, read_only, retry_on_conflict
from core.problems import Conflict, Forbidden, Invalid, NotFound
from inventory import allocation, holds, ledger
from inventory.models import (
    Product,
    Reservation,
    ReservationLine,
    ReservationStatus,
    StockLevel,
    Warehouse,
)

products = cast(Table, Product.__table__)
warehouses = cast(Table, Warehouse.__table__)
levels = cast(Table, StockLevel.__table__)
reservations = cast(Table, Reservation.__table__)
lines = cast(Table, ReservationLine.__table__)

ACTIVE = ReservationStatus.ACTIVE.value
Key = holds.Key


def reference_of(reservation_id: int) -> str:
    """What the ledger's movements of a committed reservation carry as ``reference``."""
    return f"reservation:{reservation_id}"


# --- availability ---------------------------------------------------------------------------------


#: Baskets larger than this are joined from an array (PostgreSQL) instead of an IN list.
BATCH_FROM = 20


def _availability_statement(one_warehouse: bool, batch: bool) -> Select[Any]:
    """The single query behind availability, built once: per call only the parameters change.

    Small baskets use ``sku IN (...)``: each size is one prepared statement whose plan PostgreSQL
    keeps. A large basket on PostgreSQL is joined from ``unnest(:skus)`` instead: the plan cached
    for an IN list or ``= ANY(:array)`` cannot hash the parameter and would compare every product
    with every sku asked (over 100 ms for 1,000 skus); the join is linear whatever the plan.
    """
    level_on = levels.c.product_id == products.c.id
    if one_warehouse:
        level_on = and_(
            level_on,
            levels.c.warehouse_id
            == select(warehouses.c.id)
            .where(warehouses.c.code == bindparam("warehouse"))
            .scalar_subquery(),
        )
    lapsed = holds.lapsed_units(bindparam("now", type_=UTCDateTime()))
    stmt = select(
        products.c.sku,
        warehouses.c.code,
        warehouses.c.active,
        levels.c.on_hand - levels.c.reserved + lapsed,
    )
    if batch:
        wanted = (
            func.unnest(bindparam("skus", type_=postgresql.ARRAY(String)))
            .table_valued("sku")
            .render_derived(name="wanted")
        )
        stmt = stmt.select_from(wanted).join(products, products.c.sku == wanted.c.sku)
    else:
        stmt = stmt.select_from(products).where(
            products.c.sku.in_(bindparam("skus", expanding=True))
        )
    return stmt.outerjoin(levels, level_on).outerjoin(
        warehouses, warehouses.c.id == levels.c.warehouse_id
    )


_AVAILABILITY = {
    (one, batch): db.DriverRead(_availability_statement(one, batch))
    for one in (False, True)
    for batch in (False, True)
}


def availability(skus: Sequence[str], warehouse: str | None = None) -> list[dict[str, Any]]:
    """Units the storefront can reserve now, per sku and warehouse: one query, no ORM objects.

    ``available`` is never negative here (a warehouse allowed to go below zero has nothing to
    sell). Without ``warehouse``, each known sku lists the open warehouses that have a stock
    level for it; with one, exactly that warehouse. Unknown skus come back with ``known: false``.
    This is the storefront's hottest call: the statement is compiled once and runs on the driver's
    cursor (``core.db.DriverRead``): one round trip, no transaction, no ORM.
    """
    wanted = list(dict.fromkeys(skus))
    params: dict[str, Any] = {"now": db.now(), "skus": wanted}
    if warehouse is not None:
        params["warehouse"] = warehouse
    found: dict[str, list[tuple[str, int]]] = {}
    batch = len(wanted) > BATCH_FROM and not db.is_sqlite()
    for sku, code, active, available in _AVAILABILITY[(warehouse is not None, batch)].rows(params):
        sites = found.setdefault(sku, [])
        if code is not None and active:
            sites.append((code, available if available > 0 else 0))
    if warehouse is not None and any(not sites for sites in found.values()):
        _ensure_warehouse_exists(warehouse)
    items = []
    for sku in wanted:
        offered = found.get(sku)
        if offered is None:
            items.append({"sku": sku, "known": False, "available": 0, "warehouses": []})
            continue
        if warehouse is not None and not offered:
            offered = [(warehouse, 0)]
        offered.sort()
        items.append(
            {
                "sku": sku,
                "known": True,
                "available": sum(units for _, units in offered),
                "warehouses": [{"code": code, "available": units} for code, units in offered],
            }
        )
    return items


def _ensure_warehouse_exists(code: str) -> None:
    if not db.read_rows(select(warehouses.c.id).where(warehouses.c.code == code)):
        raise Invalid(f"No warehouse {code}.", errors={"warehouse": [f"unknown warehouse {code}"]})


# --- creating a reservation -----------------------------------------------------------------------


class _StalePlan(Exception):
    """Stock moved between reading availability and holding it: plan again, under locks."""


@dataclass(frozen=True)
class _Request:
    order_ref: str
    skus: list[str]
    quantities: list[int]
    warehouse: str | None
    ttl: timedelta
    destination: tuple[float, float] | None


def _ttl(seconds: int | None, field: str = "ttl_seconds") -> timedelta:
    config = current_app.config
    seconds = config["RESERVATION_DEFAULT_TTL"] if seconds is None else seconds
    if not 1 <= seconds <= config["RESERVATION_MAX_TTL"]:
        raise Invalid(
            "The hold time is out of range.",
            errors={field: [f"between 1 and {config['RESERVATION_MAX_TTL']} seconds"]},
        )
    return timedelta(seconds=seconds)


@retry_on_conflict()
def reserve(actor: Principal, data: dict[str, Any]) -> dict[str, Any]:
    """Hold every line of an order, or nothing (409 listing the short lines).

    A sku on two lines is refused here, not only by the API's schema: holds are kept per sku, so
    the second line would silently replace the first for any other caller (CLI, demo, jobs).
    """
    seen: set[str] = set()
    for i, line in enumerate(data["lines"]):
        if line["sku"] in seen:
            raise Invalid(
                f"{line['sku']} is listed twice; give the total on one line.",
                errors={"lines": {str(i): {"sku": ["Listed twice; give the total on one line."]}}},
            )
        seen.add(line["sku"])
    destination = data.get("destination")
    request = _Request(
        order_ref=data["order_ref"],
        skus=[ln["sku"] for ln in data["lines"]],
        quantities=[ln["quantity"] for ln in data["lines"]],
        warehouse=data.get("warehouse"),
        ttl=_ttl(data.get("ttl_seconds")),
        destination=(destination["latitude"], destination["longitude"]) if destination else None,
    )
    for locked in (False, True):
        try:
            with UnitOfWork() as uow:
                view = _reserve(uow.session, actor, request, locked=locked)
                uow.commit()
                return view
        except _StalePlan:
            continue
    raise AssertionError("a plan made under locks cannot be stale")


def _sites(s: Session, request: _Request) -> dict[int, allocation.Site]:
    stmt = select(
        warehouses.c.id,
        warehouses.c.code,
        warehouses.c.priority,
        warehouses.c.latitude,
        warehouses.c.longitude,
        warehouses.c.active,
    )
    if request.warehouse is not None:
        stmt = stmt.where(warehouses.c.code == request.warehouse)
    else:
        stmt = stmt.where(warehouses.c.active == true())
    rows = s.execute(stmt).all()
    if request.warehouse is not None:
        if not rows:
            raise Invalid(
                f"No warehouse {request.warehouse}.",
                errors={"warehouse": [f"unknown warehouse {request.warehouse}"]},
            )
        if not rows[0].active:
            raise Invalid(
                f"Warehouse {request.warehouse} is closed.",
                errors={"warehouse": ["closed warehouses take no reservations"]},
            )
    return {r.id: allocation.Site(r.code, r.priority, r.latitude, r.longitude) for r in rows}


def _plan_statement(one_warehouse: bool) -> Select[Any]:
    """Products, their stock per open warehouse and the lapsed units there, in one query.

    Warehouses without a level for the basket's skus have nothing to offer, so allocation only
    needs the ones this returns.
    """
    level_on = levels.c.product_id == products.c.id
    if one_warehouse:
        level_on = and_(
            level_on,
            levels.c.warehouse_id
            == select(warehouses.c.id)
            .where(warehouses.c.code == bindparam("warehouse"))
            .scalar_subquery(),
        )
    lapsed = holds.lapsed_units(bindparam("now", type_=UTCDateTime()))
    return (
        select(
            products.c.sku,
            products.c.id,
            warehouses.c.id,
            warehouses.c.code,
            warehouses.c.priority,
            warehouses.c.latitude,
            warehouses.c.longitude,
            warehouses.c.active,
            levels.c.on_hand - levels.c.reserved,
            lapsed,
        )
        .select_from(products)
        .outerjoin(levels, level_on)
        .outerjoin(warehouses, warehouses.c.id == levels.c.warehouse_id)
        .where(products.c.sku.in_(bindparam("skus", expanding=True)))
    )


_PLAN = {one: _plan_statement(one) for one in (False, True)}

_HOLD = (
    update(levels)
    .where(levels.c.product_id == bindparam("p"), levels.c.warehouse_id == bindparam("w"))
    .where(levels.c.on_hand - levels.c.reserved >= bindparam("q"))
    .values(reserved=levels.c.reserved + bindparam("q"), updated_at=bindparam("now"))
    .returning(levels.c.reserved)
)


def _unknown_skus(request: _Request, product_ids: dict[str, int]) -> None:
    unknown = {
        f"lines.{i}.sku": [f"unknown sku {sku}"]
        for i, sku in enumerate(request.skus)
        if sku not in product_ids
    }
    if unknown:
        raise Invalid("Some lines name products that are not in the catalog.", errors=unknown)


def _reserve(s: Session, actor: Principal, request: _Request, *, locked: bool) -> dict[str, Any]:
    now = db.now()
    stock: dict[str, dict[str, int]] = defaultdict(dict)
    lapsed: dict[Key, int] = {}
    if locked:
        # Everything under row locks, so the answer is final: the fallback after a lost race.
        product_ids = dict(
            s.execute(
                select(products.c.sku, products.c.id).where(products.c.sku.in_(request.skus))
            ).all()
        )
        _unknown_skus(request, product_ids)
        sites = _sites(s, request)
        candidates = [(product_ids[sku], w) for sku in request.skus for w in sites]
        holds.lock_levels(s, candidates)
        holds.release_lapsed(s, candidates, now)
        sku_of = {pid: sku for sku, pid in product_ids.items()}
        for p, w, available in s.execute(
            select(
                levels.c.product_id, levels.c.warehouse_id, levels.c.on_hand - levels.c.reserved
            ).where(
                levels.c.product_id.in_(set(product_ids.values())),
                levels.c.warehouse_id.in_(list(sites)),
            )
        ):
            stock[sku_of[p]][sites[w].code] = available
    else:
        # One read for products, warehouses and stock; the UPDATEs below re-check every line.
        params: dict[str, Any] = {"now": now, "skus": request.skus}
        if request.warehouse is not None:
            params["warehouse"] = request.warehouse
        product_ids = {}
        sites = {}
        rows = s.connection().execute(_PLAN[request.warehouse is not None], params).all()
        for sku, p, w, code, priority, lat, lon, active, available, lapsed_units in rows:
            product_ids[sku] = p
            if w is None or not active:
                continue
            sites[w] = allocation.Site(code, priority, lat, lon)
            stock[sku][code] = available + lapsed_units
            if lapsed_units:
                lapsed[(p, w)] = lapsed_units
        _unknown_skus(request, product_ids)
        if request.warehouse is not None and not sites:
            sites = _sites(s, request)  # 422 for an unknown or closed warehouse, else no stock

    plan = allocation.allocate(
        [allocation.Line(sku, q) for sku, q in zip(request.skus, request.quantities, strict=True)],
        stock,
        list(sites.values()),
        request.destination,
    )
    if not plan.ok:
        where = f" in {request.warehouse}" if request.warehouse else ""
        raise Conflict(
            "Not enough available for every line; nothing was reserved.",
            errors={
                f"lines.{short.line}.quantity": [
                    f"{short.sku}: {short.available} available{where}, {short.requested} requested"
                ]
                for short in plan.shortages
            },
            slug="insufficient-stock",
        )

    site_id = {site.code: w for w, site in sites.items()}
    need = {(product_ids[p.sku], site_id[p.warehouse]): p for p in plan.picks}
    if not locked and any(key in lapsed for key in need):
        holds.lock_levels(s, need)
        holds.release_lapsed(s, [key for key in need if key in lapsed], now)
    conn = s.connection()
    for (p, w), pick in sorted(need.items()):
        held = conn.execute(_HOLD, {"p": p, "w": w, "q": pick.quantity, "now": now}).first()
        if held is None:
            raise _StalePlan

    reservation_id = s.execute(
        insert(reservations)
        .values(
            order_ref=request.order_ref,
            status=ACTIVE,
            expires_at=now + request.ttl,
            warehouse_id=site_id[request.warehouse] if request.warehouse else None,
            destination_latitude=request.destination[0] if request.destination else None,
            destination_longitude=request.destination[1] if request.destination else None,
            created_by_id=actor.user_id,
            created_by=actor.username,
            created_at=now,
            updated_at=now,
        )
        .returning(reservations.c.id)
    ).scalar_one()
    s.execute(
        insert(lines),
        [
            {
                "reservation_id": reservation_id,
                "product_id": p,
                "warehouse_id": w,
                "line_no": pick.line,
                "quantity": pick.quantity,
                "held": True,
                "expires_at": now + request.ttl,
            }
            for (p, w), pick in need.items()
        ],
    )
    return {
        "id": reservation_id,
        "order_ref": request.order_ref,
        "status": ACTIVE,
        "expires_at": now + request.ttl,
        "created_at": now,
        "created_by": actor.username,
        "warehouse": request.warehouse,
        "destination": _destination(*request.destination) if request.destination else None,
        "reference": reference_of(reservation_id),
        "closed_at": None,
        "lines": [
            {"sku": pick.sku, "quantity": pick.quantity, "warehouse": pick.warehouse}
            for pick in sorted(plan.picks, key=lambda pk: (pk.line, pk.warehouse))
        ],
    }


def _destination(latitude: float | None, longitude: float | None) -> dict[str, float] | None:
    if latitude is None or longitude is None:
        return None
    return {"latitude": latitude, "longitude": longitude}


# --- reading, committing, releasing, extending ----------------------------------------------------


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
        "destination": _destination(r.destination_latitude, r.destination_longitude),
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
    ttl = _ttl(ttl_seconds)
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


# --- the periodic release -------------------------------------------------------------------------


@dataclass(frozen=True)
class Sweep:
    reservations: int
    units: int
    idempotency_keys: int


def release_expired(*, batch: int = 500, actor: Principal = SYSTEM) -> Sweep:
    """Store ``expired`` for lapsed holds and return their remaining units; purge old keys.

    Availability already ignores a lapsed hold, so this only tidies up: it is safe to run as often
    as wanted, from several processes at once (``SKIP LOCKED`` gives each its own reservations).
    """
    now = db.now()
    count = units = 0
    while True:
        with UnitOfWork() as uow:
            s = uow.session
            ids = list(
                s.scalars(
                    select(reservations.c.id)
                    .where(reservations.c.status == holds.ACTIVE)
                    .where(reservations.c.expires_at <= now)
                    .order_by(reservations.c.expires_at, reservations.c.id)
                    .limit(batch)
                    .with_for_update(skip_locked=True)
                )
            )
            if not ids:
                break
            released = s.execute(
                update(lines)
                .where(lines.c.reservation_id.in_(ids), lines.c.held == true())
                .values(held=False)
                .returning(lines.c.product_id, lines.c.warehouse_id, lines.c.quantity)
            ).all()
            freed: dict[Key, int] = defaultdict(int)
            for p, w, q in released:
                freed[(p, w)] += q
            holds.unhold(s, freed)
            s.execute(
                update(reservations)
                .where(reservations.c.id.in_(ids))
                .values(
                    status=ReservationStatus.EXPIRED.value,
                    closed_at=now,
                    closed_by=actor.username,
                    updated_at=now,
                )
            )
            audit.record(
                s,
                actor,
                "reservation.expire",
                "reservation",
                ids[0],
                after={"reservations": ids, "units_released": sum(freed.values())},
            )
            uow.commit()
        count += len(ids)
        units += sum(freed.values())
        if len(ids) < batch:
            break
    with UnitOfWork() as uow:
        purged = idempotency.purge_expired(uow.session, now)
        uow.commit()
    return Sweep(count, units, purged)


# --- the staff page -------------------------------------------------------------------------------


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
