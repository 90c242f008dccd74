"""An admin, in a real browser, creates a user with a role and a token, then revokes the token."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request

import pytest

from accounts import services as accounts
from tests.e2e.conftest import login, open_page

pytestmark = pytest.mark.e2e


@pytest.fixture
def office(live_server, make_warehouse):
    make_warehouse(code="SH1", name="Shanghai")
    with live_server.app.app_context():
        accounts.create_user("boss", ["admin"], password="pw-boss-1234")
    return live_server


def api_status(base_url: str, secret: str) -> tuple[int, dict]:
    request = urllib.request.Request(
        base_url + "/api/v1/me", headers={"Authorization": f"Bearer {secret}"}
    )
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def test_admin_creates_a_user_and_a_token_then_revokes_it(office, browser_page):
    page = browser_page
    login(page, office.url, "boss", "pw-boss-1234")
    open_page(page, "Administration", "Users")
    page.click("[data-testid=new-user]")
    page.fill("#username", "lin")
    page.fill("#full_name", "Lin Wei")
    page.check("#roles-warehouse")
    page.check("#warehouses-SH1")
    page.fill("#password", "pw-lin-1234")
    page.fill("#reason", "new hire in Shanghai")
    page.click("[data-testid=user-form] button[type=submit]")
    page.wait_for_selector("text=User lin created.")
    assert page.is_checked("#roles-warehouse")
    assert page.is_checked("#warehouses-SH1")

    page.fill("#token-name", "handheld-7")
    page.fill("#token-reason", "scanner on the dock")
    page.click("[data-testid=token-form] button[type=submit]")
    secret = page.inner_text("[data-testid=token-secret]").strip()
    assert secret.startswith("srk_")
    status, me = api_status(office.url, secret)
    assert status == 200
    assert me["username"] == "lin"
    assert me["roles"] == ["warehouse"]
    assert me["warehouses"] == ["SH1"]

    page.click("text=Back to lin")
    row = page.locator("tr[data-token-name='handheld-7']")
    assert secret not in page.content()
    assert row.locator("[data-status=active]").count() == 1
    row.locator("input[name=reason]").fill("device lost")
    row.locator("button[type=submit]").click()
    page.wait_for_selector("text=is revoked")
    assert page.locator("tr[data-token-name='handheld-7'] [data-status=revoked]").count() == 1

    # The worker that revoked it refuses it at once; the other gunicorn worker may have it in its
    # token cache, and refuses it once that entry is older than AUTH_CACHE_SECONDS (5 s here).
    deadline = time.monotonic() + office.app.config["AUTH_CACHE_SECONDS"] + 10
    while (status := api_status(office.url, secret)[0]) == 200 and time.monotonic() < deadline:
        time.sleep(0.1)
    assert status == 401

    page.goto(office.url + "/audit?object_type=api_token")
    reasons = page.inner_text("[data-testid=audit-table]")
    assert "device lost" in reasons
    assert "scanner on the dock" in reasons
