"""Users, their roles and warehouse scope, API tokens and the audit log."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, CheckConstraint, ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from core.db import Base, BigId, Timestamp, utcnow


class Role(StrEnum):
    ADMIN = "admin"
    BUYER = "buyer"
    APPROVER = "approver"
    WAREHOUSE = "warehouse"
    PLANNER = "planner"
    STOREFRONT = "storefront"
    VIEWER = "viewer"


ROLE_VALUES = tuple(r.value for r in Role)


class User(Base):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    #: Login name, also what the audit log shows.
    username: Mapped[str] = mapped_column(String(64), unique=True)
    full_name: Mapped[str | None] = mapped_column(String(128))
    email: Mapped[str | None] = mapped_column(String(254))
    #: Absent for service accounts that only ever use API tokens.
    password_hash: Mapped[str | None] = mapped_column(String(255))
    active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[Timestamp] = mapped_column(default=utcnow)
    #: The web UI's language for this person ('en', 'zh_Hans_CN'); None follows the browser.
    language: Mapped[str | None] = mapped_column(String(16))
    #: Written at each password sign-in, so admins can tell dormant accounts.
    last_sign_in_at: Mapped[datetime | None] = mapped_column()

    roles: Mapped[list[UserRole]] = relationship(
        back_populates="user", cascade="all, delete-orphan", lazy="selectin"
    )
    warehouses: Mapped[list[UserWarehouse]] = relationship(
        back_populates="user", cascade="all, delete-orphan", lazy="selectin"
    )

    @property
    def role_names(self) -> frozenset[str]:
        return frozenset(r.role for r in self.roles)

    @property
    def warehouse_codes(self) -> frozenset[str]:
        return frozenset(w.warehouse_code for w in self.warehouses)


class UserRole(Base):
    __tablename__ = "user_roles"
    __table_args__ = (CheckConstraint(f"role IN {ROLE_VALUES!r}", name="known_role"),)

    user_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    role: Mapped[str] = mapped_column(String(16), primary_key=True)

    user: Mapped[User] = relationship(back_populates="roles")


class UserWarehouse(Base):
    """Warehouses a ``warehouse`` user may change stock in.

    Held as codes rather than a foreign key because accounts sit below inventory: a user can be
    scoped to a warehouse before it is created, and inventory validates the code when it is used.
    """

    __tablename__ = "user_warehouses"

    user_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    warehouse_code: Mapped[str] = mapped_column(String(32), primary_key=True)

    user: Mapped[User] = relationship(back_populates="warehouses")


class ApiToken(Base):
    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(64))
    #: SHA-256 of the secret; the secret itself is shown once and never stored.
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    #: First characters of the token, so people can tell their tokens apart in a list.
    prefix: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[Timestamp] = mapped_column(default=utcnow)
    #: After this moment the token is refused; None means until revoked.
    expires_at: Mapped[datetime | None] = mapped_column()
    #: Refreshed at most once a minute (``services.LAST_USED_PRECISION``), not on every request.
    last_used_at: Mapped[datetime | None] = mapped_column()
    revoked_at: Mapped[datetime | None] = mapped_column()
    #: The value the admin page's token form drew when it was shown, for a token issued there:
    #: the same form sent twice, even by a double click, issues one token.
    form_submission: Mapped[str | None] = mapped_column(String(32), unique=True)

    user: Mapped[User] = relationship(lazy="joined")


class AuditEntry(Base):
    """Who did what to which object, when and why; written in the same transaction as the change."""

    __tablename__ = "audit_log"
    __table_args__ = (Index("ix_audit_log_object", "object_type", "object_id"),)

    id: Mapped[BigId] = mapped_column(primary_key=True, autoincrement=True)
    at: Mapped[Timestamp] = mapped_column(default=utcnow, index=True)
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    #: Kept as text so the entry still reads correctly if the user is later renamed or removed.
    actor: Mapped[str] = mapped_column(String(64))
    action: Mapped[str] = mapped_column(String(64))
    object_type: Mapped[str] = mapped_column(String(32))
    object_id: Mapped[str] = mapped_column(String(64))
    reason: Mapped[str | None] = mapped_column(Text)
    before: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    after: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    request_id: Mapped[str | None] = mapped_column(String(128))
