"""Creating a reservation: allocate across warehouses, then hold every line or none.

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
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from sqlalchemy import (
    Select,
    and_,
    bindparam,
    insert,
    select,
    true,
    update,
)
from sqlalchemy.orm import Session

from accounts.principal import Principal
from core import db
from core.db import UnitOfWork, UTCDateTime, retry_on_conflict
from core.problems import Conflict, Invalid
from inventory import events, holds
from inventory.reservations import allocation
from inventory.reservations.tables import (
    ACTIVE,
    Key,
    destination_of,
    levels,
    lines,
    products,
    reference_of,
    reservations,
    ttl_of,
    warehouses,
)


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
    region: str | None = None
    deliver_by: date | None = None


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
        ttl=ttl_of(data.get("ttl_seconds")),
        destination=(destination["latitude"], destination["longitude"])
        if destination and "latitude" in destination
        else None,
        region=destination["region"].upper() if destination and destination.get("region") else None,
        deliver_by=data.get("deliver_by"),
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
    events.availability_changed.send("inventory", session=s, product_ids={p for p, _ in need})

    reservation_id = s.execute(
        insert(reservations)
        .values(
            order_ref=request.order_ref,
            status=ACTIVE,
            expires_at=now + request.ttl,
            warehouse_id=site_id[request.warehouse] if request.warehouse else None,
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
            for pick in sorted(plan.picks, key=lambda pk: (pk.line, pk.warehouse))
        ],
    }
