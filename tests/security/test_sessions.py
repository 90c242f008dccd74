"""Session cookies cannot be forged; browsers get safe cookies and security headers."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from pathlib import Path

import pytest
from flask import Flask

from app import create_app
from core.security import InsecureConfiguration

OLD_CONSTANT = "dev-only-change-me"


def forged_admin_cookie(user_id: int) -> str:
    """What an attacker who read the source could sign: flask-login's session for ``user_id``."""
    forger = Flask("forger")
    forger.secret_key = OLD_CONSTANT
    serializer = forger.session_interface.get_signing_serializer(forger)  # type: ignore[attr-defined]
    return serializer.dumps({"_user_id": str(user_id), "_fresh": True})


@pytest.mark.parametrize("key", [None, "", OLD_CONSTANT, "short-key"])
def test_production_app_refuses_to_start_without_a_real_key(database_url, key):
    with pytest.raises(InsecureConfiguration, match="SECRET_KEY"):
        create_app({"DATABASE_URL": database_url, "ENV_NAME": "production", "SECRET_KEY": key})


def test_production_app_starts_with_a_real_key(database_url):
    app = create_app(
        {"DATABASE_URL": database_url, "ENV_NAME": "production", "SECRET_KEY": "k" * 48}
    )
    assert app.secret_key == "k" * 48


def test_development_apps_make_a_key_nobody_else_knows(database_url):
    dev = [
        create_app({"DATABASE_URL": database_url, "ENV_NAME": "development", "SECRET_KEY": k})
        for k in (None, OLD_CONSTANT)
    ]
    # Workers of one installation agree (the key lives in its instance folder)...
    assert dev[0].secret_key == dev[1].secret_key
    assert dev[0].secret_key != OLD_CONSTANT
    assert len(dev[0].secret_key) >= 32
    assert (Path(dev[0].instance_path) / "secret_key").read_text() == dev[0].secret_key
    # ...and a throwaway test app gets a fresh one each time.
    tests = {
        create_app({"DATABASE_URL": database_url, "TESTING": True}).secret_key for _ in range(2)
    }
    assert len(tests) == 2


def test_servers_store_passwords_with_werkzeugs_default_scrypt(database_url):
    """The suite's apps hash with a cheaper scrypt (tests/conftest.py); an app built from the
    environment, as servers are, stores werkzeug's default and signs people in with it."""
    from sqlalchemy import select

    from accounts import services
    from accounts.models import User
    from core import db

    app = create_app({"DATABASE_URL": database_url, "TESTING": True, "WTF_CSRF_ENABLED": False})
    try:
        assert "PASSWORD_HASH_METHOD" not in app.config
        with app.app_context():
            services.create_user("strong", ["viewer"], password="pw-strong-123")
            stored = db.session().scalar(
                select(User.password_hash).where(User.username == "strong")
            )
        assert stored is not None
        assert stored.startswith("scrypt:32768:8:1$")
        signed_in = app.test_client().post(
            "/login", data={"username": "strong", "password": "pw-strong-123"}
        )
        assert signed_in.status_code == 302
        assert "/login" not in signed_in.location
    finally:
        db.dispose(app)


def test_instance_key_is_shared_by_workers_of_one_installation(tmp_path):
    from core.security import _instance_key

    first = _instance_key(tmp_path / "a")
    assert _instance_key(tmp_path / "a") == first
    assert _instance_key(tmp_path / "b") != first
    assert oct((tmp_path / "a" / "secret_key").stat().st_mode & 0o777) == "0o600"


def test_a_cookie_signed_with_the_old_constant_opens_nothing(app, make_user, client):
    admin = make_user("admin", username="root", password="pw-root-123")
    with app.app_context():
        from sqlalchemy import select

        from accounts.models import User
        from core.db import session

        user_id = session().scalar(select(User.id).where(User.username == admin.username))
    client.set_cookie("session", forged_admin_cookie(user_id))
    assert client.get("/api/v1/me").status_code == 401
    r = client.get("/stock")
    assert r.status_code == 302
    assert "/login" in r.location
    # The same payload signed with the app's own key does work: the test proves the forgery, not
    # a broken cookie.
    genuine = app.session_interface.get_signing_serializer(app).dumps(  # type: ignore[attr-defined]
        {"_user_id": str(user_id), "_fresh": True}
    )
    client.set_cookie("session", genuine)
    assert client.get("/api/v1/me").json["username"] == "root"


# --------------------------------------------------------------------------------------------------
# Cookies and headers


def cookie(response, name: str) -> str:
    for header in response.headers.getlist("Set-Cookie"):
        if header.startswith(name + "="):
            return header
    raise AssertionError(f"no {name} cookie in {response.headers}")


def test_remember_cookie_is_lax_httponly_and_lasts_two_weeks(app, make_user):
    make_user("viewer", username="ann", password="pw-ann-1234")
    r = app.test_client().post(
        "/login", data={"username": "ann", "password": "pw-ann-1234", "remember": "y"}
    )
    assert r.status_code == 302
    remember = cookie(r, "remember_token")
    assert "SameSite=Lax" in remember
    assert "HttpOnly" in remember
    assert "Secure" not in remember
    expires = parsedate_to_datetime(remember.split("Expires=")[1].split(";")[0])
    assert timedelta(days=13) < expires - datetime.now(UTC) <= timedelta(days=14, minutes=1)
    assert "SameSite=Lax" in cookie(r, "session")


@pytest.mark.parametrize(
    "app_config", [{"SESSION_COOKIE_SECURE": True, "REMEMBER_COOKIE_SECURE": True}]
)
def test_secure_setting_marks_cookies_and_announces_hsts(app, make_user):
    make_user("viewer", username="bob", password="pw-bob-1234")
    r = app.test_client().post(
        "/login", data={"username": "bob", "password": "pw-bob-1234", "remember": "y"}
    )
    assert "Secure" in cookie(r, "session")
    assert "Secure" in cookie(r, "remember_token")
    assert r.headers["Strict-Transport-Security"].startswith("max-age=")


@pytest.mark.parametrize("path", ["/login", "/api/v1/me", "/healthz", "/api/openapi.json"])
def test_every_response_has_the_security_headers(client, path):
    r = client.get(path)
    assert r.headers["X-Content-Type-Options"] == "nosniff"
    assert r.headers["X-Frame-Options"] == "DENY"
    assert r.headers["Referrer-Policy"] == "strict-origin-when-cross-origin"
    csp = r.headers["Content-Security-Policy"]
    assert "default-src 'self'" in csp
    assert "frame-ancestors 'none'" in csp
    # Plain HTTP without the secure setting: HSTS would be ignored, so it is not sent.
    assert "Strict-Transport-Security" not in r.headers


def test_a_response_without_a_page_script_allows_no_inline_script(client):
    for path in ("/healthz", "/api/v1/me"):
        csp = client.get(path).headers["Content-Security-Policy"]
        script_src = csp.split("script-src", 1)[1].split(";", 1)[0]
        assert "'nonce-" not in script_src
        assert "'unsafe-inline'" not in script_src


def test_hsts_over_https(client):
    r = client.get("/healthz", base_url="https://stockroom.example")
    assert "max-age=" in r.headers["Strict-Transport-Security"]


def test_page_scripts_run_under_a_per_response_nonce_and_injected_ones_do_not(app):
    import re

    from accounts import services as accounts

    with app.app_context():
        accounts.create_user("admin1", ["admin"], password="pw-admin-1234")
    client = app.test_client()
    client.post("/login", data={"username": "admin1", "password": "pw-admin-1234"})
    nonces = []
    for _ in range(2):
        r = client.get("/stock/move")
        assert r.status_code == 200
        csp = r.headers["Content-Security-Policy"]
        assert "'unsafe-inline'" not in csp.split("script-src", 1)[1].split(";", 1)[0]
        nonce = re.search(r"'nonce-([^']+)'", csp).group(1)
        inline = re.findall(r"<script(?![^>]*\bsrc=)([^>]*)>", r.get_data(as_text=True))
        assert inline, "the movement form has its own script"
        assert all(f'nonce="{nonce}"' in attrs for attrs in inline)
        nonces.append(nonce)
    assert nonces[0] != nonces[1]
