"""Input the database cannot store is a 4xx problem naming the field, and nothing is written.

Each case used to reach the database (or the JSON parser's recursion limit) and answer 500.
"""

from __future__ import annotations

import json

import pytest

from tests.factories import PROBLEM, assert_problem


@pytest.fixture
def world(make_product, make_warehouse, receive):
    make_product(sku="A")
    make_warehouse(code="W1")
    receive("A", "W1", 5)


def products(admin) -> list[str]:
    return [p["sku"] for p in admin.get("/products?limit=500").json["items"]]


def raw_post(api, path: str, text: str, method: str = "post"):
    return getattr(api.client, method)(
        "/api/v1" + path,
        data=text.encode("utf-8", "surrogatepass"),
        content_type="application/json",
        headers={"Authorization": f"Bearer {api.token}"},
    )


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"sku": "NUL1", "name": "bad\x00name"}, "name"),
        ({"sku": "NUL\x002", "name": "ok"}, "sku"),
        ({"sku": "NUL3", "name": "ok", "category": "\x00"}, "category"),
    ],
)
def test_nul_in_any_string_is_422_naming_the_field(admin, world, body, field):
    before = products(admin)
    assert_problem(admin.post("/products", json=body), 422, field)
    assert products(admin) == before


def test_nul_in_a_nested_string_names_its_path(admin, world):
    r = admin.post(
        "/stock/counts", json={"warehouse": "W1", "lines": [{"sku": "A\x00", "counted": 1}]}
    )
    assert_problem(r, 422, "lines.0.sku")
    assert admin.get("/stock?sku=A").json["items"][0]["on_hand"] == 5


def test_a_bad_string_in_a_long_list_of_strings_names_its_item(admin, world):
    skus = [f"S{i}" for i in range(1000)]
    skus[731] = "S\x00731"
    assert_problem(admin.post("/availability", json={"skus": skus}), 422, "skus.731")
    skus[731] = "S731"
    assert admin.post("/availability", json={"skus": skus}).status_code == 200
    r = raw_post(admin, "/availability", '{"skus": ["A", "B", "x\\udc00"]}')
    assert_problem(r, 422, "skus.2")


def test_lone_surrogate_is_422(admin, world):
    before = products(admin)
    r = raw_post(admin, "/products", '{"sku": "SUR", "name": "x\\ud800y"}')
    assert_problem(r, 422, "name")
    assert products(admin) == before


def test_nul_in_query_and_path_is_422(admin, world):
    assert_problem(admin.get("/products?q=%00"), 422, "q")
    assert_problem(admin.get("/products/A%00B"), 422, "sku")


@pytest.mark.parametrize("depth", [40, 5000, 100_000])
def test_deeply_nested_json_is_refused(admin, world, depth):
    r = raw_post(admin, "/products", "[" * depth + "]" * depth)
    assert r.status_code == 422
    assert r.mimetype == PROBLEM


@pytest.mark.parametrize("app_config", [{"MAX_CONTENT_LENGTH": 2048}])
def test_body_over_the_limit_is_413(admin, world):
    before = products(admin)
    r = admin.post("/products", json={"sku": "BIG", "name": "x" * 4096})
    assert_problem(r, 413)
    assert products(admin) == before


@pytest.mark.parametrize("quantity", [2**31, 2**63, -(2**31) - 1, 10**30])
def test_integers_beyond_the_column_are_422(admin, world, quantity):
    body = {"type": "receipt", "sku": "A", "warehouse": "W1", "quantity": quantity}
    assert_problem(admin.post("/stock/movements", json=body), 422, "quantity")
    r = admin.post(
        "/stock/counts", json={"warehouse": "W1", "lines": [{"sku": "A", "counted": quantity}]}
    )
    assert_problem(r, 422, "lines")
    assert admin.get("/stock?sku=A").json["items"][0]["on_hand"] == 5


def test_largest_32_bit_quantity_is_still_a_number_the_rules_judge(admin, world):
    body = {"type": "issue", "sku": "A", "warehouse": "W1", "quantity": 2**31 - 1}
    r = admin.post("/stock/movements", json=body)
    assert r.status_code in (409, 422)  # not enough stock: a business answer, not a crash
    assert r.mimetype == PROBLEM


@pytest.mark.parametrize("ident", [2**63, 2**64, 10**40])
def test_ids_beyond_bigint_in_paths_are_404(admin, world, ident):
    assert_problem(admin.get(f"/stock/counts/{ident}"), 404)
    assert_problem(admin.get(f"/reservations/{ident}"), 404)


@pytest.mark.parametrize("ident", [2**31, 56089837927, 2**63 - 1])
def test_ids_beyond_an_integer_key_are_404(admin, world, ident):
    # PostgreSQL refuses to compare an INTEGER key with these: the route must not match.
    assert_problem(admin.get(f"/jobs/{ident}"), 404)
    assert_problem(admin.get(f"/forecasts/runs/{ident}"), 404)
    assert_problem(admin.get(f"/purchase-orders/{ident}"), 404)
    assert_problem(admin.get(f"/reservations/{ident}"), 404)  # BIGINT key: simply not found


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("1e30", "less than"),
        (1e30, "less than"),
        ("10000000000", "less than"),
        ("NaN", None),
        ("Infinity", None),
        ("0.00001", "Rounds to 0"),
        ("1.23456", "decimal places"),
    ],
)
def test_decimals_that_do_not_fit_numeric_14_4_are_422(admin, world, value, message):
    before = products(admin)
    r = admin.post("/products", json={"sku": "DEC", "name": "x", "unit_cost": value})
    body = assert_problem(r, 422, "unit_cost")
    if message:
        assert message in json.dumps(body["errors"])
    assert products(admin) == before


def test_decimal_at_the_limits_is_kept_exactly(admin, world):
    r = admin.post("/products", json={"sku": "MAX", "name": "x", "unit_cost": "9999999999.9999"})
    assert r.status_code == 201, r.json
    assert r.json["unit_cost"] == "9999999999.9999"


def test_empty_patch_is_refused(admin, world):
    assert_problem(admin.patch("/products/A", json={}), 422, "body")


def test_invalid_json_is_a_problem_not_a_crash(admin, world):
    r = raw_post(admin, "/products", '{"sku": ')
    assert r.status_code in (400, 422)
    assert r.mimetype == PROBLEM


def test_nul_in_a_csv_cell_is_422_naming_the_row(make_user, world):
    planner = make_user("planner")
    before = planner.get("/demand?sku=A").status_code
    text = "date,sku,warehouse,quantity\n2026-01-01,A,W1,3\n2026-01-02,A\x00,W1,4\n"
    r = planner.client.post(
        "/api/v1/demand/import",
        data=text.encode(),
        content_type="text/csv",
        headers={"Authorization": f"Bearer {planner.token}"},
    )
    assert_problem(r, 422, "row 3")
    assert planner.get("/demand?sku=A").status_code == before


def test_decimal_precision_follows_the_column(admin, world):
    r = admin.post(
        "/products",
        json={"sku": "VOL", "name": "x", "volume_m3": "0.000125", "weight_kg": "1.5"},
    )
    assert r.status_code == 201, r.json
    r = admin.post("/products", json={"sku": "VOL2", "name": "x", "weight_kg": "0.0001"})
    assert_problem(r, 422, "weight_kg")
