"""CSV import of suppliers and price lists: all or nothing, every bad row named by its row."""

from __future__ import annotations

import io

import pytest

from tests.factories import assert_problem

CSV = {"Content-Type": "text/csv"}


def post_csv(api, path, text, **kw):
    return api.post(path, data=text.encode("utf-8"), headers=CSV, **kw)


SUPPLIERS = """code,name,email,currency,default_lead_time_days
NORTH,North Supply,sales@north.example,CNY,12
SOUTH,South Trading,,USD,30
EAST,East Parts,,,7
"""


def test_suppliers_import_creates_candidates(buyer):
    r = post_csv(buyer, "/suppliers/import", SUPPLIERS)
    assert r.status_code == 201, r.json
    assert r.json == {"rows": 3, "created": 3, "updated": 0}
    items = {s["code"]: s for s in buyer.get("/suppliers").json["items"]}
    assert set(items) == {"NORTH", "SOUTH", "EAST"}
    assert {s["status"] for s in items.values()} == {"candidate"}
    assert (items["SOUTH"]["currency"], items["EAST"]["currency"]) == ("USD", "CNY")
    assert items["NORTH"]["email"] == "sales@north.example"


def test_bad_supplier_rows_are_all_listed_and_nothing_is_created(make_supplier, buyer):
    make_supplier(code="TAKEN")
    text = """code,name,email,currency,default_lead_time_days
GOOD,Good Co,,,10
TAKEN,Already Here,,,10
,No Code,,,10
BAD1,Bad Mail,nope,,10
BAD2,Bad Lead,,,soon
GOOD,Twice,,,10
BAD3,Bad Currency,,euro,10
"""
    body = assert_problem(post_csv(buyer, "/suppliers/import", text), 422)
    assert set(body["errors"]) == {"row 3", "row 4", "row 5", "row 6", "row 7", "row 8"}
    assert "exists" in body["errors"]["row 3"][0]
    assert body["errors"]["row 4"][0].startswith("code:")
    assert body["errors"]["row 5"][0].startswith("email:")
    assert body["errors"]["row 6"][0].startswith("default_lead_time_days:")
    assert "row 2" in body["errors"]["row 7"][0]
    assert body["errors"]["row 8"][0].startswith("currency:")
    assert [s["code"] for s in buyer.get("/suppliers").json["items"]] == ["TAKEN"]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "no header"),
        ("code,name\nX,Y\n", "missing columns: default_lead_time_days"),
        ("code,name,default_lead_time_days,colour\nX,Y,1,red\n", "unknown columns: colour"),
        ("code,name,default_lead_time_days\n", "no data rows"),
    ],
)
def test_unusable_files_are_422_naming_the_header_row(buyer, text, message):
    body = assert_problem(post_csv(buyer, "/suppliers/import", text), 422)
    assert message in str(body["errors"])


def test_a_row_with_the_wrong_number_of_cells_is_named(buyer):
    body = assert_problem(
        post_csv(buyer, "/suppliers/import", "code,name,default_lead_time_days\nX,Y\n"), 422
    )
    assert body["errors"] == {"row 2": ["2 cells where the header has 3"]}


def test_multipart_upload_excel_bom_and_wrong_types(buyer):
    data = {"file": (io.BytesIO(("\ufeff" + SUPPLIERS).encode("utf-8")), "suppliers.csv")}
    r = buyer.post("/suppliers/import", data=data, content_type="multipart/form-data")
    assert r.status_code == 201, r.json
    assert_problem(buyer.post("/suppliers/import", json={"code": "X"}), 415)
    assert_problem(
        buyer.post("/suppliers/import", data="code\n\xff".encode("latin-1"), headers=CSV),
        422,
        "file",
    )
    assert_problem(
        buyer.post("/suppliers/import", data={}, content_type="multipart/form-data"), 422, "file"
    )


def test_import_is_for_buyers(make_user):
    for role in ("approver", "warehouse", "viewer", "storefront"):
        api = make_user(role, warehouses=["W1"] if role == "warehouse" else None)
        assert_problem(post_csv(api, "/suppliers/import", SUPPLIERS), 403)
        assert_problem(post_csv(api, "/price-lists/import", "supplier,sku,unit_price\n"), 403)


# --- price lists ----------------------------------------------------------------------------------

PRICES = """supplier,sku,supplier_sku,unit_price,moq,pack_size,lead_time_days,price_breaks
ACME,A,AC-1,9.50,,,,
ACME,B,AC-2,1.80,100,50,14,200:1.70;1000:1.60
OTHER,A,,11,,,,
"""


@pytest.fixture
def other(world, make_supplier):
    return make_supplier(code="OTHER")


def test_price_list_import_creates_and_replaces_whole_lines(other, buyer):
    r = post_csv(buyer, "/price-lists/import", PRICES)
    assert r.status_code == 201, r.json
    assert r.json == {"rows": 3, "created": 1, "updated": 2}
    a, b = buyer.get("/suppliers/ACME/items").json["items"]
    # A had a 7-day lead time; the imported row leaves it blank, so it falls back to the default.
    assert (a["unit_price"], a["supplier_sku"], a["lead_time_days"]) == ("9.5000", "AC-1", None)
    assert (b["unit_price"], b["moq"], b["pack_size"], b["lead_time_days"]) == (
        "1.8000",
        100,
        50,
        14,
    )
    assert b["price_breaks"] == [
        {"min_quantity": 200, "unit_price": "1.7000"},
        {"min_quantity": 1000, "unit_price": "1.6000"},
    ]
    assert buyer.get("/suppliers/OTHER/items").json["items"][0]["unit_price"] == "11.0000"


def test_bad_price_rows_change_nothing(other, make_supplier, buyer):
    make_supplier(code="DOLLAR", currency="USD")
    before = buyer.get("/suppliers/ACME/items").json
    text = """supplier,sku,unit_price,currency,price_breaks
ACME,A,8.00,,
NOPE,A,1,,
ACME,ZZZ,1,,
ACME,B,-2,,
ACME,B,2,,100:3.00
ACME,A,7.00,,
DOLLAR,A,1,CNY,
ACME,B,2,,lots
"""
    body = assert_problem(post_csv(buyer, "/price-lists/import", text), 422)
    errors = body["errors"]
    assert set(errors) == {"row 3", "row 4", "row 5", "row 6", "row 7", "row 8", "row 9"}
    assert "unknown supplier NOPE" in errors["row 3"][0]
    assert "unknown sku ZZZ" in errors["row 4"][0]
    assert errors["row 5"][0].startswith("unit_price:")
    assert "costs more per unit" in str(errors["row 6"])
    assert "row 2" in str(errors["row 7"])
    assert "trades in USD" in str(errors["row 8"])
    assert errors["row 9"][0].startswith("price_breaks:")
    assert buyer.get("/suppliers/ACME/items").json == before
    assert buyer.get("/suppliers/OTHER/items").json["items"] == []


def test_per_supplier_import_fills_in_the_supplier(other, buyer):
    r = post_csv(buyer, "/suppliers/OTHER/items/import", "sku,unit_price\nA,11\nB,3\n")
    assert r.status_code == 201, r.json
    assert [i["sku"] for i in buyer.get("/suppliers/OTHER/items").json["items"]] == ["A", "B"]
    body = assert_problem(
        post_csv(buyer, "/suppliers/OTHER/items/import", "supplier,sku,unit_price\nACME,A,1\n"), 422
    )
    assert "this file is for OTHER" in body["errors"]["row 2"][0]
    assert_problem(post_csv(buyer, "/suppliers/NOPE/items/import", "sku,unit_price\nA,1\n"), 404)
