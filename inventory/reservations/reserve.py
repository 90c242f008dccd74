"""Creating a reservation: allocate across warehouses, then hold every line or none.

Concurrency (PostgreSQL). Creating a reservation is optimistic first: read availability without
locks, allocate (pure), then raise ``reserved`` with conditional UPDATEs in (product, warehouse)
order, ``... WHERE on_hand - reserved >= :qty``. A concurrent writer that took the units first makes
an UPDATE match nothing; the attempt is then rolled back and made again with every candidate level
locked before reading (``SELECT ... FOR NO KEY UPDATE`` in the same order), which decides for
certain.
Every line of a reservation is in one transaction, so it is held entirely or not at all, and the
CHECK ``on_hand >= reserved`` stays behind all of it. SQLite serialises writers instead.

The optimistic attempt is two round trips on PostgreSQL, outside any unit of work: one read
(products, open warehouses, stock, lapsed holds, and the new reservation's id), and one call of
the database function ``reserve_stock`` (a migration) that, for an API request with an
Idempotency-Key, claims the key, then inserts the reservation, its lines and the key's record and
makes the conditional UPDATEs (in the same order, in open warehouses only), all in one statement:
it commits whole or fails whole. The response is made before that statement (the id is drawn by
the read) so that its record can be part of it. A basket whose skus this process read less than
``RESERVATION_PLAN_SECONDS`` ago is planned from that read (``plan_cache``, with an id of the
process's block) and costs the call alone; a plan from memory that the call finds stale, or that
memory cannot settle (a short line, lapsed holds), is made again from a fresh read. When a level
lost its units meanwhile (SQLSTATE ``SR001``), or the plan touches lapsed holds that must be
released first, the reservation is made in a unit of work as above (the request's key, if any, is
then handled by ``core.idempotency`` around it).
"""

from __future__ import annotations

import functools
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any, NamedTuple, TypeVar, cast

from flask import Response
from sqlalchemy import (
    ColumnClause,
    Integer,
    Select,
    String,
    and_,
    bindparam,
    column,
    func,
    insert,
    literal_column,
    select,
    text,
    true,
    update,
    values,
)
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from accounts.principal import Principal
from core import db, idempotency
from core.db import UnitOfWork, UTCDateTime, retry_on_conflict
from core.problems import Conflict, Invalid
from inventory import events, holds
from inventory.reservations import allocation, plan_cache
from inventory.reservations.tables import (
    ACTIVE,
    Key,
    destination_of,
    levels,
    lines,
    product_per_sku,
    products,
    reference_of,
    reservations,
    ttl_of,
    warehouses,
)


class _StalePlan(Exception):
    """Stock moved between reading availability and holding it: plan again, under locks."""


class _Request(NamedTuple):
    """An order as ``_reserve`` takes it (a named tuple for the reason ``allocation.Site`` is)."""

    order_ref: str
    skus: list[str]
    quantities: list[int]
    warehouse: str | None
    ttl: timedelta
    destination: tuple[float, float] | None
    region: str | None = None
    deliver_by: date | None = None


T = TypeVar("T")
#: The sequence behind ``reservations.id`` (its serial column's), as a constant the server
#: resolves once when it prepares the read: ``pg_get_serial_sequence`` with the table's name as
#: parameters would look the sequence up in the catalog at every reservation.
ID_SEQUENCE: ColumnClause[Any] = literal_column("'reservations_id_seq'::regclass")
#: A block of reservation ids for plans made from memory (``plan_cache.PlanCache.next_id``).
_DRAW_IDS = db.DriverStatement(
    select(func.nextval(ID_SEQUENCE)).select_from(
        func.generate_series(1, bindparam("n", type_=Integer))
    )
)
#: SQLSTATE of ``reserve_stock`` when a level no longer has the units the plan took from it.
STALE_PLAN = "SR001"


@retry_on_conflict()
def reserve(actor: Principal, data: dict[str, Any]) -> dict[str, Any]:
    """Hold every line of an order, or nothing (409 listing the short lines).

    A sku on two lines is refused here, not only by the API's schema: holds are kept per sku, so
    the second line would silently replace the first for any other caller (CLI, demo, jobs).
    """
    return _reserve(actor, _request_of(data), _as_is, None)


@retry_on_conflict()
def reserve_and_respond(
    actor: Principal, data: dict[str, Any], respond: Callable[[dict[str, Any]], Response]
) -> Response:
    """``reserve`` for the API: ``respond`` turns the reservation into the response before the
    holds are written, so that the request's Idempotency-Key record (``idempotency.claim()``) is
    stored by the same statement."""
    return _reserve(actor, _request_of(data), respond, idempotency.claim())


def _as_is(view: dict[str, Any]) -> dict[str, Any]:
    return view


def _request_of(data: dict[str, Any]) -> _Request:
    seen: set[str] = set()
    for i, line in enumerate(data["lines"]):
        if line["sku"] in seen:
            raise Invalid(
                f"{line['sku']} is listed twice; give the total on one line.",
                errors={"lines": {str(i): {"sku": ["Listed twice; give the total on one line."]}}},
            )
        seen.add(line["sku"])
    destination = data.get("destination")
    return _Request(
        order_ref=data["order_ref"],
        skus=[ln["sku"] for ln in data["lines"]],
        quantities=[ln["quantity"] for ln in data["lines"]],
        warehouse=data.get("warehouse"),
        ttl=ttl_of(data.get("ttl_seconds")),
        destination=(destination["latitude"], destination["longitude"])
        if destination and "latitude" in destination
        else None,
        region=destination["region"].upper() if destination and destination.get("region") else None,
        deliver_by=data.get("deliver_by"),
    )


def _reserve(
    actor: Principal,
    request: _Request,
    answer: Callable[[dict[str, Any]], T],
    claim: idempotency.Claim | None,
) -> T:
    start_locked = False
    if not db.is_sqlite() and not db.in_unit_of_work():
        try:
            done = _reserve_in_one_statement(actor, request, answer, claim)
        except _StalePlan:
            done, start_locked = None, True
        if done is not None:
            return done
        if claim is not None:
            raise idempotency.Declined
    for locked in (True,) if start_locked else (False, True):
        try:
            with UnitOfWork() as uow:
                view = _reserve_in_transaction(uow.session, actor, request, locked=locked)
                result = answer(view)
                uow.commit()
                return result
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


def _plan_statement(one_warehouse: bool, *, listed: int | None = None) -> Select[Any]:
    """Products, their stock per open warehouse and the lapsed units there, in one query.

    Warehouses without a level for the basket's skus have nothing to offer, so allocation only
    needs the ones this returns. With ``listed`` (PostgreSQL's optimistic read, through libpq)
    the skus come as that many parameters ``sku_0``, ``sku_1``..., the query adds the next
    reservation id, drawn once per query, for the response made before the reservation is
    written, and each sku is found by an index probe of its own (``tables.product_per_sku``).
    A VALUES list of parameters (rather than an array) lets the plan prepared
    for each basket size know its number of rows, so it is planned once, not at every call.
    """
    product: Any = products
    source: Any = products
    if listed is not None:
        wanted = values(column("sku", String), name="wanted").data(
            [(bindparam(f"sku_{i}", type_=String),) for i in range(listed)]
        )
        product, source = product_per_sku(wanted)
    level_on = levels.c.product_id == product.c.id
    if one_warehouse:
        level_on = and_(
            level_on,
            levels.c.warehouse_id
            == select(warehouses.c.id)
            .where(warehouses.c.code == bindparam("warehouse"))
            .scalar_subquery(),
        )
    lapsed = holds.lapsed_units(bindparam("now", type_=UTCDateTime()))
    columns: list[Any] = [
        product.c.sku,
        product.c.id,
        warehouses.c.id,
        warehouses.c.code,
        warehouses.c.priority,
        warehouses.c.latitude,
        warehouses.c.longitude,
        warehouses.c.active,
        levels.c.on_hand - levels.c.reserved,
        lapsed,
    ]
    if listed is not None:
        columns.append(select(func.nextval(ID_SEQUENCE)).scalar_subquery())
    stmt = (
        select(*columns)
        .select_from(source)
        .outerjoin(levels, level_on)
        .outerjoin(warehouses, warehouses.c.id == levels.c.warehouse_id)
    )
    if listed is None:
        stmt = stmt.where(products.c.sku.in_(bindparam("skus", expanding=True)))
    return stmt


_PLAN = {one: _plan_statement(one) for one in (False, True)}


def _listed_size(skus: int) -> int:
    """How many sku parameters the read for a basket of ``skus`` has: the size itself for the
    everyday baskets, else the next power of two (the rest sent as NULL, which matches no
    product). A basket may have up to 500 lines, and every size would otherwise be a statement
    of its own on every connection."""
    return skus if skus <= 8 else 1 << (skus - 1).bit_length()


@functools.cache
def _optimistic_read(one_warehouse: bool, listed: int) -> db.DriverStatement:
    """The optimistic read with ``listed`` sku parameters (``_listed_size``)."""
    return db.DriverStatement(_plan_statement(one_warehouse, listed=listed))


_HOLD = (
    update(levels)
    .where(levels.c.product_id == bindparam("p"), levels.c.warehouse_id == bindparam("w"))
    .where(levels.c.on_hand - levels.c.reserved >= bindparam("q"))
    .values(
        reserved=levels.c.reserved + bindparam("q"),
        earliest_hold_expiry=holds.hold_expiry_bound(
            bindparam("expires_at", type_=UTCDateTime()), bindparam("now", type_=UTCDateTime())
        ),
        updated_at=bindparam("now"),
    )
    .returning(levels.c.reserved)
)

#: The migration's ``reserve_stock``; returns the key's earlier record when there is one.
_RESERVE_STOCK = db.DriverStatement(
    text(
        f"SELECT {', '.join(idempotency.EARLIER)} FROM reserve_stock("
        "CAST(:now AS timestamptz), CAST(:id AS bigint), CAST(:order_ref AS text), "
        "CAST(:expires_at AS timestamptz), CAST(:warehouse_id AS integer), "
        "CAST(:latitude AS double precision), CAST(:longitude AS double precision), "
        "CAST(:region AS text), CAST(:deliver_by AS date), CAST(:created_by_id AS integer), "
        "CAST(:created_by AS text), CAST(:products AS integer[]), "
        "CAST(:warehouses AS integer[]), CAST(:line_nos AS integer[]), "
        "CAST(:quantities AS integer[]), CAST(:lock AS bigint), CAST(:scope AS text), "
        "CAST(:key AS text), CAST(:fingerprint AS text), CAST(:method AS text), "
        "CAST(:path AS text), CAST(:status AS integer), CAST(:content_type AS text), "
        "CAST(:body AS text), CAST(:location AS text), CAST(:headers AS text), "
        "CAST(:record_expires_at AS timestamptz))"
    )
)


@dataclass
class _Stock:
    """What the optimistic read found: allocation's input, and where holds have lapsed."""

    product_ids: dict[str, int]
    sites: dict[int, allocation.Site]
    stock: dict[str, dict[str, int]]
    lapsed: dict[Key, int]


def _stock_of(rows: Iterable[Sequence[Any]]) -> _Stock:
    found = _Stock({}, {}, defaultdict(dict), {})
    for sku, p, w, code, priority, lat, lon, active, available, lapsed_units, *_ in rows:
        found.product_ids[sku] = p
        if w is None or not active:
            continue
        if w not in found.sites:  # every sku's rows repeat the warehouse
            found.sites[w] = allocation.Site(code, priority, lat, lon)
        found.stock[sku][code] = available + lapsed_units
        if lapsed_units:
            found.lapsed[(p, w)] = lapsed_units
    return found


def _unknown_skus(request: _Request, product_ids: dict[str, int]) -> None:
    unknown = {
        f"lines.{i}.sku": [f"unknown sku {sku}"]
        for i, sku in enumerate(request.skus)
        if sku not in product_ids
    }
    if unknown:
        raise Invalid("Some lines name products that are not in the catalog.", errors=unknown)


def _allocate(
    request: _Request, found: _Stock
) -> tuple[list[allocation.Pick], dict[Key, allocation.Pick]]:
    """The picks in request order, and the pick of each level; 409 when a line is short."""
    plan = allocation.allocate(
        [allocation.Line(sku, q) for sku, q in zip(request.skus, request.quantities, strict=True)],
        found.stock,
        list(found.sites.values()),
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
    site_id = {site.code: w for w, site in found.sites.items()}
    picks = sorted(plan.picks, key=lambda pk: (pk.line, pk.warehouse))
    return picks, {(found.product_ids[p.sku], site_id[p.warehouse]): p for p in picks}


def _site_of(request: _Request, found: _Stock) -> int | None:
    """The id of the warehouse the request names, if it names one."""
    if request.warehouse is None:
        return None
    return next(w for w, site in found.sites.items() if site.code == request.warehouse)


def _view(
    reservation_id: int,
    actor: Principal,
    request: _Request,
    now: datetime,
    picks: list[allocation.Pick],
) -> dict[str, Any]:
    latitude, longitude = request.destination or (None, None)
    return {
        "id": reservation_id,
        "order_ref": request.order_ref,
        "status": ACTIVE,
        "expires_at": now + request.ttl,
        "created_at": now,
        "created_by": actor.username,
        "warehouse": request.warehouse,
        "destination": destination_of(latitude, longitude, request.region),
        "deliver_by": request.deliver_by,
        "reference": reference_of(reservation_id),
        "closed_at": None,
        "lines": [
            {"sku": pick.sku, "quantity": pick.quantity, "warehouse": pick.warehouse}
            for pick in picks
        ],
    }


def _reserve_in_one_statement(
    actor: Principal,
    request: _Request,
    answer: Callable[[dict[str, Any]], T],
    claim: idempotency.Claim | None,
) -> T | None:
    """The optimistic attempt: one round trip when this process read the basket's skus a moment
    ago (``plan_cache``), else two (PostgreSQL, outside a unit of work).

    None when it cannot be made this way (lapsed holds to release first, or a named warehouse
    without stock, whose reason the transaction's path tells); ``_StalePlan`` when a level lost
    its units meanwhile. Either way nothing was changed.
    """
    now = db.now()
    plans = plan_cache.current() if request.warehouse is None else None
    with db.driver_connection() as conn:
        recent = plans.rows(request.skus) if plans is not None else None
        if plans is not None and recent is not None:
            try:
                done = _plan_and_hold(
                    conn, actor, request, answer, claim, now, recent, plans, from_memory=True
                )
            except _StalePlan:
                plan_cache.MEMORY_STALE.inc()
            else:
                if done is not _READ_AGAIN:
                    plan_cache.MEMORY_DONE.inc()
                    return cast(T | None, done)
                plan_cache.MEMORY_READ_AGAIN.inc()
            # Memory was wrong about this basket's stock (or it touches lapsed holds): read it.
            plans.forget_skus(request.skus)
        listed = _listed_size(len(request.skus))
        params: dict[str, Any] = {
            f"sku_{i}": request.skus[i] if i < len(request.skus) else None for i in range(listed)
        }
        params["now"] = now
        if request.warehouse is not None:
            params["warehouse"] = request.warehouse
        read_at = plans.clock() if plans is not None else 0.0
        rows = conn.rows(
            _optimistic_read(request.warehouse is not None, listed), params, repeatable=True
        )
        try:
            done = _plan_and_hold(
                conn, actor, request, answer, claim, now, (rows, read_at), plans, from_memory=False
            )
        except _StalePlan:
            plan_cache.READ_STALE.inc()
            raise
        if done is not None:
            plan_cache.READ_DONE.inc()
        return cast(T | None, done)


#: ``_plan_and_hold`` from memory: the basket must be read first.
_READ_AGAIN = object()


def _plan_and_hold(
    conn: db.DriverConnection,
    actor: Principal,
    request: _Request,
    answer: Callable[[dict[str, Any]], T],
    claim: idempotency.Claim | None,
    now: datetime,
    read: tuple[Sequence[Sequence[Any]], float],
    plans: plan_cache.PlanCache | None,
    *,
    from_memory: bool,
) -> T | object | None:
    """Allocate from ``read`` (the rows and when they were read) and hold with ``reserve_stock``.

    From memory (which holds every level of each sku it knows), what only a fresh read may
    conclude (a short line, lapsed holds to release) is ``_READ_AGAIN`` instead, and the id comes
    from the process's block."""
    rows, read_at = read
    found = _stock_of(rows)
    _unknown_skus(request, found.product_ids)
    if request.warehouse is not None and not found.sites:
        return None
    try:
        picks, need = _allocate(request, found)
    except Conflict:
        if from_memory:
            return _READ_AGAIN
        raise
    if any(key in found.lapsed for key in need):
        return _READ_AGAIN if from_memory else None
    if from_memory:
        assert plans is not None
        reservation_id = plans.next_id(lambda n: _draw_ids(conn, n))
    else:
        reservation_id = rows[0][-1]
    answered = answer(_view(reservation_id, actor, request, now, picks))
    order = sorted(need)  # the lock order of every writer: (product, warehouse)
    try:
        earlier = conn.rows(
            _RESERVE_STOCK,
            {
                "now": now,
                "id": reservation_id,
                "order_ref": request.order_ref,
                "expires_at": now + request.ttl,
                "warehouse_id": _site_of(request, found),
                "latitude": request.destination[0] if request.destination else None,
                "longitude": request.destination[1] if request.destination else None,
                "region": request.region,
                "deliver_by": request.deliver_by,
                "created_by_id": actor.user_id,
                "created_by": actor.username,
                "products": [p for p, _ in order],
                "warehouses": [w for _, w in order],
                "line_nos": [need[key].line for key in order],
                "quantities": [need[key].quantity for key in order],
                "lock": claim.lock_id if claim else None,
                "scope": claim.scope if claim else None,
                "key": claim.key if claim else None,
                **_record_columns(claim, cast(Response, answered), now),
            },
        )
    except DBAPIError as exc:
        state = db.sqlstate(exc)
        if state == STALE_PLAN:
            raise _StalePlan from None
        if state == idempotency.IN_FLIGHT and claim is not None:
            raise claim.in_flight() from None
        raise
    if not earlier:
        # That statement held the units and committed them (the pool is in autocommit).
        events.availability_changed.send(
            "inventory", session=None, product_ids={p for p, _ in need}
        )
        if plans is not None:
            # After the event, which made this process forget these skus: what it just held is
            # the one change to them it knows of.
            plans.held(rows, read_at, {key: pick.quantity for key, pick in need.items()})
    elif plans is not None and not from_memory:
        plans.keep(rows, read_at)
    if claim is None:
        return answered
    if earlier:
        # The key answered before: nothing was written, the earlier response is the answer.
        return cast(T, claim.answer(earlier[0]))
    claim.recorded()
    return answered


def _draw_ids(conn: db.DriverConnection, n: int) -> list[int]:
    return [row[0] for row in conn.rows(_DRAW_IDS, {"n": n})]


#: The Idempotency-Key record's columns that ``reserve_stock`` takes as they are; the record's
#: ``expires_at`` is its ``record_expires_at`` (``expires_at`` is the holds'), and its ``scope``
#: and ``key`` are the claim's.
_RECORD_COLUMNS = (
    "fingerprint",
    "method",
    "path",
    "status",
    "content_type",
    "body",
    "location",
    "headers",
)


def _record_columns(
    claim: idempotency.Claim | None, answered: Response, now: datetime
) -> dict[str, Any]:
    """The record ``reserve_stock`` inserts with the reservation; none without a key."""
    if claim is None:
        return dict.fromkeys((*_RECORD_COLUMNS, "record_expires_at"))
    record = claim.record(answered, now)
    return {
        **{column: record[column] for column in _RECORD_COLUMNS},
        "record_expires_at": record["expires_at"],
    }


def _reserve_in_transaction(
    s: Session, actor: Principal, request: _Request, *, locked: bool
) -> dict[str, Any]:
    now = db.now()
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
        found = _Stock(product_ids, sites, defaultdict(dict), {})
        for p, w, available in s.execute(
            select(
                levels.c.product_id, levels.c.warehouse_id, levels.c.on_hand - levels.c.reserved
            ).where(
                levels.c.product_id.in_(set(product_ids.values())),
                levels.c.warehouse_id.in_(list(sites)),
            )
        ):
            found.stock[sku_of[p]][sites[w].code] = available
    else:
        # One read for products, warehouses and stock; the UPDATEs below re-check every line.
        params: dict[str, Any] = {"now": now, "skus": request.skus}
        if request.warehouse is not None:
            params["warehouse"] = request.warehouse
        found = _stock_of(s.connection().execute(_PLAN[request.warehouse is not None], params))
        _unknown_skus(request, found.product_ids)
        if request.warehouse is not None and not found.sites:
            # 422 for an unknown or closed warehouse, else no stock there
            found.sites = _sites(s, request)

    picks, need = _allocate(request, found)
    lapsed = [key for key in need if key in found.lapsed]
    if lapsed:
        holds.lock_levels(s, need)
        holds.release_lapsed(s, lapsed, now)
    conn = s.connection()
    for (p, w), pick in sorted(need.items()):
        held = conn.execute(
            _HOLD,
            {"p": p, "w": w, "q": pick.quantity, "now": now, "expires_at": now + request.ttl},
        ).first()
        if held is None:
            raise _StalePlan
    events.availability_changed.send("inventory", session=s, product_ids={p for p, _ in need})

    reservation_id = s.execute(
        insert(reservations)
        .values(
            order_ref=request.order_ref,
            status=ACTIVE,
            expires_at=now + request.ttl,
            warehouse_id=_site_of(request, found),
            destination_latitude=request.destination[0] if request.destination else None,
            destination_longitude=request.destination[1] if request.destination else None,
            destination_region=request.region,
            deliver_by=request.deliver_by,
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
    return _view(reservation_id, actor, request, now, picks)
