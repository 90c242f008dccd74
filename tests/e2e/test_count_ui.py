"""Warehouse staff enter a count sheet in a real browser; the adjustments post and are audited."""

from __future__ import annotations

import pytest

from accounts import services as accounts
from tests.e2e.conftest import login, open_page

pytestmark = pytest.mark.e2e


@pytest.fixture
def shelf(live_server, make_product, make_warehouse, receive):
    make_warehouse(code="SH1", name="Shanghai")
    make_product(sku="BOLT-10", name="Hex bolt M10")
    make_product(sku="NUT-10", name="Hex nut M10")
    receive("BOLT-10", "SH1", 40)
    receive("NUT-10", "SH1", 100)
    with live_server.app.app_context():
        accounts.create_user("lin", ["warehouse"], warehouses=["SH1"], password="pw-lin-1234")
        accounts.create_user("ada", ["admin"], password="pw-ada-12345")
    return live_server


def test_a_count_sheet_posts_adjustments_and_shows_in_the_audit_log(shelf, browser_page):
    page = browser_page
    login(page, shelf.url, "lin", "pw-lin-1234")
    open_page(page, "Stock", "Cycle count")
    page.fill("#sheet", "BOLT-10, 37\nNUT-10, 100\n")
    page.fill("#reason", "aisle 4 weekly count")
    page.click("[data-testid=post-count]")
    page.wait_for_selector("[data-testid=count-lines]")
    assert page.inner_text("tr[data-sku=BOLT-10] [data-col=difference]") == "-3"
    assert page.inner_text("tr[data-sku=NUT-10] [data-col=difference]") == "—"
    assert "-3 → 37 on hand" in page.inner_text("[data-testid=count-movements]")
    # A sheet with a bad line is refused as a whole, saying which line.
    open_page(page, "Stock", "Cycle count")
    page.fill("#sheet", "BOLT-10, 30\nNUT-10, lots\n")
    page.click("[data-testid=post-count]")
    page.wait_for_selector("[data-testid=sheet-errors]")
    assert "line 2" in page.inner_text("[data-testid=sheet-errors]")

    page.context.clear_cookies()
    login(page, shelf.url, "ada", "pw-ada-12345")
    page.goto(shelf.url + "/audit?action=stock.count")
    rows = page.locator("[data-testid=audit-table] tbody tr[data-action='stock.count']")
    assert rows.count() == 1
    assert "aisle 4 weekly count" in rows.first.inner_text()
    assert "lin" in rows.first.inner_text()
    page.goto(shelf.url + "/stock?sku=BOLT-10&warehouse=SH1")
    assert page.inner_text("[data-testid=stock-table] tbody [data-col=on_hand]").strip() == "37"
