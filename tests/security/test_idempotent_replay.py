"""A replayed response is the first response: same body, same ETag; If-Match is part of the key."""

from __future__ import annotations

from tests.procurement_factories import order_body


def test_replay_keeps_the_etag(buyer, world):
    headers = {"Idempotency-Key": "po-create-1"}
    first = buyer.post("/purchase-orders", json=order_body(), headers=headers)
    assert first.status_code == 201
    assert first.headers["ETag"]
    again = buyer.post("/purchase-orders", json=order_body(), headers=headers)
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.headers["ETag"] == first.headers["ETag"]
    assert again.json == first.json


def test_same_key_with_another_if_match_is_another_request(buyer, world):
    po = buyer.post("/purchase-orders", json=order_body()).json
    etag = buyer.get(f"/purchase-orders/{po['id']}").headers["ETag"]
    key = {"Idempotency-Key": "submit-1"}
    first = buyer.post(
        f"/purchase-orders/{po['id']}/submit", json={}, headers={**key, "If-Match": etag}
    )
    assert first.status_code == 200, first.json
    other = buyer.post(
        f"/purchase-orders/{po['id']}/submit", json={}, headers={**key, "If-Match": '"v999"'}
    )
    assert other.status_code == 422
    assert other.headers.get("Idempotent-Replayed") != "true"
