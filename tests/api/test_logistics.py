"""Carriers, rate cards, shipments from committed orders, tracking webhooks and assignment."""

from __future__ import annotations

import csv
import io
import json
from datetime import timedelta
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from core import db
from core.db import utcnow
from logistics.models import RateRow, Shipment, ShipmentEvent
from logistics.shipments import sign
from tests.factories import assert_problem
from tests.forecasting_factories import wait_for_job

SECRET = "s3cret-shared-with-the-carrier"
RATES = (
    "origin,region,max_weight_kg,base,per_kg,minimum\n"
    "W1,EAST,2,5.00,1.00,6.00\n"
    "W1,EAST,10,8.00,0.50,0\n"
    "W1,WEST,10,12.00,0.80,0\n"
)


@pytest.fixture
def world(make_product, make_warehouse, receive):
    make_warehouse(code="W1")
    make_warehouse(code="W2")
    make_product(sku="A", weight_kg="1.500")
    make_product(sku="B", weight_kg="0.250")
    receive("A", "W1", 50)
    receive("B", "W1", 50)
    receive("A", "W2", 50)


@pytest.fixture
def admin_api(make_user):
    return make_user("admin")


@pytest.fixture
def carrier(admin_api, world):
    r = admin_api.post(
        "/carriers", json={"code": "SF", "name": "SF Express", "webhook_secret": SECRET}
    )
    assert r.status_code == 201, r.json
    for code, days, cap, fuel in (("SF-STD", 2, 2, "10"), ("SF-ECO", 4, None, "0")):
        body = {"code": code, "name": code, "transit_days": days, "fuel_surcharge_pct": fuel}
        if cap is not None:
            body["daily_max_shipments"] = cap
        r = admin_api.post("/carriers/SF/services", json=body)
        assert r.status_code == 201, r.json
    for code in ("SF-STD", "SF-ECO"):
        r = admin_api.client.put(
            f"/api/v1/services/{code}/rates",
            data=RATES,
            headers={"Authorization": f"Bearer {admin_api.token}", "Content-Type": "text/csv"},
        )
        assert r.status_code == 200, r.json
    return "SF"


def put_rates(api, code: str, text: str):
    return api.client.put(
        f"/api/v1/services/{code}/rates",
        data=text,
        headers={"Authorization": f"Bearer {api.token}", "Content-Type": "text/csv"},
    )


def test_rate_card_import_is_all_or_nothing_and_names_each_bad_row(app, admin_api, carrier):
    bad = RATES + "W9,EAST,5,1,1,1\nW1,EAST,2,9.00,1,1\nW1,EAST,abc,1,1,1\n"
    r = put_rates(admin_api, "SF-STD", bad)
    body = assert_problem(r, 422)
    assert set(body["errors"]) == {"row 5", "row 6", "row 7"}
    assert "no warehouse W9" in body["errors"]["row 5"][0]
    assert "row 2" in body["errors"]["row 6"][0]
    with app.app_context(), db.read_only() as s:
        assert s.scalar(select(func.count()).select_from(RateRow)) == 6  # both cards unchanged


def decimals(text: str) -> list[list[object]]:
    rows = list(csv.reader(io.StringIO(text)))
    return [rows[0]] + [[*r[:2], *(Decimal(c) for c in r[2:])] for r in rows[1:]]


def test_rate_card_exports_what_it_imported(admin_api, carrier):
    r = admin_api.get("/services/SF-STD/rates")
    assert r.status_code == 200
    assert r.mimetype == "text/csv"
    exported = r.get_data(as_text=True)
    assert decimals(exported) == decimals(RATES)
    # What is exported imports again unchanged.
    assert put_rates(admin_api, "SF-ECO", exported).json == {
        "service": "SF-ECO",
        "rows": 3,
        "replaced": 3,
    }
    assert admin_api.get("/services/SF-ECO/rates").get_data(as_text=True) == exported


@pytest.mark.parametrize(
    ("weight", "std", "eco"),
    [
        # 2 kg is on the first band's boundary: max(6, 5 + 2*1) = 7, plus 10 % fuel on STD.
        ("2", "7.70", "7.00"),
        # Just above: the 10 kg band, 8 + 2.001*0.5 = 9.0005 -> 9.00.
        ("2.001", "9.90", "9.00"),
        # The minimum applies to light parcels: max(6, 5.5) = 6.
        ("0.5", "6.60", "6.00"),
    ],
)
def test_quote_prices_by_band_minimum_and_fuel(admin_api, carrier, weight, std, eco):
    r = admin_api.get(f"/rates/quote?warehouse=W1&region=east&weight_kg={weight}")
    assert r.status_code == 200, r.json
    assert {q["service"]: q["price"] for q in r.json} == {"SF-STD": std, "SF-ECO": eco}


def test_no_rate_for_a_missing_region_or_a_heavy_parcel(admin_api, carrier):
    assert admin_api.get("/rates/quote?warehouse=W1&region=NORTH&weight_kg=1").json == []
    assert admin_api.get("/rates/quote?warehouse=W1&region=EAST&weight_kg=10.5").json == []


def test_committing_an_order_makes_one_shipment_per_warehouse(app, make_user, carrier):
    shop = make_user("storefront")
    deliver_by = (utcnow() + timedelta(days=5)).date().isoformat()
    r = shop.post(
        "/reservations",
        json={
            "order_ref": "ORD-1",
            "lines": [{"sku": "A", "quantity": 60}, {"sku": "B", "quantity": 4}],
            "destination": {"region": "east"},
            "deliver_by": deliver_by,
        },
    )
    assert r.status_code == 201, r.json
    assert r.json["destination"] == {"region": "EAST"}
    assert r.json["deliver_by"] == deliver_by
    picks = {(ln["sku"], ln["warehouse"]): ln["quantity"] for ln in r.json["lines"]}
    assert shop.post(f"/reservations/{r.json['id']}/commit").status_code == 200
    with app.app_context(), db.read_only() as s:
        shipments = s.scalars(select(Shipment).order_by(Shipment.warehouse_id)).all()
        weights = [sh.weight_kg for sh in shipments]
        assert {sh.region for sh in shipments} == {"EAST"}
        assert {sh.order_ref for sh in shipments} == {"ORD-1"}
        assert {sh.deliver_by.isoformat() for sh in shipments} == {deliver_by}
    expected = []
    for w in ("W1", "W2"):
        kg = Decimal("1.5") * picks.get(("A", w), 0) + Decimal("0.25") * picks.get(("B", w), 0)
        if kg:
            expected.append(kg)
    assert len(shipments) == len(expected) == 2
    assert weights == expected


def test_an_order_without_a_region_ships_nothing(app, make_user, carrier):
    shop = make_user("storefront")
    r = shop.post(
        "/reservations", json={"order_ref": "PICKUP", "lines": [{"sku": "A", "quantity": 1}]}
    )
    assert shop.post(f"/reservations/{r.json['id']}/commit").status_code == 200
    with app.app_context(), db.read_only() as s:
        assert s.scalar(select(func.count()).select_from(Shipment)) == 0


def test_shipment_weight_comes_from_its_lines(make_user, carrier):
    staff = make_user("warehouse", warehouses=["W1"])
    r = staff.post(
        "/shipments",
        json={"warehouse": "W1", "region": "WEST", "lines": [{"sku": "a", "quantity": 3}]},
    )
    assert r.status_code == 201, r.json
    assert r.json["weight_kg"] == "4.500"
    assert r.json["status"] == "planned"
    assert [e["status"] for e in r.json["events"]] == ["planned"]
    other = make_user("warehouse", warehouses=["W2"])
    assert_problem(
        other.post("/shipments", json={"warehouse": "W1", "region": "X", "weight_kg": "1"}), 403
    )
    assert_problem(
        staff.post(
            "/shipments",
            json={"warehouse": "W1", "region": "X", "lines": [{"sku": "nope", "quantity": 1}]},
        ),
        422,
        "lines",
    )


def test_state_machine_refuses_illegal_moves(make_user, carrier):
    staff = make_user("warehouse", warehouses=["W1"])
    sid = staff.post(
        "/shipments", json={"warehouse": "W1", "region": "EAST", "weight_kg": "1"}
    ).json["id"]
    # Not assigned yet: it cannot be picked up.
    body = assert_problem(staff.post(f"/shipments/{sid}/events", json={"status": "picked_up"}), 409)
    assert "planned" in body["detail"]
    planner = make_user("planner")
    job = planner.post("/shipments/assign", json={"warehouse": "W1"})
    assert job.status_code == 202, job.json
    assert wait_for_job(planner, job.json["job_id"])["status"] == "succeeded"
    for status in ("picked_up", "in_transit", "out_for_delivery", "delivered"):
        r = staff.post(f"/shipments/{sid}/events", json={"status": status, "location": "Hub"})
        assert r.status_code == 201, r.json
    assert r.json["delivered_at"] is not None
    assert [e["status"] for e in r.json["events"]] == [
        "planned",
        "picked_up",
        "in_transit",
        "out_for_delivery",
        "delivered",
    ]
    assert_problem(staff.post(f"/shipments/{sid}/events", json={"status": "returned"}), 409)


def test_assignment_respects_capacity_and_explains_each_choice(app, make_user, carrier):
    from core.db import read_only
    from logistics.shipments import current_ship_date

    staff = make_user("warehouse", warehouses=["W1"])
    with app.app_context(), read_only() as s:
        soon = (current_ship_date(s) + timedelta(days=2)).isoformat()  # two days after leaving
    ids = [
        staff.post(
            "/shipments",
            json={"warehouse": "W1", "region": "EAST", "weight_kg": "1", "deliver_by": soon},
        ).json["id"]
        for _ in range(3)
    ]
    r = staff.post("/shipments/assign", json={"warehouse": "W1"})
    assert r.status_code == 202
    assert r.headers["Location"].endswith(f"/jobs/{r.json['job_id']}")
    job = wait_for_job(staff, r.json["job_id"])
    assert job["status"] == "succeeded", job
    result = job["result"]
    by_id = {row["id"]: row for row in result["shipments"]}
    assert set(by_id) == set(ids)
    # ECO (7.00 with no fuel, 4 days) arrives two days late; STD (7.70, 2 days) is on time but
    # takes only two a day: two go STD, the third must go late on ECO.
    services = sorted(row["service"] for row in by_id.values())
    assert services == ["SF-ECO", "SF-STD", "SF-STD"]
    late = next(row for row in by_id.values() if row["service"] == "SF-ECO")
    assert late["days_late"] == 2
    assert "SF-STD" in late["reason"]
    assert "full" in late["reason"]
    assert result["unassigned"] == 0
    assert result["baseline"]["over_capacity"] == 0  # the cheapest rate is ECO for all three
    assert Decimal(result["objective"]) < Decimal(result["baseline"]["objective"])
    assert result["solver"][0]["status"] == "OPTIMAL"
    shown = staff.get(f"/shipments/{late['id']}").json
    assert shown["status"] == "assigned"
    assert shown["service"] == "SF-ECO"
    assert shown["carrier"] == "SF"
    assert shown["reason"] == late["reason"]


def test_a_shipment_with_no_rate_is_reported_not_dropped(make_user, carrier):
    staff = make_user("warehouse", warehouses=["W1"])
    sid = staff.post(
        "/shipments", json={"warehouse": "W1", "region": "MOON", "weight_kg": "1"}
    ).json["id"]
    r = staff.post("/shipments/assign", json={"warehouse": "W1"})
    job = wait_for_job(staff, r.json["job_id"])
    (row,) = job["result"]["shipments"]
    assert row["id"] == sid
    assert row["service"] is None
    assert "MOON" in row["reason"]
    assert job["result"]["unassigned"] == 1
    assert staff.get(f"/shipments/{sid}").json["status"] == "planned"


def webhook(api, body: dict, secret: str | None = SECRET, carrier: str = "SF"):
    raw = json.dumps(body).encode()
    headers = {"Content-Type": "application/json"}
    if secret is not None:
        headers["X-Stockroom-Signature"] = sign(secret, raw)
    return api.client.post(f"/api/v1/carriers/{carrier}/webhook", data=raw, headers=headers)


@pytest.fixture
def picked_up(app, make_user, carrier):
    staff = make_user("warehouse", warehouses=["W1"])
    sid = staff.post(
        "/shipments", json={"warehouse": "W1", "region": "EAST", "weight_kg": "1"}
    ).json["id"]
    job = staff.post("/shipments/assign", json={"warehouse": "W1"}).json["job_id"]
    wait_for_job(staff, job)
    r = staff.post(
        f"/shipments/{sid}/events", json={"status": "picked_up", "tracking_number": "SF123"}
    )
    assert r.status_code == 201, r.json
    return staff, sid


def test_signed_webhook_moves_the_shipment_and_a_replay_is_ignored(app, anonymous, picked_up):
    staff, sid = picked_up
    event = {
        "event_id": "e-1",
        "tracking_number": "SF123",
        "status": "in_transit",
        "location": "Hangzhou",
    }
    r = webhook(anonymous, event)
    assert r.status_code == 200, r.json
    assert r.json == {"accepted": True, "duplicate": False, "event_id": "e-1"}
    again = webhook(anonymous, event)
    assert again.status_code == 200
    assert again.json["duplicate"] is True
    shown = staff.get(f"/shipments/{sid}").json
    assert shown["status"] == "in_transit"
    assert [e["status"] for e in shown["events"]].count("in_transit") == 1
    assert shown["events"][-1]["recorded_by"] == "carrier:SF"


@pytest.mark.parametrize("secret", [None, "not-the-carriers-secret"])
def test_unsigned_or_badly_signed_webhooks_change_nothing(app, anonymous, picked_up, secret):
    staff, sid = picked_up
    event = {"event_id": "e-2", "tracking_number": "SF123", "status": "delivered"}
    assert_problem(webhook(anonymous, event, secret=secret), 401)
    # A signature of another body (the event before someone edited it) is no signature either.
    raw = json.dumps(event).encode()
    forged = anonymous.client.post(
        "/api/v1/carriers/SF/webhook",
        data=raw.replace(b"delivered", b"returned"),
        headers={"Content-Type": "application/json", "X-Stockroom-Signature": sign(SECRET, raw)},
    )
    assert_problem(forged, 401)
    assert staff.get(f"/shipments/{sid}").json["status"] == "picked_up"
    with app.app_context(), db.read_only() as s:
        assert s.scalar(select(func.count()).where(ShipmentEvent.carrier_event_id == "e-2")) == 0


def test_webhook_for_an_unknown_carrier_is_401_and_unknown_parcel_404(anonymous, picked_up):
    event = {"event_id": "e-3", "tracking_number": "SF123", "status": "delivered"}
    assert_problem(webhook(anonymous, event, carrier="NOPE"), 401)
    event["tracking_number"] = "NOPE"
    assert_problem(webhook(anonymous, event), 404)


def test_late_deliveries_feed_the_scorecard_and_the_next_assignment(app, anonymous, picked_up):
    staff, sid = picked_up
    eta = staff.get(f"/shipments/{sid}").json["eta"]
    late = f"{eta}T23:00:00+00:00".replace(eta, (utcnow() + timedelta(days=30)).date().isoformat())
    r = webhook(
        anonymous,
        {"event_id": "e-4", "tracking_number": "SF123", "status": "delivered", "occurred_at": late},
    )
    assert r.status_code == 200, r.json
    shown = staff.get(f"/shipments/{sid}").json
    assert shown["late"] is True
    (card,) = staff.get("/carriers/scorecard").json
    assert card["carrier"] == "SF"
    assert card["delivered"] == 1
    assert card["on_time_rate"] == 0.0
    assert Decimal(card["cost_per_kg"]) == Decimal(shown["cost"])
    with app.app_context(), db.read_only() as s:
        from logistics.shipments import on_time_rates

        (rate,) = on_time_rates(s).values()
    # One late delivery moves the prior (9 of 10 on time) to 9 of 11.
    assert rate == pytest.approx(9 / 11)


@pytest.mark.parametrize(("local_hour", "days_later"), [(9, 0), (16, 0), (17, 1), (22, 1)])
def test_a_new_shipment_leaves_today_until_the_last_cutoff(
    app, make_user, carrier, local_hour, days_later
):
    from datetime import UTC, datetime
    from zoneinfo import ZoneInfo

    # Both services keep the default 17:00 cut-off (Shanghai time).
    local = datetime(2031, 5, 6, local_hour, 30, tzinfo=ZoneInfo("Asia/Shanghai"))
    app.config["CLOCK"] = lambda: local.astimezone(UTC)
    staff = make_user("warehouse", warehouses=["W1"])
    r = staff.post("/shipments", json={"warehouse": "W1", "region": "EAST", "weight_kg": "1"})
    assert r.status_code == 201, r.json
    assert r.json["ship_date"] == (local.date() + timedelta(days=days_later)).isoformat()
    # Assigning "today" means the dock's day, so the evening's shipments are not missed.
    job = wait_for_job(staff, staff.post("/shipments/assign", json={}).json["job_id"])
    assert [row["id"] for row in job["result"]["shipments"]] == [r.json["id"]]


@pytest.mark.parametrize("local_hour", [9, 14])
def test_a_service_past_its_cutoff_collects_tomorrow_and_plans_a_day_longer(
    app, admin_api, make_user, carrier, local_hour
):
    from datetime import UTC, datetime
    from zoneinfo import ZoneInfo

    # SF-AM is the cheapest on-time service, but its van comes before noon.
    body = {"code": "SF-AM", "name": "Morning", "transit_days": 2, "cutoff_hour": 12}
    assert admin_api.post("/carriers/SF/services", json=body).status_code == 201
    assert put_rates(admin_api, "SF-AM", RATES).status_code == 200
    local = datetime(2031, 5, 6, local_hour, 30, tzinfo=ZoneInfo("Asia/Shanghai"))
    app.config["CLOCK"] = lambda: local.astimezone(UTC)
    staff = make_user("warehouse", warehouses=["W1"])
    due = (local.date() + timedelta(days=2)).isoformat()
    body = {"warehouse": "W1", "region": "EAST", "weight_kg": "1", "deliver_by": due}
    ids = [staff.post("/shipments", json=body).json["id"] for _ in range(3)]
    job = wait_for_job(staff, staff.post("/shipments/assign", json={}).json["job_id"])
    rows = sorted(job["result"]["shipments"], key=lambda row: row["service"])
    assert sorted(row["id"] for row in rows) == ids
    if local_hour == 9:
        assert {row["service"] for row in rows} == {"SF-AM"}
        assert {row["eta"] for row in rows} == {due}
        assert not any("collected tomorrow" in row["reason"] for row in rows)
        return
    # After noon SF-AM delivers a day late: SF-STD takes what it can (2 a day), the third goes
    # SF-AM, a day late, rather than SF-ECO, two days late.
    assert [row["service"] for row in rows] == ["SF-AM", "SF-STD", "SF-STD"]
    late = rows[0]
    assert late["days_late"] == 1
    assert late["eta"] == (local.date() + timedelta(days=3)).isoformat()
    assert late["reason"].endswith("collected tomorrow (past its 12:00 cut-off)")
    assert staff.get(f"/shipments/{late['id']}").json["reason"] == late["reason"]
    assert all("SF-AM" in row["reason"] for row in rows[1:])  # the cheaper one, a day late
