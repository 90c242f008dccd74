"""The procurement web pages: each role's work through the forms, with the same rules as the API."""

from __future__ import annotations

import io
import re
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from tests.procurement_factories import level

PASSWORD = "correct horse"


@pytest.fixture
def app_config():
    return {"PO_AUTO_APPROVE_LIMIT": Decimal("100"), "PO_SECOND_APPROVAL_LIMIT": Decimal("1000")}


@pytest.fixture
def people(app, world, make_user):
    """API clients for checking, and signed-in browsers (test clients) for each role."""

    def person(*roles, warehouses=None):
        api = make_user(*roles, warehouses=warehouses, password=PASSWORD)
        web = app.test_client()
        r = web.post("/login", data={"username": api.username, "password": PASSWORD})
        assert r.status_code == 302
        return api, web

    return {
        "buyer": person("buyer"),
        "approver": person("approver"),
        "warehouse": person("warehouse", warehouses=["W1"]),
        "elsewhere": person("warehouse", warehouses=["W2"]),
        "storefront": person("storefront"),
        "viewer": person("viewer"),
    }


def text(response):
    assert response.status_code == 200, response.status_code
    return response.get_data(as_text=True)


def flashes(web, url):
    return text(web.get(url))


def order_id_from(response):
    match = re.search(r"/procurement/orders/(\d+)$", response.headers["Location"])
    assert match, response.headers.get("Location")
    return int(match.group(1))


def test_each_role_sees_its_pages(people):
    nav = {
        "buyer": ({"Purchase orders", "Suppliers"}, {"Approvals", "Receiving"}),
        "approver": ({"Purchase orders", "Approvals", "Suppliers"}, {"Receiving"}),
        "warehouse": ({"Purchase orders", "Receiving", "Suppliers"}, {"Approvals"}),
        "viewer": ({"Purchase orders", "Suppliers"}, {"Approvals", "Receiving"}),
    }
    for role, (shown, hidden) in nav.items():
        html = text(people[role][1].get("/procurement/orders"))
        for label in shown:
            assert f"</i>{label}</a>" in html, (role, label)
        for label in hidden:
            assert f"</i>{label}</a>" not in html, (role, label)
    storefront = people["storefront"][1]
    for url in ("/procurement/orders", "/procurement/suppliers", "/procurement/approvals"):
        assert storefront.get(url).status_code == 403
    assert people["buyer"][1].get("/procurement/approvals").status_code == 403
    assert people["buyer"][1].get("/procurement/receiving").status_code == 403
    assert people["approver"][1].get("/procurement/orders/new").status_code == 403


def test_signed_out_visitors_are_sent_to_sign_in(client):
    r = client.get("/procurement/orders")
    assert r.status_code == 302
    assert "/login" in r.headers["Location"]


def test_buyer_approver_and_warehouse_work_an_order_through_the_pages(people):
    buyer_api, buyer = people["buyer"]
    approver_api, approver = people["approver"]
    _, warehouse = people["warehouse"]

    # A line that breaks the pack size is shown next to the line, and nothing is saved.
    r = buyer.post(
        "/procurement/orders/new",
        data={
            "supplier": "ACME",
            "warehouse": "W1",
            "lines-0-sku": "A",
            "lines-0-quantity": "20",
            "lines-1-sku": "B",
            "lines-1-quantity": "60",
        },
    )
    html = text(r)
    assert "packs of 25; 50 or 75 would be" in html
    assert buyer_api.get("/purchase-orders").json["items"] == []

    r = buyer.post(
        "/procurement/orders/new",
        data={
            "supplier": "ACME",
            "warehouse": "W1",
            "lines-0-sku": "A",
            "lines-0-quantity": "20",
            "lines-1-sku": "B",
            "lines-1-quantity": "75",
        },
    )
    po_id = order_id_from(r)
    po = buyer_api.get(f"/purchase-orders/{po_id}").json
    assert (po["status"], po["total"], po["created_by"]) == ("draft", "350.00", buyer_api.username)

    r = buyer.post(f"/procurement/orders/{po_id}/submit", data={"version": "1"})
    assert "submitted; it is now pending approval" in flashes(buyer, r.headers["Location"])

    queue = text(approver.get("/procurement/approvals"))
    assert po["number"] in queue
    assert 'data-testid="grade"' in queue
    r = approver.post(
        f"/procurement/orders/{po_id}/approve",
        data={
            "version": "2",
            "reason": "needed for the spring range",
            "next": "/procurement/approvals",
        },
    )
    assert r.headers["Location"].endswith("/procurement/approvals")
    assert f'data-testid="approval-{po_id}"' not in text(approver.get("/procurement/approvals"))
    po = approver_api.get(f"/purchase-orders/{po_id}").json
    assert po["approvals"][0]["approver"] == approver_api.username
    assert po["approvals"][0]["reason"] == "needed for the spring range"

    buyer.post(f"/procurement/orders/{po_id}/send", data={"version": "3"})
    assert po["number"] in text(warehouse.get("/procurement/receiving"))
    assert "Record receipt" in text(warehouse.get(f"/procurement/orders/{po_id}/receive"))
    r = warehouse.post(
        f"/procurement/orders/{po_id}/receive",
        data={
            "accepted-1": "18",
            "rejected-1": "2",
            "reject_reason-1": "dented",
            "accepted-2": "75",
        },
    )
    assert r.status_code == 302
    page = flashes(warehouse, r.headers["Location"])
    assert "93 accepted into W1, 2 rejected" in page
    assert "A 18 accepted, 2 rejected (dented)" in page
    assert level(buyer_api, "A", "W1")["on_hand"] == 18
    assert level(buyer_api, "A", "W1")["incoming"] == 2
    assert level(buyer_api, "B", "W1")["on_hand"] == 75


def test_the_creator_cannot_approve_from_the_page_either(people, make_user, app):
    both = make_user("buyer", "approver", password=PASSWORD)
    web = app.test_client()
    web.post("/login", data={"username": both.username, "password": PASSWORD})
    r = web.post(
        "/procurement/orders/new",
        data={"supplier": "ACME", "warehouse": "W1", "lines-0-sku": "A", "lines-0-quantity": "20"},
    )
    po_id = order_id_from(r)
    web.post(f"/procurement/orders/{po_id}/submit", data={})
    assert f'data-testid="approval-{po_id}"' not in text(web.get("/procurement/approvals"))
    assert 'data-testid="approve-' not in text(web.get(f"/procurement/orders/{po_id}"))
    r = web.post(f"/procurement/orders/{po_id}/approve", data={})
    assert "may not decide on it" in flashes(web, r.headers["Location"])
    assert both.get(f"/purchase-orders/{po_id}").json["status"] == "pending_approval"


def test_an_edit_from_a_stale_page_is_refused(people):
    buyer_api, buyer = people["buyer"]
    po = buyer_api.post(
        "/purchase-orders",
        json={"supplier": "ACME", "warehouse": "W1", "lines": [{"sku": "A", "quantity": 5}]},
    ).json
    form = text(buyer.get(f"/procurement/orders/{po['id']}/edit"))
    assert 'name="version" type="hidden" value="1"' in form
    buyer_api.patch(
        f"/purchase-orders/{po['id']}", json={"notes": "x"}, headers={"If-Match": '"v1"'}
    )
    r = buyer.post(
        f"/procurement/orders/{po['id']}/edit",
        data={
            "supplier": "ACME",
            "warehouse": "W1",
            "version": "1",
            "lines-0-sku": "A",
            "lines-0-quantity": "7",
        },
    )
    assert "has changed since you read it" in flashes(buyer, r.headers["Location"])
    assert buyer_api.get(f"/purchase-orders/{po['id']}").json["lines"][0]["quantity"] == 5
    r = buyer.post(
        f"/procurement/orders/{po['id']}/edit",
        data={
            "supplier": "ACME",
            "warehouse": "W1",
            "version": "2",
            "lines-0-sku": "A",
            "lines-0-quantity": "7",
        },
    )
    assert buyer_api.get(f"/purchase-orders/{po['id']}").json["lines"][0]["quantity"] == 7


def test_receiving_is_for_staff_of_the_orders_warehouse(people):
    buyer_api, _ = people["buyer"]
    approver_api, _ = people["approver"]
    po = buyer_api.post(
        "/purchase-orders",
        json={"supplier": "ACME", "warehouse": "W1", "lines": [{"sku": "A", "quantity": 20}]},
    ).json
    buyer_api.post(f"/purchase-orders/{po['id']}/submit")
    approver_api.post(f"/purchase-orders/{po['id']}/approve")
    buyer_api.post(f"/purchase-orders/{po['id']}/send")
    elsewhere = people["elsewhere"][1]
    assert po["number"] not in text(elsewhere.get("/procurement/receiving"))
    assert elsewhere.get(f"/procurement/orders/{po['id']}/receive").status_code == 403
    r = people["warehouse"][1].post(
        f"/procurement/orders/{po['id']}/receive", data={"accepted-1": "21"}
    )
    assert "20 outstanding, 21 delivered" in text(r)
    assert level(buyer_api, "A", "W1")["on_hand"] == 0


def test_backdated_receipt_from_the_form(people, past_order):
    buyer_api, _ = people["buyer"]
    today = datetime.now(UTC).date()
    po = past_order(
        "ACME", "W1", {"A": 20}, sent=today - timedelta(days=5), expected=today + timedelta(days=5)
    )
    yesterday = (today - timedelta(days=1)).isoformat()
    r = people["warehouse"][1].post(
        f"/procurement/orders/{po['id']}/receive",
        data={"accepted-1": "20", "received_at": f"{yesterday}T10:30"},
    )
    assert r.status_code == 302
    (receipt,) = buyer_api.get(f"/purchase-orders/{po['id']}/receipts").json
    assert receipt["received_at"].startswith(f"{yesterday}T10:30:00")
    (movement,) = buyer_api.get("/stock/movements", query_string={"reference": po["number"]}).json[
        "items"
    ]
    assert movement["occurred_at"].startswith(f"{yesterday}T10:30:00")


def test_supplier_pages(people, past_order):
    buyer_api, buyer = people["buyer"]
    approver = people["approver"][1]
    today = datetime.now(UTC).date()
    for n in range(3):
        past_order(
            "ACME",
            "W1",
            {"A": 10},
            sent=today - timedelta(days=60 + 10 * n),
            expected=today - timedelta(days=50 + 10 * n),
            deliveries=[(today - timedelta(days=52 + 10 * n), "A", 10, 0)],
        )
    listing = text(buyer.get("/procurement/suppliers"))
    assert "ACME" in listing
    page = text(buyer.get("/procurement/suppliers/ACME"))
    assert "/static/vendor/plotly.min.js" in page
    assert 'id="trend"' in page
    assert "100%" in page  # on time and in full
    assert "Add to price list" in page
    assert 'data-testid="supplier-suspend"' not in page
    approver_page = text(approver.get("/procurement/suppliers/ACME"))
    assert 'data-testid="supplier-suspend"' in approver_page
    r = approver.post("/procurement/suppliers/ACME/suspend", data={"reason": ""})
    assert "Say why ACME is suspended" in flashes(approver, r.headers["Location"])
    approver.post("/procurement/suppliers/ACME/suspend", data={"reason": "audit overdue"})
    assert buyer_api.get("/suppliers/ACME").json["status"] == "suspended"
    r = buyer.post(
        "/procurement/suppliers/ACME/items",
        data={"sku": "NOPE", "unit_price": "1", "moq": "1", "pack_size": "1"},
    )
    assert "unknown sku NOPE" in flashes(buyer, r.headers["Location"])


def test_plotly_is_served_from_the_installed_package(client):
    r = client.get("/static/vendor/plotly.min.js")
    assert r.status_code == 200
    assert r.mimetype in ("text/javascript", "application/javascript")
    assert b"plotly" in r.data[:2000].lower()
    r.close()


def test_new_supplier_and_import_pages(people):
    buyer_api, buyer = people["buyer"]
    r = buyer.post(
        "/procurement/suppliers/new",
        data={"code": "ZED", "name": "Zed Co", "default_lead_time_days": "9"},
    )
    assert r.headers["Location"].endswith("/procurement/suppliers/ZED")
    assert buyer_api.get("/suppliers/ZED").json["status"] == "candidate"
    bad = b"supplier,sku,unit_price\nZED,A,1\nZED,NOPE,2\nNOBODY,A,x\n"
    r = buyer.post(
        "/procurement/suppliers/import",
        data={"kind": "prices", "file": (io.BytesIO(bad), "prices.csv")},
        content_type="multipart/form-data",
    )
    html = text(r)
    assert "row 3" in html
    assert "unknown sku NOPE" in html
    assert "row 4" in html
    assert buyer_api.get("/suppliers/ZED/items").json["items"] == []
    good = b"supplier,sku,unit_price\nZED,A,9.5\n"
    r = buyer.post(
        "/procurement/suppliers/import",
        data={"kind": "prices", "file": (io.BytesIO(good), "prices.csv")},
        content_type="multipart/form-data",
    )
    assert r.status_code == 302
    assert buyer_api.get("/suppliers/ZED/items").json["items"][0]["unit_price"] == "9.5000"


def test_order_list_filters(people):
    buyer_api, buyer = people["buyer"]
    for qty in (5, 6):
        buyer_api.post(
            "/purchase-orders",
            json={"supplier": "ACME", "warehouse": "W1", "lines": [{"sku": "A", "quantity": qty}]},
        )
    html = text(buyer.get("/procurement/orders?status=draft&warehouse=W1"))
    assert html.count("PO-00000") == 2
    assert "PO-00000" not in text(buyer.get("/procurement/orders?warehouse=W2"))
