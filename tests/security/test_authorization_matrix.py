"""Every API endpoint x every role: 401 without a token, 403 for a role the endpoint does not name.

The endpoints and the roles each allows are read from the app itself (``require`` marks each
view), so a new endpoint is in the matrix without editing this file. Bodies are empty or a
mass-assignment attempt: the role check must answer before the body is looked at, and no answer
may be a 5xx.
"""

from __future__ import annotations

import re

import pytest

from accounts.models import ROLE_VALUES
from tests.factories import assert_problem

METHODS = ("GET", "POST", "PATCH", "PUT", "DELETE")
#: Fields a caller might slip into a body hoping the server stores them as given.
MASS_ASSIGNMENT = {
    "id": 1,
    "status": "approved",
    "created_by": "admin",
    "approvals_required": 0,
    "version": 99,
    "roles": ["admin"],
    "is_admin": True,
    "on_hand": 10**6,
}


def api_endpoints(app) -> list[tuple[str, str, tuple[str, ...] | None]]:
    """(method, path with ids filled in, roles allowed or None for any signed-in caller)."""
    out = []
    for rule in app.url_map.iter_rules():
        if not rule.rule.startswith("/api/v1/"):
            continue
        view = app.view_functions[rule.endpoint]
        view_class = getattr(view, "view_class", None)
        path = re.sub(r"<(?:int|bigint):[^>]+>", "1", rule.rule)
        path = re.sub(r"<[^>]+>", "A", path)
        for method in sorted((rule.methods or set()) & set(METHODS)):
            handler = getattr(view_class, method.lower(), None) if view_class else view
            roles = getattr(handler, "_required_roles", None)
            out.append((method, path, roles or None))
    return out


@pytest.fixture
def world(make_product, make_warehouse, receive):
    make_product(sku="A")
    make_warehouse(code="W1")
    make_warehouse(code="W2")
    receive("A", "W1", 5)


def call(client, method: str, path: str, body, headers=None):
    return client.open(path, method=method, json=body, headers=headers or {})


def test_matrix(app, make_user, world):
    endpoints = api_endpoints(app)
    assert len(endpoints) > 30
    users = {
        role: make_user(role, warehouses=["W2"] if role == "warehouse" else None)
        for role in ROLE_VALUES
    }
    client = app.test_client()
    cases = 0
    for method, path, allowed in endpoints:
        for body in (None, MASS_ASSIGNMENT) if method != "GET" else (None,):
            r = call(client, method, path, body)
            cases += 1
            assert_problem(r, 401)
            for role, user in users.items():
                r = call(client, method, path, body, {"Authorization": f"Bearer {user.token}"})
                cases += 1
                assert r.status_code < 500, (method, path, role, r.get_data(as_text=True))
                if allowed and role != "admin" and role not in allowed:
                    assert r.status_code == 403, (method, path, role, r.status_code)
                if body is MASS_ASSIGNMENT and r.status_code < 300:
                    pytest.fail(f"{method} {path} as {role} accepted {sorted(MASS_ASSIGNMENT)}")
    print(f"authorization matrix: {len(endpoints)} endpoints, {cases} requests")


def test_warehouse_scope_stops_foreign_stock_changes(make_user, world):
    w2_staff = make_user("warehouse", warehouses=["W2"])
    body = {"type": "issue", "sku": "A", "warehouse": "W1", "quantity": 1}
    assert_problem(w2_staff.post("/stock/movements", json=body), 403)
    count = {"warehouse": "W1", "lines": [{"sku": "A", "counted": 0}]}
    assert_problem(w2_staff.post("/stock/counts", json=count), 403)
    assert w2_staff.get("/stock?sku=A&warehouse=W1").json["items"][0]["on_hand"] == 5
