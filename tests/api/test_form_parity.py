"""The stock movement, cycle count and purchase order forms refuse exactly what the API refuses,
with the API's message next to the field it is about; what the API accepts, they accept."""

from __future__ import annotations

import contextlib
import re
from decimal import Decimal

import pytest

PASSWORD = "pw-12345678"


@pytest.fixture
def shop(make_product, make_warehouse, receive):
    make_product(sku="ABC-1", name="Axle")
    make_product(sku="BOLT-10", name="Bolt")
    make_warehouse(code="W1")
    make_warehouse(code="W2")
    receive("ABC-1", "W1", 8)


@pytest.fixture
def staff(app, make_user, shop):
    api = make_user("warehouse", warehouses=["W1", "W2"], password=PASSWORD)
    web = app.test_client()
    assert (
        web.post("/login", data={"username": api.username, "password": PASSWORD}).status_code == 302
    )
    return api, web


def errors_under(html: str, field_id: str) -> str:
    """The messages Bootstrap-Flask's render_field shows under one field."""
    start = html.index(f'id="{field_id}"')
    block = re.split(r"<label|</form>", html[start:], maxsplit=1)[0]
    return " ".join(re.findall(r'class="invalid-feedback[^"]*"[^>]*>(.*?)</div>', block, re.S))


def on_hand(api, sku: str, warehouse: str) -> int:
    return api.get(f"/stock?sku={sku}&warehouse={warehouse}").json["items"][0]["on_hand"]


# --- stock movements ------------------------------------------------------------------------------


def test_a_sku_typed_in_another_case_posts_to_the_item(staff):
    api, web = staff
    r = web.post(
        "/stock/move", data={"type": "receipt", "warehouse": "W1", "sku": "abc-1", "quantity": "5"}
    )
    assert r.status_code == 302
    assert r.headers["Location"].endswith("/stock?sku=ABC-1")
    assert "Posted receipt of 5 × ABC-1." in web.get(r.headers["Location"]).get_data(as_text=True)
    assert on_hand(api, "ABC-1", "W1") == 13


MOVEMENTS = [
    # form fields, API body field, message shown next to it
    (
        {"type": "transfer", "to_warehouse": "W1", "quantity": "2"},
        "to_warehouse",
        "Source and destination are the same.",
    ),
    ({"type": "transfer", "quantity": "2"}, "to_warehouse", "A transfer needs a destination."),
    (
        {"type": "receipt", "quantity": "0"},
        "quantity",
        "A receipt moves a positive quantity.",
    ),
    (
        {"type": "issue", "quantity": "-2"},
        "quantity",
        "An issue moves a positive quantity.",
    ),
    (
        {"type": "adjustment", "quantity": "0", "reason": "x"},
        "quantity",
        "An adjustment must change stock (not 0).",
    ),
    (
        {"type": "adjustment", "quantity": "-2", "reason": "  "},
        "reason",
        "Say why stock is adjusted.",
    ),
    (
        {"type": "receipt", "quantity": str(2**31)},
        "quantity",
        "Must be greater than or equal to -2147483648 and less than or equal to 2147483647.",
    ),
    ({"type": "receipt", "quantity": "1.5"}, "quantity", "Not a valid integer."),
    ({"type": "receipt", "quantity": ""}, "quantity", "Missing data for required field."),
    ({"type": "receipt", "quantity": "1", "sku": "NOPE"}, "sku", "unknown sku NOPE"),
    (
        {"type": "receipt", "quantity": "1", "sku": "X" * 65},
        "sku",
        "Length must be between 1 and 64.",
    ),
    (
        {"type": "receipt", "quantity": "1", "reference": "R" * 129},
        "reference",
        "Longer than maximum length 128.",
    ),
]


@pytest.mark.parametrize(("fields", "key", "message"), MOVEMENTS)
def test_the_movement_form_refuses_what_the_api_refuses_next_to_the_field(
    staff, fields, key, message
):
    api, web = staff
    form = {"warehouse": "W1", "sku": "ABC-1", **fields}
    r = web.post("/stock/move", data=form)
    assert r.status_code == 200
    assert message in errors_under(r.get_data(as_text=True), key)
    assert on_hand(api, "ABC-1", "W1") == 8
    assert on_hand(api, "ABC-1", "W2") == 0
    body = {k: v for k, v in form.items() if v.strip()}
    if "quantity" in body:
        with contextlib.suppress(ValueError):
            body["quantity"] = int(body["quantity"])
    refused = api.post("/stock/movements", json=body)
    assert refused.status_code == 422, refused.json
    assert key in refused.json["errors"]


# --- cycle counts ---------------------------------------------------------------------------------


def count_errors(response) -> str:
    html = response.get_data(as_text=True)
    match = re.search(r'data-testid="sheet-errors">(.*?)</div>\s*</div>', html, re.S)
    assert match, html
    return re.sub(r"<[^>]+>", " ", match.group(1))


def test_a_count_sheet_finds_skus_in_any_case(staff):
    api, web = staff
    r = web.post("/stock/counts", data={"warehouse": "W1", "sheet": "abc-1, 6\n"})
    assert r.status_code == 302
    assert on_hand(api, "ABC-1", "W1") == 6


@pytest.mark.parametrize(
    ("sheet", "message"),
    [
        ("BOLT-10, 3\nNOPE, 1\n", "line 2: unknown sku"),
        ("\nBOLT-10, 3\n\nbolt-10, 1\n", "line 4: Counted twice in one count."),
        ("ABC-1, 3\nabc-1, 1\n", "line 2: Counted twice in one count."),
        (f"ABC-1, {2**31}\n", "line 1: Must be"),
        ("ABC-1, -1\n", "line 1: Must be"),
        ("ABC-1, lots\n", "line 1: Not a valid integer."),
        ("X" * 65 + ", 1\n", "line 1: Length must be between 1 and 64."),
        ("".join(f"SKU-{i}, 1\n" for i in range(5001)), "Length must be between 1 and 5000."),
        ("ABC-1, 1, 2\n", "line 1: write sku, counted"),
    ],
)
def test_the_count_sheet_refuses_what_the_api_refuses_naming_the_sheet_line(staff, sheet, message):
    api, web = staff
    r = web.post("/stock/counts", data={"warehouse": "W1", "sheet": sheet, "reason": "aisle 4"})
    assert r.status_code == 200
    assert message in count_errors(r)
    assert on_hand(api, "ABC-1", "W1") == 8
    assert api.get("/stock/movements?type=adjustment").json["items"] == []


def test_the_api_refuses_the_same_count_sheets(staff):
    api, _ = staff
    for lines, key in [
        ([{"sku": "ABC-1", "counted": 3}, {"sku": "abc-1", "counted": 1}], "lines.1.sku"),
        ([{"sku": f"SKU-{i}", "counted": 1} for i in range(5001)], "lines"),
        ([{"sku": "ABC-1", "counted": 2**31}], "lines"),
    ]:
        r = api.post("/stock/counts", json={"warehouse": "W1", "lines": lines})
        assert r.status_code == 422, r.json
        assert any(k.startswith(key) for k in r.json["errors"]), r.json
    assert on_hand(api, "ABC-1", "W1") == 8


# --- purchase orders ------------------------------------------------------------------------------


@pytest.fixture
def buying(app, world, make_user):
    api = make_user("buyer", password=PASSWORD)
    web = app.test_client()
    assert (
        web.post("/login", data={"username": api.username, "password": PASSWORD}).status_code == 302
    )
    return api, web


@pytest.mark.parametrize(
    ("line", "field", "message"),
    [
        ({"quantity": str(10**12)}, "quantity", "Must be less than or equal to 2147483647."),
        ({"quantity": "20", "unit_price": "1.23456"}, "unit_price", "At most 4 decimal places."),
        (
            {"quantity": "20", "unit_price": "100000000000"},
            "unit_price",
            "Must be less than 10,000,000,000 in absolute value.",
        ),
        (
            {"quantity": "20", "unit_price": "-1"},
            "unit_price",
            "Must be greater than or equal to 0.",
        ),
        ({"quantity": "2.5"}, "quantity", "Not a valid integer."),
        ({"quantity": ""}, "quantity", "Missing data for required field."),
        ({"quantity": "20", "sku": "NOPE"}, "sku", "unknown sku NOPE"),
    ],
)
def test_the_order_form_refuses_what_the_api_refuses_next_to_the_line(buying, line, field, message):
    api, web = buying
    row = {"sku": "A", **line}
    r = web.post(
        "/procurement/orders/new",
        data={"supplier": "ACME", "warehouse": "W1", **{f"lines-0-{k}": v for k, v in row.items()}},
    )
    assert r.status_code == 200
    html = r.get_data(as_text=True)
    cell = re.search(rf'id="lines-0-{field}"[^>]*>\s*(.*?)</td>', html, re.S)
    assert cell, html
    assert message in cell.group(1)
    assert api.get("/purchase-orders").json["items"] == []
    body_line = {k: v for k, v in row.items() if v}
    if "quantity" in body_line:
        with contextlib.suppress(ValueError):
            body_line["quantity"] = int(body_line["quantity"])
    refused = api.post(
        "/purchase-orders", json={"supplier": "ACME", "warehouse": "W1", "lines": [body_line]}
    )
    assert refused.status_code == 422
    assert f"lines.0.{field}" in refused.json["errors"] or "lines" in refused.json["errors"]


def test_the_order_form_reads_every_row_it_was_sent(buying):
    """Rows past the ones the page renders are not dropped: the API would count them."""
    api, web = buying
    r = web.post(
        "/procurement/orders/new",
        data={
            "supplier": "ACME",
            "warehouse": "W1",
            "lines-250-sku": "a",
            "lines-250-quantity": "20",
        },
    )
    assert r.status_code == 302, r.get_data(as_text=True)
    (order,) = api.get("/purchase-orders").json["items"]
    assert [(x["sku"], x["quantity"], x["unit_price"]) for x in order["lines"]] == [
        ("A", 20, "10.0000")
    ]
    too_many = {f"lines-{i}-sku": "A" for i in range(501)} | {
        f"lines-{i}-quantity": "1" for i in range(501)
    }
    r = web.post(
        "/procurement/orders/new", data={"supplier": "ACME", "warehouse": "W1", **too_many}
    )
    assert r.status_code == 200
    assert "Length must be between 1 and 500." in r.get_data(as_text=True)
    assert len(api.get("/purchase-orders").json["items"]) == 1


def test_an_order_edit_is_checked_as_the_api_checks_a_patch(buying):
    api, web = buying
    po = api.post(
        "/purchase-orders",
        json={"supplier": "ACME", "warehouse": "W1", "lines": [{"sku": "A", "quantity": 20}]},
    ).json
    page = web.get(f"/procurement/orders/{po['id']}/edit").get_data(as_text=True)
    version = re.search(r'name="version" type="hidden" value="(\d+)"', page).group(1)
    r = web.post(
        f"/procurement/orders/{po['id']}/edit",
        data={
            "warehouse": "W1",
            "version": version,
            "lines-0-sku": "A",
            "lines-0-quantity": "20",
            "lines-0-unit_price": "9.99999",
        },
    )
    assert r.status_code == 200
    assert "At most 4 decimal places." in r.get_data(as_text=True)
    assert api.get(f"/purchase-orders/{po['id']}").json["lines"][0]["unit_price"] == "10.0000"
    r = web.post(
        f"/procurement/orders/{po['id']}/edit",
        data={
            "warehouse": "W1",
            "version": version,
            "lines-0-sku": "a",
            "lines-0-quantity": "25",
            "lines-0-unit_price": "9.5",
        },
    )
    assert r.status_code == 302
    line = api.get(f"/purchase-orders/{po['id']}").json["lines"][0]
    assert (line["sku"], line["quantity"], Decimal(line["unit_price"])) == ("A", 25, Decimal("9.5"))
