"""What every change of a purchase order shares: finding and locking the order, the version check,
the touch that moves the version on, the stock it brings (``incoming``) and its audit entry.

Every use case locks the order row first (``SELECT ... FOR UPDATE``; SQLite's write lock covers
it), checks the transition against ``workflow``, changes the order, the ledger and ``incoming``
together, and commits once. Locks are taken in one order everywhere: order, supplier, stock levels.
"""

from __future__ import annotations

import re
from typing import Any

from flask import current_app
from sqlalchemy import select
from sqlalchemy.orm import Session

from accounts import audit
from accounts.principal import Principal
from core.db import utcnow
from core.inputs import INT32_MAX
from core.problems import Conflict, NotFound, PreconditionFailed
from inventory import ledger
from procurement.models import PurchaseOrder, Supplier, SupplierStatus
from procurement.orders.workflow import ensure_allowed

#: Who writes, sends and closes orders, and who decides on them.
BUYERS = ("buyer",)
APPROVERS = ("approver",)

#: Versions of an order the caller has seen (If-Match, a form's hidden field); None: not checked.
Versions = frozenset[int] | None

_NUMBER = re.compile(r"^(?:PO-?)?0*(\d{1,12})$", re.IGNORECASE)


# --- finding and locking --------------------------------------------------------------------------


def order_id(ref: str | int) -> int:
    """Orders are named by id (``123``) or number (``PO-000123``) alike."""
    match = _NUMBER.match(str(ref).strip())
    if match is None or int(match.group(1)) > INT32_MAX:
        raise NotFound(f"No purchase order {ref}.")
    return int(match.group(1))


def lock(s: Session, ref: str | int) -> PurchaseOrder:
    po = s.scalar(
        select(PurchaseOrder)
        .where(PurchaseOrder.id == order_id(ref))
        .with_for_update(of=PurchaseOrder)
    )
    if po is None:
        raise NotFound(f"No purchase order {ref}.")
    return po


def lock_for(s: Session, ref: str | int, action: str, expected: Versions) -> PurchaseOrder:
    """The order, locked, after checking the action is legal in its state and the version."""
    po = lock(s, ref)
    ensure_allowed(action, po.status)
    ensure_version(po, expected)
    return po


def supplier_for_check(s: Session, po: PurchaseOrder) -> Supplier:
    """The order's supplier as committed now, share-locked until this step commits.

    An approver suspending the supplier at the same moment takes the row ``FOR UPDATE``: one of
    the two waits for the other, so an order is never submitted, approved or sent on the strength
    of a standing that was being withdrawn.
    """
    supplier = s.scalar(
        select(Supplier)
        .where(Supplier.id == po.supplier_id)
        .with_for_update(read=True)
        .execution_options(populate_existing=True)
    )
    assert supplier is not None  # a foreign key keeps it
    return supplier


def lock_supplier(s: Session, po: PurchaseOrder) -> None:
    """Lock the order's supplier before a step that changes its scorecard (receipts, closing)."""
    s.execute(select(Supplier.id).where(Supplier.id == po.supplier_id).with_for_update())


# --- checks ---------------------------------------------------------------------------------------


def ensure_version(po: PurchaseOrder, expected: Versions) -> None:
    """A change made on a stale copy would silently undo someone else's: refuse it (412)."""
    if expected is not None and po.version not in expected:
        seen = ", ".join(str(v) for v in sorted(expected)) or "none"
        raise PreconditionFailed(
            f"{po.number} has changed since you read it (you read version {seen}, it is now "
            f"{po.version}); read it again and redo your change.",
            slug="stale-version",
            errors={"version": [f"current version is {po.version}"]},
        )


def ensure_supplier_approved(supplier: Supplier) -> None:
    if supplier.status != SupplierStatus.APPROVED.value:
        raise Conflict(
            f"Supplier {supplier.code} is {supplier.status}; only approved suppliers get "
            "purchase orders.",
            slug="supplier-not-approved",
            errors={"supplier": [supplier.status]},
        )


def ensure_supplier_in_good_standing(supplier: Supplier) -> None:
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


# --- changing -------------------------------------------------------------------------------------


def touch(po: PurchaseOrder) -> None:
    """Every change updates the row, which moves ``version`` on by one.

    Call it after the order's own fields are set and before anything that queries (``incoming``,
    the ledger): the autoflush then writes the order once, so each use case is one version.
    """
    po.updated_at = utcnow()


def incoming(s: Session, po: PurchaseOrder, sign: int) -> None:
    """Add (+1) or take back (-1) what the order still brings to its warehouse."""
    for line in sorted(po.lines, key=lambda line: line.product_id):
        if line.outstanding:
            ledger.change_incoming(s, line.product_id, po.warehouse_id, sign * line.outstanding)


def record(
    s: Session,
    actor: Principal,
    po: PurchaseOrder,
    action: str,
    before: str,
    reason: str | None = None,
    **after: Any,
) -> None:
    """The audit entry of a step that moved the order from status ``before`` to its status now."""
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
