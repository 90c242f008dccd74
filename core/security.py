"""What every response and session needs to be safe on the open internet.

The signing key, cookie attributes, browser security headers and the sign-in throttle live here
so that a feature cannot forget them: they are set once for the whole app.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from flask import Flask, Request, Response, current_app, g, request
from flask.sessions import SecureCookieSession, SecureCookieSessionInterface
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from werkzeug.middleware.proxy_fix import ProxyFix

from core import context

#: The value older releases fell back to; anyone can sign a session cookie with it.
KNOWN_WEAK_KEYS = frozenset({"dev-only-change-me", "change-me", "secret", "dev", "development"})
MIN_KEY_LENGTH = 32

#: Environments where a missing key is generated rather than refused.
NON_PRODUCTION = frozenset({"development", "demo", "test"})

F = TypeVar("F", bound=Callable[..., Any])


class InsecureConfiguration(RuntimeError):
    """The app was asked to serve in production with settings that would make it unsafe."""


def is_production(config: dict[str, Any]) -> bool:
    return config.get("ENV_NAME", "production") not in NON_PRODUCTION and not config.get("TESTING")


def _instance_key(instance_dir: Path) -> str:
    """A random key kept in the instance folder, so every worker of one installation shares it.

    Created on first use with owner-only permissions; a second installation (another folder) has
    its own, so a cookie from one demo never opens another.
    """
    instance_dir.mkdir(parents=True, exist_ok=True)
    path = instance_dir / "secret_key"
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        key = path.read_text().strip()
        if len(key) >= MIN_KEY_LENGTH:
            return key
        path.unlink()
        return _instance_key(instance_dir)
    key = secrets.token_urlsafe(48)
    with os.fdopen(fd, "w") as f:
        f.write(key)
    return key


def configure_secret_key(app: Flask) -> None:
    """Refuse to serve production without a real key; elsewhere make one nobody else knows.

    A constant default key means anyone who has read the source can sign an administrator's
    session cookie, so there is none.
    """
    key = app.config.get("SECRET_KEY")
    weak = not key or key in KNOWN_WEAK_KEYS or len(str(key)) < MIN_KEY_LENGTH
    if is_production(app.config):
        if weak:
            raise InsecureConfiguration(
                "SECRET_KEY must be set to a random value of at least "
                f"{MIN_KEY_LENGTH} characters in production (for example: "
                "python -c 'import secrets; print(secrets.token_urlsafe(48))')"
            )
        return
    if not key or key in KNOWN_WEAK_KEYS:
        app.config["SECRET_KEY"] = (
            secrets.token_urlsafe(48)
            if app.config.get("TESTING")
            else _instance_key(Path(app.instance_path))
        )


# --------------------------------------------------------------------------------------------------
# Headers

CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'self'",
        # Plotly's bundle evaluates generated code and the charts set inline styles. A page's own
        # inline scripts run only with this response's nonce (see ``csp_nonce``).
        "script-src 'self' 'unsafe-eval' 'nonce-{nonce}'",
        "style-src 'self' 'unsafe-inline'",
        "img-src 'self' data: blob:",
        "font-src 'self' data:",
        "connect-src 'self'",
        "object-src 'none'",
        "base-uri 'self'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ]
)


def csp_nonce() -> str:
    """The nonce that lets this response's own inline scripts run and no injected one.

    Generated on first use per request; templates call it as ``{{ csp_nonce() }}``.
    """
    nonce: str | None = g.get("csp_nonce")
    if nonce is None:
        nonce = g.csp_nonce = secrets.token_urlsafe(16)
    return nonce


#: For a response that ran no inline script of its own (JSON, redirects, pages without one): no
#: nonce at all, so no inline script runs, and no random bytes drawn for every API call.
_WITHOUT_NONCE = CONTENT_SECURITY_POLICY.replace(" 'nonce-{nonce}'", "")
_API_DOCS_POLICY = CONTENT_SECURITY_POLICY.replace(
    "script-src 'self' 'unsafe-eval' 'nonce-{nonce}'", "script-src 'self' 'unsafe-inline'"
)


def security_headers(response: Response) -> Response:
    """What browsers are told about every response: no sniffing, no framing, the CSP, HSTS."""
    headers = response.headers
    headers.setdefault("X-Content-Type-Options", "nosniff")
    headers.setdefault("X-Frame-Options", "DENY")
    headers.setdefault("Referrer-Policy", "strict-origin-when-cross-origin")
    if request.path.startswith("/api/docs"):
        # Swagger UI runs inline scripts of its own.
        headers.setdefault("Content-Security-Policy", _API_DOCS_POLICY)
    else:
        nonce = g.get("csp_nonce")
        headers.setdefault(
            "Content-Security-Policy",
            _WITHOUT_NONCE if nonce is None else CONTENT_SECURITY_POLICY.replace("{nonce}", nonce),
        )
    if request.is_secure or _config_flag("SESSION_COOKIE_SECURE"):
        headers.setdefault(
            "Strict-Transport-Security",
            f"max-age={_config_int('HSTS_SECONDS', 31536000)}; includeSubDomains",
        )
    return response


def api_headers(secure: bool) -> list[tuple[str, str]]:
    """What ``security_headers`` adds to an API answer (no inline script, not the API's docs)
    that sets none of these itself, for a request over HTTPS or not."""
    headers = [
        ("X-Content-Type-Options", "nosniff"),
        ("X-Frame-Options", "DENY"),
        ("Referrer-Policy", "strict-origin-when-cross-origin"),
        ("Content-Security-Policy", _WITHOUT_NONCE),
    ]
    if secure or _config_flag("SESSION_COOKIE_SECURE"):
        headers.append(
            (
                "Strict-Transport-Security",
                f"max-age={_config_int('HSTS_SECONDS', 31536000)}; includeSubDomains",
            )
        )
    return headers


class CookieSessions(SecureCookieSessionInterface):
    """Flask's signed-cookie sessions, minus building the signer for a request without a cookie.

    API clients send a token, not a cookie, and Flask made a signing serializer (itself a JSON
    round trip) for each of their requests only to find there was nothing to check. The session
    is the same empty one; a request with a cookie is read exactly as before.
    """

    def open_session(self, app: Flask, request: Request) -> SecureCookieSession | None:
        if app.secret_key and not request.cookies.get(self.get_cookie_name(app)):
            return self.session_class()
        return super().open_session(app, request)


def _config_flag(name: str) -> bool:
    return bool(context.app().config.get(name))


def _config_int(name: str, default: int) -> int:
    return int(context.app().config.get(name, default))


# --------------------------------------------------------------------------------------------------
# Throttling

limiter = Limiter(
    key_func=get_remote_address,
    default_limits=[],
    headers_enabled=True,
    strategy="moving-window",
)


def throttle_sign_in(view: F) -> F:
    """Slow password guessing: per client address and per username tried.

    Only attempts count (POST); showing the form is free. The limits come from
    ``SIGN_IN_RATE_LIMIT`` (per address) and ``SIGN_IN_USER_RATE_LIMIT`` (per username).
    """

    def _address_limit() -> str:
        from flask import current_app

        return str(current_app.config["SIGN_IN_RATE_LIMIT"])

    def _user_limit() -> str:
        from flask import current_app

        return str(current_app.config["SIGN_IN_USER_RATE_LIMIT"])

    def _username() -> str:
        return "user:" + (request.form.get("username") or "").strip().lower()[:64]

    limited = limiter.limit(_address_limit, methods=["POST"], scope="sign-in")(view)
    throttled = limiter.limit(
        _user_limit, methods=["POST"], key_func=_username, scope="sign-in-user"
    )(limited)
    _THROTTLED.add(throttled)
    return throttled  # type: ignore[return-value]


#: The views ``throttle_sign_in`` wrapped: the only ones with limits unless the configuration
#: sets default or application-wide ones.
_THROTTLED: set[Callable[..., Any]] = set()


def limits_every_request(app: Flask) -> bool:
    """Whether the configuration sets limits beyond the sign-in's (default or application-wide
    ones, which then apply to every request)."""
    return bool(app.config.get("RATELIMIT_DEFAULT") or app.config.get("RATELIMIT_APPLICATION"))


@limiter.request_filter
def _not_throttled() -> bool:
    """Requests to every other view skip the limiter's per-request bookkeeping, which found no
    limit to apply yet cost a tenth of the CPU of a storefront reservation."""
    if limits_every_request(current_app):
        return False
    return current_app.view_functions.get(request.endpoint or "") not in _THROTTLED


def trust_proxies(app: Flask) -> None:
    """Behind ``TRUSTED_PROXIES`` load balancers, take the client's address and scheme from the
    forwarded headers they set: otherwise every request seems to come from the balancer, and one
    person's failed sign-ins would throttle everyone's."""
    hops = int(app.config.get("TRUSTED_PROXIES") or 0)
    if hops > 0:
        app.wsgi_app = ProxyFix(  # type: ignore[method-assign]
            app.wsgi_app, x_for=hops, x_proto=hops
        )


def init_app(app: Flask) -> None:
    configure_secret_key(app)
    app.config.setdefault("RATELIMIT_STORAGE_URI", "memory://")
    # A Redis outage must not lock everyone out of signing in: count in memory meanwhile.
    app.config.setdefault("RATELIMIT_IN_MEMORY_FALLBACK_ENABLED", True)
    app.config.setdefault("RATELIMIT_SWALLOW_ERRORS", True)
    app.config.setdefault("SIGN_IN_RATE_LIMIT", "20 per minute")
    app.config.setdefault("SIGN_IN_USER_RATE_LIMIT", "10 per minute")
    limiter.init_app(app)
    app.session_interface = CookieSessions()
    app.after_request(security_headers)
    app.jinja_env.globals["csp_nonce"] = csp_nonce
