"""Warehouse staff in a real browser: the Holds page shows what the storefront has tied up."""

from __future__ import annotations

import pytest

from accounts import services as accounts
from accounts.principal import Principal
from inventory import reservations
from tests.e2e.conftest import login, open_page

pytestmark = pytest.mark.e2e


@pytest.fixture
def held(live_server, make_product, make_warehouse, receive):
    make_product(sku="BOLT-10", name="Hex bolt M10")
    make_warehouse(code="SH1", name="Shanghai")
    make_warehouse(code="BJ1", name="Beijing")
    receive("BOLT-10", "SH1", 12)
    receive("BOLT-10", "BJ1", 12)
    with live_server.app.app_context():
        accounts.create_user("lin", ["warehouse"], warehouses=["SH1"], password="pw-lin-1234")
        shop = accounts.create_user("shop", ["storefront"])
        actor = Principal(shop.id, "shop", frozenset({"storefront"}))
        for order, warehouse, qty in (("WEB-1", "SH1", 5), ("WEB-2", "BJ1", 7)):
            reservations.reserve(
                actor,
                {
                    "order_ref": order,
                    "lines": [{"sku": "BOLT-10", "quantity": qty}],
                    "warehouse": warehouse,
                    "ttl_seconds": 900,
                },
            )
    return live_server


def test_staff_see_the_holds_of_their_warehouse_with_expiry(held, browser_page):
    page = browser_page
    login(page, held.url, "lin", "pw-lin-1234")
    open_page(page, "Stock", "Holds")
    page.wait_for_selector("[data-testid=holds-table]")
    rows = page.locator("[data-testid=holds-table] tbody tr")
    assert rows.count() == 1
    text = rows.first.inner_text()
    assert "WEB-1" in text
    assert "BOLT-10" in text
    assert "in 14 min" in text or "in 15 min" in text
    summary = page.inner_text("[data-testid=holds-summary] tr[data-warehouse=SH1]")
    assert "5" in summary
    assert "BJ1" not in page.inner_text("[data-testid=holds-summary]")
