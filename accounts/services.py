"""Use cases for users and API tokens."""

from __future__ import annotations

import functools
import hashlib
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from flask import current_app, has_app_context
from sqlalchemy import or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from werkzeug.security import check_password_hash, generate_password_hash

from accounts import audit, token_cache
from accounts.models import ROLE_VALUES, ApiToken, User, UserRole, UserWarehouse
from accounts.principal import SYSTEM, Principal
from core.db import UnitOfWork, read_only, utcnow
from core.i18n import LANGUAGES
from core.problems import Conflict, Invalid, NotFound

TOKEN_PREFIX = "srk_"
#: Refreshing last-used on every request would turn every read into a write; a minute is enough
#: precision for "which tokens are still in use".
LAST_USED_PRECISION = timedelta(minutes=1)


#: werkzeug's default, scrypt with N=2**15, r=8, p=1: about 70 ms of a core per hash or check.
DEFAULT_PASSWORD_HASH = "scrypt"


def _password_hash_method() -> str:
    """The app's ``PASSWORD_HASH_METHOD``, werkzeug's default unless set.

    Only the test suite sets it (to a cheaper scrypt), through the app's config: it is not read
    from the environment. Checking needs no setting: a hash names the method it was made with.
    """
    if has_app_context():
        return str(current_app.config.get("PASSWORD_HASH_METHOD") or DEFAULT_PASSWORD_HASH)
    return DEFAULT_PASSWORD_HASH


def _hash_password(password: str) -> str:
    return generate_password_hash(password, method=_password_hash_method())


def hash_token(token: str) -> str:
    """Tokens are 256 random bits, so a fast hash is as safe as a slow one and keeps auth cheap."""
    return hashlib.sha256(token.encode()).hexdigest()


def principal_of(user: User, token_id: int | None = None) -> Principal:
    return Principal(
        user_id=user.id,
        username=user.username,
        roles=user.role_names,
        warehouses=user.warehouse_codes,
        token_id=token_id,
    )


#: Login names appear in the audit log and in URLs of the admin pages: no spaces, no markup.
USERNAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@+-]{0,63}$")


def _check_username(username: str) -> None:
    if not USERNAME.match(username):
        raise Invalid(
            "A username is 1 to 64 letters, digits and . _ @ + -, starting with a letter or digit.",
            errors={"username": ["use letters, digits and . _ @ + -"]},
        )


def _check_roles(roles: list[str], warehouses: list[str] | None) -> None:
    """The one rule for roles and scope, shared by creating and editing a user."""
    unknown = sorted(set(roles) - set(ROLE_VALUES))
    if not roles or unknown:
        raise Invalid("Unknown role.", errors={"role": [f"choose from {', '.join(ROLE_VALUES)}"]})
    if warehouses and "warehouse" not in roles:
        raise Invalid(
            "Only warehouse staff are scoped to warehouses.",
            errors={"warehouse": ["given without the warehouse role"]},
        )


def create_user(
    username: str,
    roles: list[str],
    *,
    warehouses: list[str] | None = None,
    password: str | None = None,
    full_name: str | None = None,
    email: str | None = None,
    actor: Principal = SYSTEM,
    reason: str | None = None,
) -> User:
    _check_username(username)
    _check_roles(roles, warehouses)
    with UnitOfWork() as uow:
        s = uow.session
        if s.scalar(select(User.id).where(User.username == username)) is not None:
            raise Conflict(f"User {username} already exists.", errors={"username": ["taken"]})
        user = User(
            username=username,
            full_name=full_name,
            email=email,
            password_hash=_hash_password(password) if password else None,
        )
        user.roles = [UserRole(role=r) for r in sorted(set(roles))]
        user.warehouses = [UserWarehouse(warehouse_code=w) for w in sorted(set(warehouses or []))]
        s.add(user)
        s.flush()
        audit.record(
            s,
            actor,
            "user.create",
            "user",
            user.id,
            reason=reason,
            after={
                "username": username,
                "roles": sorted(set(roles)),
                "warehouses": sorted(set(warehouses or [])),
            },
        )
        uow.commit()
        return user


def _scope(user: User) -> dict[str, Any]:
    """What the audit log shows of a user's access before and after a change."""
    return {
        "roles": sorted(user.role_names),
        "warehouses": sorted(user.warehouse_codes),
        "full_name": user.full_name,
        "email": user.email,
    }


def update_user(
    actor: Principal,
    user_id: int,
    *,
    roles: list[str],
    warehouses: list[str],
    full_name: str | None = None,
    email: str | None = None,
    password: str | None = None,
    reason: str | None = None,
) -> User:
    """Change a user's roles, warehouse scope and details; audits the fields that changed.

    API tokens carry the user's roles, so cached tokens of this user are forgotten here at once
    (other processes within ``AUTH_CACHE_SECONDS``); web sessions read roles on every request.
    """
    _check_roles(roles, warehouses)
    if actor.user_id == user_id and "admin" not in roles:
        raise Invalid(
            "You cannot take the admin role from yourself.",
            errors={"role": ["keep admin on your own account"]},
        )
    with UnitOfWork() as uow:
        s = uow.session
        user = _user_by_id(s, user_id)
        before = _scope(user)
        if set(roles) != user.role_names:
            user.roles = [UserRole(role=r) for r in sorted(set(roles))]
        if set(warehouses) != user.warehouse_codes:
            user.warehouses = [UserWarehouse(warehouse_code=w) for w in sorted(set(warehouses))]
        user.full_name = full_name
        user.email = email
        s.flush()
        after = _scope(user)
        changed = [k for k in after if after[k] != before[k]]
        if changed:
            audit.record(
                s,
                actor,
                "user.update",
                "user",
                user.id,
                reason=reason,
                before={k: before[k] for k in changed},
                after={k: after[k] for k in changed},
            )
        if password:
            user.password_hash = _hash_password(password)
            audit.record(s, actor, "user.set_password", "user", user.id, reason=reason)
        uow.commit()
    _forget_user(user_id)
    return user


def set_active(actor: Principal, user_id: int, active: bool, *, reason: str | None = None) -> User:
    """Deactivate (or reactivate) a user: sign-in, sessions and every token stop working.

    The user's web session ends at its next request; their tokens are refused at once in this
    process and, in other processes, once their token cache entries expire.
    """
    if actor.user_id == user_id and not active:
        raise Conflict(
            "You cannot deactivate your own account.",
            errors={"active": ["this is your own account"]},
        )
    with UnitOfWork() as uow:
        s = uow.session
        user = _user_by_id(s, user_id)
        if user.active != active:
            user.active = active
            audit.record(
                s,
                actor,
                "user.activate" if active else "user.deactivate",
                "user",
                user.id,
                reason=reason,
                before={"active": not active},
                after={"active": active},
            )
        uow.commit()
    _forget_user(user_id)
    return user


def set_language(user_id: int, language: str | None) -> None:
    """Keep a person's choice of UI language on their account, so it follows them to any device.

    A preference of one's own, not an access change: it is not audited.
    """
    if language is not None and language not in LANGUAGES:
        raise Invalid("Unknown language.", errors={"language": [f"one of {', '.join(LANGUAGES)}"]})
    with UnitOfWork() as uow:
        uow.session.execute(
            update(User)
            .where(User.id == user_id)
            .values(language=language)
            .execution_options(synchronize_session=False)
        )
        uow.commit()


def record_sign_in(user_id: int) -> None:
    with UnitOfWork() as uow:
        uow.session.execute(
            update(User)
            .where(User.id == user_id)
            .values(last_sign_in_at=utcnow())
            .execution_options(synchronize_session=False)
        )
        uow.commit()


def list_users() -> list[User]:
    """Every user by username, roles and warehouses loaded, for the admin's user list."""
    with read_only() as s:
        return list(s.scalars(select(User).order_by(User.username)))


def get_user(user_id: int) -> User:
    with read_only() as s:
        return _user_by_id(s, user_id)


def _user_by_id(s: Session, user_id: int) -> User:
    user = s.get(User, user_id)
    if user is None:
        raise NotFound(f"No user {user_id}.")
    return user


def _forget_user(user_id: int) -> None:
    cache = token_cache.cache()
    if cache is not None:
        cache.forget_user(user_id)


def _user_by_name(s: Session, username: str) -> User:
    user = s.scalar(select(User).where(User.username == username))
    if user is None:
        raise NotFound(f"No user {username}.")
    return user


def set_password(username: str, password: str, *, actor: Principal = SYSTEM) -> None:
    with UnitOfWork() as uow:
        user = _user_by_name(uow.session, username)
        user.password_hash = _hash_password(password)
        audit.record(uow.session, actor, "user.set_password", "user", user.id)
        uow.commit()


@dataclass(frozen=True)
class IssuedToken:
    id: int
    name: str
    username: str
    token: str
    expires_at: datetime | None = None


class TokenFormSentAgain(Conflict):
    """The admin page's token form, sent again after it issued a token (a reload, a double
    click): its token's secret was shown once and cannot be shown again."""


def create_token(
    username: str,
    name: str = "default",
    *,
    actor: Principal = SYSTEM,
    expires_at: datetime | None = None,
    reason: str | None = None,
    form_submission: str | None = None,
) -> IssuedToken:
    """Issue a token; its secret is returned here once and cannot be recovered later.

    ``form_submission`` (the admin page's form) is unique: a form that already issued a token
    raises ``TokenFormSentAgain`` and issues nothing, whichever request got there first."""
    name = name.strip()
    if not name or len(name) > 64:
        raise Invalid(
            "Name the token (up to 64 characters).", errors={"name": ["1 to 64 characters"]}
        )
    if expires_at is not None and expires_at <= utcnow():
        raise Invalid("A token must expire in the future.", errors={"expires_at": ["in the past"]})
    secret = TOKEN_PREFIX + secrets.token_urlsafe(32)
    with UnitOfWork() as uow:
        s = uow.session
        user = _user_by_name(s, username)
        if not user.active:
            raise Conflict(
                f"User {username} is deactivated.", errors={"user": ["deactivated user"]}
            )
        token = ApiToken(
            user_id=user.id,
            name=name,
            token_hash=hash_token(secret),
            prefix=secret[:12],
            expires_at=expires_at,
            form_submission=form_submission,
        )
        s.add(token)
        try:
            s.flush()
        except IntegrityError:
            if form_submission is None:
                raise
            raise TokenFormSentAgain("This form has issued its token already.") from None
        audit.record(
            s,
            actor,
            "token.create",
            "api_token",
            token.id,
            reason=reason,
            after={
                "name": name,
                "user": username,
                "expires_at": expires_at.isoformat() if expires_at else None,
            },
        )
        uow.commit()
        return IssuedToken(
            id=token.id, name=name, username=username, token=secret, expires_at=expires_at
        )


def revoke_token(
    token_id: int, *, actor: Principal = SYSTEM, reason: str | None = None
) -> ApiToken:
    """Refuse a token from now on.

    This process forgets it at once; other processes (gunicorn workers, the CLI's revocation seen
    by the servers) honour their cached entry for at most ``AUTH_CACHE_SECONDS`` more.
    """
    with UnitOfWork() as uow:
        s = uow.session
        token = s.get(ApiToken, token_id)
        if token is None:
            raise NotFound(f"No token {token_id}.")
        if token.revoked_at is None:
            token.revoked_at = utcnow()
            audit.record(
                s,
                actor,
                "token.revoke",
                "api_token",
                token.id,
                reason=reason,
                before={"name": token.name, "user": token.user.username},
            )
        uow.commit()
    cache = token_cache.cache()
    if cache is not None:
        cache.forget_token(token_id)
    return token


def list_tokens(s: Session, username: str | None = None) -> list[ApiToken]:
    stmt = select(ApiToken).join(ApiToken.user).order_by(ApiToken.id)
    if username:
        stmt = stmt.where(User.username == username)
    return list(s.scalars(stmt))


def tokens(user_id: int | None = None) -> list[ApiToken]:
    """Tokens newest first, with their owner: every user's, or one user's."""
    stmt = select(ApiToken).order_by(ApiToken.id.desc())
    if user_id is not None:
        stmt = stmt.where(ApiToken.user_id == user_id)
    with read_only() as s:
        return list(s.scalars(stmt))


@dataclass(frozen=True)
class CheckedToken:
    """A valid token's owner, and until when the token may be trusted without asking again."""

    principal: Principal
    expires_at: datetime | None


def check_token(s: Session, secret: str) -> CheckedToken | None:
    """The owner of a bearer token, or None if it is unknown, revoked, expired or its user is
    deactivated.

    Runs only when the token cache has no fresh entry (at most every ``AUTH_CACHE_SECONDS`` per
    token and process). ``last_used_at`` is written at most once per ``LAST_USED_PRECISION``, by
    a conditional UPDATE, so processes that read the same old value write it once between them,
    and a busy token costs one small write a minute rather than one per request.
    """
    token = s.scalar(select(ApiToken).where(ApiToken.token_hash == hash_token(secret)))
    now = utcnow()
    if token is None or token.revoked_at is not None or not token.user.active:
        return None
    if token.expires_at is not None and token.expires_at <= now:
        return None
    checked = CheckedToken(principal_of(token.user, token.id), token.expires_at)
    stale = now - LAST_USED_PRECISION
    if token.last_used_at is None or token.last_used_at < stale:
        with UnitOfWork() as uow:
            uow.session.execute(
                update(ApiToken)
                .where(
                    ApiToken.id == token.id,
                    or_(ApiToken.last_used_at.is_(None), ApiToken.last_used_at < stale),
                )
                .values(last_used_at=now)
                .execution_options(synchronize_session=False)
            )
            uow.commit()
    return checked


def authenticate_token(s: Session, secret: str) -> Principal | None:
    checked = check_token(s, secret)
    return checked.principal if checked is not None else None


@functools.cache
def _decoy_hash(method: str) -> str:
    """A hash to check unknown users against, made once (per method) rather than on every
    failed sign-in."""
    return generate_password_hash(secrets.token_urlsafe(16), method=method)


def authenticate_password(s: Session, username: str, password: str) -> User | None:
    user = s.scalar(select(User).where(User.username == username))
    if user is None or not user.active or not user.password_hash:
        # Spend the same time as a real check so usernames cannot be probed by timing.
        check_password_hash(_decoy_hash(_password_hash_method()), password)
        return None
    return user if check_password_hash(user.password_hash, password) else None
