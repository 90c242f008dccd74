"""Real browser: the 403 page a viewer meets, planning a promotion, comparing suppliers."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from accounts import services as accounts
from tests.e2e.conftest import login, open_page

pytestmark = pytest.mark.e2e

TODAY = datetime.now(UTC).date()


@pytest.fixture
def shop(live_server, make_product, make_warehouse, make_supplier, past_order):
    make_warehouse(code="SH1", name="Shanghai")
    make_warehouse(code="BJ1", name="Beijing")
    make_product(sku="ABC-1", name="Bamboo wok")
    make_supplier(code="LEAF", name="Leaf & Co", items={"ABC-1": "40.00"})
    make_supplier(code="HILL", name="Hill Estates", items={"ABC-1": "44.00"})
    # LEAF delivered late once; HILL on time twice.
    past_order(
        "LEAF",
        "SH1",
        {"ABC-1": 10},
        sent=TODAY - timedelta(days=60),
        expected=TODAY - timedelta(days=50),
        deliveries=[(TODAY - timedelta(days=45), "ABC-1", 10, 0)],
    )
    for sent in (40, 30):
        past_order(
            "HILL",
            "SH1",
            {"ABC-1": 10},
            sent=TODAY - timedelta(days=sent),
            expected=TODAY - timedelta(days=sent - 10),
            deliveries=[(TODAY - timedelta(days=sent - 9), "ABC-1", 10, 0)],
        )
    with live_server.app.app_context():
        accounts.create_user("vic", ["viewer"], password="pw-vic-12345")
        accounts.create_user("pia", ["planner"], password="pw-pia-12345")
        accounts.create_user("mei", ["buyer"], password="pw-mei-12345")
    return live_server


def test_a_viewer_sees_the_403_page_naming_the_role_and_the_request_id(shop, browser_page):
    page = browser_page
    login(page, shop.url, "vic", "pw-vic-12345")
    for path, role in (
        ("/stock/move", "warehouse"),
        ("/replenishment", "planner, buyer, approver"),
    ):
        response = page.goto(shop.url + path)
        assert response.status == 403
        error = page.locator("[data-testid=error-page]")
        assert error.get_attribute("data-status") == "403"
        assert page.inner_text("h1") == "Your role does not allow this"
        assert role in page.inner_text("[data-testid=error-detail]")
        assert "Signed in as vic (viewer)" in error.inner_text()
        request_id = page.inner_text("[data-testid=request-id]").strip()
        assert request_id
        assert response.headers.get("x-request-id") == request_id
        # The layout is the app's own: the navigation bar and its styles are there.
        assert page.locator("[data-testid=user-menu]").count() == 1
        assert page.eval_on_selector(
            "[data-testid=error-page] .btn-primary", "e => getComputedStyle(e).backgroundColor"
        ) not in ("", "rgba(0, 0, 0, 0)")


def test_a_planner_plans_a_promotion_and_sees_it_listed(shop, browser_page):
    page = browser_page
    login(page, shop.url, "pia", "pw-pia-12345")
    open_page(page, "Planning", "Promotions")
    page.click("[data-testid=new-promotion]")
    page.fill("#name", "Spring sale")
    page.fill("#sku", "abc-1")
    page.check("#wh-SH1")
    page.fill("#start", "2030-03-07")
    page.fill("#end", "2030-03-01")
    page.fill("#expected_uplift", "0.3")
    page.fill("#discount", "0.2")
    page.click("[data-testid=save-promotion]")
    # Refused as the API refuses it, said under the field; the rest of the form is kept.
    feedback = page.locator("#end ~ .invalid-feedback")
    assert "The promotion ends before it starts." in feedback.inner_text()
    assert page.input_value("#sku") == "abc-1"
    assert page.is_checked("#wh-SH1")
    page.fill("#end", "2030-03-10")
    page.click("[data-testid=save-promotion]")
    page.wait_for_selector(".alert-success")
    assert "Promotion Spring sale planned." in page.inner_text(".alert-success")
    row = page.locator("tr[data-sku='ABC-1']")
    assert row.count() == 1
    assert "Spring sale" in row.inner_text()
    assert "Bamboo wok" in row.inner_text()
    assert row.locator("[data-col=warehouses]").inner_text().strip() == "SH1"
    assert row.locator("[data-col=expected_uplift]").inner_text().strip() == "+30 %"
    assert row.locator("[data-col=when]").inner_text().strip() == "upcoming"


def test_a_buyer_compares_two_suppliers_side_by_side(shop, browser_page):
    page = browser_page
    login(page, shop.url, "mei", "pw-mei-12345")
    open_page(page, "Purchasing", "Compare suppliers")
    page.check("#pick-LEAF")
    page.click("[data-testid=compare]")
    # One supplier is not a comparison: the page says so, as the API does.
    assert "Pick 2 to 4 suppliers." in page.inner_text("[data-testid=compare-error]")
    page.check("#pick-HILL")
    page.click("[data-testid=compare]")
    page.wait_for_selector("[data-testid=comparison]")
    on_time = "tr[data-row=on_time_rate] td[data-supplier='{}']"
    assert page.get_attribute(on_time.format("HILL"), "data-best") == "1"
    assert page.get_attribute(on_time.format("LEAF"), "data-best") is None
    assert "of 2 settled orders" in page.inner_text(on_time.format("HILL"))
    price = "tr[data-row=price_index] td[data-supplier='{}']"
    assert page.get_attribute(price.format("LEAF"), "data-best") == "1"
    # The chart is drawn by the locally served Plotly under the page's CSP nonce.
    page.wait_for_selector("[data-testid=compare-chart] .main-svg")

    page.fill("#sku", "abc-1")
    page.uncheck("#pick-LEAF")
    page.uncheck("#pick-HILL")
    page.click("[data-testid=compare]")
    page.wait_for_selector("tr[data-row=unit_price]")
    assert "For ABC-1 · Bamboo wok." in page.inner_text("[data-testid=comparison-scope]")
    assert "40.0000" in page.inner_text("tr[data-row=unit_price] td[data-supplier='LEAF']")
