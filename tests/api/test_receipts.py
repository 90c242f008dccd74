"""Receiving against purchase orders: accepted units enter stock through the ledger, rejected
ones do not and stay owed; partial and over-receipts; incoming; who may receive."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from tests.factories import assert_problem
from tests.procurement_factories import create_order, level, step


@pytest.fixture
def app_config():
    return {"PO_AUTO_APPROVE_LIMIT": Decimal("100"), "PO_SECOND_APPROVAL_LIMIT": Decimal("1000")}


@pytest.fixture
def sent(world, buyer, approver):
    """A sent order for 10 A and 50 B to W1 (one approval)."""
    po = create_order(buyer, lines=[{"sku": "A", "quantity": 10}, {"sku": "B", "quantity": 50}])
    po = step(approver, step(buyer, po, "submit"), "approve")
    return step(buyer, po, "send")


def receive(api, po, *lines, **extra):
    body = {
        "lines": [dict(zip(("sku", "accepted", "rejected"), line, strict=False)) for line in lines]
    }
    return api.post(f"/purchase-orders/{po['id']}/receipts", json={**body, **extra})


def movements(api, sku):
    return api.get("/stock/movements", query_string={"sku": sku, "warehouse": "W1"}).json["items"]


def assert_ledger_matches_levels(api):
    for sku in ("A", "B"):
        assert sum(m["quantity"] for m in movements(api, sku)) == level(api, sku, "W1")["on_hand"]


def test_approved_and_sent_orders_count_as_incoming(world, buyer, approver, admin):
    po = create_order(buyer, lines=[{"sku": "A", "quantity": 10}])
    step(buyer, po, "submit")
    assert level(admin, "A", "W1")["incoming"] == 0  # pending approval is not incoming yet
    step(approver, po, "approve")
    assert level(admin, "A", "W1")["incoming"] == 10
    step(buyer, po, "send")
    assert level(admin, "A", "W1")["incoming"] == 10
    assert level(admin, "A", "W2")["incoming"] == 0


def test_partial_receipts_then_complete(sent, receiver, admin):
    r = receive(receiver, sent, ("A", 4))
    assert r.status_code == 201, r.json
    assert (r.json["status"], r.json["purchase_order"], r.json["received_by"]) == (
        "partially_received",
        sent["number"],
        receiver.username,
    )
    assert level(admin, "A", "W1") | {} == {
        "sku": "A",
        "warehouse": "W1",
        "on_hand": 4,
        "reserved": 0,
        "available": 4,
        "incoming": 6,
        "over_reserved": False,
    }
    r = receive(receiver, sent, ("A", 6), ("B", 50))
    assert r.json["status"] == "received"
    po = admin.get(f"/purchase-orders/{sent['id']}").json
    assert [(x["sku"], x["accepted"], x["outstanding"]) for x in po["lines"]] == [
        ("A", 10, 0),
        ("B", 50, 0),
    ]
    assert len(po["receipts"]) == 2
    assert po["received_at"] is not None
    assert (level(admin, "A", "W1")["on_hand"], level(admin, "A", "W1")["incoming"]) == (10, 0)
    assert (level(admin, "B", "W1")["on_hand"], level(admin, "B", "W1")["incoming"]) == (50, 0)
    assert_ledger_matches_levels(admin)


def test_receipts_post_ledger_movements_referencing_the_order(sent, receiver, admin):
    r = receive(receiver, sent, ("A", 3))
    (m,) = movements(admin, "A")
    assert (m["type"], m["quantity"], m["reference"], m["actor"]) == (
        "receipt",
        3,
        sent["number"],
        receiver.username,
    )
    assert r.json["lines"][0]["movement_id"] == m["id"]
    by_ref = admin.get("/stock/movements", query_string={"reference": sent["number"]}).json
    assert [x["id"] for x in by_ref["items"]] == [m["id"]]


def test_rejected_units_do_not_enter_stock_and_stay_owed(sent, receiver, admin, buyer):
    r = receive(receiver, sent, ("A", 7, 3))
    assert r.status_code == 201
    assert r.json["status"] == "partially_received"
    a = level(admin, "A", "W1")
    assert (a["on_hand"], a["incoming"]) == (7, 3)
    (m,) = movements(admin, "A")
    assert m["quantity"] == 7
    line = admin.get(f"/purchase-orders/{sent['id']}").json["lines"][0]
    assert (line["accepted"], line["rejected"], line["outstanding"]) == (7, 3, 3)
    # The supplier replaces the three; they are received like any other units.
    receive(receiver, sent, ("A", 3), ("B", 50))
    assert admin.get(f"/purchase-orders/{sent['id']}").json["status"] == "received"
    assert level(admin, "A", "W1")["on_hand"] == 10
    assert_ledger_matches_levels(admin)


def test_a_delivery_of_only_rejects_moves_no_stock(sent, receiver, admin):
    r = receive(receiver, sent, ("A", 0, 10))
    assert r.status_code == 201, r.json
    assert r.json["lines"][0]["movement_id"] is None
    assert movements(admin, "A") == []
    assert level(admin, "A", "W1")["on_hand"] == 0
    assert level(admin, "A", "W1")["incoming"] == 10


def test_closing_short_releases_what_is_still_owed(sent, receiver, buyer, admin):
    receive(receiver, sent, ("A", 6, 2), ("B", 50))
    assert_problem(buyer.post(f"/purchase-orders/{sent['id']}/close", json={}), 422, "reason")
    po = step(buyer, sent, "close", reason="supplier out of stock")
    assert (po["status"], po["status_reason"]) == ("closed", "supplier out of stock")
    assert level(admin, "A", "W1")["incoming"] == 0
    assert level(admin, "A", "W1")["on_hand"] == 6
    assert_problem(receive(receiver, sent, ("A", 1)), 409, "status")


@pytest.mark.parametrize(
    "lines",
    [
        [("A", 11)],
        [("A", 8, 3)],
        [("A", 1), ("B", 51)],
    ],
)
def test_receiving_more_than_outstanding_is_409_and_changes_nothing(sent, receiver, admin, lines):
    receive(receiver, sent, ("A", 2))
    before = admin.get(f"/purchase-orders/{sent['id']}").json
    body = assert_problem(receive(receiver, sent, *lines), 409)
    assert body["type"].endswith("over-receipt")
    assert "outstanding" in str(body["errors"])
    after = admin.get(f"/purchase-orders/{sent['id']}").json
    assert (after["version"], after["lines"], after["receipts"]) == (
        before["version"],
        before["lines"],
        before["receipts"],
    )
    assert level(admin, "A", "W1")["on_hand"] == 2
    assert level(admin, "B", "W1")["on_hand"] == 0
    assert_ledger_matches_levels(admin)


@pytest.mark.parametrize(
    ("lines", "field"),
    [
        ([("Z", 1)], "lines.0.sku"),
        ([("A", 1), ("A", 1)], "lines.1.sku"),
        ([("A", 0)], "lines"),
        ([("A", -1)], "lines"),
        ([("A", 0, 0)], "lines"),
        ([], "lines"),
    ],
)
def test_receipt_lines_must_match_the_order(sent, receiver, admin, lines, field):
    assert_problem(receive(receiver, sent, *lines), 422, field)
    assert admin.get(f"/purchase-orders/{sent['id']}").json["receipts"] == []


def test_backdated_receipt_dates_the_movement(world, buyer, approver, receiver, admin):
    po = step(approver, step(buyer, create_order(buyer), "submit"), "approve")
    po = step(buyer, po, "send")
    sent_at = datetime.fromisoformat(po["sent_at"])
    when = (sent_at + timedelta(seconds=1)).isoformat()
    r = receive(receiver, po, ("A", 10), received_at=when)
    assert r.status_code == 201, r.json
    assert datetime.fromisoformat(r.json["received_at"]) == sent_at + timedelta(seconds=1)
    (m,) = movements(admin, "A")
    assert datetime.fromisoformat(m["occurred_at"]) == sent_at + timedelta(seconds=1)


@pytest.mark.parametrize("offset", [timedelta(days=2), -timedelta(days=2)])
def test_receipts_in_the_future_or_before_sending_are_422(sent, receiver, offset):
    when = datetime.now(UTC) + offset
    assert_problem(
        receive(receiver, sent, ("A", 1), received_at=when.isoformat()), 422, "received_at"
    )


def test_only_staff_of_the_orders_warehouse_receive(sent, make_user, buyer, admin):
    elsewhere = make_user("warehouse", warehouses=["W2"])
    body = assert_problem(receive(elsewhere, sent, ("A", 1)), 403)
    assert body["type"].endswith("warehouse-scope")
    for role in ("buyer", "approver", "planner", "viewer", "storefront"):
        assert_problem(receive(make_user(role), sent, ("A", 1)), 403)
    assert receive(admin, sent, ("A", 1)).status_code == 201
    assert level(admin, "A", "W1")["on_hand"] == 1


def test_receipts_are_listed_and_audited(sent, receiver, admin):
    receive(receiver, sent, ("A", 5, 1))
    receipts = admin.get(f"/purchase-orders/{sent['id']}/receipts").json
    assert [(r["lines"][0]["accepted"], r["lines"][0]["rejected"]) for r in receipts] == [(5, 1)]
    audit = admin.get(
        "/audit", query_string={"object_type": "purchase_order", "object_id": sent["number"]}
    ).json["items"]
    assert audit[0]["action"] == "purchase_order.receive"
    assert audit[0]["actor"] == receiver.username
