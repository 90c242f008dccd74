"""Warehouse staff in a real browser: assign the day's shipments and follow one to its door."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest

from accounts import services as accounts
from accounts.principal import SYSTEM
from core.db import read_only
from logistics import carriers, shipments
from tests.e2e.conftest import login, open_page

pytestmark = pytest.mark.e2e

RATES = "origin,region,max_weight_kg,base,per_kg,minimum\nSH1,EAST,10,6,1,0\nSH1,NORTH,10,9,1,0\n"


@pytest.fixture
def day(live_server, make_warehouse):
    make_warehouse(code="SH1", name="Shanghai")
    with live_server.app.app_context():
        accounts.create_user("lin", ["warehouse"], warehouses=["SH1"], password="pw-lin-1234")
        carriers.create_carrier(SYSTEM, {"code": "SF", "name": "SF Express"})
        carriers.create_service(
            SYSTEM,
            "SF",
            {"code": "SF-NEXT", "name": "Next day", "transit_days": 1, "daily_max_shipments": 1},
        )
        carriers.create_service(
            SYSTEM, "SF", {"code": "SF-ECO", "name": "Economy", "transit_days": 3}
        )
        carriers.import_rates(SYSTEM, "SF-NEXT", RATES.replace(",6,", ",9,"))
        carriers.import_rates(SYSTEM, "SF-ECO", RATES)
        with read_only() as s:
            tomorrow = shipments.current_ship_date(s) + timedelta(days=1)  # a day after leaving
        for order, region in (("WEB-1", "EAST"), ("WEB-2", "EAST"), ("WEB-3", "MOON")):
            shipments.create_shipment(
                SYSTEM,
                {
                    "warehouse": "SH1",
                    "region": region,
                    "order_ref": order,
                    "weight_kg": Decimal("2"),
                    "deliver_by": tomorrow,
                },
            )
    return live_server


def test_staff_assign_the_day_and_see_why_each_parcel_goes_where(day, browser_page):
    page = browser_page
    login(page, day.url, "lin", "pw-lin-1234")
    page.click("nav >> text=Shipments")
    page.wait_for_selector("[data-testid=shipments-table]")
    assert page.locator("[data-testid=shipments-table] tbody tr[data-status=planned]").count() == 3
    page.click("[data-testid=assign]")
    # The result page follows the job and shows the plan once it is done.
    page.wait_for_selector("[data-testid=assignment-status][data-status=succeeded]", timeout=30_000)
    page.wait_for_selector("[data-testid=assignment-table]")
    table = page.locator("[data-testid=assignment-table] tbody tr").all()
    rows = {row.locator("td").nth(1).inner_text(): row.inner_text() for row in table}
    chosen = {
        row.locator("td").nth(1).inner_text(): row.locator("[data-col=service]").inner_text()
        for row in table
    }
    assert set(rows) == {"WEB-1", "WEB-2", "WEB-3"}
    # Next day takes one parcel; the other goes two days late on economy; the moon has no rate.
    assert sorted(chosen.values()) == ["SF-ECO", "SF-NEXT", "not shipped"]
    assert chosen["WEB-3"] == "not shipped"
    assert "MOON" in rows["WEB-3"]
    late = next(rows[order] for order, service in chosen.items() if service == "SF-ECO")
    assert "2 d late" in late
    assert "full" in late
    totals = page.inner_text("[data-testid=assignment-totals]")
    assert "Cheapest rate for each parcel" in totals
    assert "0 parcels beyond a service's capacity" in totals  # economy has no limit
    # Follow one shipment to its timeline.
    page.click("[data-testid=assignment-table] tbody tr >> nth=0 >> a")
    page.wait_for_selector("[data-testid=timeline]")
    assert page.inner_text("[data-testid=shipment-facts] [data-col=status]") in (
        "assigned",
        "planned",
    )
    assert "planned" in page.inner_text("[data-testid=timeline]")
    open_page(page, "Planning", "Carriers")
    page.wait_for_selector("[data-carrier=SF]")
    assert "Next day" in page.inner_text("[data-carrier=SF]")
