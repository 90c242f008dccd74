"""Availability: what the storefront may sell now, one cheap round trip per call."""

from __future__ import annotations

import functools
import json
from collections.abc import Callable, Iterable, Sequence
from contextlib import closing
from datetime import datetime
from typing import Any, NamedTuple

from sqlalchemy import (
    CompoundSelect,
    Integer,
    Select,
    String,
    and_,
    bindparam,
    case,
    cast,
    func,
    literal_column,
    null,
    select,
    true,
    union_all,
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
#: Larger batches are read in parts of at most this many skus, sent at once, whose rows are
#: turned into answers as they arrive (PostgreSQL, ``DriverStatement.chunks_side_by_side``): the
#: database reads the parts on all its cores while this process answers the skus already come,
#: instead of the two following each other. With ``benchmarks/availability.py``'s data, a
#: 1,000-sku POST under gunicorn went from 9.9 ms at p50 (two halves, each awaited whole) to
#: 7.8 ms; two parts of 500 did no better than four of 250.
PART_SKUS = 250
#: Skus per chunk of a part's rows: the first answers start sooner than with the whole part.
CHUNK_ROWS = 50


def _availability_statement(
    one_warehouse: bool, from_array: bool, probe_each: bool
) -> Select[Any] | CompoundSelect:
    """The single query behind availability, built once: per call only the parameters change.

    On PostgreSQL the skus come as one JSON array, unnested and joined: one statement for every
    basket size, which psycopg prepares once. An IN list would be a statement per size, and the
    plan cached for ``= ANY(:array)`` compares every product with every sku asked (over 100 ms
    for 1,000 skus). SQLite has no arrays and takes ``sku IN (...)``.

    ``probe_each`` (PostgreSQL, a basket of at most ``PROBE_EACH_UP_TO`` skus: the storefront's
    everyday question) finds each sku by an index probe of its own (``tables.product_per_sku``).
    A batch of a thousand skus is better served by the join.

    A larger basket's row is a known sku: its product and, gathered by a LATERAL aggregate over
    its stock levels, the ids of the warehouses that stock it and the units each has to sell
    (never below zero), unordered. A row per stock level would repeat the sku in each and leave
    the grouping to Python, which for a 1,000-sku basket cost more than the database's whole
    read. For a few skus the aggregate costs the database more than grouping a few rows costs
    Python: a basket, and SQLite, get a row per stock level, grouped by ``_per_sku``.

    The larger basket's first row is the open warehouses' ids and codes (``_Answers.add_sites``
    maps each sku's ids to them): joining the warehouses to every stock level took a sixth of the
    database's time for the read (pgbench, 250 skus: 1.57 ms a call, 1.34 ms without). It is in
    the same statement, so it sees the warehouses as the levels' read does.

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
    units = (
        levels.c.on_hand
        - levels.c.reserved
        + holds.lapsed_units(bindparam("now", type_=UTCDateTime()))
    )
    if from_array and not probe_each:
        stocked = (
            select(
                func.array_agg(levels.c.warehouse_id).label("sites"),
                func.array_agg(func.greatest(units, literal_column("0"))).label("units"),
            )
            .where(level_on)
            .lateral("stocked")
        )
        open_warehouses = select(
            null().cast(String).label("sku"),
            null().cast(Integer).label("id"),
            func.array_agg(warehouses.c.id),
            null().cast(postgresql.ARRAY(Integer)),
            func.array_agg(warehouses.c.code),
        ).where(warehouses.c.active)
        return union_all(
            open_warehouses,
            select(
                product.c.sku,
                product.c.id,
                stocked.c.sites,
                stocked.c.units,
                null().cast(postgresql.ARRAY(String)),
            ).select_from(source.join(stocked, true())),
        )
    per_level = select(
        product.c.sku,
        product.c.id,
        # A closed warehouse comes back without its code.
        case((warehouses.c.active, warehouses.c.code)),
        units,
    )
    if from_array:
        per_level = per_level.select_from(source)
    else:
        per_level = per_level.select_from(products).where(
            products.c.sku.in_(bindparam("skus", expanding=True))
        )
    return per_level.outerjoin(levels, level_on).outerjoin(
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


def availability(
    skus: Sequence[str],
    warehouse: str | None = None,
    *,
    each: Callable[[SkuAvailability], object] | None = None,
) -> list[SkuAvailability]:
    """Units the storefront can reserve now, per sku and warehouse: one wait for the database.

    ``available`` is never negative here (a warehouse allowed to go below zero has nothing to
    sell). Without ``warehouse``, each known sku lists the open warehouses that have a stock
    level for it; with one, exactly that warehouse. Unknown skus come back with ``known: false``.
    Skus come back once each, in the order first asked.

    This is the storefront's hottest call: the statement is compiled once and runs on the driver's
    cursor (``core.db.DriverStatement``): one round trip, no transaction, no ORM (a batch of more
    than ``PART_SKUS`` skus: a query per part, all sent at once, one wait). With
    ``AVAILABILITY_CACHE_SECONDS`` set, answers this process gave a moment ago are reused and only
    the others are read (``availability_cache`` says how stale they may be).

    ``each``, if given, is called with every answer as soon as it is known, in no particular
    order: the caller can write a large basket's response while the database is still reading
    the rest, instead of after it.
    """
    wanted = list(dict.fromkeys(skus))
    cache = availability_cache.current()
    if cache is None:
        found = _read(wanted, warehouse, each).by_sku
        return [found[sku] for sku in wanted]
    known, generation = cache.lookup(wanted, warehouse)
    if each is not None:
        for answer in known.values():
            each(answer)
    missing = [sku for sku in wanted if sku not in known]
    if missing:
        read = _read(missing, warehouse, each)
        cache.store(
            ((sku, read.product_ids.get(sku), answer) for sku, answer in read.by_sku.items()),
            warehouse,
            generation,
        )
        known.update(read.by_sku)
    return [known[sku] for sku in wanted]


class _Answers:
    """The answers of one read, each final as soon as its row has come."""

    __slots__ = ("_codes", "_waiting", "by_sku", "each", "product_ids", "unstocked", "warehouse")

    def __init__(
        self, warehouse: str | None, each: Callable[[SkuAvailability], object] | None
    ) -> None:
        self.by_sku: dict[str, SkuAvailability] = {}
        self.product_ids: dict[str, int] = {}
        self.warehouse = warehouse
        self.each = each
        #: A known sku that the one warehouse asked about does not offer.
        self.unstocked = False
        #: Per part of a large basket: its open warehouses' codes by id, once its first row came.
        self._codes: dict[int, dict[int, str]] = {}
        #: Rows of a part that came before its open warehouses did.
        self._waiting: dict[int, list[Any]] = {}

    def add(self, rows: Iterable[Any], code_of: dict[int, str] | None = None) -> None:
        """Answer each known sku of rows of (sku, product id, warehouses, units, None).

        The warehouses are codes, or, with ``code_of`` (the open warehouses' codes by id), ids:
        a warehouse missing from ``code_of`` is closed, and what it holds is not offered."""
        by_sku, product_ids, each, warehouse = (
            self.by_sku,
            self.product_ids,
            self.each,
            self.warehouse,
        )
        code = None if code_of is None else code_of.__getitem__
        for sku, product_id, sites, units, _ in rows:
            product_ids[sku] = product_id
            offered: tuple[tuple[str, int], ...] = ()
            if sites:
                if code is None:
                    offered = tuple(sorted(zip(sites, units, strict=True)))
                else:
                    try:
                        offered = tuple(sorted(zip(map(code, sites), units, strict=True)))
                    except KeyError:  # a closed warehouse has a level for it
                        offered = _open_only(sites, units, code_of or {})
                        units = [u for _, u in offered]
            if offered:
                answer = _new_answer((sku, True, sum(units), offered))
            elif warehouse is None:
                answer = _new_answer((sku, True, 0, ()))
            else:
                # The warehouse does not stock it, or is closed: 0 there, if it exists at all.
                self.unstocked = True
                answer = _new_answer((sku, True, 0, ((warehouse, 0),)))
            by_sku[sku] = answer
            if each is not None:
                each(answer)

    def add_sites(self, rows: list[Any], part: int = 0) -> None:
        """``add`` for a part of a large basket, whose rows name warehouses by id, once the
        part's row of (None, None, open warehouses' ids, None, their codes) has come: the
        statement sends it first."""
        code_of = self._codes.get(part)
        if code_of is None:
            for at, (sku, _, ids, _, codes) in enumerate(rows):
                if sku is None:
                    code_of = self._codes[part] = dict(zip(ids or (), codes or (), strict=True))
                    rows = self._waiting.pop(part, []) + rows[:at] + rows[at + 1 :]
                    break
            else:
                self._waiting.setdefault(part, []).extend(rows)
                return
        self.add(rows, code_of)

    def add_unknown(self, wanted: list[str]) -> None:
        """Answer the skus no row came for: no product has them."""
        if self._waiting:
            raise RuntimeError("a part's rows came without its open warehouses")
        if len(self.by_sku) == len(wanted):
            return
        for sku in wanted:
            if sku not in self.by_sku:
                answer = self.by_sku[sku] = SkuAvailability(sku, False, 0, ())
                if self.each is not None:
                    self.each(answer)


def _read(
    wanted: list[str], warehouse: str | None, each: Callable[[SkuAvailability], object] | None
) -> _Answers:
    """Each sku's answer, and each known sku's product id, from the database."""
    answers = _Answers(warehouse, each)
    if db.is_sqlite():
        rows = _AVAILABILITY[(warehouse is not None, False, False)].rows(
            _params(wanted, warehouse, db.now(), False)
        )
        answers.add(_per_sku(rows))
    elif len(wanted) <= PROBE_EACH_UP_TO:
        statement = _AVAILABILITY[(warehouse is not None, True, True)]
        answers.add(_per_sku(statement.rows(_params(wanted, warehouse, db.now(), True))))
    else:
        now = db.now()
        statement = _AVAILABILITY[(warehouse is not None, True, False)]
        parts = -(-len(wanted) // PART_SKUS)
        if parts == 1:
            answers.add_sites(statement.rows(_params(wanted, warehouse, now, True)))
        else:
            calls = [_params(wanted[part::parts], warehouse, now, True) for part in range(parts)]
            with closing(statement.chunks_side_by_side(calls, CHUNK_ROWS)) as chunks:
                for part, rows in chunks:
                    answers.add_sites(rows, part)
    if answers.unstocked and warehouse is not None:
        _ensure_warehouse_exists(warehouse)
    answers.add_unknown(wanted)
    return answers


def _open_only(
    ids: list[int], units: list[int], code_of: dict[int, str]
) -> tuple[tuple[str, int], ...]:
    """(code, units) of the warehouses that are open, by code."""
    return tuple(sorted((code_of[i], u) for i, u in zip(ids, units, strict=True) if i in code_of))


#: ``SkuAvailability(...)`` without the Python frame a named tuple's ``__new__`` costs: a
#: 1,000-sku basket builds a thousand of them.
_new_answer = functools.partial(tuple.__new__, SkuAvailability)


def _per_sku(rows: list[Any]) -> list[tuple[str, int, list[str], list[int], None]]:
    """Rows per stock level as rows per sku, as ``_Answers.add`` takes them."""
    found: dict[str, tuple[str, int, list[str], list[int], None]] = {}
    for sku, product_id, code, units in rows:
        entry = found.get(sku)
        if entry is None:
            entry = found[sku] = (sku, product_id, [], [], None)
        if code is not None:
            entry[2].append(code)
            entry[3].append(units if units > 0 else 0)
    return list(found.values())


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
