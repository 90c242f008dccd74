"""Use cases for suppliers and their price lists; each is one transaction that commits itself."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from flask import current_app
from sqlalchemy import func, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, selectinload

from accounts import audit
from accounts.principal import Principal
from core.api import keyset_page
from core.db import UnitOfWork, moment, read_only, retry_on_conflict
from core.problems import Conflict, Invalid, NotFound
from inventory.models import Product
from procurement.csv_import import Parsed
from procurement.models import (
    Supplier,
    SupplierEvent,
    SupplierItem,
    SupplierPriceBreak,
    SupplierStatus,
)
from procurement.pricing import PriceBreak, break_problems

SUPPLIER_FIELDS = ("name", "email", "currency", "default_lead_time_days")
ITEM_FIELDS = ("supplier_sku", "unit_price", "moq", "pack_size", "lead_time_days", "active")

#: Who manages suppliers' details and price lists, and who decides on their standing.
BUYERS = ("buyer",)
APPROVERS = ("approver",)

#: action -> (states it may start from, state it leads to, whether a reason is required)
STATUS_ACTIONS: dict[str, tuple[frozenset[str], str, bool]] = {
    "approve": (frozenset({"candidate", "suspended"}), SupplierStatus.APPROVED.value, False),
    "suspend": (frozenset({"approved"}), SupplierStatus.SUSPENDED.value, True),
    "block": (
        frozenset({"candidate", "approved", "suspended"}),
        SupplierStatus.BLOCKED.value,
        True,
    ),
}


# --- lookups --------------------------------------------------------------------------------------


def supplier_by_code(s: Session, code: str, *, field: str | None = None) -> Supplier:
    """404 for a supplier in the path; 422 naming ``field`` for one named in a body."""
    supplier = s.scalar(select(Supplier).where(Supplier.code == code))
    if supplier is None:
        if field:
            raise Invalid(f"No supplier {code}.", errors={field: [f"unknown supplier {code}"]})
        raise NotFound(f"No supplier {code}.")
    return supplier


def _product(s: Session, sku: str, field: str = "sku") -> Product:
    product = s.scalar(select(Product).where(Product.sku == sku))
    if product is None:
        raise Invalid(f"No product with sku {sku}.", errors={field: [f"unknown sku {sku}"]})
    return product


def _event(
    s: Session,
    supplier: Supplier,
    actor: Principal,
    kind: str,
    reason: str | None,
    *,
    from_status: str | None,
    at: datetime | None = None,
) -> None:
    s.add(
        SupplierEvent(
            supplier_id=supplier.id,
            kind=kind,
            from_status=from_status,
            to_status=supplier.status,
            reason=reason,
            actor_id=actor.user_id,
            actor=actor.username,
            at=moment(at),
        )
    )


# --- suppliers ------------------------------------------------------------------------------------


def _new_supplier(
    s: Session, actor: Principal, data: dict[str, Any], at: datetime | None = None
) -> Supplier:
    supplier = Supplier(
        created_at=moment(at),
        code=data["code"],
        name=data["name"],
        email=data.get("email"),
        currency=data.get("currency") or current_app.config["DEFAULT_CURRENCY"],
        default_lead_time_days=data["default_lead_time_days"],
        status=SupplierStatus.CANDIDATE.value,
        created_by=actor.username,
    )
    s.add(supplier)
    s.flush()
    _event(s, supplier, actor, "created", data.get("reason"), from_status=None, at=at)
    audit.record(
        s,
        actor,
        "supplier.create",
        "supplier",
        supplier.code,
        after=audit.snapshot(supplier, ("code", *SUPPLIER_FIELDS, "status")),
    )
    return supplier


def create_supplier(
    actor: Principal, data: dict[str, Any], *, at: datetime | None = None
) -> Supplier:
    """A new supplier starts as a candidate: it gets no orders until an approver admits it."""
    actor.ensure_role(*BUYERS)
    with UnitOfWork() as uow:
        s = uow.session
        if s.scalar(select(Supplier.id).where(Supplier.code == data["code"])) is not None:
            raise Conflict(f"Supplier {data['code']} exists.", errors={"code": ["taken"]})
        try:
            supplier = _new_supplier(s, actor, data, at)
        except IntegrityError:  # a concurrent create of the same code won the race
            raise Conflict(f"Supplier {data['code']} exists.", errors={"code": ["taken"]})
        uow.commit()
        return supplier


def update_supplier(actor: Principal, code: str, changes: dict[str, Any]) -> Supplier:
    actor.ensure_role(*BUYERS)
    with UnitOfWork() as uow:
        s = uow.session
        supplier = supplier_by_code(s, code)
        if "currency" in changes and changes["currency"] != supplier.currency:
            has_items = s.scalar(
                select(func.count()).where(SupplierItem.supplier_id == supplier.id)
            )
            if has_items:
                raise Conflict(
                    "The currency of a supplier with a price list cannot change; "
                    "import a new price list under a new supplier code instead.",
                    errors={"currency": ["supplier has a price list"]},
                )
        before = audit.snapshot(supplier, changes)
        for name, value in changes.items():
            setattr(supplier, name, value)
        audit.record(
            s,
            actor,
            "supplier.update",
            "supplier",
            code,
            before=before,
            after=audit.snapshot(supplier, changes),
        )
        uow.commit()
        return supplier


def change_status(
    actor: Principal,
    code: str,
    action: str,
    reason: str | None,
    *,
    at: datetime | None = None,
) -> Supplier:
    """Approve, suspend or block a supplier, recording who decided and why."""
    actor.ensure_role(*APPROVERS)
    starts, target, reason_required = STATUS_ACTIONS[action]
    reason = (reason or "").strip() or None
    with UnitOfWork() as uow:
        s = uow.session
        supplier = s.scalar(select(Supplier).where(Supplier.code == code).with_for_update())
        if supplier is None:
            raise NotFound(f"No supplier {code}.")
        if supplier.status not in starts:
            raise Conflict(
                f"A {supplier.status} supplier cannot be {target}; "
                f"that needs a supplier that is {' or '.join(sorted(starts))}.",
                slug="illegal-transition",
                errors={"status": [supplier.status]},
            )
        if reason_required and reason is None:
            raise Invalid(f"Say why {code} is {target}.", errors={"reason": ["required"]})
        before = supplier.status
        supplier.status = target
        supplier.status_reason = reason
        supplier.status_changed_by = actor.username
        supplier.status_changed_at = moment(at)
        _event(s, supplier, actor, target, reason, from_status=before, at=at)
        audit.record(
            s,
            actor,
            f"supplier.{action}",
            "supplier",
            code,
            reason=reason,
            before={"status": before},
            after={"status": target},
        )
        uow.commit()
        return supplier


def review(actor: Principal, code: str, reason: str) -> Supplier:
    """An approver has looked at a supplier flagged by its scorecard and says what was decided."""
    actor.ensure_role(*APPROVERS)
    reason = (reason or "").strip()
    if not reason:
        raise Invalid("Say what the review found.", errors={"reason": ["required"]})
    with UnitOfWork() as uow:
        s = uow.session
        supplier = s.scalar(select(Supplier).where(Supplier.code == code).with_for_update())
        if supplier is None:
            raise NotFound(f"No supplier {code}.")
        if not supplier.flagged_for_review:
            raise Conflict(
                f"{code} is not flagged for review.", errors={"flagged_for_review": ["false"]}
            )
        supplier.flagged_for_review = False
        _event(s, supplier, actor, "reviewed", reason, from_status=supplier.status)
        audit.record(
            s,
            actor,
            "supplier.review",
            "supplier",
            code,
            reason=reason,
            before={"flagged_for_review": True, "flag_reason": supplier.flag_reason},
            after={"flagged_for_review": False},
        )
        uow.commit()
        return supplier


def get_supplier(code: str) -> Supplier:
    with read_only() as s:
        supplier = s.scalar(
            select(Supplier).where(Supplier.code == code).options(selectinload(Supplier.events))
        )
        if supplier is None:
            raise NotFound(f"No supplier {code}.")
        return supplier


def list_suppliers(args: dict[str, Any]) -> tuple[list[Supplier], str | None]:
    stmt = select(Supplier)
    if args.get("status"):
        stmt = stmt.where(Supplier.status == args["status"])
    if args.get("grade"):
        stmt = stmt.where(Supplier.grade == args["grade"])
    if args.get("flagged") is not None:
        stmt = stmt.where(Supplier.flagged_for_review.is_(args["flagged"]))
    if args.get("q"):
        pattern = f"%{args['q'].lower()}%"
        stmt = stmt.where(
            or_(func.lower(Supplier.code).like(pattern), func.lower(Supplier.name).like(pattern))
        )
    with read_only() as s:
        return keyset_page(
            s,
            stmt,
            [Supplier.code],
            lambda x: [x.code],
            limit=args["limit"],
            cursor=args.get("cursor"),
        )


# --- price lists ----------------------------------------------------------------------------------


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


# --- CSV imports ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class ImportOutcome:
    rows: int
    created: int
    updated: int


def import_suppliers(actor: Principal, parsed: Parsed) -> ImportOutcome:
    """Create every supplier of a file, or none: any bad row -> 422 listing them all."""
    actor.ensure_role(*BUYERS)
    rows = parsed.rows
    with UnitOfWork() as uow:
        s = uow.session
        codes = [data["code"] for _, data in rows]
        existing = set(s.scalars(select(Supplier.code).where(Supplier.code.in_(codes))))
        errors: dict[str, list[str]] = {}
        first_row: dict[str, int] = {}
        for row, data in rows:
            code = data["code"]
            if code in existing:
                errors.setdefault(f"row {row}", []).append(f"code: supplier {code} exists")
            elif code in first_row:
                errors.setdefault(f"row {row}", []).append(
                    f"code: {code} is on row {first_row[code]} already"
                )
            first_row.setdefault(code, row)
        parsed.fail_if_any(errors)
        for _, data in rows:
            _new_supplier(s, actor, data)
        uow.commit()
        return ImportOutcome(rows=len(rows), created=len(rows), updated=0)


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
