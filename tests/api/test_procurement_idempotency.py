"""Tools retry: with an Idempotency-Key a retried order, approval or receipt counts once."""

from __future__ import annotations

from tests.factories import assert_problem
from tests.procurement_factories import create_order, level, step


def test_retried_order_creation_makes_one_order(world, buyer):
    headers = {"Idempotency-Key": "po-create-1"}
    body = {"supplier": "ACME", "warehouse": "W1", "lines": [{"sku": "A", "quantity": 10}]}
    first = buyer.post("/purchase-orders", json=body, headers=headers)
    again = buyer.post("/purchase-orders", json=body, headers=headers)
    assert first.status_code == again.status_code == 201
    assert again.json == first.json
    assert again.headers["Idempotent-Replayed"] == "true"
    assert [o["id"] for o in buyer.get("/purchase-orders").json["items"]] == [first.json["id"]]
    other = dict(body, lines=[{"sku": "A", "quantity": 20}])
    assert_problem(buyer.post("/purchase-orders", json=other, headers=headers), 422)


def test_retried_receipt_enters_stock_once(world, buyer, approver, receiver):
    po = create_order(buyer, lines=[{"sku": "A", "quantity": 200}])  # above auto-approval
    step(buyer, po, "submit")
    step(approver, po, "approve")
    step(buyer, po, "send")
    headers = {"Idempotency-Key": "dn-4711"}
    delivery = {"lines": [{"sku": "A", "accepted": 30, "rejected": 2}]}
    first = receiver.post(f"/purchase-orders/{po['id']}/receipts", json=delivery, headers=headers)
    again = receiver.post(f"/purchase-orders/{po['id']}/receipts", json=delivery, headers=headers)
    assert first.status_code == again.status_code == 201
    assert again.json == first.json
    assert level(receiver, "A", "W1")["on_hand"] == 30
    assert len(receiver.get(f"/purchase-orders/{po['id']}/receipts").json) == 1


def test_retried_approval_is_answered_from_the_record(world, buyer, approver):
    po = create_order(buyer, lines=[{"sku": "A", "quantity": 200}])
    step(buyer, po, "submit")
    headers = {"Idempotency-Key": "approve-once"}
    first = approver.post(f"/purchase-orders/{po['id']}/approve", json={}, headers=headers)
    again = approver.post(f"/purchase-orders/{po['id']}/approve", json={}, headers=headers)
    assert first.status_code == again.status_code == 200
    assert len(again.json["approvals"]) == 1
    assert again.headers["Idempotent-Replayed"] == "true"
