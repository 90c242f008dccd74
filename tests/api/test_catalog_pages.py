"""Admins add and edit products and warehouses on web pages that obey the API's rules.

The forms load their input through the API's own schemas and call the same services, so for the
same input the page marks the same fields with the same messages as the API's 422, and the audit
log records the change exactly as for an API call.
"""

from __future__ import annotations

import html as html_lib
import re

import pytest

from accounts import services as accounts
from core.i18n import COOKIE
from tests.factories import assert_problem


def field_errors(html: str, field_id: str) -> list[str]:
    """The messages shown under one input (up to the next field's label)."""
    start = html.index(f'id="{field_id}"')
    ends = [i for i in (html.find("<label", start), html.find("</form>", start)) if i != -1]
    chunk = html[start : min(ends)]
    return [
        html_lib.unescape(m)
        for m in re.findall(r'class="invalid-feedback d-block">(.*?)</div>', chunk)
    ]


def signed_in(app, username: str, password: str):
    client = app.test_client()
    r = client.post("/login", data={"username": username, "password": password})
    assert r.status_code == 302, r.get_data(as_text=True)
    return client


@pytest.fixture
def people(app, make_product, make_warehouse):
    make_product(sku="BOLT-10", name="Hex bolt M10", unit_cost="0.25")
    make_warehouse(code="W1", name="West")
    with app.app_context():
        accounts.create_user("boss", ["admin"], password="pw-boss-1")
        accounts.create_user("staff", ["warehouse"], warehouses=["W1"], password="pw-staff-1")
        accounts.create_user("watcher", ["viewer"], password="pw-watch-1")


@pytest.fixture
def boss(app, people):
    return signed_in(app, "boss", "pw-boss-1")


FORM_PAGES = ["/products/new", "/products/BOLT-10/edit", "/warehouses/new", "/warehouses/W1/edit"]


@pytest.mark.parametrize(
    ("username", "password"), [("staff", "pw-staff-1"), ("watcher", "pw-watch-1")]
)
def test_only_admins_may_use_the_catalog_forms_as_on_the_api(app, people, username, password):
    client = signed_in(app, username, password)
    for path in FORM_PAGES:
        assert client.get(path).status_code == 403, path
        assert client.post(path, data={"name": "Hijacked"}).status_code == 403, path
    assert 'data-testid="new-product"' not in client.get("/products").get_data(as_text=True)
    assert 'data-testid="new-warehouse"' not in client.get("/warehouses").get_data(as_text=True)
    assert "Hijacked" not in client.get("/products").get_data(as_text=True)


def test_the_lists_link_admins_to_the_forms(boss):
    products = boss.get("/products").get_data(as_text=True)
    assert 'href="/products/new"' in products
    assert 'href="/products/BOLT-10/edit"' in products
    warehouses = boss.get("/warehouses").get_data(as_text=True)
    assert 'href="/warehouses/new"' in warehouses
    assert 'href="/warehouses/W1/edit"' in warehouses


def test_admin_adds_a_product_the_api_serves_and_the_audit_log_names(boss, admin):
    r = boss.post(
        "/products/new",
        data={
            "sku": "NUT-8",
            "name": "Hex nut M8",
            "category": "fasteners",
            "uom": "ea",
            "unit_cost": "0.05",
            "currency": "EUR",
            "weight_kg": "0.004",
            "active": "y",
        },
    )
    assert r.status_code == 302
    assert "/products?q=NUT-8" in r.location
    assert "Product NUT-8 added." in boss.get(r.location).get_data(as_text=True)
    got = admin.get("/products/NUT-8").json
    assert got["name"] == "Hex nut M8"
    assert got["unit_cost"] == "0.0500"
    assert got["currency"] == "EUR"
    (entry,) = admin.get("/audit?object_type=product&object_id=NUT-8").json["items"]
    assert entry["action"] == "product.create"
    assert entry["actor"] == "boss"
    assert entry["after"]["name"] == "Hex nut M8"


@pytest.mark.parametrize(
    ("data", "fields"),
    [
        ({"name": "no sku"}, ["sku"]),
        ({"sku": "A1"}, ["name"]),
        ({"sku": "has space", "name": "x"}, ["sku"]),
        ({"sku": "A2", "name": "x", "unit_cost": "-1"}, ["unit_cost"]),
        ({"sku": "A3", "name": "x", "unit_cost": "0.00001"}, ["unit_cost"]),
        ({"sku": "A4", "name": "x", "currency": "euro"}, ["currency"]),
        (
            {"sku": "A5", "name": "x", "weight_kg": "heavy", "volume_m3": "-2"},
            ["weight_kg", "volume_m3"],
        ),
        ({"sku": "A6", "name": "x" * 201, "uom": "u" * 17}, ["name", "uom"]),
    ],
)
def test_product_form_refuses_what_the_api_refuses_with_the_same_messages(
    boss, admin, data, fields
):
    api = assert_problem(admin.post("/products", json=data), 422)
    r = boss.post("/products/new", data=data)
    assert r.status_code == 200
    html = r.get_data(as_text=True)
    assert "Nothing was saved; correct the fields marked." in html
    for field in fields:
        assert field_errors(html, field) == api["errors"][field], field
    assert admin.get("/products?limit=100").json["items"] == [admin.get("/products/BOLT-10").json]


def test_a_sku_differing_only_in_case_is_taken_on_the_page_and_the_api(boss, admin):
    r = boss.post("/products/new", data={"sku": "bolt-10", "name": "Lower-case twin"})
    assert r.status_code == 200
    assert field_errors(r.get_data(as_text=True), "sku") == ["taken"]
    body = assert_problem(admin.post("/products", json={"sku": "Bolt-10", "name": "x"}), 409, "sku")
    assert "BOLT-10" in body["detail"]
    assert admin.get("/products?q=bolt").json["items"][0]["name"] == "Hex bolt M10"


def test_a_typed_sku_opens_the_product_in_any_case(boss):
    r = boss.get("/products/bolt-10/edit")
    assert r.status_code == 302
    assert r.location.endswith("/products/BOLT-10/edit")
    page = boss.get(r.location).get_data(as_text=True)
    assert 'value="Hex bolt M10"' in page
    assert 'value="0.25"' in page  # the stored 0.2500, as people write it
    assert boss.get("/products/NOPE/edit").status_code == 404


def test_editing_a_product_audits_only_what_changed(boss, admin):
    form = {
        "name": "Hex bolt M10 zinc",
        "uom": "ea",
        "unit_cost": "0.30",
        "currency": "CNY",
        "active": "y",
    }
    r = boss.post("/products/BOLT-10/edit", data=form)
    assert r.status_code == 302
    got = admin.get("/products/BOLT-10").json
    assert (got["name"], got["unit_cost"]) == ("Hex bolt M10 zinc", "0.3000")
    (entry,) = [
        e
        for e in admin.get("/audit?object_type=product&object_id=BOLT-10").json["items"]
        if e["action"] == "product.update"
    ]
    assert entry["actor"] == "boss"
    assert entry["before"] == {"name": "Hex bolt M10", "unit_cost": "0.2500"}
    assert entry["after"] == {"name": "Hex bolt M10 zinc", "unit_cost": "0.30"}
    # The same values again change nothing and add no audit entry.
    again = boss.post("/products/BOLT-10/edit", data=form, follow_redirects=True)
    assert "Nothing changed." in again.get_data(as_text=True)
    entries = admin.get("/audit?object_type=product&object_id=BOLT-10").json["items"]
    assert [e["action"] for e in entries].count("product.update") == 1


def test_editing_a_product_with_bad_values_changes_nothing(boss, admin):
    r = boss.post(
        "/products/BOLT-10/edit",
        data={"name": "", "uom": "ea", "unit_cost": "abc", "currency": "CNY", "active": "y"},
    )
    assert r.status_code == 200
    html = r.get_data(as_text=True)
    api = assert_problem(
        admin.patch("/products/BOLT-10", json={"name": "", "unit_cost": "abc"}), 422
    )
    assert field_errors(html, "name") == api["errors"]["name"]
    assert field_errors(html, "unit_cost") == api["errors"]["unit_cost"]
    assert admin.get("/products/BOLT-10").json["name"] == "Hex bolt M10"


def test_admin_opens_and_edits_a_warehouse(boss, admin):
    r = boss.post(
        "/warehouses/new",
        data={
            "code": "SH1",
            "name": "Shanghai",
            "latitude": "31.23",
            "longitude": "121.47",
            "priority": "5",
            "active": "y",
        },
    )
    assert r.status_code == 302
    got = admin.get("/warehouses/SH1").json
    assert (got["name"], got["priority"], got["allow_negative_stock"]) == ("Shanghai", 5, False)
    assert got["latitude"] == pytest.approx(31.23)

    page = boss.get("/warehouses/SH1/edit").get_data(as_text=True)
    assert 'value="Shanghai"' in page
    r = boss.post(
        "/warehouses/SH1/edit",
        data={
            "name": "Shanghai Pudong",
            "latitude": "31.23",
            "longitude": "121.47",
            "priority": "5",
            "allow_negative_stock": "y",
            "active": "y",
        },
    )
    assert r.status_code == 302
    got = admin.get("/warehouses/SH1").json
    assert (got["name"], got["allow_negative_stock"]) == ("Shanghai Pudong", True)
    entries = admin.get("/audit?object_type=warehouse&object_id=SH1").json["items"]
    assert [e["action"] for e in entries] == ["warehouse.update", "warehouse.create"]
    assert entries[0]["actor"] == "boss"
    assert entries[0]["after"] == {"name": "Shanghai Pudong", "allow_negative_stock": True}


@pytest.mark.parametrize(
    ("data", "fields"),
    [
        ({"name": "no code"}, ["code"]),
        ({"code": "-bad", "name": "x"}, ["code"]),
        ({"code": "X1"}, ["name"]),
        (
            {"code": "X2", "name": "x", "latitude": "100", "longitude": "east"},
            ["latitude", "longitude"],
        ),
        ({"code": "X3", "name": "x", "priority": "-1"}, ["priority"]),
        ({"code": "X4", "name": "x", "priority": "1.5"}, ["priority"]),
    ],
)
def test_warehouse_form_refuses_what_the_api_refuses_with_the_same_messages(
    boss, admin, data, fields
):
    api = assert_problem(admin.post("/warehouses", json=data), 422)
    r = boss.post("/warehouses/new", data=data)
    assert r.status_code == 200
    html = r.get_data(as_text=True)
    for field in fields:
        assert field_errors(html, field) == api["errors"][field], field
    assert [w["code"] for w in admin.get("/warehouses").json["items"]] == ["W1"]


def test_a_duplicate_warehouse_code_is_marked_taken(boss):
    r = boss.post("/warehouses/new", data={"code": "W1", "name": "Again"})
    assert r.status_code == 200
    assert field_errors(r.get_data(as_text=True), "code") == ["taken"]


def test_refusing_negative_stock_while_some_is_negative_is_marked_on_the_field(
    app, boss, admin, make_warehouse, receive
):
    make_warehouse(code="NEG", name="Shipping first", allow_negative_stock=True)
    receive("BOLT-10", "NEG", 1)
    staff = admin.post(
        "/stock/movements",
        json={"type": "issue", "sku": "BOLT-10", "warehouse": "NEG", "quantity": 3},
    )
    assert staff.status_code == 201
    r = boss.post(
        "/warehouses/NEG/edit", data={"name": "Shipping first", "priority": "100", "active": "y"}
    )
    assert r.status_code == 200
    assert "stock is negative" in r.get_data(as_text=True)
    assert admin.get("/warehouses/NEG").json["allow_negative_stock"] is True


def test_field_messages_read_in_chinese(app, people):
    client = app.test_client()
    client.set_cookie(COOKIE, "zh_Hans_CN")
    client.post("/login", data={"username": "boss", "password": "pw-boss-1"})
    r = client.post("/products/new", data={"sku": "NUT-8", "unit_cost": "-1", "currency": "euro"})
    html = r.get_data(as_text=True)
    assert field_errors(html, "name") == ["此字段为必填项。"]
    assert field_errors(html, "unit_cost") == ["必须大于等于 0。"]
    assert field_errors(html, "currency") == ["ISO 4217 货币代码，例如 CNY 或 EUR。"]
    assert "未保存任何内容；请更正标出的字段。" in html
    assert "新建产品" in html
    assert "Missing data" not in html
    r = client.post("/products/new", data={"sku": "bolt-10", "name": "Twin"})
    assert field_errors(r.get_data(as_text=True), "sku") == ["已被占用"]
