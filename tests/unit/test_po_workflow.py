"""Every (action, state) pair of the purchase order: the legal ones pass, the rest are 409."""

from __future__ import annotations

import pytest

from core.problems import Conflict
from procurement.orders.workflow import PO_STATUSES, POStatus, ensure_allowed

# Written out by hand from DESIGN.md so that a change to the transition table shows up here.
LEGAL = {
    ("edit", "draft"),
    ("submit", "draft"),
    ("approve", "pending_approval"),
    ("reject", "pending_approval"),
    ("send", "approved"),
    ("receive", "sent"),
    ("receive", "partially_received"),
    ("close", "partially_received"),
    ("close", "received"),
    ("cancel", "draft"),
    ("cancel", "pending_approval"),
    ("cancel", "approved"),
    ("cancel", "sent"),
}
ACTIONS = ["edit", "submit", "approve", "reject", "send", "receive", "close", "cancel"]
PAIRS = [(a, s) for a in ACTIONS for s in PO_STATUSES]


@pytest.mark.parametrize(("action", "status"), PAIRS)
def test_transition(action, status):
    if (action, status) in LEGAL:
        ensure_allowed(action, status)
    else:
        with pytest.raises(Conflict) as raised:
            ensure_allowed(action, status)
        assert raised.value.slug == "illegal-transition"
        assert raised.value.errors == {"status": [status]}


def test_targets_are_checked_too():
    ensure_allowed("submit", "draft", POStatus.APPROVED)
    with pytest.raises(Conflict):
        ensure_allowed("submit", "draft", POStatus.SENT)


def test_the_message_says_what_would_be_needed():
    with pytest.raises(Conflict) as raised:
        ensure_allowed("cancel", "partially_received")
    assert "partially received cannot be cancelled" in raised.value.detail
    assert "draft" in raised.value.detail
