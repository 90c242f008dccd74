"""Purchase orders under concurrent use on real PostgreSQL: receipts never exceed what is owed,
and simultaneous approvals cannot approve an order twice or let one person count twice."""

from __future__ import annotations

import threading
from collections import Counter
from decimal import Decimal

import pytest
from flask import Flask

from tests.procurement_factories import create_order, level, step

pytestmark = pytest.mark.pg


@pytest.fixture
def app_config():
    return {"PO_AUTO_APPROVE_LIMIT": Decimal("100"), "PO_SECOND_APPROVAL_LIMIT": Decimal("1000")}


def race(app: Flask, calls: list[tuple[str, str, dict]]) -> Counter[int]:
    """POST ``(token, path, body)`` all at once, each from its own thread and connection."""
    barrier = threading.Barrier(len(calls))
    statuses: Counter[int] = Counter()
    lock = threading.Lock()

    def worker(token: str, path: str, body: dict) -> None:
        client = app.test_client()
        barrier.wait()
        r = client.post("/api/v1" + path, json=body, headers={"Authorization": f"Bearer {token}"})
        with lock:
            statuses[r.status_code] += 1

    threads = [threading.Thread(target=worker, args=call) for call in calls]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    return statuses


def test_concurrent_receipts_never_exceed_what_is_owed(
    app, world, buyer, approver, make_user, admin
):
    po = create_order(buyer, lines=[{"sku": "A", "quantity": 10}])
    po = step(buyer, step(approver, step(buyer, po, "submit"), "approve"), "send")
    staff = [make_user("warehouse", warehouses=["W1"]) for _ in range(4)]
    body = {"lines": [{"sku": "A", "accepted": 1}]}
    calls = [
        (s.token, f"/purchase-orders/{po['id']}/receipts", body) for s in staff for _ in range(4)
    ]
    statuses = race(app, calls)
    assert statuses == Counter({201: 10, 409: 6})
    after = admin.get(f"/purchase-orders/{po['id']}").json
    assert after["status"] == "received"
    assert after["lines"][0]["accepted"] == 10
    assert len(after["receipts"]) == 10
    a = level(admin, "A", "W1")
    assert (a["on_hand"], a["incoming"]) == (10, 0)
    movements = admin.get("/stock/movements", query_string={"reference": po["number"]}).json
    assert sum(m["quantity"] for m in movements["items"]) == 10


def test_two_approvers_at_once_on_a_one_approval_order(app, world, buyer, make_user, admin):
    po = step(buyer, create_order(buyer, lines=[{"sku": "A", "quantity": 10}]), "submit")
    approvers = [make_user("approver") for _ in range(6)]
    statuses = race(app, [(a.token, f"/purchase-orders/{po['id']}/approve", {}) for a in approvers])
    assert statuses == Counter({200: 1, 409: 5})
    after = admin.get(f"/purchase-orders/{po['id']}").json
    assert after["status"] == "approved"
    assert len(after["approvals"]) == 1
    assert level(admin, "A", "W1")["incoming"] == 10  # counted once


def test_one_approver_twice_at_once_counts_once(app, world, buyer, approver, approver2, admin):
    po = step(buyer, create_order(buyer, lines=[{"sku": "A", "quantity": 200}]), "submit")
    assert po["approvals_required"] == 2
    path = f"/purchase-orders/{po['id']}/approve"
    statuses = race(app, [(approver.token, path, {}) for _ in range(5)])
    assert statuses == Counter({200: 1, 403: 4})
    after = admin.get(f"/purchase-orders/{po['id']}").json
    assert after["status"] == "pending_approval"
    assert [a["approver"] for a in after["approvals"]] == [approver.username]
    assert step(approver2, po, "approve")["status"] == "approved"


def test_a_suspension_in_progress_holds_up_approval_and_then_refuses_it(
    app, world, buyer, approver, admin
):
    """``approve`` reads the supplier's standing under a lock: it cannot slip past a suspension
    that is being written, and once that commits the approval is refused."""
    from sqlalchemy import text

    from core import db

    po = step(buyer, create_order(buyer, lines=[{"sku": "A", "quantity": 50}]), "submit")
    assert po["status"] == "pending_approval"
    outcome: dict[str, int] = {}

    def approve() -> None:
        r = approver.client.post(
            f"/api/v1/purchase-orders/{po['id']}/approve",
            json={},
            headers={"Authorization": f"Bearer {approver.token}"},
        )
        outcome["status"] = r.status_code

    with app.app_context():
        conn = db.engine().connect()
        tx = conn.begin()
        conn.execute(text("SELECT id FROM suppliers WHERE code = 'ACME' FOR UPDATE"))
        conn.execute(text("UPDATE suppliers SET status = 'suspended' WHERE code = 'ACME'"))
        worker = threading.Thread(target=approve)
        worker.start()
        worker.join(timeout=1.5)
        blocked = worker.is_alive()
        tx.commit()
        conn.close()
    worker.join(timeout=30)
    assert blocked, "approve read the supplier without waiting for the suspension"
    assert outcome["status"] == 409
    assert admin.get(f"/purchase-orders/{po['id']}").json["status"] == "pending_approval"
