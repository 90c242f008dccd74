"""Use cases for users and API tokens."""

from __future__ import annotations

import functools
import hashlib
import secrets
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session
from werkzeug.security import check_password_hash, generate_password_hash

from accounts import audit, token_cache
from accounts.models import ROLE_VALUES, ApiToken, User, UserRole, UserWarehouse
from accounts.principal import SYSTEM, Principal
from core.db import UnitOfWork, utcnow
from core.problems import Conflict, Invalid, NotFound

TOKEN_PREFIX = "srk_"
#: Refreshing last-used on every request would turn every read into a write; a minute is enough
#: precision for "which tokens are still in use".
LAST_USED_PRECISION = timedelta(minutes=1)


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


def create_user(
    username: str,
    roles: list[str],
    *,
    warehouses: list[str] | None = None,
    password: str | None = None,
    full_name: str | None = None,
    email: str | None = None,
    actor: Principal = SYSTEM,
) -> User:
    unknown = sorted(set(roles) - set(ROLE_VALUES))
    if not roles or unknown:
        raise Invalid("Unknown role.", errors={"role": [f"choose from {', '.join(ROLE_VALUES)}"]})
    if warehouses and "warehouse" not in roles:
        raise Invalid(
            "Only warehouse staff are scoped to warehouses.",
            errors={"warehouse": ["given without the warehouse role"]},
        )
    with UnitOfWork() as uow:
        s = uow.session
        if s.scalar(select(User.id).where(User.username == username)) is not None:
            raise Conflict(f"User {username} already exists.", errors={"username": ["taken"]})
        user = User(
            username=username,
            full_name=full_name,
            email=email,
            password_hash=generate_password_hash(password) if password else None,
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
            after={"username": username, "roles": sorted(roles), "warehouses": warehouses or []},
        )
        uow.commit()
        return user


def _user_by_name(s: Session, username: str) -> User:
    user = s.scalar(select(User).where(User.username == username))
    if user is None:
        raise NotFound(f"No user {username}.")
    return user


def set_password(username: str, password: str, *, actor: Principal = SYSTEM) -> None:
    with UnitOfWork() as uow:
        user = _user_by_name(uow.session, username)
        user.password_hash = generate_password_hash(password)
        audit.record(uow.session, actor, "user.set_password", "user", user.id)
        uow.commit()


@dataclass(frozen=True)
class IssuedToken:
    id: int
    name: str
    username: str
    token: str


def create_token(username: str, name: str = "default", *, actor: Principal = SYSTEM) -> IssuedToken:
    """Issue a token; its secret is returned here once and cannot be recovered later."""
    secret = TOKEN_PREFIX + secrets.token_urlsafe(32)
    with UnitOfWork() as uow:
        s = uow.session
        user = _user_by_name(s, username)
        token = ApiToken(
            user_id=user.id, name=name, token_hash=hash_token(secret), prefix=secret[:12]
        )
        s.add(token)
        s.flush()
        audit.record(s, actor, "token.create", "api_token", token.id, after={"name": name})
        uow.commit()
        return IssuedToken(id=token.id, name=name, username=username, token=secret)


def revoke_token(token_id: int, *, actor: Principal = SYSTEM) -> ApiToken:
    with UnitOfWork() as uow:
        s = uow.session
        token = s.get(ApiToken, token_id)
        if token is None:
            raise NotFound(f"No token {token_id}.")
        if token.revoked_at is None:
            token.revoked_at = utcnow()
            audit.record(s, actor, "token.revoke", "api_token", token.id)
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


def authenticate_token(s: Session, secret: str) -> Principal | None:
    """The principal behind a bearer token, or None if it is unknown, revoked or its user is off."""
    token = s.scalar(select(ApiToken).where(ApiToken.token_hash == hash_token(secret)))
    if token is None or token.revoked_at is not None or not token.user.active:
        return None
    principal = principal_of(token.user, token.id)
    now = utcnow()
    if token.last_used_at is None or now - token.last_used_at > LAST_USED_PRECISION:
        with UnitOfWork() as uow:
            fresh = uow.session.get(ApiToken, token.id)
            if fresh is not None:
                fresh.last_used_at = now
            uow.commit()
    return principal


@functools.cache
def _decoy_hash() -> str:
    """A hash to check unknown users against, made once rather than on every failed sign-in."""
    return generate_password_hash(secrets.token_urlsafe(16))


def authenticate_password(s: Session, username: str, password: str) -> User | None:
    user = s.scalar(select(User).where(User.username == username))
    if user is None or not user.active or not user.password_hash:
        # Spend the same time as a real check so usernames cannot be probed by timing.
        check_password_hash(_decoy_hash(), password)
        return None
    return user if check_password_hash(user.password_hash, password) else None
