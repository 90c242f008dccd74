"""Suppliers' scorecards side by side: the figures, the evidence behind each, the best marked."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from tests.factories import assert_problem

TODAY = datetime.now(UTC).date()


def ago(days):
    return TODAY - timedelta(days=days)


@pytest.fixture
def rivals(world, make_product, make_supplier, past_order):
    """ACME: one late short order and one good one. BETA: two good ones, dearer.

    CARD is approved and lists A but has delivered nothing; DOWN is suspended and lists A.
    """
    make_supplier(code="BETA", name="Beta Supply", items={"A": "12.00"})
    make_supplier(code="CARD", name="Cardinal", items={"A": "11.00"})
    make_supplier(code="DOWN", name="Down & Out", items={"A": "9.00"}, status="suspended")
    make_product(sku="ABC-1", name="Axle")
    # ACME: on time in full in two deliveries (lead 10), then late with 2 of 10 rejected (lead 15).
    past_order(
        "ACME",
        "W1",
        {"A": 10},
        sent=ago(100),
        expected=ago(90),
        deliveries=[(ago(95), "A", 4, 0), (ago(90), "A", 6, 0)],
    )
    past_order(
        "ACME",
        "W1",
        {"A": 10},
        sent=ago(80),
        expected=ago(70),
        deliveries=[(ago(65), "A", 8, 2)],
        close=ago(60),
    )
    for sent in (60, 40):
        past_order(
            "BETA",
            "W1",
            {"A": 10},
            sent=ago(sent),
            expected=ago(sent - 10),
            deliveries=[(ago(sent - 8), "A", 10, 0)],
        )


def test_two_suppliers_side_by_side_with_the_evidence_and_the_best_named(rivals, make_user):
    r = make_user("buyer").get("/scorecards/compare?supplier=ACME&supplier=BETA")
    assert r.status_code == 200, r.json
    acme, beta = r.json["suppliers"]
    assert (acme["supplier"], beta["supplier"]) == ("ACME", "BETA")
    assert (acme["orders_counted"], acme["deliveries"], acme["units_delivered"]) == (2, 2 + 1, 20)
    assert acme["on_time_rate"] == pytest.approx(0.5)
    assert acme["reject_rate"] == pytest.approx(0.1)
    assert (acme["lead_time_orders"], acme["lead_time_mean_days"]) == (2, pytest.approx(12.5))
    assert (beta["orders_counted"], beta["deliveries"], beta["on_time_rate"]) == (2, 2, 1.0)
    assert beta["lead_time_std_days"] == 0
    best = r.json["best"]
    assert best["on_time_rate"] == ["BETA"]
    assert best["in_full_rate"] == ["BETA"]
    assert best["reject_rate"] == ["BETA"]
    assert best["lead_time_mean_days"] == ["BETA"]
    assert best["price_index"] == ["ACME"]  # 10 against a market of 11.5; BETA 12 against 10.5
    assert best["unit_price"] == []  # no item named, no unit price to compare
    assert r.json["sku"] is None


def test_an_item_compares_every_approved_supplier_listing_it_with_their_prices(rivals, make_user):
    r = make_user("viewer").get("/scorecards/compare?sku=a")
    assert r.status_code == 200, r.json
    assert (r.json["sku"], r.json["name"]) == ("A", "Anvil")
    rows = {x["supplier"]: x for x in r.json["suppliers"]}
    assert list(rows) == ["ACME", "BETA", "CARD"]  # DOWN is suspended
    assert rows["ACME"]["offer"] == {
        "unit_price": "10.0000",
        "currency": "CNY",
        "moq": 1,
        "pack_size": 1,
        "lead_time_days": 7,
    }
    assert rows["CARD"]["orders_counted"] == 0
    assert rows["CARD"]["on_time_rate"] is None
    assert r.json["best"]["unit_price"] == ["ACME"]
    # Named suppliers with an item: their prices for it, None where they do not list it.
    r = make_user("viewer").get("/scorecards/compare?supplier=BETA&supplier=DOWN&sku=B")
    assert [x["offer"] for x in r.json["suppliers"]] == [None, None]


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("supplier=ACME", "supplier"),
        ("supplier=ACME&supplier=ACME", "supplier"),
        ("supplier=ACME&supplier=BETA&supplier=CARD&supplier=DOWN&supplier=X", "supplier"),
        ("", "supplier"),
        ("supplier=ACME&supplier=NOPE", "supplier"),
        ("sku=NOPE", "sku"),
        ("sku=ABC-1", "sku"),  # nobody lists it
        ("supplier=ACME&supplier=BETA&days=0", "days"),
    ],
)
def test_a_comparison_that_cannot_be_made_is_422_naming_the_field(rivals, make_user, query, field):
    assert_problem(make_user("buyer").get(f"/scorecards/compare?{query}"), 422, field)


def test_storefront_clients_do_not_see_scorecards(rivals, make_user):
    assert_problem(make_user("storefront").get("/scorecards/compare?sku=A"), 403)


# --- the page -------------------------------------------------------------------------------------

PASSWORD = "pw-12345678"


@pytest.fixture
def sign_in(app, make_user):
    def person(*roles: str):
        api = make_user(*roles, password=PASSWORD)
        web = app.test_client()
        assert (
            web.post("/login", data={"username": api.username, "password": PASSWORD}).status_code
            == 302
        )
        return web

    return person


def cell(html: str, row: str, supplier: str) -> str:
    block = html.split(f'<tr data-row="{row}">')[1].split("</tr>")[0]
    return block.split(f'<td data-supplier="{supplier}"')[1].split("</td>")[0]


def test_a_buyer_compares_suppliers_with_the_best_of_each_row_marked(rivals, sign_in):
    web = sign_in("buyer")
    html = web.get("/procurement/scorecards/compare").get_data(as_text=True)
    assert "</i>Compare suppliers</a>" in html
    assert 'data-testid="comparison"' not in html
    r = web.get("/procurement/scorecards/compare?supplier=ACME&supplier=BETA")
    assert r.status_code == 200
    html = r.get_data(as_text=True)
    assert 'data-best="1"' in cell(html, "on_time_rate", "BETA")
    assert 'data-best="1"' not in cell(html, "on_time_rate", "ACME")
    assert "50%" in cell(html, "on_time_rate", "ACME")
    assert "of 2 settled orders" in cell(html, "on_time_rate", "ACME")
    assert "20 units in 3 deliveries" in cell(html, "reject_rate", "ACME")
    assert "from 2 completed orders" in cell(html, "lead_time_mean_days", "ACME")
    assert 'data-best="1"' in cell(html, "price_index", "ACME")
    assert '<tr data-row="unit_price">' not in html  # no item, no unit price row
    assert 'data-testid="compare-chart"' in html


def test_an_item_brings_its_approved_suppliers_and_their_prices(rivals, sign_in):
    html = sign_in("viewer").get("/procurement/scorecards/compare?sku=a").get_data(as_text=True)
    assert "For A · Anvil." in html
    assert 'data-supplier="DOWN"' not in html
    assert "10.0000 CNY" in cell(html, "unit_price", "ACME")
    assert 'data-best="1"' in cell(html, "unit_price", "ACME")
    assert "MOQ 1 · pack 1 · 7 d lead" in cell(html, "unit_price", "ACME")
    assert "of 0 settled orders" in cell(html, "on_time_rate", "CARD")


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("supplier=ACME", "Pick 2 to 4 suppliers."),
        ("supplier=ACME&supplier=BETA&supplier=CARD&supplier=DOWN&supplier=X", "Pick 2 to 4"),
        ("supplier=", "Pick 2 to 4 suppliers, or an item"),
        ("sku=NOPE", "unknown sku NOPE"),
        ("sku=ABC-1", "no approved supplier lists ABC-1"),
        ("supplier=ACME&supplier=NOPE", "unknown supplier NOPE"),
    ],
)
def test_the_page_refuses_what_the_api_refuses(rivals, sign_in, query, message):
    r = sign_in("buyer").get(f"/procurement/scorecards/compare?{query}")
    assert r.status_code == 422
    html = r.get_data(as_text=True)
    assert message in html
    assert 'data-testid="comparison"' not in html


def test_storefront_accounts_get_the_403_page(rivals, sign_in):
    r = sign_in("storefront").get("/procurement/scorecards/compare?sku=A")
    assert r.status_code == 403
    assert "This page needs one of the roles: warehouse, buyer, approver, planner, viewer." in (
        r.get_data(as_text=True)
    )
