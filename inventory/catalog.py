"""The catalog: products and warehouses, created and changed with an audit entry each."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from flask import current_app
from sqlalchemy import func, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from accounts import audit
from accounts.audit import snapshot
from accounts.principal import Principal
from core.api import AnySelect, keyset_page
from core.db import UnitOfWork, read_only
from core.listing import ListQuery, ListSpec, Page, matching, page_of, stream
from core.problems import Conflict, Invalid, NotFound
from inventory import events
from inventory.models import (
    Product,
    StockLevel,
    Warehouse,
)

PRODUCT_FIELDS = (
    "name",
    "category",
    "uom",
    "unit_cost",
    "currency",
    "weight_kg",
    "volume_m3",
    "reorder_point",
    "active",
)
WAREHOUSE_FIELDS = ("name", "latitude", "longitude", "allow_negative_stock", "priority", "active")
#: Who may add and change products and warehouses, through the API and the web pages alike.
WRITERS = ("admin",)


# --- lookups --------------------------------------------------------------------------------------


def product_by_sku(s: Session, sku: str, *, field: str = "sku") -> Product:
    """The product a person or client means by ``sku``, typed in any case.

    ``abc-1`` finds ``ABC-1``: people type skus as they say them. The exact spelling wins when
    it exists; a case-blind match that fits several products is refused as ambiguous.
    """
    found = products_by_skus(s, [sku])
    product = found.get(sku)
    if product is None:
        twins = _case_twins(s, sku)
        if len(twins) > 1:
            raise NotFound(
                f"Several products match sku {sku} apart from case; type it exactly.",
                errors={field: [f"ambiguous sku {sku}: {', '.join(twins)}"]},
            )
        raise NotFound(f"No product with sku {sku}.", errors={field: [f"unknown sku {sku}"]})
    return product


def _case_twins(s: Session, sku: str) -> list[str]:
    return sorted(s.scalars(select(Product.sku).where(func.lower(Product.sku) == sku.lower())))


def products_by_skus(s: Session, skus: Iterable[str]) -> dict[str, Product]:
    """Each sku as given -> its product, exact spelling first, else the one case-blind match.

    Skus with no product, or with several that differ only in case, are left out; callers
    report them against their own field. The case-blind query runs only for the skus the exact
    one missed, so the usual request costs one indexed lookup.
    """
    wanted = list(dict.fromkeys(skus))
    found: dict[str, Product] = {}
    for start in range(0, len(wanted), 500):
        chunk = wanted[start : start + 500]
        found.update((p.sku, p) for p in s.scalars(select(Product).where(Product.sku.in_(chunk))))
    missed = {sku.lower() for sku in wanted if sku not in found}
    if missed:
        by_lower: dict[str, list[Product]] = {}
        folded = list(missed)
        for start in range(0, len(folded), 500):
            chunk = folded[start : start + 500]
            for p in s.scalars(select(Product).where(func.lower(Product.sku).in_(chunk))):
                by_lower.setdefault(p.sku.lower(), []).append(p)
        for sku in wanted:
            if sku not in found and len(by_lower.get(sku.lower(), [])) == 1:
                found[sku] = by_lower[sku.lower()][0]
    return {sku: found[sku] for sku in wanted if sku in found}


def warehouse_by_code(s: Session, code: str, *, field: str = "warehouse") -> Warehouse:
    warehouse = s.scalar(select(Warehouse).where(Warehouse.code == code))
    if warehouse is None:
        raise NotFound(f"No warehouse {code}.", errors={field: [f"unknown warehouse {code}"]})
    return warehouse


def find_product(sku: str) -> Product:
    """A product by a sku someone typed: the exact sku, else the one that differs only in case.

    People type ``bolt-10`` for ``BOLT-10``; ``create_product`` refuses skus that differ only in
    case, so at most one product matches.
    """
    with read_only() as s:
        product = s.scalar(select(Product).where(Product.sku == sku))
        if product is None:
            product = s.scalar(select(Product).where(func.lower(Product.sku) == sku.lower()))
        if product is None:
            raise NotFound(f"No product with sku {sku}.", errors={"sku": [f"unknown sku {sku}"]})
        return product


def _referenced(
    s: Session, sku: str, code: str, *, sku_field: str = "sku", warehouse_field: str = "warehouse"
) -> tuple[Product, Warehouse]:
    """Things named in a request body that do not exist are a 422 on that field, not a 404."""
    try:
        return (
            product_by_sku(s, sku, field=sku_field),
            warehouse_by_code(s, code, field=warehouse_field),
        )
    except NotFound as missing:
        raise Invalid(missing.detail, errors=missing.errors) from None


# --- catalog --------------------------------------------------------------------------------------


def _add_unique(s: Session, obj: Product | Warehouse, field: str, detail: str) -> None:
    """Insert a catalog record whose natural key must be unique; a duplicate is a 409."""
    key = getattr(type(obj), field)
    if s.scalar(select(key).where(key == getattr(obj, field))) is not None:
        raise Conflict(detail, errors={field: ["taken"]})
    s.add(obj)
    try:
        s.flush()
    except IntegrityError:  # a concurrent create of the same key won the race
        raise Conflict(detail, errors={field: ["taken"]})


def _change(
    s: Session,
    actor: Principal,
    obj: Product | Warehouse,
    changes: dict[str, Any],
    kind: str,
    key: str,
) -> None:
    """Apply an edit and audit exactly the fields it touched, before and after."""
    before = snapshot(obj, changes)
    for name, value in changes.items():
        setattr(obj, name, value)
    audit.record(s, actor, f"{kind}.update", kind, key, before=before, after=snapshot(obj, changes))


def create_product(actor: Principal, data: dict[str, Any]) -> Product:
    """Add a product; a sku that differs from an existing one only in case is taken too, since
    people (and ``find_product``) do not tell ``bolt-10`` from ``BOLT-10``."""
    with UnitOfWork() as uow:
        s = uow.session
        same = s.scalar(select(Product.sku).where(func.lower(Product.sku) == data["sku"].lower()))
        if same is not None:
            raise Conflict(f"A product with sku {same} exists.", errors={"sku": ["taken"]})
        product = Product(sku=data["sku"], currency=current_app.config["DEFAULT_CURRENCY"])
        for name in PRODUCT_FIELDS:
            if name in data:
                setattr(product, name, data[name])
        _add_unique(s, product, "sku", f"A product with sku {data['sku']} exists.")
        audit.record(
            s,
            actor,
            "product.create",
            "product",
            product.sku,
            after=snapshot(product, PRODUCT_FIELDS),
        )
        # A sku asked for before it existed was answered "unknown".
        events.availability_changed.send("inventory", session=s, product_ids=None)
        uow.commit()
        return product


def update_product(actor: Principal, sku: str, changes: dict[str, Any]) -> Product:
    with UnitOfWork() as uow:
        product = product_by_sku(uow.session, sku)
        _change(uow.session, actor, product, changes, "product", sku)
        uow.commit()
        return product


def list_products(args: dict[str, Any]) -> tuple[list[Product], str | None]:
    stmt = select(Product)
    if args.get("q"):
        pattern = f"%{args['q'].lower()}%"
        stmt = stmt.where(
            or_(func.lower(Product.sku).like(pattern), func.lower(Product.name).like(pattern))
        )
    if args.get("category"):
        stmt = stmt.where(Product.category == args["category"])
    with read_only() as s:
        return keyset_page(
            s,
            stmt,
            [Product.sku],
            lambda p: [p.sku],
            limit=args["limit"],
            cursor=args.get("cursor"),
        )


@dataclass(frozen=True)
class ProductFilter:
    category: str | None = None
    #: ``active`` or ``inactive``.
    status: str | None = None


PRODUCT_STATUS_CHOICES = ("active", "inactive")

#: Units on hand in every warehouse together.
_ON_HAND_ALL = (
    select(func.coalesce(func.sum(StockLevel.on_hand), 0))
    .where(StockLevel.product_id == Product.id)
    .correlate(Product)
    .scalar_subquery()
)

PRODUCT_LIST = ListSpec(
    name="products",
    filters=ProductFilter,
    sorts={
        "sku": Product.sku,
        "name": Product.name,
        "category": Product.category,
        "unit_cost": Product.unit_cost,
        "reorder_point": Product.reorder_point,
        "on_hand": _ON_HAND_ALL,
    },
    default_sort="sku",
    tiebreak=(Product.id,),
)

PRODUCT_CSV_HEADER = (
    "sku",
    "name",
    "category",
    "uom",
    "unit_cost",
    "currency",
    "weight_kg",
    "volume_m3",
    "reorder_point",
    "on_hand",
    "active",
)


def _product_list(query: ListQuery[ProductFilter]) -> AnySelect:
    f = query.filters
    stmt = select(
        Product.sku,
        Product.name,
        Product.category,
        Product.uom,
        Product.unit_cost,
        Product.currency,
        Product.weight_kg,
        Product.volume_m3,
        Product.reorder_point,
        _ON_HAND_ALL.label("on_hand"),
        Product.active,
    )
    if f.category:
        stmt = stmt.where(Product.category == f.category)
    if f.status:
        stmt = stmt.where(Product.active.is_(f.status == "active"))
    found = matching(query, Product.sku, Product.name)
    return stmt if found is None else stmt.where(found)


def product_page(query: ListQuery[ProductFilter]) -> Page[Any]:
    """One page of the catalog (rows named like ``PRODUCT_CSV_HEADER``)."""
    with read_only() as s:
        return page_of(s, _product_list(query), query, lambda r: r)


def product_rows(query: ListQuery[ProductFilter]) -> Iterator[Sequence[Any]]:
    return stream(_product_list(query), query, tuple)


def get_product(sku: str) -> Product:
    with read_only() as s:
        return product_by_sku(s, sku)


def create_warehouse(actor: Principal, data: dict[str, Any]) -> Warehouse:
    with UnitOfWork() as uow:
        s = uow.session
        warehouse = Warehouse(code=data["code"])
        for name in WAREHOUSE_FIELDS:
            if name in data:
                setattr(warehouse, name, data[name])
        _add_unique(s, warehouse, "code", f"Warehouse {data['code']} exists.")
        audit.record(
            s,
            actor,
            "warehouse.create",
            "warehouse",
            warehouse.code,
            after=snapshot(warehouse, WAREHOUSE_FIELDS),
        )
        uow.commit()
        return warehouse


def update_warehouse(actor: Principal, code: str, changes: dict[str, Any]) -> Warehouse:
    with UnitOfWork() as uow:
        s = uow.session
        warehouse = warehouse_by_code(s, code)
        _change(s, actor, warehouse, changes, "warehouse", code)
        if "active" in changes:
            # Opening or closing a warehouse adds it to or drops it from every sku's answer.
            events.availability_changed.send("inventory", session=s, product_ids=None)
        if "allow_negative_stock" in changes:
            if not changes["allow_negative_stock"]:
                negative = s.scalar(
                    select(func.count())
                    .select_from(StockLevel)
                    .where(
                        StockLevel.warehouse_id == warehouse.id,
                        StockLevel.on_hand < StockLevel.reserved,
                    )
                )
                if negative:
                    raise Conflict(
                        f"{negative} items in {code} are below zero available; correct them first.",
                        errors={"allow_negative_stock": ["stock is negative"]},
                    )
            s.execute(
                update(StockLevel)
                .where(StockLevel.warehouse_id == warehouse.id)
                .values(allow_negative=bool(changes["allow_negative_stock"]))
            )
        uow.commit()
        return warehouse


def list_warehouses(args: dict[str, Any]) -> tuple[list[Warehouse], str | None]:
    with read_only() as s:
        return keyset_page(
            s,
            select(Warehouse),
            [Warehouse.code],
            lambda w: [w.code],
            limit=args["limit"],
            cursor=args.get("cursor"),
        )


def get_warehouse(code: str) -> Warehouse:
    with read_only() as s:
        return warehouse_by_code(s, code)


# --- what pages list ------------------------------------------------------------------------------


def all_warehouses() -> list[Warehouse]:
    """Every warehouse by code: the choices of a page's warehouse filter."""
    with read_only() as s:
        return list(s.scalars(select(Warehouse).order_by(Warehouse.code)))


def product_names(skus: Iterable[str]) -> dict[str, str]:
    """Names of the given items, for pages that list levels by sku."""
    wanted = set(skus)
    if not wanted:
        return {}
    with read_only() as s:
        rows = s.execute(select(Product.sku, Product.name).where(Product.sku.in_(wanted)))
        return {sku: name for sku, name in rows}  # noqa: C416 (rows are Row objects)


def categories() -> list[str]:
    """The categories in use, for the product list's filter."""
    with read_only() as s:
        found = s.scalars(select(Product.category).distinct().order_by(Product.category))
        return [c for c in found if c]
