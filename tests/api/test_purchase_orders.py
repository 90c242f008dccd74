"""Purchase orders: pricing from the price list, MOQ and pack size, every transition legal and
illegal, approvals by amount with segregation of duties, guarded edits, cancelling."""

from __future__ import annotations

from decimal import Decimal

import pytest

from tests.factories import assert_problem
from tests.procurement_factories import create_order, level, order_body, step


@pytest.fixture
def app_config():
    # Small limits keep the quantities readable: under 100 auto, above 1000 two approvers.
    return {"PO_AUTO_APPROVE_LIMIT": Decimal("100"), "PO_SECOND_APPROVAL_LIMIT": Decimal("1000")}


# --- writing --------------------------------------------------------------------------------------


def test_draft_is_priced_from_the_price_list_in_the_suppliers_currency(world, buyer):
    po = create_order(buyer, lines=[{"sku": "A", "quantity": 3}, {"sku": "B", "quantity": 75}])
    assert po["status"] == "draft"
    assert po["currency"] == "CNY"
    assert po["created_by"] == buyer.username
    assert po["number"] == f"PO-{po['id']:06d}"
    assert [(x["sku"], x["unit_price"], x["amount"], x["price_source"]) for x in po["lines"]] == [
        ("A", "10.0000", "30.00", "list"),
        ("B", "2.0000", "150.00", "list"),
    ]
    assert po["total"] == "180.00"


def test_price_breaks_apply_by_line_quantity(world, make_supplier, buyer):
    make_supplier(
        code="BULK",
        items={
            "A": {
                "unit_price": "10.00",
                "price_breaks": [
                    {"min_quantity": 100, "unit_price": "9.00"},
                    {"min_quantity": 500, "unit_price": "8.50"},
                ],
            }
        },
    )
    prices = {
        q: create_order(buyer, supplier="BULK", lines=[{"sku": "A", "quantity": q}])["lines"][0]
        for q in (99, 100, 499, 500)
    }
    assert {q: line["unit_price"] for q, line in prices.items()} == {
        99: "10.0000",
        100: "9.0000",
        499: "9.0000",
        500: "8.5000",
    }
    assert prices[500]["amount"] == "4250.00"


def test_a_given_price_is_kept_and_marked_manual(world, buyer):
    po = create_order(buyer, lines=[{"sku": "A", "quantity": 10, "unit_price": "9.50"}])
    (line,) = po["lines"]
    assert (line["unit_price"], line["list_price"], line["price_source"]) == (
        "9.5000",
        "10.0000",
        "manual",
    )
    assert po["total"] == "95.00"


@pytest.mark.parametrize(
    ("quantity", "message"),
    [
        (25, "minimum order quantity of 50"),
        (60, "packs of 25; 50 or 75"),
    ],
)
def test_moq_and_pack_size_are_enforced_with_the_reason(world, buyer, quantity, message):
    r = buyer.post("/purchase-orders", json=order_body(lines=[{"sku": "B", "quantity": quantity}]))
    body = assert_problem(r, 422, "lines.0.quantity")
    assert message in body["errors"]["lines.0.quantity"][0]
    assert buyer.get("/purchase-orders").json["items"] == []


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (order_body(supplier="NOPE"), "supplier"),
        (order_body(warehouse="NOPE"), "warehouse"),
        (order_body(lines=[]), "lines"),
        (order_body(lines=[{"sku": "ZZZ", "quantity": 1}]), "lines.0.sku"),
        (order_body(lines=[{"sku": "A", "quantity": 0}]), "lines"),
        (order_body(lines=[{"sku": "A", "quantity": 1.5}]), "lines"),
        (order_body(lines=[{"sku": "A", "quantity": 1, "unit_price": "-1"}]), "lines"),
        (
            order_body(lines=[{"sku": "A", "quantity": 1}, {"sku": "A", "quantity": 2}]),
            "lines.1.sku",
        ),
        (order_body(expected_date="2001-01-01"), "expected_date"),
        (order_body(currency="EUR"), "currency"),
    ],
)
def test_invalid_order_is_422_and_writes_nothing(world, buyer, body, field):
    assert_problem(buyer.post("/purchase-orders", json=body), 422, field)
    assert buyer.get("/purchase-orders").json["items"] == []


def test_an_item_not_on_the_suppliers_price_list_is_422(world, make_product, buyer):
    make_product(sku="C")
    body = assert_problem(
        buyer.post("/purchase-orders", json=order_body(lines=[{"sku": "C", "quantity": 1}])),
        422,
        "lines.0.sku",
    )
    assert "price list" in body["errors"]["lines.0.sku"][0]


def test_a_write_aborted_by_a_concurrent_one_is_retried_once_whole(app, world, buyer, monkeypatch):
    """The database may abort a transaction to resolve a race (a serialization failure, or a
    lock SQLite could not get): the order is written again from the start, exactly once."""
    from sqlalchemy.exc import OperationalError

    from procurement.orders import writing

    real = writing._build_lines
    calls = []

    def flaky(*args, **kwargs):
        calls.append(1)
        if len(calls) == 1:
            raise OperationalError("INSERT ...", {}, Exception("database is locked"))
        return real(*args, **kwargs)

    monkeypatch.setattr(writing, "_build_lines", flaky)
    po = create_order(buyer)
    assert len(calls) == 2
    orders = buyer.get("/purchase-orders").json["items"]
    assert [o["number"] for o in orders] == [po["number"]]


def test_order_by_id_or_number(world, buyer):
    po = create_order(buyer)
    assert buyer.get(f"/purchase-orders/{po['number']}").json["id"] == po["id"]
    assert buyer.get(f"/purchase-orders/{po['number'].lower()}").json["id"] == po["id"]
    assert_problem(buyer.get("/purchase-orders/999999"), 404)
    assert_problem(buyer.get("/purchase-orders/XYZ"), 404)


# --- edits and versions ---------------------------------------------------------------------------


def test_get_returns_the_version_as_etag_and_honours_if_none_match(world, buyer):
    po = create_order(buyer)
    r = buyer.get(f"/purchase-orders/{po['id']}")
    assert r.headers["ETag"] == '"v1"'
    r = buyer.get(f"/purchase-orders/{po['id']}", headers={"If-None-Match": '"v1"'})
    assert r.status_code == 304


def test_edit_needs_if_match_and_refuses_a_stale_copy(world, buyer):
    po = create_order(buyer)
    url = f"/purchase-orders/{po['id']}"
    assert_problem(buyer.patch(url, json={"notes": "x"}), 428)
    r = buyer.patch(
        url,
        json={"lines": [{"sku": "A", "quantity": 20}, {"sku": "B", "quantity": 50}]},
        headers={"If-Match": '"v1"'},
    )
    assert r.status_code == 200, r.json
    assert r.headers["ETag"] == '"v2"'
    assert (r.json["version"], r.json["total"]) == (2, "300.00")
    assert [x["sku"] for x in r.json["lines"]] == ["A", "B"]
    # Someone still holding version 1 is refused, and the order keeps the newer change.
    body = assert_problem(
        buyer.patch(url, json={"notes": "old"}, headers={"If-Match": '"v1"'}), 412
    )
    assert body["type"].endswith("stale-version")
    assert buyer.get(url).json["notes"] is None
    assert_problem(buyer.patch(url, json={"notes": "x"}, headers={"If-Match": 'W/"v2"'}), 412)
    assert buyer.patch(url, json={"notes": "x"}, headers={"If-Match": "*"}).status_code == 200


def test_edits_are_checked_like_new_orders(world, buyer):
    po = create_order(buyer)
    r = buyer.patch(
        f"/purchase-orders/{po['id']}",
        json={"lines": [{"sku": "B", "quantity": 10}]},
        headers={"If-Match": '"v1"'},
    )
    assert_problem(r, 422, "lines.0.quantity")
    assert buyer.get(f"/purchase-orders/{po['id']}").json["version"] == 1


def test_only_drafts_can_be_edited(world, buyer):
    po = step(buyer, create_order(buyer), "submit")
    r = buyer.patch(
        f"/purchase-orders/{po['id']}",
        json={"notes": "x"},
        headers={"If-Match": f'"v{po["version"]}"'},
    )
    assert_problem(r, 409, "status")


def test_a_stale_if_match_on_a_transition_is_412(world, buyer):
    po = create_order(buyer)
    buyer.patch(f"/purchase-orders/{po['id']}", json={"notes": "n"}, headers={"If-Match": '"v1"'})
    r = buyer.post(f"/purchase-orders/{po['id']}/submit", headers={"If-Match": '"v1"'})
    assert_problem(r, 412)
    assert buyer.get(f"/purchase-orders/{po['id']}").json["status"] == "draft"


# --- approval by amount ---------------------------------------------------------------------------


def test_under_the_limit_submit_approves_at_once_and_counts_incoming(world, buyer, admin):
    po = step(buyer, create_order(buyer, lines=[{"sku": "A", "quantity": 9}]), "submit")
    assert (po["status"], po["approvals_required"], po["approvals"]) == ("approved", 0, [])
    assert level(admin, "A", "W1")["incoming"] == 9


def test_between_the_limits_one_approver_suffices(world, buyer, approver, admin):
    po = step(buyer, create_order(buyer, lines=[{"sku": "A", "quantity": 10}]), "submit")
    assert (po["status"], po["approvals_required"]) == ("pending_approval", 1)
    assert level(admin, "A", "W1")["incoming"] == 0
    po = step(approver, po, "approve", reason="within budget")
    assert po["status"] == "approved"
    (a,) = po["approvals"]
    assert (a["approver"], a["decision"], a["reason"], a["order_version"]) == (
        approver.username,
        "approved",
        "within budget",
        2,
    )
    assert a["at"]
    assert level(admin, "A", "W1")["incoming"] == 10


def test_above_the_second_limit_two_different_approvers_are_needed(
    world, buyer, approver, approver2, admin
):
    po = step(buyer, create_order(buyer, lines=[{"sku": "A", "quantity": 101}]), "submit")
    assert po["approvals_required"] == 2
    po = step(approver, po, "approve")
    assert po["status"] == "pending_approval"
    # The same person again does not count as the second approver.
    body = assert_problem(approver.post(f"/purchase-orders/{po['id']}/approve"), 403)
    assert body["type"].endswith("second-approver-required")
    assert level(admin, "A", "W1")["incoming"] == 0
    po = step(approver2, po, "approve")
    assert po["status"] == "approved"
    assert [a["approver"] for a in po["approvals"]] == [approver.username, approver2.username]
    assert [a["order_version"] for a in po["approvals"]] == [2, 3]
    assert level(admin, "A", "W1")["incoming"] == 101


def test_the_creator_never_approves_even_as_admin(world, make_user, approver):
    boss = make_user("admin")
    po = step(boss, create_order(boss), "submit")
    body = assert_problem(boss.post(f"/purchase-orders/{po['id']}/approve"), 403)
    assert body["type"].endswith("segregation-of-duties")
    assert_problem(boss.post(f"/purchase-orders/{po['id']}/reject", json={"reason": "no"}), 403)
    both = make_user("buyer", "approver")
    mine = step(both, create_order(both), "submit")
    assert_problem(both.post(f"/purchase-orders/{mine['id']}/approve"), 403)
    assert boss.get(f"/purchase-orders/{po['id']}").json["status"] == "pending_approval"
    assert step(approver, po, "approve")["status"] == "approved"


def test_another_admin_may_approve(world, buyer, admin):
    po = step(buyer, create_order(buyer), "submit")
    assert step(admin, po, "approve")["status"] == "approved"


def test_buyers_do_not_approve_and_approvers_do_not_buy(world, buyer, approver, make_user):
    po = step(buyer, create_order(buyer), "submit")
    other_buyer = make_user("buyer")
    assert_problem(other_buyer.post(f"/purchase-orders/{po['id']}/approve"), 403)
    assert_problem(approver.post("/purchase-orders", json=order_body()), 403)
    assert_problem(approver.post(f"/purchase-orders/{po['id']}/cancel"), 403)


def test_reject_needs_a_reason_and_ends_the_order(world, buyer, approver):
    po = step(buyer, create_order(buyer), "submit")
    assert_problem(approver.post(f"/purchase-orders/{po['id']}/reject", json={}), 422, "reason")
    po = step(approver, po, "reject", reason="wrong supplier for this item")
    assert (po["status"], po["status_reason"]) == ("rejected", "wrong supplier for this item")
    assert po["approvals"][0]["decision"] == "rejected"


def test_a_total_in_a_currency_without_a_rate_needs_two_approvers(
    world, make_supplier, buyer, approver
):
    make_supplier(code="USDCO", currency="USD", items={"A": "1.00"})
    po = create_order(buyer, supplier="USDCO", lines=[{"sku": "A", "quantity": 5}])
    assert (po["currency"], po["total"]) == ("USD", "5.00")
    assert step(buyer, po, "submit")["approvals_required"] == 2


class TestWithRates:
    @pytest.fixture
    def app_config(self):
        return {
            "PO_AUTO_APPROVE_LIMIT": Decimal("100"),
            "PO_SECOND_APPROVAL_LIMIT": Decimal("1000"),
            "PO_FX_RATES": {"USD": Decimal("7")},
        }

    def test_a_foreign_total_is_compared_at_the_configured_rate(self, world, make_supplier, buyer):
        make_supplier(code="USDCO", currency="USD", items={"A": "1.00"})
        small = create_order(buyer, supplier="USDCO", lines=[{"sku": "A", "quantity": 14}])
        large = create_order(buyer, supplier="USDCO", lines=[{"sku": "A", "quantity": 15}])
        assert step(buyer, small, "submit")["approvals_required"] == 0  # 98 CNY
        assert step(buyer, large, "submit")["approvals_required"] == 1  # 105 CNY


# --- the whole life, and every illegal move -------------------------------------------------------


def _to_state(state, world, buyer, approver, receiver):
    """An order of 10 A (one approver) in ``state``."""
    po = create_order(buyer)
    if state == "draft":
        return po
    po = step(buyer, po, "submit")
    if state == "pending_approval":
        return po
    if state == "rejected":
        return step(approver, po, "reject", reason="no")
    po = step(approver, po, "approve")
    if state == "approved":
        return po
    po = step(buyer, po, "send")
    if state == "sent":
        return po
    if state == "cancelled":
        return step(buyer, po, "cancel", reason="not needed")
    qty = 4 if state in ("partially_received",) else 10
    r = receiver.post(
        f"/purchase-orders/{po['id']}/receipts", json={"lines": [{"sku": "A", "accepted": qty}]}
    )
    assert r.status_code == 201, r.json
    po = buyer.get(f"/purchase-orders/{po['id']}").json
    if state in ("partially_received", "received"):
        return po
    return step(buyer, po, "close")


STATES = [
    "draft",
    "pending_approval",
    "approved",
    "rejected",
    "sent",
    "partially_received",
    "received",
    "closed",
    "cancelled",
]
ACTIONS = {
    "submit": ("buyer", {}),
    "approve": ("approver", {}),
    "reject": ("approver", {"reason": "x"}),
    "send": ("buyer", {}),
    "cancel": ("buyer", {}),
    "close": ("buyer", {"reason": "x"}),
}
LEGAL = {
    ("submit", "draft"),
    ("approve", "pending_approval"),
    ("reject", "pending_approval"),
    ("send", "approved"),
    ("cancel", "draft"),
    ("cancel", "pending_approval"),
    ("cancel", "approved"),
    ("cancel", "sent"),
    ("close", "partially_received"),
    ("close", "received"),
}
EXPECTED = {
    "submit": "pending_approval",
    "approve": "approved",
    "reject": "rejected",
    "send": "sent",
    "cancel": "cancelled",
    "close": "closed",
}


@pytest.mark.parametrize("state", STATES)
@pytest.mark.parametrize("action", list(ACTIONS))
def test_every_transition_through_the_api(world, buyer, approver, receiver, state, action):
    po = _to_state(state, world, buyer, approver, receiver)
    assert po["status"] == state
    role, body = ACTIONS[action]
    api = buyer if role == "buyer" else approver
    r = api.post(f"/purchase-orders/{po['id']}/{action}", json=body)
    if (action, state) in LEGAL:
        assert r.status_code == 200, r.json
        assert r.json["status"] == EXPECTED[action]
        assert r.json["version"] == po["version"] + 1
    else:
        problem = assert_problem(r, 409, "status")
        assert problem["type"].endswith("illegal-transition")
        after = buyer.get(f"/purchase-orders/{po['id']}").json
        assert (after["status"], after["version"]) == (state, po["version"])


@pytest.mark.parametrize("state", STATES)
def test_receiving_is_only_possible_once_sent(world, buyer, approver, receiver, state):
    po = _to_state(state, world, buyer, approver, receiver)
    r = receiver.post(
        f"/purchase-orders/{po['id']}/receipts", json={"lines": [{"sku": "A", "accepted": 1}]}
    )
    if state in ("sent", "partially_received"):
        assert r.status_code == 201, r.json
    elif state == "received":
        assert_problem(r, 409)
    else:
        assert_problem(r, 409, "status")


@pytest.mark.parametrize("state", ["approved", "sent"])
def test_cancelling_takes_the_order_out_of_incoming(world, buyer, approver, receiver, admin, state):
    po = _to_state(state, world, buyer, approver, receiver)
    assert level(admin, "A", "W1")["incoming"] == 10
    step(buyer, po, "cancel", reason="demand dropped")
    assert level(admin, "A", "W1")["incoming"] == 0


def test_sending_dates_an_undated_order_from_the_lead_time(world, buyer, approver):
    po = step(approver, step(buyer, create_order(buyer), "submit"), "approve")
    assert po["expected_date"] is None
    po = step(buyer, po, "send")
    from datetime import date, timedelta

    sent = date.fromisoformat(po["sent_at"][:10])
    assert po["expected_date"] == (sent + timedelta(days=7)).isoformat()  # A's lead time


def test_transitions_are_audited(world, buyer, approver, admin):
    po = step(approver, step(buyer, create_order(buyer), "submit"), "approve", reason="ok")
    entries = admin.get(
        "/audit", query_string={"object_type": "purchase_order", "object_id": po["number"]}
    ).json["items"]
    assert [(e["action"], e["actor"]) for e in reversed(entries)] == [
        ("purchase_order.create", buyer.username),
        ("purchase_order.submit", buyer.username),
        ("purchase_order.approve", approver.username),
    ]


# --- lists ----------------------------------------------------------------------------------------


def test_list_filters_and_approval_queue(world, make_supplier, buyer, approver, approver2):
    make_supplier(code="OTHER", items={"A": "11"})
    drafts = create_order(buyer)
    pending = step(buyer, create_order(buyer), "submit")
    big = step(buyer, create_order(buyer, lines=[{"sku": "A", "quantity": 200}]), "submit")
    other = create_order(buyer, supplier="OTHER")

    def ids(api=buyer, **q):
        return [p["id"] for p in api.get("/purchase-orders", query_string=q).json["items"]]

    assert ids() == [other["id"], big["id"], pending["id"], drafts["id"]]
    assert ids(status="pending_approval") == [big["id"], pending["id"]]
    assert ids(status=["draft", "received"]) == [other["id"], drafts["id"]]
    assert ids(supplier="OTHER") == [other["id"]]
    assert ids(warehouse="W2") == []
    step(approver, big, "approve")
    assert ids(approver, awaiting_my_approval=True) == [pending["id"]]
    assert ids(approver2, awaiting_my_approval=True) == [big["id"], pending["id"]]
    assert_problem(buyer.get("/purchase-orders", query_string={"status": "lost"}), 422, "status")


def test_price_check_compares_with_other_approved_suppliers(world, make_supplier, buyer):
    make_supplier(code="CHEAP", items={"A": "8.00"})
    make_supplier(code="DEAR", items={"A": "12.00"})
    make_supplier(code="GONE", status="blocked", items={"A": "1.00"})
    po = create_order(buyer)
    check = buyer.get(f"/purchase-orders/{po['id']}/price-check").json
    (line,) = check["lines"]
    assert (line["market_median"], line["cheapest"], line["cheapest_supplier"]) == (
        "10.0000",
        "8.0000",
        "CHEAP",
    )
    assert line["alternatives"] == 2
    assert check["index"] == pytest.approx(1.0)
