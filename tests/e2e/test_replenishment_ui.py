"""Planner and buyer in a real browser: see the risk, plan purchases, review the plan, apply it."""

from __future__ import annotations

import pytest

from accounts import services as accounts
from tests.e2e.conftest import login, open_page

pytestmark = pytest.mark.e2e


@pytest.fixture
def shop(live_server, make_product, make_warehouse, make_supplier, receive, store_forecast):
    make_warehouse(code="SH1", name="Shanghai")
    make_product(sku="BOLT-10", name="Hex bolt M10")
    receive("BOLT-10", "SH1", 40)
    make_supplier(
        code="FAST",
        items={"BOLT-10": {"unit_price": "10.00", "lead_time_days": 7, "pack_size": 10}},
    )
    store_forecast("BOLT-10", "SH1", mean=70, sd=10)
    with live_server.app.app_context():
        accounts.create_user("mei", ["planner"], password="pw-mei-1234")
        accounts.create_user("bo", ["buyer"], password="pw-bo-12345")
    return live_server


def test_planner_plans_and_buyer_edits_and_applies(shop, browser_page):
    page = browser_page
    login(page, shop.url, "mei", "pw-mei-1234")
    open_page(page, "Planning", "Replenishment")
    row = page.locator("[data-testid=risk-table] tr[data-sku=BOLT-10][data-warehouse=SH1]")
    row.wait_for()
    assert "100 %" in row.locator("[data-col=risk]").inner_text()
    assert "reorder" in row.inner_text()
    # The item page draws projected stock against its reorder point and safety stock.
    row.locator("a").click()
    page.wait_for_selector("#projection .main-svg")
    assert "Reorder point" in page.inner_text("#projection")
    page.go_back()
    page.click("[data-testid=start-plan]")
    page.wait_for_selector("[data-testid=plan-status][data-status=succeeded]", timeout=30_000)
    line = page.locator("[data-testid=plan-lines] tr[data-sku=BOLT-10]")
    assert line.locator("[data-col=supplier]").inner_text() == "FAST"
    why = line.locator("[data-col=why]").inner_text()
    assert "below reorder point" in why
    assert "whole packs" in why or "buying nothing" in why
    plan_url = page.url
    assert page.locator("[data-testid=apply]").count() == 0  # planners do not buy

    page.context.clear_cookies()
    login(page, shop.url, "bo", "pw-bo-12345")
    page.goto(plan_url)
    quantity = page.locator("[data-testid=plan-lines] input[name=quantity]")
    proposed = int(quantity.input_value())
    quantity.fill(str(proposed + 10))
    page.locator("[data-testid=plan-lines] button[type=submit]").click()
    page.wait_for_selector(".alert-success")
    assert f"Changed from {proposed} by bo" in page.inner_text("[data-testid=plan-lines]")
    page.click("[data-testid=apply]")
    page.wait_for_selector("[data-testid=applied]")
    assert "PO-" in page.inner_text("[data-testid=applied]")
    assert "await approval" in page.inner_text(".alert-success")
