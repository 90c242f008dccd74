"""The steps of a purchase order's life after it is written: submit, approve, reject, send, cancel
and close.

Each step is one row of ``STEPS``: who may take it, what is checked and in which order, how it
changes the order and what its audit entry adds. ``_take`` runs every row the same way:

1. the actor holds one of the step's roles (403);
2. the order is locked and the step is legal from its status (``workflow``; 409);
3. the step's ``guards``: may this person decide on this order (not its creator, not twice, with
   a reason where one is owed). They come before the version check, so someone who may not decide
   is told so rather than asked to reload the order;
4. the version the caller read (If-Match, the form's hidden field; 412);
5. the step's ``checks``: is the order, or its supplier, fit for the step;
6. the step's ``change`` (one new version of the order), its audit entry ``purchase_order.<step>``,
   then the step's ``then`` (closing re-grades the supplier), and one commit.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from flask import current_app
from sqlalchemy import select
from sqlalchemy.orm import Session

from accounts.principal import Principal
from core.db import UnitOfWork, moment, retry_on_conflict
from core.problems import Forbidden, Invalid
from procurement import scorecards
from procurement.models import PurchaseOrder, PurchaseOrderApproval, SupplierItem
from procurement.orders.changes import (
    APPROVERS,
    BUYERS,
    Versions,
    ensure_supplier_approved,
    ensure_supplier_in_good_standing,
    ensure_version,
    incoming,
    lock,
    lock_supplier,
    record,
    supplier_for_check,
    touch,
)
from procurement.orders.pricing import in_base_currency
from procurement.orders.workflow import (
    INCOMING_STATES,
    POStatus,
    approvals_required,
    ensure_allowed,
)


@dataclass(frozen=True)
class Step:
    """One taking of a step: on which order, by whom, with which reason, at what time."""

    s: Session
    actor: Principal
    po: PurchaseOrder
    reason: str | None
    now: datetime


Check = Callable[[Step], None]


def _as_given(reason: str | None) -> str | None:
    return reason


def _stripped(reason: str | None) -> str | None:
    return (reason or "").strip() or None


@dataclass(frozen=True)
class Transition:
    """How one step differs from the others; everything else is ``_take``'s."""

    roles: tuple[str, ...]
    #: Sets the order's new state; returns what the audit entry's ``after`` adds to the status.
    change: Callable[[Step], dict[str, Any]]
    guards: tuple[Check, ...] = ()
    checks: tuple[Check, ...] = ()
    #: How the reason given is kept (in the step, the order and the audit entry).
    keep_reason: Callable[[str | None], str | None] = _as_given
    then: Check | None = None


# --- who may decide -------------------------------------------------------------------------------


def is_creator(actor: Principal, po: PurchaseOrder) -> bool:
    if actor.user_id is not None and po.created_by_id is not None:
        return actor.user_id == po.created_by_id
    return actor.username == po.created_by


def _not_creator(step: Step) -> None:
    if is_creator(step.actor, step.po):
        raise Forbidden(
            f"{step.actor.username} wrote {step.po.number} and so may not decide on it; "
            "another approver must.",
            slug="segregation-of-duties",
        )


def _has_decided(step: Step) -> bool:
    return any(a.approver == step.actor.username for a in step.po.approvals)


def _not_approved_yet(step: Step) -> None:
    if _has_decided(step):
        raise Forbidden(
            f"{step.actor.username} has approved {step.po.number} already; it needs a second, "
            "different approver.",
            slug="second-approver-required",
        )


def _not_decided_yet(step: Step) -> None:
    if _has_decided(step):
        raise Forbidden(
            f"{step.actor.username} has decided on {step.po.number} already.",
            slug="second-approver-required",
        )


def _rejection_reason_given(step: Step) -> None:
    if not step.reason:
        raise Invalid("Say why the order is rejected.", errors={"reason": ["required"]})


# --- is the order fit for the step ----------------------------------------------------------------


def _supplier_approved(step: Step) -> None:
    ensure_supplier_approved(supplier_for_check(step.s, step.po))


def _supplier_in_good_standing(step: Step) -> None:
    ensure_supplier_in_good_standing(supplier_for_check(step.s, step.po))


def _is_short(po: PurchaseOrder) -> bool:
    return any(line.outstanding for line in po.lines)


def _reason_if_short(step: Step) -> None:
    if _is_short(step.po) and step.reason is None:
        raise Invalid(
            f"{step.po.number} still owes units; say why it is closed short.",
            errors={"reason": ["required when closing short"]},
        )


# --- the changes ----------------------------------------------------------------------------------


def _approve_now(s: Session, po: PurchaseOrder, now: datetime) -> None:
    po.status = POStatus.APPROVED.value
    po.approved_at = now
    touch(po)
    incoming(s, po, +1)


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


def _submit(step: Step) -> dict[str, Any]:
    po, config = step.po, current_app.config
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
    po.submitted_at = step.now
    if po.approvals_required == 0:
        _approve_now(step.s, po, step.now)
    else:
        po.status = POStatus.PENDING_APPROVAL.value
        touch(po)
    return {"approvals_required": po.approvals_required}


def _decision(step: Step, decision: str) -> PurchaseOrderApproval:
    return PurchaseOrderApproval(
        decision=decision,
        approver_id=step.actor.user_id,
        approver=step.actor.username,
        reason=_stripped(step.reason),
        order_version=step.po.version,
        at=step.now,
    )


def _approve(step: Step) -> dict[str, Any]:
    po = step.po
    po.approvals.append(_decision(step, "approved"))
    if len(po.approvals_given) >= po.approvals_required:
        _approve_now(step.s, po, step.now)
    else:
        touch(po)
    return {"approvals": len(po.approvals_given), "approvals_required": po.approvals_required}


def _reject(step: Step) -> dict[str, Any]:
    po = step.po
    po.approvals.append(_decision(step, "rejected"))
    po.status = POStatus.REJECTED.value
    po.rejected_at = step.now
    po.status_reason = step.reason
    touch(po)
    return {}


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


def _send(step: Step) -> dict[str, Any]:
    po = step.po
    expected = po.expected_date or step.now.date() + timedelta(days=_lead_time_days(step.s, po))
    po.status = POStatus.SENT.value
    po.sent_at = step.now
    po.expected_date = expected
    touch(po)
    return {"expected_date": expected.isoformat()}


def _cancel(step: Step) -> dict[str, Any]:
    po = step.po
    was_incoming = POStatus(po.status) in INCOMING_STATES
    po.status = POStatus.CANCELLED.value
    po.cancelled_at = step.now
    po.status_reason = step.reason
    touch(po)
    if was_incoming:
        incoming(step.s, po, -1)
    return {}


def _close(step: Step) -> dict[str, Any]:
    po = step.po
    short = _is_short(po)
    po.status = POStatus.CLOSED.value
    po.closed_at = step.now
    po.status_reason = step.reason
    touch(po)
    lock_supplier(step.s, po)
    if short:
        incoming(step.s, po, -1)
    return {"short": short}


def _regrade_supplier(step: Step) -> None:
    scorecards.rescore(step.s, step.po.supplier, as_of=step.now.date())


#: step -> how it differs from the others. The states it may start from and lead to are
#: ``workflow.TRANSITIONS``; the audit entry is ``purchase_order.<step>``.
STEPS: dict[str, Transition] = {
    "submit": Transition(BUYERS, _submit, checks=(_supplier_approved, _supplier_in_good_standing)),
    "approve": Transition(
        APPROVERS,
        _approve,
        guards=(_not_creator, _not_approved_yet),
        checks=(_supplier_approved,),
    ),
    "reject": Transition(
        APPROVERS,
        _reject,
        guards=(_not_creator, _not_decided_yet, _rejection_reason_given),
        keep_reason=lambda reason: (reason or "").strip(),
    ),
    "send": Transition(BUYERS, _send, checks=(_supplier_approved,)),
    "cancel": Transition(BUYERS, _cancel, keep_reason=_stripped),
    # Closing an order that still owes units ("short") gives up on them: they leave
    # ``incoming`` and the supplier's scorecard counts the order as short.
    "close": Transition(
        BUYERS,
        _close,
        checks=(_reason_if_short,),
        keep_reason=_stripped,
        then=_regrade_supplier,
    ),
}


def _take(
    action: str,
    actor: Principal,
    ref: str | int,
    reason: str | None,
    expected_version: Versions,
    at: datetime | None,
) -> PurchaseOrder:
    transition = STEPS[action]
    actor.ensure_role(*transition.roles)
    reason = transition.keep_reason(reason)
    now = moment(at)
    with UnitOfWork() as uow:
        s = uow.session
        po = lock(s, ref)
        ensure_allowed(action, po.status)
        step = Step(s, actor, po, reason, now)
        for guard in transition.guards:
            guard(step)
        ensure_version(po, expected_version)
        for check in transition.checks:
            check(step)
        before = po.status
        after = transition.change(step)
        s.flush()
        record(s, actor, po, action, before, reason, **after)
        if transition.then is not None:
            transition.then(step)
        uow.commit()
        return po


# --- the steps, as callers know them --------------------------------------------------------------


@retry_on_conflict()
def submit(
    actor: Principal,
    ref: str | int,
    *,
    expected_version: Versions = None,
    at: datetime | None = None,
) -> PurchaseOrder:
    """Send a draft for approval; under the auto-approval limit it is approved at once."""
    return _take("submit", actor, ref, None, expected_version, at)


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
    return _take("approve", actor, ref, reason, expected_version, at)


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
    return _take("reject", actor, ref, reason, expected_version, at)


@retry_on_conflict()
def send(
    actor: Principal,
    ref: str | int,
    *,
    expected_version: Versions = None,
    at: datetime | None = None,
) -> PurchaseOrder:
    """The order goes to the supplier; without an expected date it gets one from the lead time."""
    return _take("send", actor, ref, None, expected_version, at)


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
    return _take("cancel", actor, ref, reason, expected_version, at)


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
    return _take("close", actor, ref, reason, expected_version, at)
