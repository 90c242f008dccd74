"""Writing the audit log from services, inside the caller's transaction."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from flask import g, has_request_context
from sqlalchemy.orm import Session

from accounts.models import AuditEntry
from accounts.principal import Principal


def record(
    session: Session,
    actor: Principal,
    action: str,
    object_type: str,
    object_id: str | int,
    *,
    reason: str | None = None,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
) -> AuditEntry:
    """Add an audit entry to the current unit of work; it commits (or not) with the change."""
    entry = AuditEntry(
        actor_id=actor.user_id,
        actor=actor.username,
        action=action,
        object_type=object_type,
        object_id=str(object_id),
        reason=reason,
        before=before,
        after=after,
        request_id=g.get("request_id") if has_request_context() else None,
    )
    session.add(entry)
    return entry


def snapshot(obj: Any, names: Iterable[str]) -> dict[str, Any]:
    """A JSON-friendly picture of some attributes for ``before``/``after``: the audit log is JSON,
    so money, dates and enums are kept as their text."""
    out: dict[str, Any] = {}
    for name in names:
        value = getattr(obj, name)
        out[name] = value if isinstance(value, (str, int, float, bool, type(None))) else str(value)
    return out
