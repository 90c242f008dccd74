"""Test data in pairs: ``make_*`` factories taking overrides, and ready-made fixtures."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from accounts import services as accounts
from accounts.principal import SYSTEM
from inventory import catalog, stock

_seq = itertools.count(1)

PROBLEM = "application/problem+json"


def assert_problem(response: TestResponse, status: int, field: str | None = None) -> dict[str, Any]:
    """The response is an RFC 9457 problem with this status, naming ``field`` if given."""
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.mimetype == PROBLEM
    body = response.json
    assert body["status"] == status
    assert body["title"]
    assert body["detail"]
    assert body["type"]
    if field is not None:
        assert field in body["errors"], body
    return body


@dataclass
class ApiClient:
    """The test client with a bearer token, speaking to ``/api/v1``."""

    client: FlaskClient
    token: str | None
    username: str = ""

    def _headers(self, headers: dict[str, str] | None) -> dict[str, str]:
        out = dict(headers or {})
        if self.token is not None:
            out.setdefault("Authorization", f"Bearer {self.token}")
        return out

    def _url(self, path: str) -> str:
        """Paths are relative to /api/v1 unless they name a root endpoint."""
        if path.startswith(("/api/", "/healthz", "/readyz", "/metrics")):
            return path
        return "/api/v1" + path

    def get(self, path: str, headers: dict[str, str] | None = None, **kw: Any) -> TestResponse:
        return self.client.get(self._url(path), headers=self._headers(headers), **kw)

    def post(
        self, path: str, json: Any = None, headers: dict[str, str] | None = None, **kw: Any
    ) -> TestResponse:
        return self.client.post(self._url(path), json=json, headers=self._headers(headers), **kw)

    def patch(
        self, path: str, json: Any = None, headers: dict[str, str] | None = None, **kw: Any
    ) -> TestResponse:
        return self.client.patch(self._url(path), json=json, headers=self._headers(headers), **kw)

    def put(
        self, path: str, json: Any = None, headers: dict[str, str] | None = None, **kw: Any
    ) -> TestResponse:
        return self.client.put(self._url(path), json=json, headers=self._headers(headers), **kw)

    def delete(self, path: str, headers: dict[str, str] | None = None, **kw: Any) -> TestResponse:
        return self.client.delete(self._url(path), headers=self._headers(headers), **kw)


MakeUser = Callable[..., ApiClient]


@pytest.fixture
def make_user(app: Flask, client: FlaskClient) -> MakeUser:
    """``make_user("warehouse", warehouses=["SH1"])`` -> an API client for a new user."""

    def make(
        *roles: str,
        warehouses: list[str] | None = None,
        username: str | None = None,
        password: str | None = None,
    ) -> ApiClient:
        name = username or f"{'-'.join(roles) or 'nobody'}{next(_seq)}"
        with app.app_context():
            accounts.create_user(name, list(roles), warehouses=warehouses, password=password)
            issued = accounts.create_token(name)
        return ApiClient(app.test_client(), issued.token, name)

    return make


@pytest.fixture
def admin(make_user: MakeUser) -> ApiClient:
    return make_user("admin")


@pytest.fixture
def anonymous(client: FlaskClient) -> ApiClient:
    return ApiClient(client, None)


MakeProduct = Callable[..., dict[str, Any]]


@pytest.fixture
def make_product(app: Flask) -> MakeProduct:
    def make(**overrides: Any) -> dict[str, Any]:
        data = {"sku": f"SKU-{next(_seq):05d}", "name": "Widget", **overrides}
        with app.app_context():
            catalog.create_product(SYSTEM, data)
        return data

    return make


@pytest.fixture
def make_warehouse(app: Flask) -> MakeProduct:
    def make(**overrides: Any) -> dict[str, Any]:
        data = {"code": f"WH{next(_seq)}", "name": "Warehouse", **overrides}
        with app.app_context():
            catalog.create_warehouse(SYSTEM, data)
        return data

    return make


@pytest.fixture
def receive(app: Flask) -> Callable[..., None]:
    """Put stock on hand through the ledger, as a receipt would."""

    def post(sku: str, warehouse: str, quantity: int) -> None:
        with app.app_context():
            stock.post_movement(
                SYSTEM,
                {"type": "receipt", "sku": sku, "warehouse": warehouse, "quantity": quantity},
            )

    return post
