"""A purchase order in a real browser: a buyer writes and submits it, an approver approves it,
warehouse staff receive it, and the stock page shows the units."""

from __future__ import annotations

import re

import pytest

from accounts import services as accounts
from tests.e2e.conftest import login

pytestmark = pytest.mark.e2e


@pytest.fixture
def shop(live_server, make_product, make_warehouse, make_supplier):
    make_product(sku="TEA-1", name="Green tea tin")
    make_warehouse(code="SH1", name="Shanghai")
    make_warehouse(code="BJ1", name="Beijing")
    make_supplier(
        code="LEAF",
        name="Leaf & Co",
        items={"TEA-1": {"unit_price": "40.00", "moq": 10, "pack_size": 10}},
    )
    make_supplier(code="HILL", name="Hill Estates", items={"TEA-1": "44.00"})
    with live_server.app.app_context():
        accounts.create_user("mei", ["buyer"], password="pw-mei-1234")
        accounts.create_user("chen", ["approver"], password="pw-chen-1234")
        accounts.create_user("lin", ["warehouse"], warehouses=["SH1"], password="pw-lin-1234")
    return live_server


def sign_in_as(page, server, username):
    page.context.clear_cookies()
    login(page, server.url, username, f"pw-{username}-1234")


def stock_cell(page, column):
    return page.inner_text(
        f"tr[data-sku='TEA-1'][data-warehouse='SH1'] td[data-col='{column}']"
    ).strip()


def test_buyer_approver_and_warehouse_take_an_order_into_stock(shop, browser_page):
    page = browser_page

    # The buyer writes the order; 25 is not a whole number of packs of 10 and is refused.
    sign_in_as(page, shop, "mei")
    page.goto(shop.url + "/procurement/orders")
    page.click("[data-testid=new-order]")
    page.select_option("#supplier", "LEAF")
    # The form suggests the chosen supplier's items as the buyer types.
    page.wait_for_selector('#price-list-hint:has-text("1 item on LEAF")')
    assert page.eval_on_selector_all("#supplier-items option", "os => os.map(o => o.value)") == [
        "TEA-1"
    ]
    page.wait_for_load_state("networkidle")
    page.select_option("#warehouse", "SH1")
    page.fill("#lines-0-sku", "TEA-1")
    page.fill("#lines-0-quantity", "25")
    page.click("[data-testid=save-order]")
    page.wait_for_selector(".alert-danger")
    assert "packs of 10; 20 or 30 would be" in page.inner_text("[data-testid=order-form]")
    page.fill("#lines-0-quantity", "30")
    page.click("[data-testid=save-order]")
    page.wait_for_selector(".alert-success")
    number = re.search(r"PO-\d{6}", page.inner_text(".alert-success")).group(0)
    po_id = int(number[3:])
    assert page.inner_text("[data-testid=total]") == "1,200.00"
    page.click(f"[data-testid=submit-{po_id}]")
    page.wait_for_selector(".alert-success")
    assert "pending approval" in page.inner_text(".alert-success")

    # The approver sees it in the queue with the supplier's grade and the market comparison.
    sign_in_as(page, shop, "chen")
    page.goto(shop.url + "/procurement/approvals")
    card = page.locator(f"[data-testid=approval-{po_id}]")
    assert "N/A" in card.inner_text()  # LEAF has no settled orders yet
    assert "-9.1% vs market" in card.inner_text()  # 40 against HILL's 44
    card.locator("[data-testid=approve-reason]").fill("tea for the autumn promotion")
    card.locator(f"[data-testid=approve-{po_id}]").click()
    page.wait_for_selector(".alert-success")
    assert "Nothing is waiting for you" in page.inner_text("main")

    # The buyer sends it; the stock page counts it as incoming.
    sign_in_as(page, shop, "mei")
    page.goto(f"{shop.url}/procurement/orders/{po_id}")
    page.click(f"[data-testid=send-{po_id}]")
    page.wait_for_selector(".alert-success")
    page.goto(shop.url + "/stock?sku=TEA-1")
    assert stock_cell(page, "incoming") == "30"

    # Warehouse staff receive 28 good tins and refuse 2 dented ones.
    sign_in_as(page, shop, "lin")
    page.goto(shop.url + "/procurement/receiving")
    page.click(f"[data-testid=receive-{po_id}]")
    page.fill("#accepted-1", "28")
    page.fill("#rejected-1", "2")
    page.fill("input[name='reject_reason-1']", "dented")
    page.click("[data-testid=post-receipt]")
    page.wait_for_selector(".alert-success")
    assert "28 accepted into SH1, 2 rejected" in page.inner_text(".alert-success")
    assert "partially received" in page.inner_text("[data-testid=status]")

    page.goto(shop.url + "/stock?sku=TEA-1")
    assert stock_cell(page, "on_hand") == "28"
    assert stock_cell(page, "available") == "28"
    assert stock_cell(page, "incoming") == "2"  # the refused tins are still owed
    page.goto(shop.url + "/stock/movements?sku=TEA-1")
    first_row = page.inner_text("tbody tr:first-child")
    assert number in first_row
    assert "lin" in first_row


def test_the_scorecard_page_draws_its_trend_with_the_local_plotly(shop, browser_page):
    page = browser_page
    sign_in_as(page, shop, "mei")
    page.goto(shop.url + "/procurement/suppliers/LEAF")
    page.wait_for_selector("#trend .main-svg")
    assert page.evaluate("typeof Plotly") == "object"
