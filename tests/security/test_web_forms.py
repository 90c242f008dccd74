"""The movement form answers bad input with the form again, never a 500, and posts nothing."""

from __future__ import annotations

import pytest

from accounts import services as accounts


@pytest.fixture
def staff(app, make_product, make_warehouse, receive):
    make_product(sku="A")
    make_warehouse(code="W1")
    make_warehouse(code="W2")
    receive("A", "W1", 8)
    with app.app_context():
        accounts.create_user("mover", ["warehouse"], warehouses=["W1", "W2"], password="pw-m-123")
    client = app.test_client()
    assert (
        client.post("/login", data={"username": "mover", "password": "pw-m-123"}).status_code == 302
    )
    return client


def on_hand(client, warehouse: str) -> int:
    return client.get(f"/api/v1/stock?sku=A&warehouse={warehouse}").json["items"][0]["on_hand"]


@pytest.mark.parametrize(
    "form",
    [
        {"type": "transfer", "warehouse": "W1", "to_warehouse": "W1", "quantity": "2"},
        {"type": "receipt", "warehouse": "W1", "quantity": str(2**31)},
        {"type": "receipt", "warehouse": "W1", "quantity": str(10**30)},
        {"type": "adjustment", "warehouse": "W1", "quantity": str(-(2**40)), "reason": "x"},
        {"type": "receipt", "warehouse": "W1", "quantity": "1", "reference": "a\x00b"},
    ],
)
def test_bad_movement_form_is_refused_without_a_write(staff, form):
    r = staff.post("/stock/move", data={"sku": "A", **form})
    assert r.status_code in (200, 422)
    assert on_hand(staff, "W1") == 8
    assert staff.get("/api/v1/stock/movements?sku=A").json["items"][0]["type"] == "receipt"
    assert len(staff.get("/api/v1/stock/movements?sku=A").json["items"]) == 1
