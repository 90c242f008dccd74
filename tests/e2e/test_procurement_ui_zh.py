"""What the browser builds from the catalog for a Chinese reader: the order form's price-list hint
and the replenishment chart's legend."""

from __future__ import annotations

import pytest

from accounts import services as accounts
from core.i18n import COOKIE
from tests.e2e.conftest import login

pytestmark = pytest.mark.e2e


@pytest.fixture
def shop(live_server, make_product, make_warehouse, make_supplier, receive, store_forecast):
    make_warehouse(code="SH1", name="Shanghai")
    make_product(sku="TEA-1", name="Green tea tin")
    receive("TEA-1", "SH1", 40)
    make_supplier(code="LEAF", items={"TEA-1": {"unit_price": "40.00", "moq": 10, "pack_size": 10}})
    store_forecast("TEA-1", "SH1", mean=70, sd=10)
    with live_server.app.app_context():
        accounts.create_user("mei", ["buyer"], password="pw-mei-1234")
    return live_server


def test_scripts_show_the_catalogs_texts(shop, browser_page):
    page = browser_page
    login(page, shop.url, "mei", "pw-mei-1234")
    page.context.add_cookies([{"name": COOKIE, "value": "zh_Hans_CN", "url": shop.url}])

    page.goto(shop.url + "/procurement/orders/new")
    page.select_option("#supplier", "LEAF")
    page.wait_for_selector('#price-list-hint:has-text("LEAF 的价格表中有 1 个物料")')
    labels = page.eval_on_selector_all("#supplier-items option", "os => os.map(o => o.label)")
    assert labels == ["Green tea tin · 40.0000 CNY · 最小起订量 10 · 每包 10"]

    page.goto(shop.url + "/replenishment/item?sku=TEA-1&warehouse=SH1")
    page.wait_for_selector("#projection .main-svg")
    chart = page.inner_text("#projection")
    for name in ("预计库存（不再下单）", "再订货点", "安全库存", "补货上限"):
        assert name in chart
    assert "Reorder point" not in chart
