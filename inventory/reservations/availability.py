"""Availability: what the storefront may sell now, one cheap round trip per call."""

from __future__ import annotations

import itertools
import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any, NamedTuple

from sqlalchemy import (
    Select,
    String,
    and_,
    bindparam,
    case,
    cast,
    func,
    select,
)
from sqlalchemy.dialects import postgresql

from core import db
from core.db import UTCDateTime
from core.problems import Invalid
from inventory import holds
from inventory.reservations import availability_cache
from inventory.reservations.tables import (
    levels,
    product_per_sku,
    products,
    warehouses,
)


class SkuAvailability(NamedTuple):
    """One sku's answer, field for field the API's ``SkuAvailabilitySchema``.

    A tuple rather than a dict: a 1,000-sku basket builds a thousand of them, and an answer may
    be shared between requests by the availability cache, so it must not change once built.
    """

    sku: str
    known: bool
    available: int
    #: (warehouse code, units available there), by code.
    warehouses: tuple[tuple[str, int], ...]


#: Baskets up to this many skus look each one up by itself (see ``_availability_statement``).
PROBE_EACH_UP_TO = 50
#: Batches of this many skus or more are read in two halves sent at once (PostgreSQL,
#: ``DriverStatement.rows_side_by_side``): the database reads one half on another core while it
#: reads the other. Measured with ``benchmarks/availability.py``'s batch, a 1,000-sku POST went
#: from 21 to 17 ms at p50 on 2 cores. Smaller batches gain less than the second query costs.
SPLIT_FROM = 200


def _availability_statement(one_warehouse: bool, from_array: bool, probe_each: bool) -> Select[Any]:
    """The single query behind availability, built once: per call only the parameters change.

    On PostgreSQL the skus come as one JSON array, unnested and joined: one statement for every
    basket size, which psycopg prepares once. An IN list would be a statement per size, and the
    plan cached for ``= ANY(:array)`` compares every product with every sku asked (over 100 ms
    for 1,000 skus). SQLite has no arrays and takes ``sku IN (...)``.

    ``probe_each`` (PostgreSQL, a basket of at most ``PROBE_EACH_UP_TO`` skus: the storefront's
    everyday question) finds each sku by an index probe of its own (``tables.product_per_sku``).
    A batch of a thousand skus is better served by the join.

    The lapsed-hold correction (``holds.lapsed_units``) is part of the same statement.
    """
    product: Any = products
    if from_array:
        # unnest(ARRAY(SELECT json_array_elements_text(:skus))): the skus travel as one JSON
        # text, which the driver sends as it is (an array parameter is dumped item by item).
        listed = select(
            func.json_array_elements_text(cast(bindparam("skus", type_=String), postgresql.JSON))
        ).scalar_subquery()
        wanted = func.unnest(func.array(listed)).table_valued("sku").render_derived(name="wanted")
        if probe_each:
            product, source = product_per_sku(wanted)
        else:
            source = wanted.join(products, products.c.sku == wanted.c.sku)
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
    stmt = select(
        product.c.sku,
        product.c.id,
        # Only open warehouses are offered: a closed one comes back without its code.
        case((warehouses.c.active, warehouses.c.code)),
        levels.c.on_hand - levels.c.reserved + lapsed,
    )
    if from_array:
        stmt = stmt.select_from(source)
    else:
        stmt = stmt.select_from(products).where(
            products.c.sku.in_(bindparam("skus", expanding=True))
        )
    return stmt.outerjoin(levels, level_on).outerjoin(
        warehouses, warehouses.c.id == levels.c.warehouse_id
    )


_AVAILABILITY = {
    (one, from_array, probe_each): db.DriverStatement(
        _availability_statement(one, from_array, probe_each)
    )
    for one in (False, True)
    for from_array in (False, True)
    for probe_each in ((False, True) if from_array else (False,))
}


def availability(skus: Sequence[str], warehouse: str | None = None) -> list[SkuAvailability]:
    """Units the storefront can reserve now, per sku and warehouse: one wait for the database.

    ``available`` is never negative here (a warehouse allowed to go below zero has nothing to
    sell). Without ``warehouse``, each known sku lists the open warehouses that have a stock
    level for it; with one, exactly that warehouse. Unknown skus come back with ``known: false``.
    Skus come back once each, in the order first asked.

    This is the storefront's hottest call: the statement is compiled once and runs on the driver's
    cursor (``core.db.DriverStatement``): one round trip, no transaction, no ORM (a batch of
    ``SPLIT_FROM`` skus or more: two queries of half the skus each, sent at once). With
    ``AVAILABILITY_CACHE_SECONDS`` set, answers this process gave a moment ago are reused and only
    the others are read (``availability_cache`` says how stale they may be).
    """
    wanted = list(dict.fromkeys(skus))
    cache = availability_cache.current()
    if cache is None:
        found = _read(wanted, warehouse)
        return [found[sku][1] for sku in wanted]
    known, generation = cache.lookup(wanted, warehouse)
    missing = [sku for sku in wanted if sku not in known]
    if missing:
        found = _read(missing, warehouse)
        cache.store(
            ((sku, product_id, answer) for sku, (product_id, answer) in found.items()),
            warehouse,
            generation,
        )
        known.update((sku, answer) for sku, (_, answer) in found.items())
    return [known[sku] for sku in wanted]


def _read(
    wanted: list[str], warehouse: str | None
) -> dict[str, tuple[int | None, SkuAvailability]]:
    """Each sku's product id (None when unknown) and answer, from the database."""
    from_array = not db.is_sqlite()
    now = db.now()
    probe_each = from_array and len(wanted) <= PROBE_EACH_UP_TO
    statement = _AVAILABILITY[(warehouse is not None, from_array, probe_each)]
    if from_array and len(wanted) >= SPLIT_FROM:
        half = (len(wanted) + 1) // 2
        parts = statement.rows_side_by_side(
            [_params(skus, warehouse, now, from_array) for skus in (wanted[:half], wanted[half:])]
        )
    else:
        parts = [statement.rows(_params(wanted, warehouse, now, from_array))]
    sites: dict[str, tuple[int, list[tuple[str, int]]]] = {}
    for sku, product_id, code, units in itertools.chain.from_iterable(parts):
        found = sites.get(sku)
        if found is None:
            found = sites[sku] = (product_id, [])
        if code is not None:
            found[1].append((code, units if units > 0 else 0))
    if warehouse is not None and any(not offered for _, offered in sites.values()):
        _ensure_warehouse_exists(warehouse)
    answers: dict[str, tuple[int | None, SkuAvailability]] = {}
    for sku in wanted:
        entry = sites.get(sku)
        if entry is None:
            answers[sku] = (None, SkuAvailability(sku, False, 0, ()))
            continue
        product_id, offered = entry
        if warehouse is not None and not offered:
            offered = [(warehouse, 0)]
        offered.sort()
        total = 0
        for _, units in offered:
            total += units
        answers[sku] = (product_id, SkuAvailability(sku, True, total, tuple(offered)))
    return answers


def _params(
    skus: list[str], warehouse: str | None, now: datetime, from_array: bool
) -> dict[str, Any]:
    params: dict[str, Any] = {"now": now, "skus": json.dumps(skus) if from_array else skus}
    if warehouse is not None:
        params["warehouse"] = warehouse
    return params


def _ensure_warehouse_exists(code: str) -> None:
    if not db.read_rows(select(warehouses.c.id).where(warehouses.c.code == code)):
        raise Invalid(f"No warehouse {code}.", errors={"warehouse": [f"unknown warehouse {code}"]})
