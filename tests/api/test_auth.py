"""Authentication (401) and API.md's role table (403), including warehouse scope."""

from __future__ import annotations

import pytest
from sqlalchemy import event, select

from accounts import services, token_cache
from accounts.models import User
from core import db
from core.db import UnitOfWork, session
from tests.factories import assert_problem


@pytest.fixture
def world(make_product, make_warehouse, receive):
    make_product(sku="A")
    make_warehouse(code="W1")
    make_warehouse(code="W2")
    receive("A", "W1", 5)
    receive("A", "W2", 5)


@pytest.mark.parametrize(
    "header",
    [
        None,
        "",
        "Bearer",
        "Bearer ",
        "Basic dXNlcjpwYXNz",
        "Bearer a b",
        "Bearer srk_not-a-token",
        "Token srk_x",
    ],
)
def test_missing_or_malformed_token_is_401(client, world, header):
    headers = {} if header is None else {"Authorization": header}
    r = client.get("/api/v1/stock", headers=headers)
    body = assert_problem(r, 401)
    assert r.headers["WWW-Authenticate"].startswith("Bearer")
    assert "token" in body["detail"].lower() or "authorization" in body["detail"].lower()


def test_401_comes_before_validation(client, world):
    r = client.post("/api/v1/products", json={"bad": 1})
    assert_problem(r, 401)


def test_revoked_token_is_401_at_once(app, make_user, world):
    api = make_user("viewer")
    assert api.get("/stock").status_code == 200
    with app.app_context():
        (token,) = services.list_tokens(session(), api.username)
        services.revoke_token(token.id)
    assert_problem(api.get("/stock"), 401)


def test_a_token_checked_a_moment_ago_costs_neither_a_query_nor_a_hash(
    app, make_user, world, monkeypatch
):
    api = make_user("viewer")
    assert api.get("/me").status_code == 200
    with app.app_context():
        engine = db.engine()
    statements: list[str] = []

    def record(_conn, _cursor, statement, *_args) -> None:  # type: ignore[no-untyped-def]
        statements.append(statement)

    def no_hashing(_secret: str) -> str:
        raise AssertionError("the token was hashed again")

    monkeypatch.setattr(services, "hash_token", no_hashing)
    event.listen(engine, "before_cursor_execute", record)
    try:
        assert api.get("/me").status_code == 200
    finally:
        event.remove(engine, "before_cursor_execute", record)
    assert statements == []


def test_a_token_revoked_while_it_was_being_checked_is_not_remembered(app, make_user, world):
    api = make_user("viewer")
    with app.app_context():
        (token,) = services.list_tokens(session(), api.username)
        cache = token_cache.cache()
        assert cache is not None
        started = cache.generation
        services.revoke_token(token.id)
        # The check that began before the revocation finishes now and offers its answer.
        cache.put(api.token, services.principal_of(token.user, token.id), started)
    assert_problem(api.get("/stock"), 401)


def test_token_of_a_deactivated_user_is_401(app, make_user, world):
    api = make_user("viewer")
    with app.app_context(), UnitOfWork() as uow:
        uow.session.scalar(select(User).where(User.username == api.username)).active = False
        uow.commit()
    assert_problem(api.get("/stock"), 401)


def test_token_use_is_recorded(app, make_user, world):
    api = make_user("viewer")
    api.get("/stock")
    with app.app_context():
        (token,) = services.list_tokens(session(), api.username)
        assert token.last_used_at is not None


READS = ["/stock", "/products", "/warehouses", "/products/A", "/warehouses/W1", "/stock/movements"]
ALL_ROLES = ["storefront", "warehouse", "buyer", "approver", "planner", "viewer", "admin"]


@pytest.mark.parametrize("role", ALL_ROLES)
def test_every_role_may_read_stock_products_and_warehouses(make_user, world, role):
    api = make_user(role, warehouses=["W1"] if role == "warehouse" else None)
    for path in READS:
        assert api.get(path).status_code == 200, (role, path)


@pytest.mark.parametrize("role", ["storefront", "buyer", "approver", "planner", "viewer"])
def test_only_warehouse_staff_and_admins_post_stock(make_user, world, role):
    api = make_user(role)
    r = api.post(
        "/stock/movements", json={"type": "issue", "sku": "A", "warehouse": "W1", "quantity": 1}
    )
    assert_problem(r, 403)
    r = api.post("/stock/counts", json={"warehouse": "W1", "lines": [{"sku": "A", "counted": 0}]})
    assert_problem(r, 403)
    assert api.get("/stock?sku=A&warehouse=W1").json["items"][0]["on_hand"] == 5


def test_forbidden_comes_before_validation(make_user, world):
    api = make_user("storefront")
    assert_problem(api.post("/stock/movements", json={"nonsense": True}), 403)


def test_warehouse_staff_post_in_their_own_warehouse_only(make_user, world):
    staff = make_user("warehouse", warehouses=["W1"])
    ok = staff.post(
        "/stock/movements", json={"type": "issue", "sku": "A", "warehouse": "W1", "quantity": 1}
    )
    assert ok.status_code == 201
    assert ok.json["movements"][0]["actor"] == staff.username
    body = assert_problem(
        staff.post(
            "/stock/movements", json={"type": "issue", "sku": "A", "warehouse": "W2", "quantity": 1}
        ),
        403,
    )
    assert "W2" in body["detail"]
    assert_problem(
        staff.post(
            "/stock/counts", json={"warehouse": "W2", "lines": [{"sku": "A", "counted": 0}]}
        ),
        403,
    )
    assert staff.get("/stock?sku=A&warehouse=W2").json["items"][0]["on_hand"] == 5


def test_warehouse_staff_may_transfer_out_of_their_warehouse_only(make_user, world):
    staff = make_user("warehouse", warehouses=["W1"])
    out = staff.post(
        "/stock/movements",
        json={
            "type": "transfer",
            "sku": "A",
            "warehouse": "W1",
            "to_warehouse": "W2",
            "quantity": 2,
        },
    )
    assert out.status_code == 201
    assert_problem(
        staff.post(
            "/stock/movements",
            json={
                "type": "transfer",
                "sku": "A",
                "warehouse": "W2",
                "to_warehouse": "W1",
                "quantity": 1,
            },
        ),
        403,
    )


@pytest.mark.parametrize(
    "role", ["storefront", "warehouse", "buyer", "approver", "planner", "viewer"]
)
def test_only_admins_write_products_and_warehouses(make_user, world, role):
    api = make_user(role, warehouses=["W1"] if role == "warehouse" else None)
    assert_problem(api.post("/products", json={"sku": "N", "name": "n"}), 403)
    assert_problem(api.patch("/products/A", json={"name": "n"}), 403)
    assert_problem(api.post("/warehouses", json={"code": "N", "name": "n"}), 403)
    assert_problem(api.patch("/warehouses/W1", json={"name": "n"}), 403)


def test_me_describes_the_caller(make_user):
    api = make_user("warehouse", warehouses=["W2", "W1"])
    me = api.get("/me").json
    assert me["username"] == api.username
    assert me["roles"] == ["warehouse"]
    assert me["warehouses"] == ["W1", "W2"]


def test_audit_log_is_for_admins(make_user):
    assert_problem(make_user("viewer").get("/audit"), 403)


def test_public_endpoints_need_no_token(anonymous):
    for path in ["/healthz", "/readyz", "/api/openapi.json", "/api/docs"]:
        assert anonymous.get(path).status_code == 200, path


def test_openapi_documents_every_endpoint_and_bearer_auth(anonymous):
    spec = anonymous.get("/api/openapi.json").json
    paths = spec["paths"]
    for path in [
        "/api/v1/products",
        "/api/v1/products/{sku}",
        "/api/v1/warehouses",
        "/api/v1/warehouses/{code}",
        "/api/v1/stock",
        "/api/v1/stock/movements",
        "/api/v1/stock/counts",
    ]:
        assert path in paths, path
    assert spec["components"]["securitySchemes"]["bearerAuth"]["scheme"] == "bearer"


def test_swagger_ui_is_served_locally(anonymous):
    html = anonymous.get("/api/docs").get_data(as_text=True)
    assert "http" not in html.split("<body>")[0].replace("http-equiv", "")
    assert "/api/docs/assets/swagger-ui-bundle.js" in html
    with anonymous.get("/api/docs/assets/swagger-ui-bundle.js") as asset:
        assert asset.status_code == 200
