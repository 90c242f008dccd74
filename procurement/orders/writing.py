"""Writing purchase orders: drafts priced from the supplier's price list, edits while they are
drafts, and finding and listing them.

An order is in its supplier's currency. Each line is priced from the price list with the price
breaks the quantity reaches, unless the buyer types a price (then it is kept as ``manual`` beside
the list price, so approvers see the difference). Lines that break the supplier's MOQ or pack size
are refused before anything is written.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from accounts import audit
from accounts.principal import Principal
from core.api import AnySelect, keyset_page
from core.db import UnitOfWork, moment, read_only, retry_on_conflict, utcnow
from core.listing import ListQuery, ListSpec, Page, matching, page_of, stream, within
from core.problems import Invalid, NotFound
from inventory.catalog import products_by_skus
from inventory.models import Warehouse
from procurement import suppliers
from procurement.models import (
    PurchaseOrder,
    PurchaseOrderApproval,
    PurchaseOrderLine,
    Supplier,
    SupplierItem,
    po_number,
)
from procurement.orders.changes import (
    BUYERS,
    Versions,
    ensure_supplier_approved,
    ensure_supplier_in_good_standing,
    lock_for,
    order_id,
    touch,
)
from procurement.orders.pricing import amount, quantity_problems, unit_price_for
from procurement.orders.workflow import PO_STATUSES, POStatus

# --- reading --------------------------------------------------------------------------------------


def get_order(ref: str | int) -> PurchaseOrder:
    with read_only() as s:
        po = s.get(PurchaseOrder, order_id(ref))
        if po is None:
            raise NotFound(f"No purchase order {ref}.")
        return po


def list_orders(args: dict[str, Any], viewer: Principal | None = None) -> tuple[list[Any], Any]:
    """Newest first, filtered by status, supplier, warehouse or creator.

    ``awaiting_my_approval`` keeps the pending orders ``viewer`` may still approve.
    """
    stmt = select(PurchaseOrder)
    with read_only() as s:
        statuses = args.get("status") or []
        if statuses:
            stmt = stmt.where(PurchaseOrder.status.in_(statuses))
        if args.get("supplier"):
            stmt = stmt.where(
                PurchaseOrder.supplier_id == suppliers.supplier_by_code(s, args["supplier"]).id
            )
        if args.get("warehouse"):
            wid = s.scalar(select(Warehouse.id).where(Warehouse.code == args["warehouse"]))
            stmt = stmt.where(PurchaseOrder.warehouse_id == (wid or -1))
        if args.get("created_by"):
            stmt = stmt.where(PurchaseOrder.created_by == args["created_by"])
        if args.get("awaiting_my_approval") and viewer is not None:
            stmt = stmt.where(
                PurchaseOrder.status == POStatus.PENDING_APPROVAL.value,
                PurchaseOrder.created_by != viewer.username,
                ~PurchaseOrder.approvals.any(PurchaseOrderApproval.approver == viewer.username),
            )
        return keyset_page(
            s,
            stmt,
            [PurchaseOrder.id],
            lambda po: [po.id],
            limit=args["limit"],
            cursor=args.get("cursor"),
            descending=True,
        )


# --- the purchase orders page ---------------------------------------------------------------------


@dataclass(frozen=True)
class OrderFilter:
    status: str | None = None
    #: Supplier and warehouse codes, and the username of whoever wrote the order.
    supplier: str | None = None
    warehouse: str | None = None
    created_by: str | None = None


ORDER_STATUS_CHOICES = PO_STATUSES

_LINES = (
    select(func.count(PurchaseOrderLine.id))
    .where(PurchaseOrderLine.order_id == PurchaseOrder.id)
    .correlate(PurchaseOrder)
    .scalar_subquery()
)

ORDER_LIST = ListSpec(
    name="purchase-orders",
    filters=OrderFilter,
    sorts={
        "number": PurchaseOrder.id,
        "status": PurchaseOrder.status,
        "supplier": Supplier.code,
        "warehouse": Warehouse.code,
        "lines": _LINES,
        "total": PurchaseOrder.total,
        "expected_date": PurchaseOrder.expected_date,
        "created_at": PurchaseOrder.created_at,
        "created_by": PurchaseOrder.created_by,
    },
    default_sort="-number",
    tiebreak=(PurchaseOrder.id,),
    dated=True,
)

ORDER_CSV_HEADER = (
    "number",
    "status",
    "supplier",
    "supplier_name",
    "warehouse",
    "lines",
    "total",
    "currency",
    "expected_date",
    "created_by",
    "created_at_utc",
)

#: An order number as people type it: "PO-000042", "po42" or "42".
_NUMBER = re.compile(r"(?:po-?)?0*(\d{1,9})", re.IGNORECASE)


@dataclass(frozen=True)
class OrderRow:
    id: int
    status: str
    supplier: str
    supplier_name: str
    warehouse: str
    lines: int
    total: Decimal
    currency: str
    expected_date: date | None
    created_by: str
    created_at: datetime

    @property
    def number(self) -> str:
        return po_number(self.id)

    def csv(self) -> tuple[Any, ...]:
        return (
            self.number,
            self.status,
            self.supplier,
            self.supplier_name,
            self.warehouse,
            self.lines,
            self.total,
            self.currency,
            self.expected_date,
            self.created_by,
            self.created_at,
        )


def _order_list(query: ListQuery[OrderFilter]) -> AnySelect:
    """Orders matching the query; the search finds a whole order number or part of a supplier's
    code or name, and the date range applies to when the order was written."""
    f = query.filters
    stmt = (
        select(
            PurchaseOrder.id,
            PurchaseOrder.status,
            Supplier.code.label("supplier"),
            Supplier.name.label("supplier_name"),
            Warehouse.code.label("warehouse"),
            _LINES.label("lines"),
            PurchaseOrder.total,
            PurchaseOrder.currency,
            PurchaseOrder.expected_date,
            PurchaseOrder.created_by,
            PurchaseOrder.created_at,
        )
        .join(Supplier, Supplier.id == PurchaseOrder.supplier_id)
        .join(Warehouse, Warehouse.id == PurchaseOrder.warehouse_id)
    )
    if f.status:
        stmt = stmt.where(PurchaseOrder.status == f.status)
    if f.supplier:
        stmt = stmt.where(Supplier.code == f.supplier)
    if f.warehouse:
        stmt = stmt.where(Warehouse.code == f.warehouse)
    if f.created_by:
        stmt = stmt.where(PurchaseOrder.created_by == f.created_by)
    found = matching(query, Supplier.code, Supplier.name)
    if found is not None:
        number = _NUMBER.fullmatch(query.search or "")
        if number:
            found = or_(found, PurchaseOrder.id == int(number.group(1)))
        stmt = stmt.where(found)
    return within(stmt, query, PurchaseOrder.created_at)


def order_page(query: ListQuery[OrderFilter]) -> Page[OrderRow]:
    with read_only() as s:
        return page_of(s, _order_list(query), query, lambda r: OrderRow(*r))


def order_rows(query: ListQuery[OrderFilter]) -> Iterator[Sequence[Any]]:
    """Every order of the query in ``ORDER_CSV_HEADER``'s columns, read in batches."""
    return stream(_order_list(query), query, lambda r: OrderRow(*r).csv())


def delivery_warehouses() -> list[Warehouse]:
    """The warehouses a new order may be delivered to: the active ones, by code."""
    with read_only() as s:
        return list(
            s.scalars(select(Warehouse).where(Warehouse.active.is_(True)).order_by(Warehouse.code))
        )


# --- writing --------------------------------------------------------------------------------------


def _build_lines(
    s: Session, supplier: Supplier, lines: Sequence[dict[str, Any]]
) -> list[PurchaseOrderLine]:
    """Price each line from the price list (breaks applied) and check MOQ and pack size."""
    products = products_by_skus(s, [line["sku"] for line in lines])
    items = {
        i.product_id: i
        for i in s.scalars(
            select(SupplierItem).where(
                SupplierItem.supplier_id == supplier.id,
                SupplierItem.product_id.in_([p.id for p in products.values()]),
                SupplierItem.active.is_(True),
            )
        )
    }
    errors: dict[str, list[str]] = {}
    built: list[PurchaseOrderLine] = []
    seen: dict[int, int] = {}
    for i, line in enumerate(lines):
        sku, qty = line["sku"], line["quantity"]
        product = products.get(sku)
        if product is None:
            errors[f"lines.{i}.sku"] = [f"unknown sku {sku}"]
            continue
        sku = product.sku
        if product.id in seen:
            errors[f"lines.{i}.sku"] = [f"{sku} is on line {seen[product.id]} already"]
            continue
        seen[product.id] = i
        item = items.get(product.id)
        if item is None:
            errors[f"lines.{i}.sku"] = [f"{sku} is not on {supplier.code}'s price list"]
            continue
        problems = quantity_problems(qty, item.moq, item.pack_size)
        if problems:
            errors[f"lines.{i}.quantity"] = problems
            continue
        list_price = unit_price_for(item.unit_price, item.breaks, qty)
        given = line.get("unit_price")
        built.append(
            PurchaseOrderLine(
                line_no=i + 1,
                product_id=product.id,
                product=product,
                quantity=qty,
                unit_price=given if given is not None else list_price,
                list_price=list_price,
                price_source="manual" if given is not None else "list",
            )
        )
    if errors:
        raise Invalid("Some lines cannot be ordered from this supplier as written.", errors=errors)
    return built


def _total(lines: Sequence[PurchaseOrderLine]) -> Decimal:
    return sum((amount(line.quantity, line.unit_price) for line in lines), Decimal(0))


def _warehouse(s: Session, code: str) -> Warehouse:
    warehouse = s.scalar(select(Warehouse).where(Warehouse.code == code))
    if warehouse is None:
        raise Invalid(f"No warehouse {code}.", errors={"warehouse": [f"unknown warehouse {code}"]})
    return warehouse


def _check_expected_date(expected: date | None, at: datetime) -> None:
    if expected is not None and expected < at.date():
        raise Invalid(
            "The expected date is in the past.", errors={"expected_date": ["before today"]}
        )


@retry_on_conflict()
def create_order(
    actor: Principal, data: dict[str, Any], *, at: datetime | None = None
) -> PurchaseOrder:
    """A draft order in the supplier's currency, priced from its price list."""
    actor.ensure_role(*BUYERS)
    now = moment(at)
    with UnitOfWork() as uow:
        s = uow.session
        supplier = suppliers.supplier_by_code(s, data["supplier"], field="supplier")
        # Its standing as committed now, held until this order is written (see transitions).
        s.refresh(supplier, with_for_update={"read": True})
        warehouse = _warehouse(s, data["warehouse"])
        _check_expected_date(data.get("expected_date"), now)
        ensure_supplier_approved(supplier)
        ensure_supplier_in_good_standing(supplier)
        lines = _build_lines(s, supplier, data["lines"])
        po = PurchaseOrder(
            supplier_id=supplier.id,
            supplier=supplier,
            warehouse_id=warehouse.id,
            warehouse=warehouse,
            status=POStatus.DRAFT.value,
            currency=supplier.currency,
            total=_total(lines),
            expected_date=data.get("expected_date"),
            notes=data.get("notes"),
            created_by_id=actor.user_id,
            created_by=actor.username,
            created_at=now,
            updated_at=now,
            lines=lines,
        )
        s.add(po)
        s.flush()
        audit.record(
            s,
            actor,
            "purchase_order.create",
            "purchase_order",
            po.number,
            after={"status": po.status, "total": str(po.total), "currency": po.currency},
        )
        uow.commit()
        return po


@retry_on_conflict()
def update_order(
    actor: Principal,
    ref: str | int,
    changes: dict[str, Any],
    *,
    expected_version: Versions,
) -> PurchaseOrder:
    """Change a draft: its warehouse, expected date, notes or lines (replaced as a whole)."""
    actor.ensure_role(*BUYERS)
    with UnitOfWork() as uow:
        s = uow.session
        po = lock_for(s, ref, "edit", expected_version)
        now = utcnow()
        before = {"total": str(po.total), "version": po.version}
        if "warehouse" in changes:
            warehouse = _warehouse(s, changes["warehouse"])
            po.warehouse_id, po.warehouse = warehouse.id, warehouse
        if "expected_date" in changes:
            _check_expected_date(changes["expected_date"], now)
            po.expected_date = changes["expected_date"]
        if "notes" in changes:
            po.notes = changes["notes"]
        if "lines" in changes:
            lines = _build_lines(s, po.supplier, changes["lines"])
            po.lines.clear()
            s.flush()
            po.lines.extend(lines)
            po.total = _total(lines)
        touch(po)
        s.flush()
        audit.record(
            s,
            actor,
            "purchase_order.update",
            "purchase_order",
            po.number,
            before=before,
            after={"total": str(po.total), "version": po.version, "fields": sorted(changes)},
        )
        uow.commit()
        return po
