"""Authentication for API clients (bearer tokens) and people (session cookie), and role checks."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, ParamSpec, TypeVar

from flask import Flask, current_app, request
from flask_babel import gettext as _
from flask_login import LoginManager, UserMixin, current_user

from accounts import services, token_cache
from accounts.models import User
from accounts.principal import Principal
from core import context, db, hot_paths
from core.api import API_PREFIX
from core.problems import Forbidden, Unauthorized

P = ParamSpec("P")
T = TypeVar("T")


class WebUser(UserMixin):
    """What flask-login keeps for a signed-in person: a principal, never a live ORM object."""

    def __init__(self, principal: Principal, language: str | None = None) -> None:
        self.principal = principal
        #: The UI language saved on the account; it beats the cookie and the browser's wish.
        self.language = language

    def get_id(self) -> str:
        return str(self.principal.user_id)


login_manager = LoginManager()
login_manager.login_view = "accounts_web.login"
login_manager.login_message_category = "warning"


@login_manager.user_loader
def _load_user(user_id: str) -> WebUser | None:
    with db.read_only() as s:
        user = s.get(User, int(user_id)) if user_id.isdigit() else None
        if user is None or not user.active:
            return None
        return WebUser(services.principal_of(user), user.language)


def _bearer_principal() -> Principal:
    header = context.current_request().headers.get("Authorization", "")
    scheme, _, secret = header.partition(" ")
    if not header:
        raise Unauthorized("Send an API token as `Authorization: Bearer <token>`.")
    secret = secret.strip()
    if scheme.lower() != "bearer" or not secret or " " in secret:
        raise Unauthorized("The Authorization header must be `Bearer <token>`.")
    cache = token_cache.cache()
    if cache is None:
        return _check_token(secret).principal
    known = cache.get(secret)
    if known is not None:
        return known
    generation = cache.generation
    checked = _check_token(secret)
    cache.put(
        secret,
        checked.principal,
        generation,
        expires_at=checked.expires_at,
        now=db.utcnow(),
    )
    return checked.principal


def _check_token(secret: str) -> services.CheckedToken:
    with db.read_only() as s:
        checked = services.check_token(s, secret)
    if checked is None:
        raise Unauthorized("The token is unknown, expired or has been revoked.")
    return checked


def current_principal() -> Principal:
    """The caller of this request; raises 401 when there is none."""
    kept = context.app_globals()
    principal: Principal | None = kept.get("principal")
    if principal is not None:
        return principal
    if "Authorization" not in context.current_request().headers and current_user.is_authenticated:
        principal = current_user.principal
    else:
        principal = _bearer_principal()
    kept.principal = principal
    return principal


def require(*roles: str) -> Callable[[Callable[P, T]], Callable[P, T]]:
    """Allow a view to callers holding one of ``roles`` (admins always); 403 for the rest.

    Put it above flask-smorest's decorators so a caller without the right is told so before
    their input is validated.
    """

    def decorate(fn: Callable[P, T]) -> Callable[P, T]:
        @functools.wraps(fn)
        def wrapper(*args: P.args, **kwargs: P.kwargs) -> T:
            principal = current_principal()
            if roles:
                principal.ensure_role(*roles)
            return fn(*args, **kwargs)

        wrapper._required_roles = roles  # type: ignore[attr-defined]
        return wrapper

    return decorate


def authenticates_itself(view: Callable[P, T]) -> Callable[P, T]:
    """Mark an API view that proves its caller another way (a signed webhook), not by token.

    The view must refuse an unproven caller itself with a 401; nothing else is skipped.
    """
    view._authenticates_itself = True  # type: ignore[attr-defined]
    return view


def _view_authenticates_itself() -> bool:
    """Whether this request's view proves its caller itself; looked up once per view and method."""
    key = (request.endpoint or "", request.method)
    known: dict[tuple[str, str], bool] = current_app.extensions.setdefault(
        "stockroom.self_authenticating", {}
    )
    found = known.get(key)
    if found is None:
        view = current_app.view_functions.get(key[0])
        view_class = getattr(view, "view_class", None)
        handler = getattr(view_class, key[1].lower(), None) if view_class else view
        found = known[key] = bool(getattr(handler, "_authenticates_itself", False))
    return found


def _authenticate_api_request() -> None:
    """Every API call needs a valid token before anything else happens (401 before 403/422)."""
    if not request.path.startswith(API_PREFIX + "/") or request.method == "OPTIONS":
        return
    if _view_authenticates_itself():
        return
    current_principal()
    cookie_authenticated = "Authorization" not in request.headers
    if cookie_authenticated and request.method not in ("GET", "HEAD"):
        # The web UI may call the API with its session cookie; a write then needs the CSRF
        # token like any form post, or another site could make the browser do it.
        csrf = current_app.extensions.get("csrf")
        if csrf is not None:
            csrf.protect()


def init_app(app: Flask) -> None:
    token_cache.init_app(app)
    login_manager.init_app(app)
    app.before_request(_authenticate_api_request)
    # The storefront's hot requests (core.hot_paths) check their token through ``require``, and
    # carry no cookie: no remember-me cookie to renew.
    hot_paths.covers(app, _authenticate_api_request, login_manager._update_remember_cookie)


def idempotency_scope() -> str:
    """Idempotency keys belong to the calling user (``core.idempotency``)."""
    return f"user:{current_principal().user_id}"


def principal_or_none() -> Any:
    """For templates: the signed-in person, or None on public pages."""
    if current_user.is_authenticated:
        return current_user.principal
    return None


def account_language() -> str | None:
    """For ``core.i18n``: the signed-in person's saved language, or None."""
    if current_user.is_authenticated:
        return current_user.language  # type: ignore[no-any-return]
    return None


def save_account_language(language: str) -> None:
    """For ``core.i18n``'s switcher: keep the choice on the signed-in person's account."""
    if current_user.is_authenticated:
        services.set_language(current_user.principal.user_id, language)
        current_user.language = language


def page_principal() -> Principal:
    """The person signed in to the web UI (pages are behind ``login_required``)."""
    return current_user.principal  # type: ignore[no-any-return]


def require_page_role(*roles: str) -> Principal:
    """The signed-in person, or a 403 page naming the roles this page needs."""
    principal = page_principal()
    if not principal.has_any(*roles):
        raise Forbidden(_("This page needs one of the roles: %(roles)s.", roles=", ".join(roles)))
    return principal
