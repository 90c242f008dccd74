"""A reader switches the UI to Simplified Chinese in a real browser and back to English."""

from __future__ import annotations

import pytest

from accounts import services as accounts
from tests.e2e.conftest import login

pytestmark = pytest.mark.e2e


@pytest.fixture
def staffed(live_server, make_product, make_warehouse, receive):
    make_product(sku="BOLT-10", name="Hex bolt M10")
    make_warehouse(code="SH1", name="Shanghai")
    receive("BOLT-10", "SH1", 12345)
    with live_server.app.app_context():
        accounts.create_user("lin", ["warehouse"], warehouses=["SH1"], password="pw-lin-1234")
    return live_server


def cell(page, column: str) -> str:
    return page.inner_text(
        f"tr[data-sku='BOLT-10'][data-warehouse='SH1'] td[data-col='{column}']"
    ).strip()


def headers(page) -> list[str]:
    return [
        h.strip()
        for h in page.eval_on_selector_all(
            "[data-testid=stock-table] thead th", "els => els.map(e => e.textContent)"
        )
    ]


def test_switching_to_chinese_translates_the_stock_page_and_back(staffed, browser_page):
    page = browser_page
    login(page, staffed.url, "lin", "pw-lin-1234")
    page.goto(staffed.url + "/stock?sku=BOLT-10")
    assert page.inner_text("main h1").strip() == "Stock"
    assert "On hand" in headers(page)
    assert cell(page, "on_hand") == "12,345"

    page.click("[data-testid=language-switcher] [data-lang=zh_Hans_CN]")
    page.wait_for_selector("html[lang=zh-CN]")
    # The switcher brings the reader back to the page, filter included.
    assert page.url.endswith("/stock?sku=BOLT-10")
    assert page.inner_text("main h1").strip() == "库存"
    assert page.title().startswith("库存")
    table_headers = headers(page)
    assert "现有库存" in table_headers
    assert "可用" in table_headers
    assert "On hand" not in table_headers
    assert cell(page, "on_hand") == "12,345"
    assert cell(page, "available") == "12,345"
    assert page.inner_text("[data-testid=menu-stock]").strip() == "库存"
    # Other pages keep the choice.
    page.goto(staffed.url + "/stock/move")
    assert page.inner_text("main h1").strip() == "登记库存变动"

    page.goto(staffed.url + "/stock?sku=BOLT-10")
    page.click("[data-testid=language-switcher] [data-lang=en]")
    page.wait_for_selector("html[lang=en]")
    assert page.inner_text("main h1").strip() == "Stock"
    assert "On hand" in headers(page)
    assert "现有库存" not in page.inner_text("body")
    assert cell(page, "on_hand") == "12,345"
