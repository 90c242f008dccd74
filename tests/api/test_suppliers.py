"""Suppliers: registration, the candidate -> approved -> suspended | blocked lifecycle with who and
why, price lists with breaks, and who may do what."""

from __future__ import annotations

import pytest

from tests.factories import assert_problem
from tests.procurement_factories import order_body


def supplier_body(**overrides):
    return {"code": "NEW", "name": "New Supplier", "default_lead_time_days": 14, **overrides}


def test_a_new_supplier_is_a_candidate_in_the_default_currency(buyer):
    r = buyer.post("/suppliers", json=supplier_body(email="sales@new.example"))
    assert r.status_code == 201, r.json
    assert r.json["status"] == "candidate"
    assert r.json["currency"] == "CNY"
    assert r.json["created_by"] == buyer.username
    assert buyer.get("/suppliers/NEW").json["events"][0]["kind"] == "created"


def test_duplicate_code_is_409(buyer):
    buyer.post("/suppliers", json=supplier_body())
    assert_problem(buyer.post("/suppliers", json=supplier_body()), 409, "code")


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"code": ""}, "code"),
        ({"code": "has space"}, "code"),
        ({"currency": "euro"}, "currency"),
        ({"email": "not-an-email"}, "email"),
        ({"default_lead_time_days": -1}, "default_lead_time_days"),
        ({"default_lead_time_days": "14"}, "default_lead_time_days"),
        ({"status": "approved"}, "status"),
    ],
)
def test_invalid_supplier_is_422_naming_the_field(buyer, overrides, field):
    assert_problem(buyer.post("/suppliers", json=supplier_body(**overrides)), 422, field)
    assert buyer.get("/suppliers").json["items"] == []


def test_lifecycle_records_who_and_why(buyer, approver):
    buyer.post("/suppliers", json=supplier_body())
    r = approver.post("/suppliers/NEW/approve", json={"reason": "audit passed"})
    assert r.status_code == 200, r.json
    assert (r.json["status"], r.json["status_reason"], r.json["status_changed_by"]) == (
        "approved",
        "audit passed",
        approver.username,
    )
    r = approver.post("/suppliers/NEW/suspend", json={"reason": "three late deliveries"})
    assert r.json["status"] == "suspended"
    r = approver.post("/suppliers/NEW/approve", json={"reason": "new logistics partner"})
    assert r.json["status"] == "approved"
    r = approver.post("/suppliers/NEW/block", json={"reason": "counterfeit parts"})
    assert r.json["status"] == "blocked"
    events = buyer.get("/suppliers/NEW").json["events"]
    assert [(e["kind"], e["from_status"], e["to_status"]) for e in events] == [
        ("created", None, "candidate"),
        ("approved", "candidate", "approved"),
        ("suspended", "approved", "suspended"),
        ("approved", "suspended", "approved"),
        ("blocked", "approved", "blocked"),
    ]
    assert events[2]["reason"] == "three late deliveries"
    assert {e["actor"] for e in events[1:]} == {approver.username}


# Every (action, status) pair; written out by hand from DESIGN.md's supplier lifecycle.
SUPPLIER_LEGAL = {
    ("approve", "candidate"): "approved",
    ("approve", "suspended"): "approved",
    ("suspend", "approved"): "suspended",
    ("block", "candidate"): "blocked",
    ("block", "approved"): "blocked",
    ("block", "suspended"): "blocked",
}


@pytest.mark.parametrize("status", ["candidate", "approved", "suspended", "blocked"])
@pytest.mark.parametrize("action", ["approve", "suspend", "block"])
def test_every_supplier_transition(make_supplier, approver, action, status):
    s = make_supplier(status=status)
    r = approver.post(f"/suppliers/{s['code']}/{action}", json={"reason": "checked"})
    if (action, status) in SUPPLIER_LEGAL:
        assert r.status_code == 200, r.json
        assert r.json["status"] == SUPPLIER_LEGAL[(action, status)]
        assert approver.get(f"/suppliers/{s['code']}").json["events"][-1]["reason"] == "checked"
    else:
        body = assert_problem(r, 409, "status")
        assert body["type"].endswith("illegal-transition")
        assert approver.get(f"/suppliers/{s['code']}").json["status"] == status


@pytest.mark.parametrize("action", ["suspend", "block"])
def test_suspending_or_blocking_needs_a_reason(make_supplier, approver, action):
    s = make_supplier()
    assert_problem(approver.post(f"/suppliers/{s['code']}/{action}", json={}), 422, "reason")
    assert_problem(
        approver.post(f"/suppliers/{s['code']}/{action}", json={"reason": "  "}), 422, "reason"
    )
    assert approver.get(f"/suppliers/{s['code']}").json["status"] == "approved"


@pytest.mark.parametrize("status", ["candidate", "suspended", "blocked"])
def test_only_approved_suppliers_get_purchase_orders(world, make_supplier, buyer, status):
    s = make_supplier(status=status, items={"A": "5"})
    body = assert_problem(
        buyer.post("/purchase-orders", json=order_body(supplier=s["code"])), 409, "supplier"
    )
    assert body["type"].endswith("supplier-not-approved")


def test_a_suspended_supplier_gets_no_submitted_or_sent_orders(world, buyer, approver, admin):
    draft = buyer.post("/purchase-orders", json=order_body()).json
    approved = buyer.post("/purchase-orders", json=order_body()).json
    buyer.post(f"/purchase-orders/{approved['id']}/submit")
    approver.post("/suppliers/ACME/suspend", json={"reason": "quality hold"})
    assert_problem(buyer.post(f"/purchase-orders/{draft['id']}/submit"), 409, "supplier")
    assert_problem(buyer.post(f"/purchase-orders/{approved['id']}/send"), 409, "supplier")


def test_supplier_roles(world, make_user):
    for role in ("approver", "warehouse", "planner", "viewer", "storefront"):
        api = make_user(role, warehouses=["W1"] if role == "warehouse" else None)
        assert_problem(api.post("/suppliers", json=supplier_body(code=role)), 403)
        assert_problem(api.post("/suppliers/ACME/items", json={"sku": "A", "unit_price": "1"}), 403)
    for role in ("buyer", "warehouse", "planner", "viewer", "storefront"):
        api = make_user(role, warehouses=["W1"] if role == "warehouse" else None)
        assert_problem(api.post("/suppliers/ACME/suspend", json={"reason": "x"}), 403)


@pytest.mark.parametrize(
    "path",
    [
        "/suppliers",
        "/suppliers/ACME",
        "/suppliers/ACME/items",
        "/suppliers/ACME/scorecard",
        "/purchase-orders",
    ],
)
def test_everyone_but_the_storefront_may_read_procurement(world, make_user, path):
    for role in ("warehouse", "buyer", "approver", "planner", "viewer", "admin"):
        api = make_user(role, warehouses=["W1"] if role == "warehouse" else None)
        assert api.get(path).status_code == 200, role
    assert_problem(make_user("storefront").get(path), 403)


def test_unknown_supplier_is_404(buyer):
    assert_problem(buyer.get("/suppliers/NOPE"), 404)
    assert_problem(buyer.get("/suppliers/NOPE/items"), 404)
    assert_problem(buyer.get("/suppliers/NOPE/scorecard"), 404)


def test_supplier_list_filters(make_supplier, buyer):
    make_supplier(code="AA", name="Alpha")
    make_supplier(code="BB", name="Beta", status="candidate")
    make_supplier(code="CC", name="Gamma", status="blocked")
    codes = lambda **q: [s["code"] for s in buyer.get("/suppliers", query_string=q).json["items"]]  # noqa: E731
    assert codes() == ["AA", "BB", "CC"]
    assert codes(status="candidate") == ["BB"]
    assert codes(q="gam") == ["CC"]
    page = buyer.get("/suppliers", query_string={"limit": 2}).json
    assert len(page["items"]) == 2
    rest = buyer.get("/suppliers", query_string={"cursor": page["next_cursor"]}).json
    assert [s["code"] for s in rest["items"]] == ["CC"]


def test_buyer_changes_details_but_not_the_status(make_supplier, buyer):
    s = make_supplier()
    r = buyer.patch(f"/suppliers/{s['code']}", json={"name": "Renamed", "email": "a@b.example"})
    assert r.status_code == 200
    assert r.json["name"] == "Renamed"
    assert_problem(buyer.patch(f"/suppliers/{s['code']}", json={"status": "blocked"}), 422)


# --- price lists ----------------------------------------------------------------------------------


def test_price_list_line_with_breaks(world, buyer):
    r = buyer.post(
        "/suppliers/ACME/items",
        json={
            "sku": "A",
            "unit_price": "1",
        },
    )
    assert_problem(r, 409, "sku")
    buyer.post("/suppliers", json=supplier_body())
    r = buyer.post(
        "/suppliers/NEW/items",
        json={
            "sku": "A",
            "supplier_sku": "N-100",
            "unit_price": "10.00",
            "moq": 20,
            "pack_size": 10,
            "lead_time_days": 5,
            "price_breaks": [
                {"min_quantity": 500, "unit_price": "8.00"},
                {"min_quantity": 100, "unit_price": "9.00"},
            ],
        },
    )
    assert r.status_code == 201, r.json
    assert r.json["price_breaks"] == [
        {"min_quantity": 100, "unit_price": "9.0000"},
        {"min_quantity": 500, "unit_price": "8.0000"},
    ]
    assert (r.json["currency"], r.json["moq"], r.json["pack_size"]) == ("CNY", 20, 10)
    items = buyer.get("/suppliers/NEW/items").json["items"]
    assert [i["sku"] for i in items] == ["A"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"sku": "NOPE", "unit_price": "1"}, "sku"),
        ({"sku": "A", "unit_price": "-1"}, "unit_price"),
        ({"sku": "A", "unit_price": "1", "moq": 0}, "moq"),
        ({"sku": "A", "unit_price": "1", "pack_size": 0}, "pack_size"),
        ({"sku": "A", "unit_price": "1", "currency": "EUR"}, "currency"),
        (
            {
                "sku": "A",
                "unit_price": "1",
                "price_breaks": [{"min_quantity": 10, "unit_price": "2"}],
            },
            "price_breaks.0",
        ),
        (
            {
                "sku": "A",
                "unit_price": "1",
                "price_breaks": [{"min_quantity": 1, "unit_price": "1"}],
            },
            "price_breaks",
        ),
    ],
)
def test_unusable_price_list_line_is_422(world, buyer, body, field):
    buyer.post("/suppliers", json=supplier_body())
    assert_problem(buyer.post("/suppliers/NEW/items", json=body), 422, field)
    assert buyer.get("/suppliers/NEW/items").json["items"] == []


def test_changing_a_price_leaves_existing_orders_alone(world, buyer):
    po = buyer.post("/purchase-orders", json=order_body()).json
    r = buyer.patch("/suppliers/ACME/items/A", json={"unit_price": "12.00"})
    assert r.json["unit_price"] == "12.0000"
    assert buyer.get(f"/purchase-orders/{po['id']}").json["total"] == "100.00"
    assert buyer.post("/purchase-orders", json=order_body()).json["total"] == "120.00"


def test_an_inactive_line_cannot_be_ordered(world, buyer):
    buyer.patch("/suppliers/ACME/items/A", json={"active": False})
    assert_problem(buyer.post("/purchase-orders", json=order_body()), 422, "lines.0.sku")
    assert buyer.get("/suppliers/ACME/items").json["items"][0]["sku"] == "B"
