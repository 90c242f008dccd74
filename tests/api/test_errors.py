"""Every error is a problem document for API clients and a page for people; 500s hide internals."""

from __future__ import annotations

import logging

import pytest
from sqlalchemy import text

from tests.factories import assert_problem


def test_unknown_api_route_is_a_404_problem(admin):
    body = assert_problem(admin.get("/no-such-thing"), 404)
    assert body["instance"] == "/api/v1/no-such-thing"


def test_wrong_method_is_a_405_problem_with_allow(admin, make_product):
    make_product(sku="S")
    r = admin.delete("/products/S")
    assert_problem(r, 405)
    assert "GET" in r.headers["Allow"]
    assert "PATCH" in r.headers["Allow"]


def test_validation_problem_lists_every_bad_field(admin):
    r = admin.post("/products", json={"sku": "", "unit_cost": "abc"})
    body = assert_problem(r, 422)
    assert set(body["errors"]) >= {"sku", "name", "unit_cost"}


def test_unexpected_failure_is_a_500_problem_without_internals(app, admin, caplog):
    @app.get("/api/v1/explode")
    def explode() -> str:
        raise RuntimeError("secret database password in a stack trace")

    with caplog.at_level(logging.ERROR):
        r = admin.get("/explode")
    body = assert_problem(r, 500)
    assert "secret" not in r.get_data(as_text=True)
    assert body["request_id"] == r.headers["X-Request-ID"]
    assert any("secret" in rec.getMessage() or rec.exc_info for rec in caplog.records)


def test_people_get_an_html_error_page(client):
    r = client.get("/nowhere", headers={"Accept": "text/html", "X-Request-ID": "req-404-abc"})
    assert r.status_code == 404
    assert r.mimetype == "text/html"
    page = r.get_data(as_text=True)
    assert "Not found" in page
    assert 'data-testid="request-id">req-404-abc<' in page


def test_a_page_beyond_ones_role_says_which_role_it_needs(app):
    from accounts import services as accounts

    with app.app_context():
        accounts.create_user("vic", ["viewer"], password="pw-vic-1234")
    browser = app.test_client()
    browser.post("/login", data={"username": "vic", "password": "pw-vic-1234"})
    r = browser.get("/forecasts/runs", headers={"X-Request-ID": "req-403-abc"})
    assert r.status_code == 403
    page = r.get_data(as_text=True)
    assert "Your role does not allow this" in page
    assert "planner" in page  # the role the page needs
    assert "Signed in as vic (viewer)" in page
    assert "req-403-abc" in page


def test_the_favicon_is_served_from_the_app(client):
    r = client.get("/favicon.ico")
    assert r.status_code == 301
    with client.get(r.headers["Location"]) as icon:
        assert icon.status_code == 200
        assert icon.mimetype == "image/svg+xml"
        assert b"<svg" in icon.data


def test_request_id_is_echoed_or_generated(anonymous):
    assert (
        anonymous.get("/healthz", headers={"X-Request-ID": "abc-123"}).headers["X-Request-ID"]
        == "abc-123"
    )
    generated = anonymous.get("/healthz").headers["X-Request-ID"]
    assert len(generated) == 32
    # Anything that is not a plain token is replaced, so log lines cannot be forged.
    assert (
        anonymous.get("/healthz", headers={"X-Request-ID": "a b;<x>"}).headers["X-Request-ID"]
        != "a b;<x>"
    )


def test_metrics_count_requests_by_route_and_status(admin, anonymous):
    admin.get("/products")
    admin.get("/products/none")
    text_ = anonymous.get("/metrics").get_data(as_text=True)
    assert 'stockroom_http_requests_total{method="GET",route="/api/v1/products",status="200"}' in (
        text_
    )
    assert 'route="/api/v1/products/<sku>",status="404"' in text_
    assert "stockroom_http_request_duration_seconds_bucket" in text_


def test_readyz_is_503_when_the_schema_is_behind(app, anonymous):
    from core import db

    with app.app_context(), db.engine().begin() as conn:
        (head,) = conn.execute(text("SELECT version_num FROM alembic_version")).scalars()
        conn.execute(text("UPDATE alembic_version SET version_num = 'older'"))
    try:
        body = assert_problem(anonymous.get("/readyz"), 503)
        assert "db upgrade" in body["detail"]
    finally:  # the PostgreSQL pass shares one migrated database between tests
        with app.app_context(), db.engine().begin() as conn:
            conn.execute(text("UPDATE alembic_version SET version_num = :v"), {"v": head})


@pytest.mark.parametrize("app_config", [{"DATABASE_URL": "sqlite:////nonexistent/dir/x.db"}])
def test_readyz_is_503_when_the_database_is_unreachable(anonymous):
    assert_problem(anonymous.get("/readyz"), 503)
    assert anonymous.get("/healthz").status_code == 200
