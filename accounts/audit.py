"""Writing the audit log from services, inside the caller's transaction."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime, time, timedelta
from typing import Any

from flask import g, has_request_context
from sqlalchemy import select
from sqlalchemy.orm import Session

from accounts.models import AuditEntry
from accounts.principal import Principal
from core.api import keyset_page
from core.db import read_only


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


def list_entries(args: dict[str, Any]) -> tuple[list[AuditEntry], str | None]:
    """Entries newest first, filtered by who (``actor``), what (``action`` prefix or object),
    and when (``since``/``until``, dates inclusive)."""
    stmt = select(AuditEntry)
    if args.get("actor"):
        stmt = stmt.where(AuditEntry.actor == args["actor"])
    if args.get("action"):
        stmt = stmt.where(AuditEntry.action.startswith(args["action"], autoescape=True))
    if args.get("object_type"):
        stmt = stmt.where(AuditEntry.object_type == args["object_type"])
    if args.get("object_id"):
        stmt = stmt.where(AuditEntry.object_id == args["object_id"])
    if args.get("since"):
        stmt = stmt.where(AuditEntry.at >= datetime.combine(args["since"], time.min, tzinfo=UTC))
    if args.get("until"):
        end = datetime.combine(args["until"] + timedelta(days=1), time.min, tzinfo=UTC)
        stmt = stmt.where(AuditEntry.at < end)
    with read_only() as s:
        return keyset_page(
            s,
            stmt,
            [AuditEntry.id],
            lambda e: [e.id],
            limit=args.get("limit", 100),
            cursor=args.get("cursor"),
            descending=True,
        )
