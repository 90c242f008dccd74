"""With the database gone, the service says 503 with Retry-After (not 500), and /readyz fails."""

from __future__ import annotations

import pytest

from core.db import make_engine
from tests.factories import assert_problem

DEAD = {
    # Nothing listens on port 1: the connection is refused at once.
    "postgresql": "postgresql+psycopg://postgres@127.0.0.1:1/gone?connect_timeout=2",
    "sqlite": "sqlite:////nonexistent-directory/stockroom.db",
}


@pytest.fixture(params=sorted(DEAD))
def outage(request, app, make_user):
    """A signed-in API client whose database then disappears."""
    viewer = make_user("admin")
    assert viewer.get("/stock").status_code == 200
    from core.db import dispose

    dispose(app)
    app.extensions["stockroom.engine"] = make_engine(DEAD[request.param])
    app.extensions.pop("stockroom.read_engine", None)
    app.config["DATABASE_URL"] = DEAD[request.param]
    return viewer


def test_api_answers_503_with_retry_after(outage):
    for path in ("/stock", "/products", "/stock/movements"):
        r = outage.get(path)
        body = assert_problem(r, 503)
        assert int(r.headers["Retry-After"]) > 0
        assert body["type"] == "/problems/database-unavailable"


def test_writes_answer_503_too(outage):
    r = outage.post("/products", json={"sku": "X", "name": "x"})
    assert r.status_code == 503
    assert r.headers["Retry-After"]


def test_readyz_fails_while_healthz_stays_up(outage):
    r = outage.client.get("/readyz")
    assert_problem(r, 503)
    assert r.headers["Retry-After"]
    assert outage.client.get("/healthz").status_code == 200


def test_browser_gets_a_page_not_a_stack_trace(outage):
    r = outage.client.get("/login", headers={"Accept": "text/html"})
    assert r.status_code in (200, 503)  # the sign-in form needs no database
    r = outage.client.post(
        "/login", data={"username": "x", "password": "y"}, headers={"Accept": "text/html"}
    )
    assert r.status_code == 503
    assert r.headers["Retry-After"]
    assert "Traceback" not in r.get_data(as_text=True)
