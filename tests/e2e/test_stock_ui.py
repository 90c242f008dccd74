"""Warehouse staff in a real browser: sign in, post a receipt, see the level change."""

from __future__ import annotations

import re

import pytest

from accounts import services as accounts
from tests.e2e.conftest import login, open_page

pytestmark = pytest.mark.e2e


@pytest.fixture
def staffed(live_server, make_product, make_warehouse, receive):
    make_product(sku="BOLT-10", name="Hex bolt M10")
    make_warehouse(code="SH1", name="Shanghai")
    make_warehouse(code="BJ1", name="Beijing")
    receive("BOLT-10", "SH1", 12)
    with live_server.app.app_context():
        accounts.create_user("lin", ["warehouse"], warehouses=["SH1"], password="pw-lin-1234")
    return live_server


def cell(page, sku: str, warehouse: str, column: str) -> str:
    return page.inner_text(
        f"tr[data-sku='{sku}'][data-warehouse='{warehouse}'] td[data-col='{column}']"
    ).strip()


def test_warehouse_staff_post_a_receipt_and_see_the_level_change(staffed, browser_page):
    page = browser_page
    login(page, staffed.url, "lin", "pw-lin-1234")
    page.goto(staffed.url + "/stock?sku=BOLT-10")
    assert cell(page, "BOLT-10", "SH1", "on_hand") == "12"

    open_page(page, "Stock", "Post movement")
    # Only the person's own warehouse is offered as the source.
    options = page.eval_on_selector_all("#warehouse option", "els => els.map(e => e.value)")
    assert options == ["SH1"]
    page.select_option("#type", "receipt")
    page.fill("#sku", "BOLT-10")
    page.fill("#quantity", "30")
    page.fill("#reference", "DN-4711")
    page.click("form[data-testid=movement-form] button[type=submit]")

    page.wait_for_selector(".alert-success")
    assert re.search(r"Posted receipt of 30", page.inner_text(".alert-success"))
    assert cell(page, "BOLT-10", "SH1", "on_hand") == "42"
    assert cell(page, "BOLT-10", "SH1", "available") == "42"

    page.goto(staffed.url + "/stock/movements?sku=BOLT-10")
    first_row = page.inner_text("tbody tr:first-child")
    assert "DN-4711" in first_row
    assert "lin" in first_row


def test_an_oversized_issue_is_refused_and_nothing_changes(staffed, browser_page):
    page = browser_page
    login(page, staffed.url, "lin", "pw-lin-1234")
    page.goto(staffed.url + "/stock/move")
    page.select_option("#type", "issue")
    page.fill("#sku", "BOLT-10")
    page.fill("#quantity", "13")
    page.click("form[data-testid=movement-form] button[type=submit]")
    page.wait_for_selector(".alert-danger")
    assert "12 available" in page.inner_text(".alert-danger")
    page.goto(staffed.url + "/stock?sku=BOLT-10")
    assert cell(page, "BOLT-10", "SH1", "on_hand") == "12"


def test_sign_in_with_a_wrong_password_is_refused(staffed, browser_page):
    page = browser_page
    page.goto(staffed.url + "/login")
    page.fill("#username", "lin")
    page.fill("#password", "wrong")
    page.click("button[type=submit]")
    page.wait_for_selector(".alert-danger")
    assert page.url.endswith("/login")
    page.goto(staffed.url + "/stock")
    assert "/login" in page.url
