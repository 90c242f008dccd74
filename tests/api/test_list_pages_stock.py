"""The stock, product and ledger lists: search, filters, sorting, pages and the CSV export."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import event, insert

from accounts.principal import SYSTEM
from core import db
from inventory import catalog
from inventory.models import Product
from tests.listing_helpers import (
    count_line,
    csv_of,
    keys,
    link,
    notices,
    page,
    sort_link,
    web_user,
)
from tests.reservation_factories import FakeClock


@pytest.fixture
def person(app, make_user):
    return web_user(app, make_user)


@pytest.fixture
def shelves(app, make_product, make_warehouse, receive):
    """Two warehouses and three items; BOLT-10 has a reorder point of 10, the others none."""
    make_warehouse(code="W1", name="West")
    make_warehouse(code="W2", name="East")
    make_product(sku="BOLT-10", name="Hex bolt M10", category="fasteners", reorder_point=10)
    make_product(sku="NUT-5", name="Wing nut", category="fasteners")
    make_product(sku="GLUE-1", name="Wood glue", category="adhesives")
    receive("BOLT-10", "W1", 8)  # low: at or below its reorder point of 10
    receive("BOLT-10", "W2", 40)
    receive("NUT-5", "W1", 5)  # low: at or below LOW_STOCK_UNITS (5), having no reorder point
    receive("GLUE-1", "W1", 6)  # above 5: not low
    receive("GLUE-1", "W2", 1234)
    # NUT-5 has nothing in W2: out of stock there.


def stock_rows(html: str) -> list[str]:
    return [f"{sku}@{w}" for sku, w in _pairs(html)]


def _pairs(html: str) -> list[tuple[str, str]]:
    import re

    return re.findall(r'<tr data-level="[^"]*" data-sku="([^"]+)" data-warehouse="([^"]+)"', html)


# --- stock --------------------------------------------------------------------------------------


def test_stock_search_matches_sku_or_name_whatever_the_case(person, shelves):
    web = person("viewer")
    assert stock_rows(page(web.get("/stock?q=bolt"))) == ["BOLT-10@W1", "BOLT-10@W2"]
    assert stock_rows(page(web.get("/stock?q=WING"))) == ["NUT-5@W1", "NUT-5@W2"]
    assert stock_rows(page(web.get("/stock?q=m10"))) == ["BOLT-10@W1", "BOLT-10@W2"]
    assert stock_rows(page(web.get("/stock?q=%25"))) == []  # % is a character, not a wildcard
    html = page(web.get("/stock?q=zzz"))
    assert "No stock matches these filters." in html
    assert count_line(html) == "Nothing matches."


def test_stock_filters_by_warehouse_category_and_level(person, shelves):
    web = person("viewer")
    assert stock_rows(page(web.get("/stock?warehouse=W2&category=fasteners"))) == [
        "BOLT-10@W2",
        "NUT-5@W2",
    ]
    low = page(web.get("/stock?level=low"))
    assert stock_rows(low) == ["BOLT-10@W1", "NUT-5@W1", "NUT-5@W2"]
    assert keys(low, "data-level") == ["low", "low", "out"]
    assert stock_rows(page(web.get("/stock?level=out"))) == ["NUT-5@W2"]
    assert stock_rows(page(web.get("/stock?level=low&warehouse=W1&q=nut"))) == ["NUT-5@W1"]


def test_a_products_own_reorder_point_or_the_setting_decides_what_is_low(
    app, person, shelves, admin
):
    assert admin.patch("/products/GLUE-1", json={"reorder_point": 6}).status_code == 200
    app.config["LOW_STOCK_UNITS"] = 4  # NUT-5 (5 in W1, no reorder point) is no longer low
    web = person("viewer")
    assert stock_rows(page(web.get("/stock?level=low&warehouse=W1"))) == [
        "BOLT-10@W1",
        "GLUE-1@W1",
    ]


def test_stock_sorts_by_a_column_header_both_ways(person, shelves):
    web = person("viewer")
    html = page(web.get("/stock"))
    assert stock_rows(html)[:2] == ["BOLT-10@W1", "BOLT-10@W2"]  # by sku, then warehouse
    by_available = sort_link(html, "available")
    assert "sort=available" in by_available
    ascending = page(web.get(by_available))
    assert stock_rows(ascending) == [
        "NUT-5@W2",
        "NUT-5@W1",
        "GLUE-1@W1",
        "BOLT-10@W1",
        "BOLT-10@W2",
        "GLUE-1@W2",
    ]
    assert 'aria-sort="ascending"' in ascending
    descending = page(web.get(sort_link(ascending, "available")))
    assert stock_rows(descending) == list(reversed(stock_rows(ascending)))
    assert 'aria-sort="descending"' in descending
    # Sorting keeps the filters.
    assert stock_rows(page(web.get("/stock?warehouse=W1&sort=-on_hand"))) == [
        "BOLT-10@W1",
        "GLUE-1@W1",
        "NUT-5@W1",
    ]


def test_pages_show_where_they_are_and_link_onwards(app, person, make_warehouse, make_product):
    make_warehouse(code="W1")
    for i in range(45):
        make_product(sku=f"P{i:03d}", name=f"Part {i}")
    web = person("viewer")
    first = page(web.get("/stock?size=20"))
    assert count_line(first) == "1–20 of 45"
    assert link(first, "previous-page") is None
    second = page(web.get(link(first, "next-page")))
    assert count_line(second) == "21–40 of 45"
    third = page(web.get(link(second, "next-page")))
    assert count_line(third) == "41–45 of 45"
    assert link(third, "next-page") is None
    assert "size=20" in link(third, "previous-page")
    # Every row exactly once, though all are equal on the sorted column (ties broken by id).
    seen = []
    for n in (1, 2, 3):
        seen += stock_rows(page(web.get(f"/stock?size=20&sort=on_hand&page={n}")))
    assert sorted(seen) == sorted(f"P{i:03d}@W1" for i in range(45))
    # A page beyond the last shows the last.
    assert count_line(page(web.get("/stock?size=20&page=9"))) == "41–45 of 45"


def test_unusable_list_settings_are_explained_on_the_page(person, shelves):
    web = person("viewer")
    html = page(web.get("/stock?sort=password&warehouse=NOPE&level=empty&page=x&size=1000"))
    said = notices(html)
    assert set(said) == {"sort", "warehouse", "level", "page", "size"}
    assert "cannot be sorted by “password”" in said["sort"]
    assert "“NOPE” is not one of the choices" in said["warehouse"]
    assert "at most 200 rows" in said["size"]
    assert len(stock_rows(html)) == 6  # the rest of the list is shown as usual


def test_notices_are_translated(person, shelves):
    web = person("viewer")
    web.set_cookie("stockroom_lang", "zh_Hans_CN")
    said = notices(page(web.get("/stock?sort=password")))
    assert "password" in said["sort"]
    assert "cannot be sorted" not in said["sort"]


def test_stock_export_is_the_filtered_list_in_its_order(person, shelves):
    web = person("viewer")
    r = web.get("/stock/export.csv?level=low&sort=-available")
    rows = csv_of(r)
    assert [(x["sku"], x["warehouse"]) for x in rows] == [
        ("BOLT-10", "W1"),
        ("NUT-5", "W1"),
        ("NUT-5", "W2"),
    ]
    assert rows[0] == {
        "sku": "BOLT-10",
        "name": "Hex bolt M10",
        "category": "fasteners",
        "warehouse": "W1",
        "on_hand": "8",
        "reserved": "0",
        "available": "8",
        "incoming": "0",
        "low_at": "10",
        "level": "low",
    }
    everything = csv_of(web.get("/stock/export.csv?q=glue"))
    assert [x["on_hand"] for x in everything] == ["6", "1234"]  # plain numbers, no grouping
    assert "1,234" in page(web.get("/stock?q=glue"))  # while the page groups them
    today = db_today()
    assert r.headers["Content-Disposition"] == f'attachment; filename="stock-{today}.csv"'


def db_today() -> str:
    return datetime.now(UTC).astimezone(ZoneInfo("Asia/Shanghai")).date().isoformat()


def test_the_export_link_carries_the_pages_filters_and_order(person, shelves):
    web = person("viewer")
    html = page(web.get("/stock?q=nut&sort=-available&size=20&page=1"))
    export = link(html, "export-csv")
    assert export.startswith("/stock/export.csv?")
    assert "q=nut" in export
    assert "sort=-available" in export
    assert "size" not in export
    assert [x["sku"] + "@" + x["warehouse"] for x in csv_of(web.get(export))] == stock_rows(html)


def test_an_export_with_unusable_settings_is_refused_naming_them(person, shelves):
    web = person("viewer")
    r = web.get("/stock/export.csv?sort=nope&warehouse=W9", headers={"Accept": "application/json"})
    assert r.status_code == 422
    assert r.mimetype == "application/problem+json"
    assert set(r.json["errors"]) == {"sort", "warehouse"}
    html_error = web.get("/stock/export.csv?sort=nope")
    assert html_error.status_code == 422
    assert "sort “nope” is not a column the list can be sorted by" in html_error.get_data(
        as_text=True
    )


def test_lists_and_exports_need_sign_in(client, shelves):
    for path in ("/stock/export.csv", "/products/export.csv", "/stock/movements/export.csv"):
        r = client.get(path)
        assert r.status_code == 302
        assert "/login" in r.location


def test_a_large_export_streams_every_row_in_chunks(app, person, make_warehouse):
    """5,000 rows: the response is a stream sent in several chunks, and every row is in it."""
    make_warehouse(code="W1")
    with app.app_context(), db.UnitOfWork() as uow:
        uow.session.execute(
            insert(Product),
            [
                {"sku": f"S{i:05d}", "name": f"Item {i}", "currency": "CNY", "uom": "ea"}
                for i in range(5000)
            ],
        )
        uow.commit()
    web = person("viewer")
    html = page(web.get("/stock?size=1000"))
    assert count_line(html) == "1–200 of 5,000"
    streamed: list[bool] = []

    def watch(_conn, _cursor, statement, _params, context, _many) -> None:
        if "JOIN stock_levels" in statement and "count(" not in statement:
            streamed.append(bool(context.execution_options.get("stream_results")))

    with app.app_context():
        engine = db.engine()
    event.listen(engine, "before_cursor_execute", watch)
    try:
        r = web.get("/stock/export.csv?sort=-sku", buffered=False)
        assert r.is_streamed
        chunks = list(r.response)
        r.close()
    finally:
        event.remove(engine, "before_cursor_execute", watch)
    assert len(chunks) > 5  # the header, then a chunk per thousand rows
    assert streamed == [True]  # one query, read through a server-side cursor
    rows = csv_of(web.get("/stock/export.csv?sort=-sku"))
    assert len(rows) == 5000
    assert rows[0]["sku"] == "S04999"
    assert rows[-1]["sku"] == "S00000"
    assert len({x["sku"] for x in rows}) == 5000


# --- products -----------------------------------------------------------------------------------


def test_products_search_filter_sort_and_export(app, person, shelves, make_product):
    make_product(sku="OLD-1", name="Old bolt", category="fasteners", active=False)
    web = person("viewer")
    html = page(web.get("/products?q=BOLT"))
    assert keys(html, "data-sku") == ["BOLT-10", "OLD-1"]
    assert keys(page(web.get("/products?q=bolt&status=active")), "data-sku") == ["BOLT-10"]
    assert keys(page(web.get("/products?category=adhesives")), "data-sku") == ["GLUE-1"]
    by_stock = page(web.get("/products?sort=-on_hand"))
    assert keys(by_stock, "data-sku") == ["GLUE-1", "BOLT-10", "NUT-5", "OLD-1"]
    assert count_line(by_stock) == "1–4 of 4"
    rows = csv_of(web.get("/products/export.csv?category=fasteners&sort=name"))
    assert [x["sku"] for x in rows] == ["BOLT-10", "OLD-1", "NUT-5"]
    assert rows[0]["reorder_point"] == "10"
    assert rows[0]["on_hand"] == "48"
    assert rows[1]["active"] == "false"


# --- the ledger ---------------------------------------------------------------------------------


@pytest.fixture
def days(app, make_product, make_warehouse):
    """Receipts either side of midnight in Shanghai (UTC+8) around 1 March 2026."""
    make_warehouse(code="W1")
    make_product(sku="TEA-1", name="Green tea")
    make_product(sku="CUP-2", name="Tea cup")
    clock = FakeClock(datetime(2026, 2, 28, 15, 59, 59, tzinfo=UTC))
    app.config["CLOCK"] = clock
    from inventory import stock

    def receipt(sku: str, reference: str) -> None:
        with app.app_context():
            stock.post_movement(
                SYSTEM,
                {
                    "type": "receipt",
                    "sku": sku,
                    "warehouse": "W1",
                    "quantity": 3,
                    "reference": reference,
                },
            )

    receipt("TEA-1", "feb-28-last-second")  # 23:59:59 on 28 February in Shanghai
    clock.now = datetime(2026, 2, 28, 16, 0, 0, tzinfo=UTC)
    receipt("CUP-2", "mar-1-first-second")  # 00:00:00 on 1 March
    clock.now = datetime(2026, 3, 1, 15, 59, 59, tzinfo=UTC)
    receipt("TEA-1", "mar-1-last-second")  # 23:59:59 on 1 March
    clock.now = datetime(2026, 3, 1, 16, 0, 0, tzinfo=UTC)
    receipt("CUP-2", "mar-2-first-second")  # 00:00:00 on 2 March
    return clock


def references(html: str) -> list[str]:
    import re

    return re.findall(r'<td class="small">([a-z0-9-]+-second)</td>', html)


def test_ledger_is_newest_first_with_product_names(person, days):
    web = person("viewer")
    html = page(web.get("/stock/movements"))
    assert references(html) == [
        "mar-2-first-second",
        "mar-1-last-second",
        "mar-1-first-second",
        "feb-28-last-second",
    ]
    assert "Green tea" in html
    assert "Tea cup" in html
    oldest_first = page(web.get(sort_link(html, "occurred_at")))
    assert references(oldest_first) == list(reversed(references(html)))


def test_ledger_date_range_is_whole_days_in_the_display_time_zone(person, days):
    web = person("viewer")
    one_day = page(web.get("/stock/movements?from=2026-03-01&to=2026-03-01"))
    assert references(one_day) == ["mar-1-last-second", "mar-1-first-second"]
    assert references(page(web.get("/stock/movements?to=2026-02-28"))) == ["feb-28-last-second"]
    assert references(page(web.get("/stock/movements?from=2026-03-02"))) == ["mar-2-first-second"]
    rows = csv_of(web.get("/stock/movements/export.csv?from=2026-03-01&to=2026-03-01"))
    assert [(x["reference"], x["occurred_at_utc"]) for x in rows] == [
        ("mar-1-last-second", "2026-03-01T15:59:59Z"),
        ("mar-1-first-second", "2026-02-28T16:00:00Z"),
    ]
    assert [x["name"] for x in rows] == ["Green tea", "Tea cup"]


def test_ledger_search_and_filters(person, days):
    web = person("viewer")
    assert references(page(web.get("/stock/movements?q=TEA%20C"))) == [
        "mar-2-first-second",
        "mar-1-first-second",
    ]
    assert references(page(web.get("/stock/movements?sku=TEA-1&type=receipt"))) == [
        "mar-1-last-second",
        "feb-28-last-second",
    ]
    assert references(page(web.get("/stock/movements?type=issue"))) == []
    rows = csv_of(web.get("/stock/movements/export.csv?q=green&sort=occurred_at"))
    assert [x["reference"] for x in rows] == ["feb-28-last-second", "mar-1-last-second"]
    assert rows[0]["quantity"] == "3"


def test_ledger_explains_bad_dates(person, days):
    web = person("viewer")
    bad = notices(page(web.get("/stock/movements?from=2026-13-01")))
    assert "“2026-13-01” is not a date" in bad["from"]
    backwards = page(web.get("/stock/movements?from=2026-03-02&to=2026-03-01"))
    assert "before it starts" in notices(backwards)["to"]
    assert len(references(backwards)) == 4  # the range is off, not the list
    r = web.get(
        "/stock/movements/export.csv?from=2026-03-02&to=2026-03-01",
        headers={"Accept": "application/json"},
    )
    assert r.status_code == 422
    assert "to" in r.json["errors"]


def test_reorder_point_is_part_of_a_product(app, admin, make_product):
    make_product(sku="X-1", reorder_point=3)
    assert admin.get("/products/X-1").json["reorder_point"] == 3
    assert admin.patch("/products/X-1", json={"reorder_point": -1}).status_code == 422
    assert admin.patch("/products/X-1", json={"reorder_point": None}).status_code == 200
    with app.app_context():
        assert catalog.get_product("X-1").reorder_point is None


def test_an_admin_sets_a_reorder_point_on_the_product_form_and_the_stock_list_follows(
    person, shelves, admin
):
    boss = person("admin")
    assert "GLUE-1@W1" not in stock_rows(page(boss.get("/stock?level=low")))  # 6 > 5
    refused = boss.post("/products/GLUE-1/edit", data={"name": "Wood glue", "reorder_point": "-1"})
    assert refused.status_code == 200
    assert "Nothing was saved" in refused.get_data(as_text=True)
    r = boss.post(
        "/products/GLUE-1/edit",
        data={
            "name": "Wood glue",
            "category": "adhesives",
            "uom": "ea",
            "currency": "CNY",
            "reorder_point": "6",
            "active": "y",
        },
    )
    assert r.status_code == 302
    assert admin.get("/products/GLUE-1").json["reorder_point"] == 6
    assert "GLUE-1@W1" in stock_rows(page(boss.get("/stock?level=low")))
    form = page(boss.get("/products/GLUE-1/edit"))
    assert 'name="reorder_point" type="text" value="6"' in form
