"""Use cases for suppliers' price lists: what each supplier sells, at which price, in which
quantities, and how fast. Each is one transaction that commits itself.

A price list line is in the supplier's currency (a purchase order has one currency), and its
price breaks must reward larger quantities (the pure rules are in ``procurement.orders.pricing``).
Orders compare their prices with other suppliers' lines through ``market_prices``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from accounts import audit
from accounts.principal import Principal
from core.api import keyset_page
from core.db import UnitOfWork, read_only, retry_on_conflict
from core.problems import Conflict, Invalid, NotFound
from inventory.catalog import product_by_sku
from inventory.models import Product
from procurement.models import Supplier, SupplierItem, SupplierPriceBreak, SupplierStatus
from procurement.orders.pricing import PriceBreak, break_problems
from procurement.suppliers.csv_import import ImportOutcome, Parsed
from procurement.suppliers.services import BUYERS, supplier_by_code

ITEM_FIELDS = ("supplier_sku", "unit_price", "moq", "pack_size", "lead_time_days", "active")


def _product(s: Session, sku: str, field: str = "sku") -> Product:
    try:
        return product_by_sku(s, sku, field=field)
    except NotFound as missing:
        raise Invalid(missing.detail, errors=missing.errors) from None


def _breaks(data: dict[str, Any]) -> list[PriceBreak]:
    return [PriceBreak(b["min_quantity"], b["unit_price"]) for b in data.get("price_breaks") or []]


def _item_problems(
    supplier: Supplier, data: dict[str, Any], prefix: str = ""
) -> dict[str, list[str]]:
    """What is wrong with a price list line, keyed by field (``prefix`` for CSV rows)."""
    problems: dict[str, list[str]] = {}
    currency = data.get("currency") or supplier.currency
    if currency != supplier.currency:
        problems[f"{prefix}currency"] = [
            f"{supplier.code} trades in {supplier.currency}; a purchase order has one currency"
        ]
    if "unit_price" in data:
        for i, messages in break_problems(data["unit_price"], _breaks(data)).items():
            problems[f"{prefix}price_breaks.{i}"] = messages
    return problems


def _apply_item(
    s: Session, item: SupplierItem, data: dict[str, Any], *, replace: bool = False
) -> None:
    """Set an item's fields; ``replace`` resets what ``data`` leaves out (price list import)."""
    defaults: dict[str, Any] = {
        "supplier_sku": None,
        "moq": 1,
        "pack_size": 1,
        "lead_time_days": None,
        "active": True,
    }
    for name in ITEM_FIELDS:
        if name in data:
            setattr(item, name, data[name])
        elif replace and name in defaults:
            setattr(item, name, defaults[name])
    if "price_breaks" in data or replace:
        item.price_breaks = [
            SupplierPriceBreak(min_quantity=b.min_quantity, unit_price=b.unit_price)
            for b in sorted(_breaks(data), key=lambda b: b.min_quantity)
        ]
        s.flush()


def _item_after(item: SupplierItem) -> dict[str, Any]:
    out = audit.snapshot(item, ("supplier_sku", "unit_price", "currency", "moq", "pack_size"))
    out["lead_time_days"] = item.lead_time_days
    out["price_breaks"] = [[b.min_quantity, str(b.unit_price)] for b in item.price_breaks]
    return out


def add_item(actor: Principal, code: str, data: dict[str, Any]) -> SupplierItem:
    """Put an item on a supplier's price list."""
    actor.ensure_role(*BUYERS)
    with UnitOfWork() as uow:
        s = uow.session
        supplier = supplier_by_code(s, code)
        product = _product(s, data["sku"])
        problems = _item_problems(supplier, data)
        if problems:
            raise Invalid("The price list line is not usable.", errors=problems)
        exists = s.scalar(
            select(SupplierItem.id).where(
                SupplierItem.supplier_id == supplier.id, SupplierItem.product_id == product.id
            )
        )
        if exists is not None:
            raise Conflict(
                f"{data['sku']} is on {code}'s price list already; change it with PATCH.",
                errors={"sku": ["already listed"]},
            )
        item = SupplierItem(
            supplier_id=supplier.id,
            product_id=product.id,
            currency=supplier.currency,
            unit_price=data["unit_price"],
        )
        s.add(item)
        _apply_item(s, item, data, replace=True)
        s.flush()
        audit.record(
            s, actor, "supplier_item.create", "supplier_item", item.id, after=_item_after(item)
        )
        uow.commit()
        s.refresh(item)
        return item


def _item_by_sku(s: Session, supplier: Supplier, sku: str) -> SupplierItem:
    item = s.scalar(
        select(SupplierItem)
        .join(Product, Product.id == SupplierItem.product_id)
        .where(SupplierItem.supplier_id == supplier.id, Product.sku == sku)
    )
    if item is None:
        raise NotFound(f"{sku} is not on {supplier.code}'s price list.")
    return item


def update_item(actor: Principal, code: str, sku: str, changes: dict[str, Any]) -> SupplierItem:
    """Change a price list line; prices on existing orders stay as they were ordered."""
    actor.ensure_role(*BUYERS)
    with UnitOfWork() as uow:
        s = uow.session
        supplier = supplier_by_code(s, code)
        item = _item_by_sku(s, supplier, sku)
        merged = {"unit_price": item.unit_price, **changes}
        if "price_breaks" not in changes:
            merged["price_breaks"] = [
                {"min_quantity": b.min_quantity, "unit_price": b.unit_price}
                for b in item.price_breaks
            ]
        problems = _item_problems(supplier, merged)
        if problems:
            raise Invalid("The price list line is not usable.", errors=problems)
        before = _item_after(item)
        _apply_item(s, item, changes)
        s.flush()
        audit.record(
            s,
            actor,
            "supplier_item.update",
            "supplier_item",
            item.id,
            before=before,
            after=_item_after(item),
        )
        uow.commit()
        s.refresh(item)
        return item


def get_item(code: str, sku: str) -> SupplierItem:
    with read_only() as s:
        return _item_by_sku(s, supplier_by_code(s, code), sku)


def list_items(code: str, args: dict[str, Any]) -> tuple[list[SupplierItem], str | None]:
    with read_only() as s:
        supplier = supplier_by_code(s, code)
        stmt = (
            select(SupplierItem)
            .join(Product, Product.id == SupplierItem.product_id)
            .where(SupplierItem.supplier_id == supplier.id)
        )
        if args.get("sku"):
            stmt = stmt.where(Product.sku == args["sku"])
        if not args.get("include_inactive"):
            stmt = stmt.where(SupplierItem.active.is_(True))
        return keyset_page(
            s,
            stmt,
            [Product.sku],
            lambda i: [i.product.sku],
            limit=args["limit"],
            cursor=args.get("cursor"),
        )


@retry_on_conflict()
def import_price_list(actor: Principal, parsed: Parsed) -> ImportOutcome:
    """Create or replace price list lines, all or nothing; any bad row -> 422 listing them all.

    A row replaces the whole line it names: cells left blank fall back to their defaults
    (MOQ 1, pack 1, no price breaks), so the file is the price list, not a patch to it.
    """
    actor.ensure_role(*BUYERS)
    rows = parsed.rows
    with UnitOfWork() as uow:
        s = uow.session
        supplier_codes = {data["supplier"] for _, data in rows}
        suppliers = {
            x.code: x for x in s.scalars(select(Supplier).where(Supplier.code.in_(supplier_codes)))
        }
        skus = {data["sku"] for _, data in rows}
        products = {p.sku: p for p in s.scalars(select(Product).where(Product.sku.in_(skus)))}
        errors: dict[str, list[str]] = {}
        first_row: dict[tuple[str, str], int] = {}
        for row, data in rows:
            messages = []
            supplier = suppliers.get(data["supplier"])
            if supplier is None:
                messages.append(f"supplier: unknown supplier {data['supplier']}")
            if data["sku"] not in products:
                messages.append(f"sku: unknown sku {data['sku']}")
            key = (data["supplier"], data["sku"])
            if key in first_row:
                messages.append(
                    f"sku: {data['sku']} of {key[0]} is on row {first_row[key]} already"
                )
            first_row.setdefault(key, row)
            if supplier is not None:
                messages += [
                    f"{field}: {m}"
                    for field, ms in _item_problems(supplier, data).items()
                    for m in ms
                ]
            if messages:
                errors[f"row {row}"] = messages
        parsed.fail_if_any(errors)
        existing = {
            (i.supplier_id, i.product_id): i
            for i in s.scalars(
                select(SupplierItem).where(
                    SupplierItem.supplier_id.in_({x.id for x in suppliers.values()}),
                    SupplierItem.product_id.in_({p.id for p in products.values()}),
                )
            )
        }
        created = updated = 0
        for _, data in rows:
            supplier, product = suppliers[data["supplier"]], products[data["sku"]]
            item = existing.get((supplier.id, product.id))
            if item is None:
                item = SupplierItem(
                    supplier_id=supplier.id,
                    product_id=product.id,
                    currency=supplier.currency,
                    unit_price=data["unit_price"],
                )
                s.add(item)
                created += 1
            else:
                updated += 1
            _apply_item(s, item, data, replace=True)
        audit.record(
            s,
            actor,
            "supplier_item.import",
            "supplier_item",
            ",".join(sorted(supplier_codes))[:64],
            after={"rows": len(rows), "created": created, "updated": updated},
        )
        uow.commit()
        return ImportOutcome(rows=len(rows), created=created, updated=updated)


def market_prices(
    s: Session, product_ids: Sequence[int], currency: str, *, exclude_supplier: int | None
) -> dict[int, list[SupplierItem]]:
    """Other approved suppliers' active price list lines for these items, in one currency."""
    if not product_ids:
        return {}
    stmt = (
        select(SupplierItem)
        .join(Supplier, Supplier.id == SupplierItem.supplier_id)
        .where(
            SupplierItem.product_id.in_(set(product_ids)),
            SupplierItem.active.is_(True),
            SupplierItem.currency == currency,
            Supplier.status == SupplierStatus.APPROVED.value,
        )
    )
    if exclude_supplier is not None:
        stmt = stmt.where(SupplierItem.supplier_id != exclude_supplier)
    out: dict[int, list[SupplierItem]] = {}
    for item in s.scalars(stmt):
        out.setdefault(item.product_id, []).append(item)
    return out
