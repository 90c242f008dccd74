"""The reservation and shipment lists: who sees what, search, filters, sorting, pages and CSV."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
from sqlalchemy import update

from accounts.principal import SYSTEM
from core import db
from logistics import shipments
from logistics.models import Shipment
from tests.listing_helpers import count_line, csv_of, keys, notices, page, sort_link, web_user
from tests.reservation_factories import FakeClock, reserve


@pytest.fixture
def person(app, make_user):
    return web_user(app, make_user)


# --- reservations -------------------------------------------------------------------------------


@pytest.fixture
def holds(app, make_product, make_warehouse, receive, make_user):
    """Four reservations of one storefront, made either side of midnight in Shanghai:

    ORD-100 (W1, lapsed), ord-200 (W2, committed), WEB-300 (split over W1 and W2, active),
    WEB-400 (W1, released).
    """
    make_warehouse(code="W1")
    make_warehouse(code="W2")
    make_product(sku="A")
    make_product(sku="B")
    for w in ("W1", "W2"):
        receive("A", w, 5)
        receive("B", w, 5)
    shop = make_user("storefront", username="shop", password="shop-web-pw")
    clock = FakeClock(datetime(2026, 2, 28, 15, 59, 59, tzinfo=UTC))  # 28 Feb, 23:59:59
    app.config["CLOCK"] = clock
    day = 86400

    def made(lines, **extra):
        r = reserve(shop, lines, **extra)
        assert r.status_code == 201, r.get_data(as_text=True)
        return r.json["id"]

    ids = {"ORD-100": made({"A": 2}, order_ref="ORD-100", warehouse="W1", ttl_seconds=day)}
    clock.now = datetime(2026, 2, 28, 16, 0, 0, tzinfo=UTC)  # 1 March, 00:00:00
    ids["ord-200"] = made({"B": 3}, order_ref="ord-200", warehouse="W2")
    assert shop.post(f"/reservations/{ids['ord-200']}/commit").status_code == 200
    clock.now = datetime(2026, 3, 1, 15, 59, 59, tzinfo=UTC)  # 1 March, 23:59:59
    ids["WEB-300"] = made({"A": 8}, order_ref="WEB-300", ttl_seconds=day)  # 5 + 3 (A in W1: 3)
    clock.now = datetime(2026, 3, 1, 16, 0, 0, tzinfo=UTC)  # 2 March, 00:00:00
    ids["WEB-400"] = made({"B": 1}, order_ref="WEB-400", warehouse="W1", ttl_seconds=day)
    assert shop.post(f"/reservations/{ids['WEB-400']}/release").status_code == 200
    # ORD-100's day is up: it reads as expired from now on.
    return {ref: str(i) for ref, i in ids.items()}


def refs(html: str) -> list[str]:
    import re

    return re.findall(r'<td data-col="order_ref">([^<]+)</td>', html)


def test_each_role_sees_the_reservations_it_may_read(app, person, make_user, holds):
    admin = person("admin")
    assert refs(page(admin.get("/reservations"))) == ["WEB-400", "WEB-300", "ord-200", "ORD-100"]
    w1 = page(person("warehouse", warehouses=["W1"]).get("/reservations"))
    assert refs(w1) == ["WEB-400", "WEB-300", "ORD-100"]
    assert refs(page(person("warehouse", warehouses=["W2"]).get("/reservations"))) == [
        "WEB-300",
        "ord-200",
    ]
    # The storefront that made them sees them all (signed in on the web), another none.
    shop = app.test_client()
    assert (
        shop.post("/login", data={"username": "shop", "password": "shop-web-pw"}).status_code == 302
    )
    assert len(refs(page(shop.get("/reservations")))) == 4
    assert refs(page(person("storefront").get("/reservations"))) == []
    viewer = person("viewer")
    assert viewer.get("/reservations").status_code == 403
    assert viewer.get("/reservations/export.csv").status_code == 403
    assert 'href="/reservations"' not in page(viewer.get("/stock"))
    assert 'href="/reservations"' in w1


def test_reservations_status_reads_as_now(person, holds):
    web = person("admin")
    html = page(web.get("/reservations"))
    assert dict(zip(keys(html, "data-reservation"), keys(html, "data-status"), strict=True)) == {
        holds["ORD-100"]: "expired",
        holds["ord-200"]: "committed",
        holds["WEB-300"]: "active",
        holds["WEB-400"]: "released",
    }
    for status, expected in (
        ("active", ["WEB-300"]),
        ("expired", ["ORD-100"]),
        ("committed", ["ord-200"]),
        ("released", ["WEB-400"]),
    ):
        assert refs(page(web.get(f"/reservations?status={status}"))) == expected


def test_reservations_search_dates_warehouse_and_sort(person, holds):
    web = person("admin")
    assert refs(page(web.get("/reservations?q=ORD"))) == ["ord-200", "ORD-100"]
    assert refs(page(web.get("/reservations?q=web-3"))) == ["WEB-300"]
    assert len(refs(page(web.get("/reservations?q=SHOP")))) == 4  # the account that made them
    assert refs(page(web.get("/reservations?from=2026-03-01&to=2026-03-01"))) == [
        "WEB-300",
        "ord-200",
    ]
    assert refs(page(web.get("/reservations?to=2026-02-28"))) == ["ORD-100"]
    assert refs(page(web.get("/reservations?warehouse=W2"))) == ["WEB-300", "ord-200"]
    by_units = page(web.get("/reservations?sort=-units"))
    assert refs(by_units) == ["WEB-300", "ord-200", "ORD-100", "WEB-400"]
    assert refs(page(web.get(sort_link(by_units, "units")))) == [
        "WEB-400",
        "ORD-100",
        "ord-200",
        "WEB-300",
    ]
    assert count_line(by_units) == "1–4 of 4"


def test_warehouse_staff_count_and_filter_only_their_warehouses(person, holds):
    web = person("warehouse", warehouses=["W1"])
    html = page(web.get("/reservations?warehouse=W2"))
    assert "W2" in notices(html)["warehouse"]
    assert refs(html) == ["WEB-400", "WEB-300", "ORD-100"]
    rows = csv_of(web.get("/reservations/export.csv?q=web-300"))
    assert [(x["order_ref"], x["warehouses"], x["units"], x["lines"]) for x in rows] == [
        ("WEB-300", "W1", "5", "1")
    ]
    r = web.get("/reservations/export.csv?warehouse=W2", headers={"Accept": "application/json"})
    assert r.status_code == 422
    assert "warehouse" in r.json["errors"]


def test_reservations_export_is_the_filtered_list(person, holds):
    web = person("admin")
    rows = csv_of(web.get("/reservations/export.csv?from=2026-03-01&sort=created_at"))
    assert [x["order_ref"] for x in rows] == ["ord-200", "WEB-300", "WEB-400"]
    split = rows[1]
    assert split["warehouses"] == "W1 W2"
    assert (split["lines"], split["units"], split["skus"]) == ("2", "8", "A")
    assert split["status"] == "active"
    assert split["created_at_utc"] == "2026-03-01T15:59:59Z"
    assert split["expires_at_utc"] == "2026-03-02T15:59:59Z"
    assert rows[0]["status"] == "committed"
    assert rows[0]["closed_at_utc"] == "2026-02-28T16:00:00Z"


# --- shipments ----------------------------------------------------------------------------------


@pytest.fixture
def parcels(app, make_warehouse, make_product):
    make_warehouse(code="W1")
    make_warehouse(code="W2")
    made = {}
    with app.app_context():
        for ref, warehouse, region, kg, day in (
            ("ORD-7", "W1", "east", "2.500", date(2026, 3, 1)),
            ("ORD-8", "W2", "West", "10.000", date(2026, 3, 2)),
            ("B2B-9", "W1", "EAST", "0.750", date(2026, 3, 2)),
            (None, "W2", "north", "4.000", date(2026, 3, 3)),
        ):
            shipment = shipments.create_shipment(
                SYSTEM,
                {
                    "warehouse": warehouse,
                    "order_ref": ref,
                    "region": region,
                    "weight_kg": Decimal(kg),
                    "ship_date": day,
                },
            )
            made[ref or "none"] = str(shipment.id)
        with db.UnitOfWork() as uow:
            uow.session.execute(
                update(Shipment).where(Shipment.id == int(made["ORD-8"])).values(status="cancelled")
            )
            uow.commit()
    return made


def ids(html: str) -> list[str]:
    return keys(html, "data-shipment-id")


def test_shipments_search_filters_dates_and_sort(person, parcels):
    web = person("viewer")
    p = parcels
    assert ids(page(web.get("/shipments"))) == [p["none"], p["B2B-9"], p["ORD-8"], p["ORD-7"]]
    assert ids(page(web.get("/shipments?q=EAST"))) == [p["B2B-9"], p["ORD-7"]]
    assert ids(page(web.get("/shipments?q=ord-"))) == [p["ORD-8"], p["ORD-7"]]
    assert ids(page(web.get("/shipments?warehouse=W2&status=planned"))) == [p["none"]]
    assert ids(page(web.get("/shipments?status=cancelled"))) == [p["ORD-8"]]
    assert ids(page(web.get("/shipments?from=2026-03-02&to=2026-03-02"))) == [
        p["B2B-9"],
        p["ORD-8"],
    ]
    by_weight = page(web.get("/shipments?sort=weight_kg"))
    assert ids(by_weight) == [p["B2B-9"], p["ORD-7"], p["none"], p["ORD-8"]]
    assert ids(page(web.get(sort_link(by_weight, "weight_kg")))) == [
        p["ORD-8"],
        p["none"],
        p["ORD-7"],
        p["B2B-9"],
    ]
    said = notices(page(web.get("/shipments?status=lost&from=yesterday")))
    assert set(said) == {"status", "from"}


def test_shipments_export_and_who_may_have_it(person, parcels):
    web = person("warehouse", warehouses=["W1"])
    rows = csv_of(web.get("/shipments/export.csv?q=east&sort=ship_date"))
    assert [(x["order_ref"], x["region"], x["weight_kg"], x["ship_date"]) for x in rows] == [
        ("ORD-7", "EAST", "2.5", "2026-03-01"),
        ("B2B-9", "EAST", "0.75", "2026-03-02"),
    ]
    assert rows[0]["status"] == "planned"
    assert rows[0]["service"] == ""
    shop = person("storefront")
    assert shop.get("/shipments/export.csv").status_code == 403
