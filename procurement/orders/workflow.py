"""The purchase order's life as explicit transitions, and the approval rule by amount.

Each action names the states it may start from and the states it may lead to. Services ask
``ensure_allowed`` before changing anything, so an illegal move is refused (409) the same way
from the API, the web pages and the demo seed.
"""

from __future__ import annotations

from decimal import Decimal
from enum import StrEnum

from core.problems import Conflict


class POStatus(StrEnum):
    DRAFT = "draft"
    PENDING_APPROVAL = "pending_approval"
    APPROVED = "approved"
    REJECTED = "rejected"
    SENT = "sent"
    PARTIALLY_RECEIVED = "partially_received"
    RECEIVED = "received"
    CLOSED = "closed"
    CANCELLED = "cancelled"


PO_STATUSES = tuple(s.value for s in POStatus)

S = POStatus

#: action -> {from state: states it may lead to}. Anything not listed is illegal.
TRANSITIONS: dict[str, dict[POStatus, frozenset[POStatus]]] = {
    "edit": {S.DRAFT: frozenset({S.DRAFT})},
    "submit": {S.DRAFT: frozenset({S.PENDING_APPROVAL, S.APPROVED})},
    # The first of two required approvals leaves the order pending.
    "approve": {S.PENDING_APPROVAL: frozenset({S.PENDING_APPROVAL, S.APPROVED})},
    "reject": {S.PENDING_APPROVAL: frozenset({S.REJECTED})},
    "send": {S.APPROVED: frozenset({S.SENT})},
    "receive": {
        S.SENT: frozenset({S.PARTIALLY_RECEIVED, S.RECEIVED}),
        S.PARTIALLY_RECEIVED: frozenset({S.PARTIALLY_RECEIVED, S.RECEIVED}),
    },
    # Closing a partly received order gives up on the rest ("closed short").
    "close": {
        S.PARTIALLY_RECEIVED: frozenset({S.CLOSED}),
        S.RECEIVED: frozenset({S.CLOSED}),
    },
    # Cancelling is possible until the first delivery arrives.
    "cancel": {
        s: frozenset({S.CANCELLED}) for s in (S.DRAFT, S.PENDING_APPROVAL, S.APPROVED, S.SENT)
    },
}

#: States in which the order's lines count as ``incoming`` stock.
INCOMING_STATES = frozenset({S.APPROVED, S.SENT, S.PARTIALLY_RECEIVED})
#: States that need no more work from anyone.
FINAL_STATES = frozenset({S.REJECTED, S.CLOSED, S.CANCELLED})


def allowed_from(action: str) -> frozenset[POStatus]:
    return frozenset(TRANSITIONS[action])


def ensure_allowed(action: str, status: str, target: POStatus | None = None) -> None:
    """Raise 409 unless ``action`` may start from ``status`` (and lead to ``target``)."""
    current = POStatus(status)
    targets = TRANSITIONS[action].get(current)
    if targets is None or (target is not None and target not in targets):
        legal = ", ".join(sorted(s.value.replace("_", " ") for s in TRANSITIONS[action]))
        raise Conflict(
            f"A purchase order that is {current.value.replace('_', ' ')} cannot be {_past(action)}"
            f"; that needs an order that is {legal}.",
            slug="illegal-transition",
            errors={"status": [current.value]},
        )


def _past(action: str) -> str:
    return {
        "edit": "edited",
        "submit": "submitted",
        "approve": "approved",
        "reject": "rejected",
        "send": "sent",
        "receive": "received against",
        "close": "closed",
        "cancel": "cancelled",
    }[action]


def approvals_required(
    total: Decimal | None, auto_approve_limit: Decimal, second_approval_limit: Decimal
) -> int:
    """0 under the auto-approval limit, 2 above the second limit, 1 between.

    ``total`` is in the limits' currency; None (no exchange rate known) takes the strictest
    route rather than guessing.
    """
    if total is None:
        return 2
    if total < auto_approve_limit:
        return 0
    if total > second_approval_limit:
        return 2
    return 1
