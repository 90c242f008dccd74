"""Small helpers the procurement use cases share."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from decimal import Decimal
from typing import Any

from flask import current_app

from accounts.principal import Principal
from core.db import utcnow
from core.problems import Forbidden


def snapshot(obj: Any, names: Iterable[str]) -> dict[str, Any]:
    """A JSON-friendly picture of some attributes, for the audit log."""
    out: dict[str, Any] = {}
    for name in names:
        value = getattr(obj, name)
        out[name] = value if isinstance(value, (str, int, float, bool, type(None))) else str(value)
    return out


def ensure_role(actor: Principal, *roles: str) -> None:
    """Services check roles too, so the web pages obey the same rules as the API."""
    if not actor.has_any(*roles):
        raise Forbidden(f"This needs one of the roles: {', '.join(roles)}.", slug="forbidden-role")


def moment(at: datetime | None) -> datetime:
    """When a use case happens: now, or a given time when history is being recorded."""
    return at if at is not None else utcnow()


def in_base_currency(total: Decimal, currency: str) -> Decimal | None:
    """A total in the currency of the approval limits, or None when no rate is configured."""
    base = current_app.config["DEFAULT_CURRENCY"]
    if currency == base:
        return total
    rate = current_app.config.get("PO_FX_RATES", {}).get(currency)
    return total * rate if rate else None
