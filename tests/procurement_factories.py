"""Procurement test data: suppliers with price lists, and people for each step of an order."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

import pytest
from flask import Flask

from accounts.principal import SYSTEM, Principal
from procurement import suppliers as supplier_services
from procurement.orders import receiving, transitions, writing
from tests.factories import ApiClient, MakeUser

_seq = itertools.count(1)

MakeSupplier = Callable[..., dict[str, Any]]


@pytest.fixture
def make_supplier(app: Flask) -> MakeSupplier:
    """``make_supplier(items={"A": "10.00"}, status="approved")``; items: sku -> price or dict."""

    def make(
        *,
        status: str = "approved",
        items: dict[str, Any] | None = None,
        **overrides: Any,
    ) -> dict[str, Any]:
        data = {
            "code": f"SUP{next(_seq)}",
            "name": "Supplier",
            "default_lead_time_days": 10,
            **overrides,
        }
        with app.app_context():
            supplier_services.create_supplier(SYSTEM, data)
            if status in ("approved", "suspended"):
                supplier_services.change_status(SYSTEM, data["code"], "approve", "vetted")
            if status == "suspended":
                supplier_services.change_status(SYSTEM, data["code"], "suspend", "late")
            if status == "blocked":
                supplier_services.change_status(SYSTEM, data["code"], "block", "fraud")
            for sku, spec in (items or {}).items():
                item = spec if isinstance(spec, dict) else {"unit_price": spec}
                item = {**item, "unit_price": Decimal(str(item["unit_price"]))}
                for b in item.get("price_breaks", []):
                    b["unit_price"] = Decimal(str(b["unit_price"]))
                supplier_services.add_item(SYSTEM, data["code"], {"sku": sku, **item})
        return data

    return make


@pytest.fixture
def buyer(make_user: MakeUser) -> ApiClient:
    return make_user("buyer")


@pytest.fixture
def approver(make_user: MakeUser) -> ApiClient:
    return make_user("approver")


@pytest.fixture
def approver2(make_user: MakeUser) -> ApiClient:
    return make_user("approver")


@pytest.fixture
def world(make_product: Any, make_warehouse: Any, make_supplier: MakeSupplier) -> dict[str, Any]:
    """Warehouse W1 and W2, items A and B, supplier ACME (approved) listing both."""
    make_warehouse(code="W1")
    make_warehouse(code="W2")
    make_product(sku="A", name="Anvil")
    make_product(sku="B", name="Bolt")
    acme = make_supplier(
        code="ACME",
        name="Acme Tools",
        items={
            "A": {"unit_price": "10.00", "lead_time_days": 7},
            "B": {"unit_price": "2.00", "moq": 50, "pack_size": 25},
        },
    )
    return {"supplier": acme}


@pytest.fixture
def receiver(make_user: MakeUser) -> ApiClient:
    """Warehouse staff of W1."""
    return make_user("warehouse", warehouses=["W1"])


def order_body(**overrides: Any) -> dict[str, Any]:
    return {
        "supplier": "ACME",
        "warehouse": "W1",
        "lines": [{"sku": "A", "quantity": 10}],
        **overrides,
    }


def create_order(api: ApiClient, **overrides: Any) -> dict[str, Any]:
    r = api.post("/purchase-orders", json=order_body(**overrides))
    assert r.status_code == 201, r.get_json()
    return r.json


def step(api: ApiClient, po: dict[str, Any] | int, action: str, **body: Any) -> dict[str, Any]:
    """A transition that must succeed; returns the order after it."""
    po_id = po if isinstance(po, int) else po["id"]
    r = api.post(f"/purchase-orders/{po_id}/{action}", json=body)
    assert r.status_code == 200, r.get_json()
    return r.json


def level(api: ApiClient, sku: str, warehouse: str) -> dict[str, Any]:
    (row,) = api.get("/stock", query_string={"sku": sku, "warehouse": warehouse}).json["items"]
    return row


# --- history: orders placed, delivered and closed on given days ----------------------------------

HIST_BUYER = Principal(user_id=None, username="hist-buyer", roles=frozenset({"buyer"}))
HIST_APPROVER = Principal(user_id=None, username="hist-approver", roles=frozenset({"approver"}))
HIST_RECEIVER = Principal(
    user_id=None, username="hist-receiver", roles=frozenset({"admin"}), warehouses=frozenset()
)


def _at(day: date, hour: int = 9) -> datetime:
    return datetime.combine(day, time(hour), tzinfo=UTC)


@pytest.fixture
def past_order(app: Flask) -> Callable[..., dict[str, Any]]:
    """``past_order("ACME", "W1", {"A": 10}, sent=d, expected=d, deliveries=[(d, "A", 8, 2)],
    close=d)``: an order that was sent, delivered and perhaps closed on those days."""

    def make(
        supplier: str,
        warehouse: str,
        lines: dict[str, int],
        *,
        sent: date,
        expected: date,
        deliveries: list[tuple[date, str, int, int]] = (),  # type: ignore[assignment]
        close: date | None = None,
    ) -> dict[str, Any]:
        with app.app_context():
            created = sent - timedelta(days=1)
            po = writing.create_order(
                HIST_BUYER,
                {
                    "supplier": supplier,
                    "warehouse": warehouse,
                    "expected_date": expected,
                    "lines": [{"sku": s, "quantity": q} for s, q in lines.items()],
                },
                at=_at(created),
            )
            po = transitions.submit(HIST_BUYER, po.id, at=_at(created, 10))
            if po.status == "pending_approval":
                po = transitions.approve(HIST_APPROVER, po.id, at=_at(created, 11))
            if po.status == "pending_approval":
                second = Principal(None, "hist-approver-2", frozenset({"approver"}))
                po = transitions.approve(second, po.id, at=_at(created, 12))
            po = transitions.send(HIST_BUYER, po.id, at=_at(sent))
            for day, sku, accepted, rejected in deliveries:
                receiving.receive(
                    HIST_RECEIVER,
                    po.id,
                    {
                        "lines": [{"sku": sku, "accepted": accepted, "rejected": rejected}],
                        "received_at": _at(day, 14),
                    },
                    at=_at(day, 14),
                )
            if close is not None:
                po = transitions.close(HIST_BUYER, po.id, "closed short", at=_at(close, 16))
            return {"id": po.id, "number": po.number}

    return make
