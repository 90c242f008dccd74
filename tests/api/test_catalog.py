"""Catalog endpoints of API.md: products and warehouses, their errors and who may write them."""

from __future__ import annotations

import pytest

from tests.factories import assert_problem


def test_admin_creates_a_product_and_reads_it_back(admin):
    r = admin.post(
        "/products",
        json={
            "sku": "BRK-001",
            "name": "Brake pad",
            "uom": "set",
            "unit_cost": "12.50",
            "currency": "EUR",
            "weight_kg": 0.8,
            "volume_m3": 0.002,
        },
    )
    assert r.status_code == 201, r.json
    assert r.json["sku"] == "BRK-001"
    assert r.json["unit_cost"] == "12.5000"
    got = admin.get("/products/BRK-001")
    assert got.status_code == 200
    assert got.json["name"] == "Brake pad"
    assert got.json["uom"] == "set"
    assert got.json["currency"] == "EUR"
    assert got.json["weight_kg"] == pytest.approx(0.8)


def test_product_defaults(admin, app):
    r = admin.post("/products", json={"sku": "X1", "name": "Thing"})
    assert r.status_code == 201
    assert r.json["uom"] == "ea"
    assert r.json["currency"] == app.config["DEFAULT_CURRENCY"]
    assert r.json["unit_cost"] is None


def test_duplicate_sku_is_409(admin, make_product):
    make_product(sku="DUP")
    body = assert_problem(admin.post("/products", json={"sku": "DUP", "name": "Again"}), 409, "sku")
    assert "DUP" in body["detail"]


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"name": "no sku"}, "sku"),
        ({"sku": "A1"}, "name"),
        ({"sku": "has space", "name": "x"}, "sku"),
        ({"sku": "A2", "name": "x", "unit_cost": "-1"}, "unit_cost"),
        ({"sku": "A3", "name": "x", "currency": "euro"}, "currency"),
        ({"sku": "A4", "name": "x", "weight_kg": -2}, "weight_kg"),
        ({"sku": "A5", "name": "x", "colour": "red"}, "colour"),
    ],
)
def test_invalid_product_is_422_naming_the_field(admin, payload, field):
    assert_problem(admin.post("/products", json=payload), 422, field)
    assert admin.get("/products").json["items"] == []


def test_patch_product_changes_only_given_fields_and_is_audited(admin, make_product):
    make_product(sku="P1", name="Old", unit_cost="3")
    r = admin.patch("/products/P1", json={"name": "New"})
    assert r.status_code == 200
    assert r.json["name"] == "New"
    assert r.json["unit_cost"] == "3.0000"
    audit = admin.get("/audit?object_type=product&object_id=P1").json["items"]
    assert audit[0]["action"] == "product.update"
    assert audit[0]["before"] == {"name": "Old"}
    assert audit[0]["after"] == {"name": "New"}
    assert audit[0]["actor"] == admin.username


def test_patch_cannot_change_sku(admin, make_product):
    make_product(sku="P2")
    assert_problem(admin.patch("/products/P2", json={"sku": "P3"}), 422, "sku")


def test_unknown_product_is_404(admin):
    assert_problem(admin.get("/products/NOPE"), 404)
    assert_problem(admin.patch("/products/NOPE", json={"name": "x"}), 404)


def test_product_list_pages_with_a_cursor_and_searches(admin, make_product):
    for i in range(7):
        make_product(sku=f"L{i}", name="Wiper blade" if i % 2 else "Oil filter")
    seen, cursor = [], None
    while True:
        r = admin.get(
            "/products", query_string={"limit": 3, **({"cursor": cursor} if cursor else {})}
        )
        assert r.status_code == 200
        seen += [p["sku"] for p in r.json["items"]]
        cursor = r.json["next_cursor"]
        if cursor is None:
            break
    assert seen == [f"L{i}" for i in range(7)]
    found = admin.get("/products?q=wiper").json["items"]
    assert [p["sku"] for p in found] == ["L1", "L3", "L5"]


@pytest.mark.parametrize("query", ["limit=0", "limit=501", "limit=x", "cursor=garbage!"])
def test_bad_paging_arguments_are_422(admin, query):
    field = query.split("=")[0]
    assert_problem(admin.get(f"/products?{query}"), 422, field)


def test_warehouses_create_list_get(admin):
    r = admin.post(
        "/warehouses",
        json={"code": "SH1", "name": "Shanghai", "latitude": 31.23, "longitude": 121.47},
    )
    assert r.status_code == 201
    assert r.json["allow_negative_stock"] is False
    assert (
        admin.post(
            "/warehouses", json={"code": "BJ1", "name": "Beijing", "allow_negative_stock": True}
        ).status_code
        == 201
    )
    listed = admin.get("/warehouses").json
    assert [w["code"] for w in listed["items"]] == ["BJ1", "SH1"]
    assert listed["next_cursor"] is None
    got = admin.get("/warehouses/SH1").json
    assert got["latitude"] == pytest.approx(31.23)


def test_duplicate_warehouse_is_409(admin, make_warehouse):
    make_warehouse(code="W1")
    assert_problem(admin.post("/warehouses", json={"code": "W1", "name": "x"}), 409, "code")


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"name": "x"}, "code"),
        ({"code": "W9", "name": "x", "latitude": 91}, "latitude"),
        ({"code": "W9", "name": "x", "longitude": -181}, "longitude"),
        ({"code": "W9", "name": "x", "allow_negative_stock": "maybe"}, "allow_negative_stock"),
    ],
)
def test_invalid_warehouse_is_422(admin, payload, field):
    assert_problem(admin.post("/warehouses", json=payload), 422, field)


def test_unknown_warehouse_is_404(admin):
    assert_problem(admin.get("/warehouses/NOPE"), 404)


def test_malformed_json_body_is_a_problem(admin):
    r = admin.post("/products", data="{not json", headers={"Content-Type": "application/json"})
    assert r.status_code in (400, 422)
    assert r.mimetype == "application/problem+json"
