"""Use cases of purchase orders: writing, approving, sending, receiving, closing, cancelling.

Every use case locks the order row first (``SELECT ... FOR UPDATE``; SQLite's write lock covers
it), checks the transition against ``workflow``, changes the order, the ledger and ``incoming``
together, and commits once. Locks are taken in one order everywhere: order, supplier, stock levels.
"""

from __future__ import annotations

import re
import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

from flask import current_app
from sqlalchemy import select
from sqlalchemy.orm import Session

from accounts import audit
from accounts.principal import Principal
from core.api import keyset_page
from core.db import UnitOfWork, moment, read_only, retry_on_conflict, utcnow
from core.inputs import INT32_MAX
from core.problems import Conflict, Forbidden, Invalid, NotFound, PreconditionFailed, Problem
from inventory import ledger
from inventory.models import Product, Warehouse
from procurement import scorecards
from procurement.models import (
    PurchaseOrder,
    PurchaseOrderApproval,
    PurchaseOrderLine,
    Receipt,
    ReceiptLine,
    Supplier,
    SupplierItem,
    SupplierStatus,
)
from procurement.pricing import amount, in_base_currency, quantity_problems, unit_price_for
from procurement.suppliers import market_prices, supplier_by_code
from procurement.workflow import INCOMING_STATES, POStatus, approvals_required, ensure_allowed

BUYERS = ("buyer",)
APPROVERS = ("approver",)

#: A receipt dated this far in the future is a typo (clocks differ by seconds, not hours).
CLOCK_SKEW = timedelta(minutes=5)

_NUMBER = re.compile(r"^(?:PO-?)?0*(\d{1,12})$", re.IGNORECASE)


# --- lookups --------------------------------------------------------------------------------------


def order_id(ref: str | int) -> int:
    """Orders are named by id (``123``) or number (``PO-000123``) alike."""
    match = _NUMBER.match(str(ref).strip())
    if match is None or int(match.group(1)) > INT32_MAX:
        raise NotFound(f"No purchase order {ref}.")
    return int(match.group(1))


def _lock(s: Session, ref: str | int) -> PurchaseOrder:
    po = s.scalar(
        select(PurchaseOrder)
        .where(PurchaseOrder.id == order_id(ref))
        .with_for_update(of=PurchaseOrder)
    )
    if po is None:
        raise NotFound(f"No purchase order {ref}.")
    return po


def _lock_for(s: Session, ref: str | int, action: str, expected: Versions) -> PurchaseOrder:
    """The order, locked, after checking the action is legal in its state and the version."""
    po = _lock(s, ref)
    ensure_allowed(action, po.status)
    _ensure_version(po, expected)
    return po


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
            stmt = stmt.where(PurchaseOrder.supplier_id == supplier_by_code(s, args["supplier"]).id)
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


# --- rules shared by several steps ----------------------------------------------------------------


def _ensure_supplier_approved(supplier: Supplier) -> None:
    if supplier.status != SupplierStatus.APPROVED.value:
        raise Conflict(
            f"Supplier {supplier.code} is {supplier.status}; only approved suppliers get "
            "purchase orders.",
            slug="supplier-not-approved",
            errors={"supplier": [supplier.status]},
        )


def _ensure_supplier_in_good_standing(supplier: Supplier) -> None:
    """Where configured, a supplier that fell to grade D gets no new orders until reviewed."""
    if (
        current_app.config.get("SCORECARD_REFUSE_GRADE_D")
        and supplier.grade == "D"
        and supplier.flagged_for_review
    ):
        raise Conflict(
            f"Supplier {supplier.code} fell to grade D and awaits review; no new orders "
            "until an approver has reviewed it.",
            slug="supplier-under-review",
            errors={"supplier": ["grade D, flagged for review"]},
        )


#: Versions of an order the caller has seen (If-Match, a form's hidden field); None: not checked.
Versions = frozenset[int] | None


def _ensure_version(po: PurchaseOrder, expected: Versions) -> None:
    """A change made on a stale copy would silently undo someone else's: refuse it (412)."""
    if expected is not None and po.version not in expected:
        seen = ", ".join(str(v) for v in sorted(expected)) or "none"
        raise PreconditionFailed(
            f"{po.number} has changed since you read it (you read version {seen}, it is now "
            f"{po.version}); read it again and redo your change.",
            slug="stale-version",
            errors={"version": [f"current version is {po.version}"]},
        )


def is_creator(actor: Principal, po: PurchaseOrder) -> bool:
    if actor.user_id is not None and po.created_by_id is not None:
        return actor.user_id == po.created_by_id
    return actor.username == po.created_by


def _ensure_not_creator(actor: Principal, po: PurchaseOrder) -> None:
    if is_creator(actor, po):
        raise Forbidden(
            f"{actor.username} wrote {po.number} and so may not decide on it; "
            "another approver must.",
            slug="segregation-of-duties",
        )


def _touch(po: PurchaseOrder) -> None:
    """Every change updates the row, which moves ``version`` on by one.

    Call it after the order's own fields are set and before anything that queries (``incoming``,
    the ledger): the autoflush then writes the order once, so each use case is one version.
    """
    po.updated_at = utcnow()


def _incoming(s: Session, po: PurchaseOrder, sign: int) -> None:
    """Add (+1) or take back (-1) what the order still brings to its warehouse."""
    for line in sorted(po.lines, key=lambda line: line.product_id):
        if line.outstanding:
            ledger.change_incoming(s, line.product_id, po.warehouse_id, sign * line.outstanding)


def _record(
    s: Session,
    actor: Principal,
    po: PurchaseOrder,
    action: str,
    before: str,
    reason: str | None = None,
    **after: Any,
) -> None:
    audit.record(
        s,
        actor,
        f"purchase_order.{action}",
        "purchase_order",
        po.number,
        reason=reason,
        before={"status": before},
        after={"status": po.status, **after},
    )


def _lead_time_days(s: Session, po: PurchaseOrder) -> int:
    items = {
        i.product_id: i
        for i in s.scalars(
            select(SupplierItem).where(
                SupplierItem.supplier_id == po.supplier_id,
                SupplierItem.product_id.in_([line.product_id for line in po.lines]),
            )
        )
    }
    days: list[int] = []
    for line in po.lines:
        item = items.get(line.product_id)
        item_days = item.lead_time_days if item is not None else None
        days.append(item_days if item_days is not None else po.supplier.default_lead_time_days)
    return max(days, default=po.supplier.default_lead_time_days)


# --- writing an order -----------------------------------------------------------------------------


def _build_lines(
    s: Session, supplier: Supplier, lines: Sequence[dict[str, Any]]
) -> list[PurchaseOrderLine]:
    """Price each line from the price list (breaks applied) and check MOQ and pack size."""
    skus = [line["sku"] for line in lines]
    products = {p.sku: p for p in s.scalars(select(Product).where(Product.sku.in_(skus)))}
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
    seen: dict[str, int] = {}
    for i, line in enumerate(lines):
        sku, qty = line["sku"], line["quantity"]
        product = products.get(sku)
        if product is None:
            errors[f"lines.{i}.sku"] = [f"unknown sku {sku}"]
            continue
        if sku in seen:
            errors[f"lines.{i}.sku"] = [f"{sku} is on line {seen[sku]} already"]
            continue
        seen[sku] = i
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


def create_order(
    actor: Principal, data: dict[str, Any], *, at: datetime | None = None
) -> PurchaseOrder:
    """A draft order in the supplier's currency, priced from its price list."""
    actor.ensure_role(*BUYERS)
    now = moment(at)
    with UnitOfWork() as uow:
        s = uow.session
        supplier = supplier_by_code(s, data["supplier"], field="supplier")
        warehouse = _warehouse(s, data["warehouse"])
        _check_expected_date(data.get("expected_date"), now)
        _ensure_supplier_approved(supplier)
        _ensure_supplier_in_good_standing(supplier)
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
        po = _lock_for(s, ref, "edit", expected_version)
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
        _touch(po)
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


# --- approval -------------------------------------------------------------------------------------


def _approve_now(s: Session, po: PurchaseOrder, now: datetime) -> None:
    po.status = POStatus.APPROVED.value
    po.approved_at = now
    _touch(po)
    _incoming(s, po, +1)


def _approval_basis(po: PurchaseOrder, flag_below: Decimal) -> tuple[Decimal, list[str]]:
    """The total the approval limits are judged by, and the lines priced suspiciously low.

    The higher of the typed total and the same lines at list price: typing a price of 0 must not
    turn a large order into one nobody approves.
    """
    at_list = Decimal(0)
    below: list[str] = []
    for line in po.lines:
        reference = line.list_price if line.list_price is not None else line.unit_price
        at_list += line.quantity * reference
        if line.list_price and line.unit_price < line.list_price * (1 - flag_below):
            below.append(
                f"line {line.line_no} ({line.product.sku}): {line.unit_price:.4f} "
                f"vs list {line.list_price:.4f}"
            )
    return max(po.total, at_list), below


@retry_on_conflict()
def submit(
    actor: Principal,
    ref: str | int,
    *,
    expected_version: Versions = None,
    at: datetime | None = None,
) -> PurchaseOrder:
    """Send a draft for approval; under the auto-approval limit it is approved at once."""
    actor.ensure_role(*BUYERS)
    now = moment(at)
    with UnitOfWork() as uow:
        s = uow.session
        po = _lock_for(s, ref, "submit", expected_version)
        _ensure_supplier_approved(po.supplier)
        _ensure_supplier_in_good_standing(po.supplier)
        config = current_app.config
        judged, below_list = _approval_basis(po, config["PO_PRICE_BELOW_LIST_FLAG"])
        po.approvals_required = approvals_required(
            in_base_currency(
                judged, po.currency, config["DEFAULT_CURRENCY"], config.get("PO_FX_RATES", {})
            ),
            config["PO_AUTO_APPROVE_LIMIT"],
            config["PO_SECOND_APPROVAL_LIMIT"],
        )
        if below_list:
            # A typed price far below the list is either a typo or a way round the limits: an
            # approver looks at it, and is told which lines.
            po.approvals_required = max(po.approvals_required, 1)
            po.status_reason = "Typed prices far below the price list: " + "; ".join(below_list)
        before = po.status
        po.submitted_at = now
        if po.approvals_required == 0:
            _approve_now(s, po, now)
        else:
            po.status = POStatus.PENDING_APPROVAL.value
            _touch(po)
        s.flush()
        _record(s, actor, po, "submit", before, approvals_required=po.approvals_required)
        uow.commit()
        return po


@retry_on_conflict()
def approve(
    actor: Principal,
    ref: str | int,
    reason: str | None = None,
    *,
    expected_version: Versions = None,
    at: datetime | None = None,
) -> PurchaseOrder:
    """One approver's yes; the order is approved when it has as many as it requires.

    The order's creator never approves it (admins included), and one person counts once.
    """
    actor.ensure_role(*APPROVERS)
    now = moment(at)
    with UnitOfWork() as uow:
        s = uow.session
        po = _lock(s, ref)
        ensure_allowed("approve", po.status)
        _ensure_not_creator(actor, po)
        if any(a.approver == actor.username for a in po.approvals):
            raise Forbidden(
                f"{actor.username} has approved {po.number} already; it needs a second, "
                "different approver.",
                slug="second-approver-required",
            )
        _ensure_version(po, expected_version)
        _ensure_supplier_approved(po.supplier)
        po.approvals.append(
            PurchaseOrderApproval(
                decision="approved",
                approver_id=actor.user_id,
                approver=actor.username,
                reason=(reason or "").strip() or None,
                order_version=po.version,
                at=now,
            )
        )
        before = po.status
        if len(po.approvals_given) >= po.approvals_required:
            _approve_now(s, po, now)
        else:
            _touch(po)
        s.flush()
        _record(
            s,
            actor,
            po,
            "approve",
            before,
            reason,
            approvals=len(po.approvals_given),
            approvals_required=po.approvals_required,
        )
        uow.commit()
        return po


@retry_on_conflict()
def reject(
    actor: Principal,
    ref: str | int,
    reason: str,
    *,
    expected_version: Versions = None,
    at: datetime | None = None,
) -> PurchaseOrder:
    """An approver's no ends the order; the buyer writes a new one if it is still needed."""
    actor.ensure_role(*APPROVERS)
    reason = (reason or "").strip()
    now = moment(at)
    with UnitOfWork() as uow:
        s = uow.session
        po = _lock(s, ref)
        ensure_allowed("reject", po.status)
        _ensure_not_creator(actor, po)
        if any(a.approver == actor.username for a in po.approvals):
            raise Forbidden(
                f"{actor.username} has decided on {po.number} already.",
                slug="second-approver-required",
            )
        if not reason:
            raise Invalid("Say why the order is rejected.", errors={"reason": ["required"]})
        _ensure_version(po, expected_version)
        po.approvals.append(
            PurchaseOrderApproval(
                decision="rejected",
                approver_id=actor.user_id,
                approver=actor.username,
                reason=reason,
                order_version=po.version,
                at=now,
            )
        )
        before = po.status
        po.status = POStatus.REJECTED.value
        po.rejected_at = now
        po.status_reason = reason
        _touch(po)
        s.flush()
        _record(s, actor, po, "reject", before, reason)
        uow.commit()
        return po


# --- sending, cancelling, closing -----------------------------------------------------------------


@retry_on_conflict()
def send(
    actor: Principal,
    ref: str | int,
    *,
    expected_version: Versions = None,
    at: datetime | None = None,
) -> PurchaseOrder:
    """The order goes to the supplier; without an expected date it gets one from the lead time."""
    actor.ensure_role(*BUYERS)
    now = moment(at)
    with UnitOfWork() as uow:
        s = uow.session
        po = _lock_for(s, ref, "send", expected_version)
        _ensure_supplier_approved(po.supplier)
        expected = po.expected_date or now.date() + timedelta(days=_lead_time_days(s, po))
        before = po.status
        po.status = POStatus.SENT.value
        po.sent_at = now
        po.expected_date = expected
        _touch(po)
        s.flush()
        _record(s, actor, po, "send", before, expected_date=po.expected_date.isoformat())
        uow.commit()
        return po


@retry_on_conflict()
def cancel(
    actor: Principal,
    ref: str | int,
    reason: str | None = None,
    *,
    expected_version: Versions = None,
    at: datetime | None = None,
) -> PurchaseOrder:
    """Possible until the first delivery; approved quantities stop counting as incoming."""
    actor.ensure_role(*BUYERS)
    now = moment(at)
    with UnitOfWork() as uow:
        s = uow.session
        po = _lock_for(s, ref, "cancel", expected_version)
        before = po.status
        po.status = POStatus.CANCELLED.value
        po.cancelled_at = now
        po.status_reason = (reason or "").strip() or None
        _touch(po)
        if POStatus(before) in INCOMING_STATES:
            _incoming(s, po, -1)
        s.flush()
        _record(s, actor, po, "cancel", before, po.status_reason)
        uow.commit()
        return po


@retry_on_conflict()
def close(
    actor: Principal,
    ref: str | int,
    reason: str | None = None,
    *,
    expected_version: Versions = None,
    at: datetime | None = None,
) -> PurchaseOrder:
    """Finish an order. Closing one that still owes units ("short") needs a reason and gives
    up on them: they leave ``incoming`` and the supplier's scorecard counts the order as short."""
    actor.ensure_role(*BUYERS)
    reason = (reason or "").strip() or None
    now = moment(at)
    with UnitOfWork() as uow:
        s = uow.session
        po = _lock_for(s, ref, "close", expected_version)
        short = any(line.outstanding for line in po.lines)
        if short and reason is None:
            raise Invalid(
                f"{po.number} still owes units; say why it is closed short.",
                errors={"reason": ["required when closing short"]},
            )
        before = po.status
        po.status = POStatus.CLOSED.value
        po.closed_at = now
        po.status_reason = reason
        _touch(po)
        s.execute(select(Supplier.id).where(Supplier.id == po.supplier_id).with_for_update())
        if short:
            _incoming(s, po, -1)
        s.flush()
        _record(s, actor, po, "close", before, reason, short=short)
        scorecards.rescore(s, po.supplier, as_of=now.date())
        uow.commit()
        return po


# --- receiving ------------------------------------------------------------------------------------


def _received_at(data: dict[str, Any], po: PurchaseOrder, now: datetime) -> datetime:
    received_at: datetime = data.get("received_at") or now
    if received_at > utcnow() + CLOCK_SKEW:
        raise Invalid(
            "Goods cannot be received in the future.", errors={"received_at": ["in the future"]}
        )
    if po.sent_at is not None and received_at < po.sent_at:
        raise Invalid(
            f"{po.number} was sent on {po.sent_at:%Y-%m-%d %H:%M} UTC; goods cannot arrive "
            "before it was sent.",
            errors={"received_at": ["before the order was sent"]},
        )
    return received_at


@retry_on_conflict()
def receive(
    actor: Principal, ref: str | int, data: dict[str, Any], *, at: datetime | None = None
) -> Receipt:
    """Record a delivery: accepted units enter stock through the ledger, rejected ones do not.

    Rejected units stay owed (and ``incoming``) until they are replaced or the order is closed
    short. A delivery larger than what is still owed on a line is refused whole (409).
    """
    now = moment(at)
    with UnitOfWork() as uow:
        s = uow.session
        po = _lock(s, ref)
        actor.ensure_warehouse(po.warehouse.code)
        ensure_allowed("receive", po.status)
        received_at = _received_at(data, po, now)
        by_sku = {line.product.sku: line for line in po.lines}
        invalid: dict[str, list[str]] = {}
        over: dict[str, list[str]] = {}
        seen: set[str] = set()
        for i, row in enumerate(data["lines"]):
            line = by_sku.get(row["sku"])
            if line is None:
                invalid[f"lines.{i}.sku"] = [f"{row['sku']} is not on {po.number}"]
            elif row["sku"] in seen:
                invalid[f"lines.{i}.sku"] = [f"{row['sku']} is in this receipt twice"]
            elif row["accepted"] + row.get("rejected", 0) > line.outstanding:
                over[f"lines.{i}"] = [
                    f"{row['sku']}: {line.outstanding} outstanding, "
                    f"{row['accepted'] + row.get('rejected', 0)} delivered"
                ]
            seen.add(row["sku"])
        if invalid:
            raise Invalid("Some lines do not match the order.", errors=invalid)
        if over:
            raise Conflict(
                f"More than {po.number} still owes; nothing was received.",
                slug="over-receipt",
                errors=over,
            )
        s.execute(select(Supplier.id).where(Supplier.id == po.supplier_id).with_for_update())
        receipt = Receipt(
            order_id=po.id,
            received_at=received_at,
            received_by_id=actor.user_id,
            received_by=actor.username,
            note=data.get("note"),
            created_at=utcnow(),
        )
        s.add(receipt)
        s.flush()
        moves = [
            ledger.Move(
                by_sku[row["sku"]].product_id,
                po.warehouse_id,
                "receipt",
                row["accepted"],
                reason=f"receipt {receipt.id} of {po.number}",
                reference=po.number,
                occurred_at=received_at,
                label=f"lines.{i}.accepted",
                sku=row["sku"],
                warehouse_code=po.warehouse.code,
            )
            for i, row in enumerate(data["lines"])
            if row["accepted"] > 0
        ]
        posted = ledger.apply(s, moves, actor)
        movement_of = {m.product_id: m.id for m in posted.movements}
        for row in data["lines"]:
            line = by_sku[row["sku"]]
            rejected = row.get("rejected", 0)
            receipt.lines.append(
                ReceiptLine(
                    order_line_id=line.id,
                    order_line=line,
                    accepted=row["accepted"],
                    rejected=rejected,
                    reject_reason=row.get("reject_reason") if rejected else None,
                    movement_id=movement_of.get(line.product_id),
                )
            )
            line.accepted += row["accepted"]
            line.rejected += rejected
            if row["accepted"]:
                ledger.change_incoming(s, line.product_id, po.warehouse_id, -row["accepted"])
        before = po.status
        if all(line.outstanding == 0 for line in po.lines):
            po.status = POStatus.RECEIVED.value
            po.received_at = received_at
        else:
            po.status = POStatus.PARTIALLY_RECEIVED.value
        _touch(po)
        s.flush()
        _record(
            s,
            actor,
            po,
            "receive",
            before,
            receipt=receipt.id,
            accepted=sum(r["accepted"] for r in data["lines"]),
            rejected=sum(r.get("rejected", 0) for r in data["lines"]),
        )
        scorecards.rescore(s, po.supplier, as_of=max(now, received_at).date())
        uow.commit()
        return receipt


# --- what approvers look at -----------------------------------------------------------------------


@dataclass(frozen=True)
class LineComparison:
    sku: str
    quantity: int
    unit_price: Decimal
    list_price: Decimal | None
    #: Other approved suppliers' prices for this quantity (price breaks applied).
    market_median: Decimal | None
    cheapest: Decimal | None
    cheapest_supplier: str | None
    alternatives: int

    @property
    def vs_market(self) -> float | None:
        """This line's price relative to the market median (1.0 = at the median)."""
        if self.market_median is None or self.market_median <= 0:
            return None
        return float(self.unit_price / self.market_median)


@dataclass(frozen=True)
class PriceCheck:
    lines: list[LineComparison]

    @property
    def index(self) -> float | None:
        """The order's cost relative to buying the same lines at the market median."""
        comparable = [c for c in self.lines if c.market_median is not None]
        market = sum((c.market_median * c.quantity for c in comparable), Decimal(0))  # type: ignore[operator]
        if not comparable or market <= 0:
            return None
        own = sum((c.unit_price * c.quantity for c in comparable), Decimal(0))
        return float(own / market)


def price_check(s: Session, po: PurchaseOrder) -> PriceCheck:
    """Each line's price against the other approved suppliers' for the same quantity."""
    others = market_prices(
        s, [line.product_id for line in po.lines], po.currency, exclude_supplier=po.supplier_id
    )
    out = []
    for line in po.lines:
        offers = sorted(
            (unit_price_for(i.unit_price, i.breaks, line.quantity), i.supplier.code)
            for i in others.get(line.product_id, [])
        )
        prices = [p for p, _ in offers]
        out.append(
            LineComparison(
                sku=line.product.sku,
                quantity=line.quantity,
                unit_price=line.unit_price,
                list_price=line.list_price,
                market_median=statistics.median(prices) if prices else None,
                cheapest=offers[0][0] if offers else None,
                cheapest_supplier=offers[0][1] if offers else None,
                alternatives=len(offers),
            )
        )
    return PriceCheck(out)


def get_price_check(ref: str | int) -> PriceCheck:
    with read_only() as s:
        po = s.get(PurchaseOrder, order_id(ref))
        if po is None:
            raise NotFound(f"No purchase order {ref}.")
        return price_check(s, po)


def problem_detail(problem: Problem) -> str:
    """A problem in one line for a flash message, with the first few field messages."""
    if not problem.errors:
        return problem.detail
    parts = []
    for key, messages in list(problem.errors.items())[:5]:
        text = "; ".join(str(m) for m in messages) if isinstance(messages, list) else messages
        parts.append(f"{key}: {text}")
    return f"{problem.detail} ({' | '.join(parts)})"
