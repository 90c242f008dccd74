"""The web UI through the test client: who sees which page, what the forms refuse, CSRF."""

from __future__ import annotations

import re

import pytest

from accounts import services as accounts


@pytest.fixture
def people(app, make_product, make_warehouse, receive):
    make_product(sku="A", name="Anchor bolt")
    make_warehouse(code="W1", name="West")
    make_warehouse(code="W2", name="East")
    receive("A", "W1", 8)
    with app.app_context():
        accounts.create_user("staff", ["warehouse"], warehouses=["W1"], password="pw-staff-1")
        accounts.create_user("watcher", ["viewer"], password="pw-watch-1")


def signed_in(app, username: str, password: str):
    client = app.test_client()
    r = client.post("/login", data={"username": username, "password": password})
    assert r.status_code == 302, r.get_data(as_text=True)
    return client


def test_pages_need_sign_in(client, people):
    for path in ["/", "/stock", "/stock/move", "/stock/movements", "/products", "/warehouses"]:
        r = client.get(path)
        assert r.status_code == 302
        assert "/login" in r.location


@pytest.mark.parametrize(
    "path",
    [
        "/stock",
        "/stock/movements",
        "/products",
        "/warehouses",
        "/stock?warehouse=W1",
        "/stock?sku=A",
        "/stock?sku=nope",
    ],
)
def test_every_signed_in_person_sees_the_read_pages(app, people, path):
    client = signed_in(app, "watcher", "pw-watch-1")
    r = client.get(path)
    assert r.status_code == 200
    assert "Stockroom" in r.get_data(as_text=True)


def test_stock_page_shows_levels(app, people):
    html = signed_in(app, "watcher", "pw-watch-1").get("/stock?sku=A").get_data(as_text=True)
    row = re.search(r'data-sku="A" data-warehouse="W1">(.*?)</tr>', html, re.S).group(1)
    assert re.search(r'data-col="on_hand"><span[^>]*>8</span>', row)


def test_navigation_follows_roles(app, people):
    viewer = signed_in(app, "watcher", "pw-watch-1").get("/stock").get_data(as_text=True)
    staff = signed_in(app, "staff", "pw-staff-1").get("/stock").get_data(as_text=True)
    assert 'href="/stock/move"' not in viewer
    assert 'href="/stock/move"' in staff


def test_movement_form_is_for_warehouse_staff_in_their_warehouses(app, people):
    viewer = signed_in(app, "watcher", "pw-watch-1")
    assert viewer.get("/stock/move").status_code == 403
    staff = signed_in(app, "staff", "pw-staff-1")
    page = staff.get("/stock/move").get_data(as_text=True)
    source = re.search(r'<select[^>]*id="warehouse".*?</select>', page, re.S).group(0)
    assert 'value="W1"' in source
    assert 'value="W2"' not in source
    r = staff.post(
        "/stock/move", data={"type": "receipt", "warehouse": "W2", "sku": "A", "quantity": "5"}
    )
    assert r.status_code == 200  # the form refuses a warehouse it did not offer
    assert staff.get("/api/v1/stock?sku=A&warehouse=W2").json["items"][0]["on_hand"] == 0


def test_movement_form_posts_through_the_ledger(app, people):
    staff = signed_in(app, "staff", "pw-staff-1")
    r = staff.post(
        "/stock/move",
        data={
            "type": "adjustment",
            "warehouse": "W1",
            "sku": "A",
            "quantity": "-3",
            "reason": "water damage",
        },
    )
    assert r.status_code == 302
    ledger = staff.get("/api/v1/stock/movements?sku=A").json["items"]
    assert ledger[0]["type"] == "adjustment"
    assert ledger[0]["quantity"] == -3
    assert ledger[0]["actor"] == "staff"
    assert ledger[0]["reason"] == "water damage"


def test_movement_form_explains_refusals(app, people):
    staff = signed_in(app, "staff", "pw-staff-1")
    no_reason = staff.post(
        "/stock/move", data={"type": "adjustment", "warehouse": "W1", "sku": "A", "quantity": "-3"}
    )
    assert "Say why stock is adjusted" in no_reason.get_data(as_text=True)
    too_many = staff.post(
        "/stock/move",
        data={
            "type": "transfer",
            "warehouse": "W1",
            "to_warehouse": "W2",
            "sku": "A",
            "quantity": "9",
        },
        follow_redirects=True,
    )
    assert "8 available" in too_many.get_data(as_text=True)
    assert staff.get("/api/v1/stock?sku=A&warehouse=W1").json["items"][0]["on_hand"] == 8


def test_login_does_not_redirect_off_site(app, people):
    client = app.test_client()
    r = client.post(
        "/login?next=https://evil.example/", data={"username": "staff", "password": "pw-staff-1"}
    )
    assert r.status_code == 302
    assert "evil" not in r.location
    r = app.test_client().post("/login?next=/products", data={"username": "x", "password": "y"})
    assert r.status_code == 401


@pytest.mark.parametrize("app_config", [{"WTF_CSRF_ENABLED": True}])
def test_forms_and_cookie_authenticated_api_writes_need_the_csrf_token(app, people):
    client = app.test_client()
    assert (
        client.post("/login", data={"username": "staff", "password": "pw-staff-1"}).status_code
        == 400
    )
    page = client.get("/login").get_data(as_text=True)
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page).group(1)
    r = client.post(
        "/login", data={"username": "staff", "password": "pw-staff-1", "csrf_token": token}
    )
    assert r.status_code == 302
    # Signed in by cookie: reading the API works, writing without the token does not.
    assert client.get("/api/v1/stock?sku=A").status_code == 200
    body = {"type": "receipt", "sku": "A", "warehouse": "W1", "quantity": 1}
    assert client.post("/api/v1/stock/movements", json=body).status_code == 400
    ok = client.post("/api/v1/stock/movements", json=body, headers={"X-CSRFToken": token})
    assert ok.status_code == 201


def test_logout_ends_the_session(app, people):
    client = signed_in(app, "staff", "pw-staff-1")
    assert client.post("/logout").status_code == 302
    assert "/login" in client.get("/stock").location


def test_the_audit_log_page_filters_by_who_what_and_when(
    app, make_user, make_product, make_warehouse
):
    from accounts import services as accounts

    make_warehouse(code="W1")
    make_product(sku="A")
    staff = make_user("warehouse", warehouses=["W1"])
    counted = staff.post(
        "/stock/counts",
        json={
            "warehouse": "W1",
            "reason": "aisle 4 recount",
            "lines": [{"sku": "A", "counted": 3}],
        },
    )
    assert counted.status_code == 201
    with app.app_context():
        accounts.create_user("ada", ["admin"], password="pw-ada-12345")
        accounts.create_user("vic", ["viewer"], password="pw-vic-12345")
    admin = app.test_client()
    admin.post("/login", data={"username": "ada", "password": "pw-ada-12345"})
    page = admin.get(f"/audit?actor={staff.username}&action=stock.").get_data(as_text=True)
    assert "stock.count" in page
    assert "aisle 4 recount" in page
    assert "product.create" not in page
    none_today = admin.get("/audit?until=2001-01-01").get_data(as_text=True)
    assert "Nothing matches." in none_today
    assert "Dates are YYYY-MM-DD." in admin.get("/audit?since=yesterday").get_data(as_text=True)
    viewer = app.test_client()
    viewer.post("/login", data={"username": "vic", "password": "pw-vic-12345"})
    assert viewer.get("/audit").status_code == 403


def test_the_jobs_page_shows_ones_own_and_readable_jobs_with_progress(
    app, make_user, make_product, make_warehouse, make_supplier
):
    from accounts import services as accounts
    from tests.forecasting_factories import wait_for_job

    make_warehouse(code="W1")
    make_product(sku="A")
    make_supplier(code="ACME", items={"A": "2.00"})
    buyer = make_user("buyer")
    started = buyer.post(
        "/replenishment/plans", json={"lines": [{"sku": "A", "warehouse": "W1", "quantity": 5}]}
    ).json
    assert wait_for_job(buyer, started["job_id"])["status"] == "succeeded"
    with app.app_context():
        accounts.create_user("bea", ["buyer"], password="pw-bea-12345")
        accounts.create_user("sam", ["storefront"], password="pw-sam-12345")
    other_buyer = app.test_client()
    other_buyer.post("/login", data={"username": "bea", "password": "pw-bea-12345"})
    page = other_buyer.get("/jobs?kind=replenishment_plan").get_data(as_text=True)
    assert f'data-job-id="{started["job_id"]}" data-status="succeeded"' in page  # buyers read plans
    shop = app.test_client()
    shop.post("/login", data={"username": "sam", "password": "pw-sam-12345"})
    assert "No jobs to show." in shop.get("/jobs").get_data(as_text=True)
    assert app.test_client().get("/jobs").status_code == 302  # sign in first
