"""Idempotency-Key on the POSTs that change stock: a retried request has exactly one effect."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from core import idempotency
from core.db import read_only
from inventory.models import Reservation, StockMovement
from tests.factories import assert_problem
from tests.reservation_factories import reserve


@pytest.fixture
def world(make_product, make_warehouse, receive):
    make_product(sku="A")
    make_product(sku="B")
    make_warehouse(code="W1")
    receive("A", "W1", 10)


def count(app, column) -> int:
    with app.app_context(), read_only() as s:
        return s.scalar(select(func.count(column)))


def test_a_retry_replays_the_first_response_and_reserves_once(app, storefront, world):
    first = reserve(storefront, {"A": 4}, key="order-1-try")
    again = reserve(storefront, {"A": 4}, key="order-1-try")
    assert first.status_code == again.status_code == 201
    assert again.json == first.json
    assert again.headers["Idempotent-Replayed"] == "true"
    assert "Idempotent-Replayed" not in first.headers
    assert again.headers["Location"] == first.headers["Location"]
    assert count(app, Reservation.id) == 1
    assert storefront.get("/availability?sku=A").json["items"][0]["available"] == 6


def test_the_same_body_with_keys_in_another_order_is_the_same_request(app, storefront, world):
    headers = {"Idempotency-Key": "k-order"}
    body = {"order_ref": "O-1", "lines": [{"sku": "A", "quantity": 1}]}
    shuffled = {"lines": [{"quantity": 1, "sku": "A"}], "order_ref": "O-1"}
    assert storefront.post("/reservations", json=body, headers=headers).status_code == 201
    replay = storefront.post("/reservations", json=shuffled, headers=headers)
    assert replay.headers.get("Idempotent-Replayed") == "true"
    assert count(app, Reservation.id) == 1


def test_the_same_key_with_a_different_body_is_422(app, storefront, world):
    reserve(storefront, {"A": 1}, key="k1")
    body = assert_problem(reserve(storefront, {"A": 2}, key="k1"), 422, "Idempotency-Key")
    assert body["type"].endswith("idempotency-key-reused")
    assert count(app, Reservation.id) == 1


def test_the_same_key_on_another_endpoint_is_422(storefront, world):
    held = reserve(storefront, {"A": 1}, key="k2").json["id"]
    r = storefront.post(f"/reservations/{held}/release", headers={"Idempotency-Key": "k2"})
    assert_problem(r, 422, "Idempotency-Key")


def test_keys_belong_to_the_caller(app, make_user, world):
    one, two = make_user("storefront"), make_user("storefront")
    assert reserve(one, {"A": 1}, key="shared").status_code == 201
    r = reserve(two, {"A": 1}, key="shared")
    assert r.status_code == 201
    assert "Idempotent-Replayed" not in r.headers
    assert count(app, Reservation.id) == 2


def test_a_conflict_is_not_stored_so_a_retry_after_stock_arrives_succeeds(
    app, storefront, world, receive
):
    assert_problem(reserve(storefront, {"A": 15}, key="wait-for-stock"), 409)
    receive("A", "W1", 5)
    r = reserve(storefront, {"A": 15}, key="wait-for-stock")
    assert r.status_code == 201
    assert "Idempotent-Replayed" not in r.headers


def test_a_validation_failure_is_stored_and_replayed(storefront, world):
    bad = {"order_ref": "O-2", "lines": [{"sku": "A", "quantity": 0}]}
    first = storefront.post("/reservations", json=bad, headers={"Idempotency-Key": "bad-1"})
    assert_problem(first, 422, "lines")
    again = storefront.post("/reservations", json=bad, headers={"Idempotency-Key": "bad-1"})
    assert again.status_code == 422
    assert again.json == first.json
    assert again.headers["Idempotent-Replayed"] == "true"


def test_a_commit_retried_after_success_replays_200_instead_of_409(app, storefront, world):
    held = reserve(storefront, {"A": 3}).json["id"]
    headers = {"Idempotency-Key": f"commit-{held}"}
    first = storefront.post(f"/reservations/{held}/commit", headers=headers)
    again = storefront.post(f"/reservations/{held}/commit", headers=headers)
    assert first.status_code == again.status_code == 200
    assert again.json == first.json
    assert count(app, StockMovement.id) == 2  # the receipt and one issue
    assert_problem(storefront.post(f"/reservations/{held}/commit"), 409)


@pytest.mark.parametrize("action", ["release", "extend"])
def test_release_and_extend_accept_a_key(storefront, world, action):
    held = reserve(storefront, {"A": 3}).json["id"]
    headers = {"Idempotency-Key": f"{action}-{held}"}
    body = {"ttl_seconds": 600} if action == "extend" else None
    first = storefront.post(f"/reservations/{held}/{action}", json=body, headers=headers)
    again = storefront.post(f"/reservations/{held}/{action}", json=body, headers=headers)
    assert first.status_code == again.status_code == 200
    assert again.headers["Idempotent-Replayed"] == "true"


def test_a_stock_movement_with_a_key_is_posted_once(app, admin, world):
    body = {"type": "receipt", "sku": "B", "warehouse": "W1", "quantity": 5, "reference": "PO-1"}
    first = admin.post("/stock/movements", json=body, headers={"Idempotency-Key": "rcpt-1"})
    again = admin.post("/stock/movements", json=body, headers={"Idempotency-Key": "rcpt-1"})
    assert first.status_code == again.status_code == 201
    assert again.json == first.json
    (level,) = admin.get("/stock?sku=B&warehouse=W1").json["items"]
    assert level["on_hand"] == 5


def test_a_count_with_a_key_is_posted_once(admin, world):
    body = {"warehouse": "W1", "lines": [{"sku": "A", "counted": 8}]}
    first = admin.post("/stock/counts", json=body, headers={"Idempotency-Key": "count-1"})
    again = admin.post("/stock/counts", json=body, headers={"Idempotency-Key": "count-1"})
    assert first.status_code == again.status_code == 201
    assert again.json["id"] == first.json["id"]
    (level,) = admin.get("/stock?sku=A&warehouse=W1").json["items"]
    assert level["on_hand"] == 8


def test_a_movement_refused_for_scope_is_not_stored(make_user, admin, world):
    clerk = make_user("warehouse", warehouses=["W2"])
    body = {"type": "receipt", "sku": "A", "warehouse": "W1", "quantity": 1}
    assert_problem(clerk.post("/stock/movements", json=body, headers={"Idempotency-Key": "x"}), 403)
    r = clerk.post("/stock/movements", json=body, headers={"Idempotency-Key": "x"})
    assert "Idempotent-Replayed" not in r.headers


@pytest.mark.parametrize("key", ["", "x" * 256, "has space", "naïve"])
def test_a_malformed_key_is_422(app, storefront, world, key):
    r = storefront.post(
        "/reservations",
        json={"order_ref": "O", "lines": [{"sku": "A", "quantity": 1}]},
        headers={"Idempotency-Key": key},
    )
    assert_problem(r, 422, "Idempotency-Key")
    assert count(app, Reservation.id) == 0


def test_a_key_is_kept_24_hours_then_forgotten(app, storefront, world, clock):
    reserve(storefront, {"A": 1}, key="day-old")
    clock.advance(hours=23, minutes=59)
    assert reserve(storefront, {"A": 1}, key="day-old").headers.get("Idempotent-Replayed")
    clock.advance(minutes=1)
    r = reserve(storefront, {"A": 1}, key="day-old")
    assert r.status_code == 201
    assert "Idempotent-Replayed" not in r.headers
    assert count(app, Reservation.id) == 2


def test_the_record_and_the_effect_commit_together(app, storefront, world, monkeypatch):
    """If storing the response fails, the reservation it answered is not kept either."""

    def broken(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(idempotency, "_record_of", broken)
    r = reserve(storefront, {"A": 4}, key="crash")
    assert r.status_code == 500
    assert count(app, Reservation.id) == 0
    assert storefront.get("/availability?sku=A").json["items"][0]["available"] == 10
    monkeypatch.undo()
    assert reserve(storefront, {"A": 4}, key="crash").status_code == 201
    assert count(app, Reservation.id) == 1


def test_the_header_is_documented_in_openapi(client, world):
    spec = client.get("/api/openapi.json").json
    for path in ("/api/v1/reservations", "/api/v1/stock/movements", "/api/v1/stock/counts"):
        names = [p["name"] for p in spec["paths"][path]["post"].get("parameters", [])]
        assert "Idempotency-Key" in names, path
