"""Stock: levels, movements through the ledger, and cycle counts; each use case one transaction."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from flask import current_app
from sqlalchemy import and_, func, literal, or_, select
from sqlalchemy.orm import Session

from accounts import audit
from accounts.principal import Principal
from core.api import AnySelect, keyset_page
from core.db import UnitOfWork, read_only, retry_on_conflict
from core.listing import ListQuery, ListSpec, Page, matching, page_of, stream, within
from core.problems import Invalid, NotFound
from inventory import ledger
from inventory.catalog import _referenced, product_by_sku, products_by_skus, warehouse_by_code
from inventory.models import (
    Product,
    StockCount,
    StockCountLine,
    StockLevel,
    StockMovement,
    Warehouse,
)


@dataclass(frozen=True)
class Level:
    sku: str
    warehouse: str
    on_hand: int
    reserved: int
    incoming: int

    @property
    def available(self) -> int:
        return self.on_hand - self.reserved

    @property
    def over_reserved(self) -> bool:
        """A count found fewer units than are held: some reservations cannot all ship."""
        return self.on_hand < self.reserved


# --- stock levels ---------------------------------------------------------------------------------


def _levels_query() -> AnySelect:
    """Every (product, warehouse) pair, with zeros where nothing has moved yet."""
    return (
        select(
            Product.sku,
            Warehouse.code,
            func.coalesce(StockLevel.on_hand, 0).label("on_hand"),
            func.coalesce(StockLevel.reserved, 0).label("reserved"),
            func.coalesce(StockLevel.incoming, 0).label("incoming"),
        )
        .select_from(Product)
        .join(Warehouse, Warehouse.active.is_(True))
        .outerjoin(
            StockLevel,
            and_(StockLevel.product_id == Product.id, StockLevel.warehouse_id == Warehouse.id),
        )
    )


def stock_levels(args: dict[str, Any]) -> tuple[list[Level], str | None]:
    stmt = _levels_query()
    with read_only() as s:
        if args.get("sku"):
            stmt = stmt.where(Product.id == product_by_sku(s, args["sku"]).id)
        if args.get("warehouse"):
            stmt = stmt.where(Warehouse.id == warehouse_by_code(s, args["warehouse"]).id)
        rows, next_cursor = keyset_page(
            s,
            stmt,
            [Product.sku, Warehouse.code],
            lambda r: [r.sku, r.code],
            limit=args["limit"],
            cursor=args.get("cursor"),
            scalars=False,
        )
    return [Level(r.sku, r.code, r.on_hand, r.reserved, r.incoming) for r in rows], next_cursor


# --- the stock list page --------------------------------------------------------------------------


@dataclass(frozen=True)
class StockFilter:
    #: Exact sku, for links from other pages (the search box matches parts of sku or name).
    sku: str | None = None
    warehouse: str | None = None
    category: str | None = None
    #: ``low``: available at or below the item's low mark (out of stock included); ``out``:
    #: nothing available (0 or below).
    level: str | None = None


STOCK_LEVEL_CHOICES = ("low", "out")

_ON_HAND = func.coalesce(StockLevel.on_hand, 0)
_RESERVED = func.coalesce(StockLevel.reserved, 0)
_INCOMING = func.coalesce(StockLevel.incoming, 0)
_AVAILABLE = _ON_HAND - _RESERVED

STOCK_LIST = ListSpec(
    name="stock",
    filters=StockFilter,
    sorts={
        "sku": (Product.sku, Warehouse.code),
        "name": Product.name,
        "warehouse": (Warehouse.code, Product.sku),
        "on_hand": _ON_HAND,
        "reserved": _RESERVED,
        "available": _AVAILABLE,
        "incoming": _INCOMING,
    },
    default_sort="sku",
    tiebreak=(Product.id, Warehouse.id),
)

STOCK_CSV_HEADER = (
    "sku",
    "name",
    "category",
    "warehouse",
    "on_hand",
    "reserved",
    "available",
    "incoming",
    "low_at",
    "level",
)


@dataclass(frozen=True)
class StockRow:
    sku: str
    name: str
    category: str | None
    warehouse: str
    on_hand: int
    reserved: int
    incoming: int
    #: The item's reorder point, or ``LOW_STOCK_UNITS`` when it has none.
    low_at: int

    @property
    def available(self) -> int:
        return self.on_hand - self.reserved

    @property
    def over_reserved(self) -> bool:
        return self.on_hand < self.reserved

    @property
    def level(self) -> str:
        """``out`` (nothing available), ``low`` (at or below ``low_at``) or ``ok``."""
        if self.available <= 0:
            return "out"
        return "low" if self.available <= self.low_at else "ok"

    def csv(self) -> tuple[Any, ...]:
        return (
            self.sku,
            self.name,
            self.category,
            self.warehouse,
            self.on_hand,
            self.reserved,
            self.available,
            self.incoming,
            self.low_at,
            self.level,
        )


def _stock_list(query: ListQuery[StockFilter]) -> AnySelect:
    """Every (product, active warehouse) pair matching the query, zeros where nothing moved.

    Low means at or below the product's reorder point, or ``LOW_STOCK_UNITS`` for a product
    without one; the threshold is part of the row so the page shows what "low" meant.
    """
    f = query.filters
    low_at = func.coalesce(Product.reorder_point, literal(current_app.config["LOW_STOCK_UNITS"]))
    stmt = _levels_query().add_columns(Product.name, Product.category, low_at.label("low_at"))
    if f.sku:
        stmt = stmt.where(Product.sku == f.sku)
    if f.warehouse:
        stmt = stmt.where(Warehouse.code == f.warehouse)
    if f.category:
        stmt = stmt.where(Product.category == f.category)
    if f.level == "out":
        stmt = stmt.where(_AVAILABLE <= 0)
    elif f.level == "low":
        stmt = stmt.where(_AVAILABLE <= low_at)  # noqa: SIM300 (available is the subject)
    found = matching(query, Product.sku, Product.name)
    return stmt if found is None else stmt.where(found)


def _stock_row(r: Any) -> StockRow:
    return StockRow(
        r.sku, r.name, r.category, r.code, r.on_hand, r.reserved, r.incoming, int(r.low_at)
    )


def stock_page(query: ListQuery[StockFilter]) -> Page[StockRow]:
    """One page of the stock list and how many rows match in all."""
    with read_only() as s:
        return page_of(s, _stock_list(query), query, _stock_row)


def stock_rows(query: ListQuery[StockFilter]) -> Iterator[Sequence[Any]]:
    """Every row of the stock list as ``STOCK_CSV_HEADER`` names them, read in batches."""
    return stream(_stock_list(query), query, lambda r: _stock_row(r).csv())


def _names(s: Session, keys: Iterable[tuple[int, int]]) -> tuple[dict[int, str], dict[int, str]]:
    keys = list(keys)
    skus = dict(
        s.execute(select(Product.id, Product.sku).where(Product.id.in_({p for p, _ in keys}))).all()
    )
    codes = dict(
        s.execute(
            select(Warehouse.id, Warehouse.code).where(Warehouse.id.in_({w for _, w in keys}))
        ).all()
    )
    return skus, codes


# --- movements ------------------------------------------------------------------------------------


@dataclass
class MovementOutcome:
    movements: list[dict[str, Any]]
    levels: list[Level]


def movement_view(m: StockMovement, sku: str, warehouse: str) -> dict[str, Any]:
    return {
        "id": m.id,
        "type": m.type,
        "sku": sku,
        "warehouse": warehouse,
        "quantity": m.quantity,
        "on_hand_after": m.on_hand_after,
        "reason": m.reason,
        "reference": m.reference,
        "transfer_id": m.transfer_id,
        "actor": m.actor,
        "created_at": m.created_at,
        "occurred_at": m.occurred_at,
    }


def _outcome(s: Session, posted: ledger.Posted) -> MovementOutcome:
    """Movements and resulting levels named by sku and code (every movement has its level)."""
    skus, codes = _names(s, posted.levels.keys())
    movements = [
        movement_view(m, skus[m.product_id], codes[m.warehouse_id]) for m in posted.movements
    ]
    levels = [
        Level(skus[p], codes[w], on_hand, reserved, incoming)
        for (p, w), (on_hand, reserved, incoming) in sorted(posted.levels.items())
    ]
    return MovementOutcome(movements, levels)


@retry_on_conflict()
def post_movement(actor: Principal, data: dict[str, Any]) -> MovementOutcome:
    """Receipt, issue, adjustment or transfer, checked against the actor's warehouses."""
    kind, qty = data["type"], data["quantity"]
    actor.ensure_warehouse(data["warehouse"])
    if kind == "adjustment" and not (data.get("reason") or "").strip():
        raise Invalid("Say why stock is adjusted.", errors={"reason": ["required"]})
    with UnitOfWork() as uow:
        s = uow.session
        product, source = _referenced(s, data["sku"], data["warehouse"])
        common: dict[str, Any] = {
            "reason": data.get("reason"),
            "reference": data.get("reference"),
            "sku": product.sku,
            "warehouse_code": source.code,
        }
        moves: list[ledger.Move]
        if kind == "transfer":
            target = _referenced(
                s, data["sku"], data["to_warehouse"], warehouse_field="to_warehouse"
            )[1]
            transfer_id = str(uuid.uuid4())
            moves = [
                ledger.Move(
                    product.id, source.id, "transfer_out", -qty, transfer_id=transfer_id, **common
                ),
                ledger.Move(
                    product.id,
                    target.id,
                    "transfer_in",
                    qty,
                    transfer_id=transfer_id,
                    **{**common, "warehouse_code": target.code},
                ),
            ]
        else:
            signed = -qty if kind == "issue" else qty
            moves = [ledger.Move(product.id, source.id, kind, signed, **common)]
        posted = ledger.apply(s, moves, actor)
        if kind == "adjustment":
            audit.record(
                s,
                actor,
                "stock.adjust",
                "stock",
                f"{product.sku}@{source.code}",
                reason=data.get("reason"),
                after={"quantity": qty},
            )
        outcome = _outcome(s, posted)
        uow.commit()
        return outcome


@dataclass
class CountOutcome:
    count: StockCount
    warehouse: str
    movements: list[dict[str, Any]]
    levels: list[Level]


@retry_on_conflict()
def post_count(actor: Principal, data: dict[str, Any]) -> CountOutcome:
    """Record what was counted and adjust each line whose count differs from on hand.

    A count is a fact: one below what is reserved is posted all the same, and the level is
    reported (and listed) as over-reserved for staff to resolve, instead of being refused.
    """
    actor.ensure_warehouse(data["warehouse"])
    with UnitOfWork() as uow:
        s = uow.session
        try:
            warehouse = warehouse_by_code(s, data["warehouse"])
        except NotFound as missing:
            raise Invalid(missing.detail, errors=missing.errors) from None
        skus = [line["sku"] for line in data["lines"]]
        products = products_by_skus(s, skus)
        unknown = {
            f"lines.{i}.sku": ["unknown sku"] for i, sku in enumerate(skus) if sku not in products
        }
        if unknown:
            raise Invalid("Some counted items are not in the catalog.", errors=unknown)
        first: dict[int, int] = {}
        for i, sku in enumerate(skus):
            # ``abc-1`` and ``ABC-1`` are one item: counting it on two lines is ambiguous.
            if first.setdefault(products[sku].id, i) != i:
                raise Invalid(
                    "An item is counted on two lines.",
                    errors={f"lines.{i}.sku": ["Counted twice in one count."]},
                )
        ledger.ensure_levels(s, ((p.id, warehouse.id) for p in products.values()))
        # Lock the counted rows so nothing moves between reading on hand and adjusting it.
        on_hand = _lock_levels(s, [(products[sku].id, warehouse.id) for sku in skus])
        reason = data.get("reason") or "cycle count"
        count = StockCount(
            warehouse_id=warehouse.id, reason=reason, actor_id=actor.user_id, actor=actor.username
        )
        s.add(count)
        s.flush()
        moves, lines = [], []
        for i, line in enumerate(data["lines"]):
            product = products[line["sku"]]
            before = on_hand[(product.id, warehouse.id)]
            lines.append(
                StockCountLine(
                    product_id=product.id, counted=line["counted"], on_hand_before=before
                )
            )
            if line["counted"] != before:
                moves.append(
                    ledger.Move(
                        product.id,
                        warehouse.id,
                        "adjustment",
                        line["counted"] - before,
                        reason=reason,
                        reference=f"count:{count.id}",
                        label=f"lines.{i}.counted",
                        sku=product.sku,
                        warehouse_code=warehouse.code,
                        fact=True,
                    )
                )
        count.lines = lines
        posted = ledger.apply(s, moves, actor)
        by_product = {m.product_id: m.id for m in posted.movements}
        for cl in lines:
            cl.movement_id = by_product.get(cl.product_id)
        audit.record(
            s,
            actor,
            "stock.count",
            "stock_count",
            count.id,
            reason=reason,
            after={"lines": len(lines), "adjusted": len(moves)},
        )
        outcome = _outcome(s, posted)
        short = [lv for lv in outcome.levels if lv.over_reserved]
        if short:
            audit.record(
                s,
                actor,
                "stock.over_reserved",
                "stock_count",
                count.id,
                reason="counted below reserved",
                after={lv.sku: {"on_hand": lv.on_hand, "reserved": lv.reserved} for lv in short},
            )
        uow.commit()
        return CountOutcome(count, warehouse.code, outcome.movements, outcome.levels)


def _lock_levels(s: Session, keys: Sequence[tuple[int, int]]) -> dict[tuple[int, int], int]:
    """``SELECT ... FOR NO KEY UPDATE`` in (product, warehouse) order, as ``holds.lock_levels``;
    SQLite's write lock covers it."""
    stmt = (
        select(StockLevel.product_id, StockLevel.warehouse_id, StockLevel.on_hand)
        .where(
            or_(*(and_(StockLevel.product_id == p, StockLevel.warehouse_id == w) for p, w in keys))
        )
        .order_by(StockLevel.product_id, StockLevel.warehouse_id)
        .with_for_update(key_share=True)
    )
    return {(r.product_id, r.warehouse_id): r.on_hand for r in s.execute(stmt)}


def get_count(count_id: int) -> CountOutcome:
    with read_only() as s:
        count = s.get(StockCount, count_id)
        if count is None:
            raise NotFound(f"No stock count {count_id}.")
        rows = s.execute(
            select(StockMovement, Product.sku, Warehouse.code)
            .join(Product, Product.id == StockMovement.product_id)
            .join(Warehouse, Warehouse.id == StockMovement.warehouse_id)
            .where(StockMovement.reference == f"count:{count.id}")
            .order_by(StockMovement.id)
        ).all()
        movements = [movement_view(m, sku, code) for m, sku, code in rows]
        return CountOutcome(count, count.warehouse.code, movements, [])


def list_movements(args: dict[str, Any]) -> tuple[list[dict[str, Any]], str | None]:
    """The ledger, newest movement first (by when it happened, not when it was entered)."""
    stmt = (
        select(StockMovement, Product.sku, Warehouse.code)
        .join(Product, Product.id == StockMovement.product_id)
        .join(Warehouse, Warehouse.id == StockMovement.warehouse_id)
    )
    with read_only() as s:
        if args.get("sku"):
            stmt = stmt.where(StockMovement.product_id == product_by_sku(s, args["sku"]).id)
        if args.get("warehouse"):
            stmt = stmt.where(
                StockMovement.warehouse_id == warehouse_by_code(s, args["warehouse"]).id
            )
        if args.get("type"):
            stmt = stmt.where(StockMovement.type == args["type"])
        if args.get("reference"):
            stmt = stmt.where(StockMovement.reference == args["reference"])
        if args.get("since"):
            stmt = stmt.where(StockMovement.created_at >= args["since"])
        rows, next_cursor = keyset_page(
            s,
            stmt,
            [StockMovement.occurred_at, StockMovement.id],
            lambda r: [r[0].occurred_at.isoformat(), r[0].id],
            limit=args["limit"],
            cursor=args.get("cursor"),
            descending=True,
            scalars=False,
            parse=lambda keys: [datetime.fromisoformat(keys[0]), int(keys[1])],
        )
    return [movement_view(m, sku, code) for m, sku, code in rows], next_cursor


# --- the ledger page ------------------------------------------------------------------------------


@dataclass(frozen=True)
class MovementFilter:
    #: Exact sku and reference, for links from other pages; the search box matches sku or name.
    sku: str | None = None
    warehouse: str | None = None
    type: str | None = None
    reference: str | None = None


LEDGER_LIST = ListSpec(
    name="ledger",
    filters=MovementFilter,
    sorts={
        "occurred_at": StockMovement.occurred_at,
        "sku": Product.sku,
        "name": Product.name,
        "warehouse": Warehouse.code,
        "type": StockMovement.type,
        "quantity": StockMovement.quantity,
        "actor": StockMovement.actor,
    },
    default_sort="-occurred_at",
    tiebreak=(StockMovement.id,),
    dated=True,
)

LEDGER_CSV_HEADER = (
    "id",
    "occurred_at_utc",
    "type",
    "sku",
    "name",
    "warehouse",
    "quantity",
    "on_hand_after",
    "reference",
    "reason",
    "actor",
    "recorded_at_utc",
)


def _ledger_list(query: ListQuery[MovementFilter]) -> AnySelect:
    """The movements matching the query; the date range applies to when each one happened."""
    f = query.filters
    stmt = (
        select(
            StockMovement.id,
            StockMovement.occurred_at,
            StockMovement.type,
            Product.sku,
            Product.name,
            Warehouse.code.label("warehouse"),
            StockMovement.quantity,
            StockMovement.on_hand_after,
            StockMovement.reference,
            StockMovement.reason,
            StockMovement.actor,
            StockMovement.created_at,
        )
        .join(Product, Product.id == StockMovement.product_id)
        .join(Warehouse, Warehouse.id == StockMovement.warehouse_id)
    )
    if f.sku:
        stmt = stmt.where(Product.sku == f.sku)
    if f.warehouse:
        stmt = stmt.where(Warehouse.code == f.warehouse)
    if f.type:
        stmt = stmt.where(StockMovement.type == f.type)
    if f.reference:
        stmt = stmt.where(StockMovement.reference == f.reference)
    found = matching(query, Product.sku, Product.name)
    if found is not None:
        stmt = stmt.where(found)
    return within(stmt, query, StockMovement.occurred_at)


def ledger_page(query: ListQuery[MovementFilter]) -> Page[Any]:
    """One page of the ledger (rows named like ``LEDGER_CSV_HEADER``, times as datetimes)."""
    with read_only() as s:
        return page_of(s, _ledger_list(query), query, lambda r: r)


def ledger_rows(query: ListQuery[MovementFilter]) -> Iterator[Sequence[Any]]:
    """Every movement of the query in ``LEDGER_CSV_HEADER``'s columns, read in batches."""
    return stream(_ledger_list(query), query, tuple)


# --- summaries for pages --------------------------------------------------------------------------


def warehouse_totals() -> list[dict[str, Any]]:
    """Per-warehouse summary cards: units on hand, reserved, incoming, items at zero or below."""
    with read_only() as s:
        rows = s.execute(
            select(
                Warehouse.code,
                Warehouse.name,
                func.coalesce(func.sum(StockLevel.on_hand), 0),
                func.coalesce(func.sum(StockLevel.reserved), 0),
                func.coalesce(func.sum(StockLevel.incoming), 0),
                func.count(StockLevel.product_id).filter(
                    StockLevel.on_hand - StockLevel.reserved <= 0
                ),
            )
            .outerjoin(StockLevel, StockLevel.warehouse_id == Warehouse.id)
            .group_by(Warehouse.id)
            .order_by(Warehouse.code)
        ).all()
    return [
        {"code": c, "name": n, "on_hand": oh, "reserved": r, "incoming": i, "out": out}
        for c, n, oh, r, i, out in rows
    ]


def on_hand_by_sku(skus: Sequence[str]) -> dict[str, int]:
    """Units on hand across all warehouses for each given item."""
    if not skus:
        return {}
    with read_only() as s:
        rows = s.execute(
            select(Product.sku, func.sum(StockLevel.on_hand))
            .join(StockLevel, StockLevel.product_id == Product.id)
            .where(Product.sku.in_(list(skus)))
            .group_by(Product.sku)
        )
        return {sku: int(total or 0) for sku, total in rows}
