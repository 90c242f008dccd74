"""Accounts API: who am I, and the audit log for administrators."""

from __future__ import annotations

from typing import Any

from flask.views import MethodView
from sqlalchemy import select

from accounts.auth import current_principal, require
from accounts.models import AuditEntry
from accounts.schemas import AuditEntrySchema, AuditQuerySchema, MeSchema
from core import db
from core.api import Blueprint, keyset_page, page_of

blp = Blueprint("accounts", __name__, description="The caller's identity and the audit log.")


@blp.route("/me")
class Me(MethodView):
    @blp.response(200, MeSchema)
    def get(self) -> dict[str, Any]:
        """The caller's user, roles and warehouse scope."""
        p = current_principal()
        return {
            "user_id": p.user_id,
            "username": p.username,
            "roles": sorted(p.roles),
            "warehouses": sorted(p.warehouses),
        }


@blp.route("/audit")
class Audit(MethodView):
    @require("admin")
    @blp.arguments(AuditQuerySchema, location="query")
    @blp.response(200, page_of(AuditEntrySchema))
    def get(self, args: dict[str, Any]) -> dict[str, Any]:
        """Audit log, newest first; filter by object or actor."""
        stmt = select(AuditEntry)
        for key in ("object_type", "object_id", "actor"):
            if args.get(key):
                stmt = stmt.where(getattr(AuditEntry, key) == args[key])
        with db.read_only() as s:
            rows, next_cursor = keyset_page(
                s,
                stmt,
                [AuditEntry.id],
                lambda e: [e.id],
                limit=args["limit"],
                cursor=args["cursor"],
                descending=True,
            )
        return {"items": rows, "next_cursor": next_cursor}
