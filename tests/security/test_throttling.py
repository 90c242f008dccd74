"""Password guessing is slowed down: a burst of sign-in attempts gets 429 with Retry-After."""

from __future__ import annotations

import pytest

from tests.factories import assert_problem

JSON = {"Accept": "application/json"}


@pytest.fixture
def people(make_user):
    make_user("viewer", username="carol", password="pw-carol-123")


def attempt(client, username: str, password: str = "wrong", address: str = "203.0.113.7"):
    return client.post(
        "/login",
        data={"username": username, "password": password},
        headers=JSON,
        environ_base={"REMOTE_ADDR": address},
    )


def test_forty_wrong_passwords_meet_429(app, people):
    client = app.test_client()
    statuses = [attempt(client, "carol").status_code for _ in range(40)]
    assert statuses[0] == 401
    assert 429 in statuses
    first_429 = statuses.index(429)
    assert first_429 <= 20  # SIGN_IN_RATE_LIMIT and the per-username limit are both lower
    assert set(statuses[first_429:]) == {429}
    r = attempt(client, "carol", "pw-carol-123")
    body = assert_problem(r, 429)
    assert int(r.headers["Retry-After"]) > 0
    assert body["status"] == 429


def test_guessing_one_username_from_many_addresses_is_limited_too(app, people):
    client = app.test_client()
    statuses = [
        attempt(client, "carol", address=f"198.51.100.{i}").status_code for i in range(1, 30)
    ]
    assert 429 in statuses


def test_one_address_limit_does_not_lock_out_another(app, people):
    client = app.test_client()
    for i in range(30):
        attempt(client, f"nobody{i}", address="203.0.113.9")
    assert attempt(client, "nobody", address="203.0.113.9").status_code == 429
    r = attempt(client, "carol", "pw-carol-123", address="192.0.2.44")
    assert r.status_code == 302


def test_showing_the_form_is_not_counted(app, people):
    client = app.test_client()
    for _ in range(50):
        assert client.get("/login").status_code == 200
    assert attempt(client, "carol", "pw-carol-123").status_code == 302


@pytest.mark.parametrize("app_config", [{"TRUSTED_PROXIES": 1}])
def test_behind_a_load_balancer_each_client_is_counted_on_its_own(app, people):
    """Every request arrives from the balancer; its X-Forwarded-For names the client."""
    client = app.test_client()

    def via_balancer(username: str, password: str, client_address: str):
        return client.post(
            "/login",
            data={"username": username, "password": password},
            headers={**JSON, "X-Forwarded-For": client_address},
            environ_base={"REMOTE_ADDR": "10.0.0.2"},
        )

    for i in range(30):
        via_balancer(f"nobody{i}", "wrong", "203.0.113.9")
    assert via_balancer("nobody", "wrong", "203.0.113.9").status_code == 429
    assert via_balancer("carol", "pw-carol-123", "192.0.2.44").status_code == 302


def test_without_trusted_proxies_a_forged_forwarded_header_changes_nothing(app, people):
    client = app.test_client()
    statuses = [
        client.post(
            "/login",
            data={"username": f"nobody{i}", "password": "wrong"},
            headers={**JSON, "X-Forwarded-For": f"198.51.100.{i}"},
            environ_base={"REMOTE_ADDR": "203.0.113.50"},
        ).status_code
        for i in range(1, 30)
    ]
    assert 429 in statuses
