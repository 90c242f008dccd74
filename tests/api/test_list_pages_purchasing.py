"""The supplier and purchase order lists: search, filters, sorting, pages and the CSV export."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import update

from core import db
from procurement.models import Supplier
from tests.listing_helpers import count_line, csv_of, keys, notices, page, sort_link, web_user
from tests.procurement_factories import create_order, step
from tests.reservation_factories import FakeClock


@pytest.fixture
def person(app, make_user):
    return web_user(app, make_user)


# --- suppliers ----------------------------------------------------------------------------------


@pytest.fixture
def supply(app, make_supplier):
    make_supplier(code="ACME", name="Acme Tools", default_lead_time_days=7)
    make_supplier(code="HILL", name="Hillside Tea", default_lead_time_days=21)
    make_supplier(code="TOOLBOX", name="Box of tools", status="candidate", default_lead_time_days=3)
    make_supplier(code="ZED", name="Zed Co", status="blocked", default_lead_time_days=14)
    with app.app_context(), db.UnitOfWork() as uow:
        uow.session.execute(
            update(Supplier).where(Supplier.code == "HILL").values(flagged_for_review=True)
        )
        uow.commit()


def test_suppliers_search_code_or_name_whatever_the_case(person, supply):
    web = person("buyer")
    assert keys(page(web.get("/procurement/suppliers?q=tool")), "data-supplier") == [
        "ACME",
        "TOOLBOX",
    ]
    assert keys(page(web.get("/procurement/suppliers?q=HILLSIDE")), "data-supplier") == ["HILL"]
    assert keys(page(web.get("/procurement/suppliers?q=zed")), "data-supplier") == ["ZED"]


def test_suppliers_filters_and_sorting(person, supply):
    web = person("viewer")
    approved = page(web.get("/procurement/suppliers?status=approved"))
    assert keys(approved, "data-supplier") == ["ACME", "HILL"]
    assert count_line(approved) == "1–2 of 2"
    assert keys(page(web.get("/procurement/suppliers?flagged=1")), "data-supplier") == ["HILL"]
    by_lead_time = page(web.get("/procurement/suppliers?sort=lead_time"))
    assert keys(by_lead_time, "data-supplier") == ["TOOLBOX", "ACME", "ZED", "HILL"]
    longest_first = page(web.get(sort_link(by_lead_time, "lead_time")))
    assert keys(longest_first, "data-supplier") == ["HILL", "ZED", "ACME", "TOOLBOX"]
    by_name = page(web.get("/procurement/suppliers?sort=-name"))
    assert keys(by_name, "data-supplier") == ["ZED", "HILL", "TOOLBOX", "ACME"]
    said = notices(page(web.get("/procurement/suppliers?status=great&grade=Z")))
    assert set(said) == {"status", "grade"}


def test_suppliers_export_and_who_may_have_it(person, supply):
    web = person("buyer")
    rows = csv_of(web.get("/procurement/suppliers/export.csv?sort=-lead_time"))
    assert [x["code"] for x in rows] == ["HILL", "ZED", "ACME", "TOOLBOX"]
    assert rows[0]["flagged_for_review"] == "true"
    assert rows[0]["default_lead_time_days"] == "21"
    assert rows[2]["status"] == "approved"
    assert rows[0]["created_at_utc"].endswith("Z")
    assert [
        x["code"] for x in csv_of(web.get("/procurement/suppliers/export.csv?status=blocked"))
    ] == ["ZED"]
    shop = person("storefront")
    assert shop.get("/procurement/suppliers").status_code == 403
    assert shop.get("/procurement/suppliers/export.csv").status_code == 403


# --- purchase orders ----------------------------------------------------------------------------


@pytest.fixture
def orders(app, world, make_supplier, buyer):
    """Four orders written either side of midnight in Shanghai around 1 March 2026."""
    make_supplier(code="HILL", name="Hillside Tea", items={"A": "11.00"})
    clock = FakeClock(datetime(2026, 2, 28, 15, 59, 59, tzinfo=UTC))
    app.config["CLOCK"] = clock
    made = [create_order(buyer, lines=[{"sku": "A", "quantity": 30}])]  # 28 Feb, 23:59:59
    clock.now = datetime(2026, 2, 28, 16, 0, 0, tzinfo=UTC)  # 1 March, 00:00:00
    made.append(
        create_order(buyer, supplier="HILL", warehouse="W2", lines=[{"sku": "A", "quantity": 5}])
    )
    clock.now = datetime(2026, 3, 1, 15, 59, 59, tzinfo=UTC)  # 1 March, 23:59:59
    made.append(create_order(buyer, lines=[{"sku": "A", "quantity": 1}]))
    clock.now = datetime(2026, 3, 1, 16, 0, 0, tzinfo=UTC)  # 2 March, 00:00:00
    made.append(create_order(buyer, supplier="HILL", lines=[{"sku": "A", "quantity": 20}]))
    step(buyer, made[2], "cancel", reason="typed twice")
    return [po["number"] for po in made]


def numbers(html: str) -> list[str]:
    import re

    return re.findall(r'class="fw-semibold">(PO-\d{6})</a>', html)


def test_orders_are_newest_first_and_searched_by_number_or_supplier(person, orders):
    web = person("buyer")
    first, second, third, fourth = orders
    assert numbers(page(web.get("/procurement/orders"))) == [fourth, third, second, first]
    assert numbers(page(web.get(f"/procurement/orders?q={second.lower()}"))) == [second]
    assert numbers(page(web.get(f"/procurement/orders?q={int(second[3:])}"))) == [second]
    assert numbers(page(web.get("/procurement/orders?q=hillside"))) == [fourth, second]
    assert numbers(page(web.get("/procurement/orders?q=ACME"))) == [third, first]


def test_orders_date_range_is_whole_days_in_shanghai(person, orders):
    web = person("viewer")
    first, second, third, fourth = orders
    assert numbers(page(web.get("/procurement/orders?from=2026-03-01&to=2026-03-01"))) == [
        third,
        second,
    ]
    assert numbers(page(web.get("/procurement/orders?to=2026-02-28"))) == [first]
    assert numbers(page(web.get("/procurement/orders?from=2026-03-02"))) == [fourth]


def test_orders_filters_and_sorting(person, orders):
    web = person("viewer")
    first, second, third, fourth = orders
    assert numbers(page(web.get("/procurement/orders?status=cancelled"))) == [third]
    assert numbers(page(web.get("/procurement/orders?status=draft&warehouse=W2"))) == [second]
    assert numbers(page(web.get("/procurement/orders?supplier=HILL"))) == [fourth, second]
    by_total = page(web.get("/procurement/orders?sort=total"))
    assert numbers(by_total) == [third, second, fourth, first]  # 10, 55, 220, 300
    assert numbers(page(web.get(sort_link(by_total, "total")))) == [first, fourth, second, third]
    said = notices(page(web.get("/procurement/orders?status=lost&warehouse=MARS")))
    assert set(said) == {"status", "warehouse"}


def test_orders_export_is_the_filtered_list(person, orders):
    web = person("approver")
    _first, second, third, fourth = orders
    rows = csv_of(web.get("/procurement/orders/export.csv?from=2026-03-01&sort=created_at"))
    assert [x["number"] for x in rows] == [second, third, fourth]
    assert rows[0] == {
        "number": second,
        "status": "draft",
        "supplier": "HILL",
        "supplier_name": "Hillside Tea",
        "warehouse": "W2",
        "lines": "1",
        "total": "55",
        "currency": "CNY",
        "expected_date": "",
        "created_by": rows[0]["created_by"],
        "created_at_utc": "2026-02-28T16:00:00Z",
    }
    assert rows[1]["status"] == "cancelled"
    shop = person("storefront")
    assert shop.get("/procurement/orders/export.csv").status_code == 403


def test_orders_pages(person, world, buyer):
    for qty in range(1, 24):
        create_order(buyer, lines=[{"sku": "A", "quantity": qty}])
    web = person("buyer")
    html = page(web.get("/procurement/orders?size=20&page=2"))
    assert count_line(html) == "21–23 of 23"
    assert numbers(html) == ["PO-000003", "PO-000002", "PO-000001"]
