"""The "Holds" page (what reservations tie up in each warehouse, and until when) and the list of
reservations a person may read."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Flask, abort, render_template, request
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from flask_login import current_user, login_required

from accounts.auth import require_page_role
from core import db
from core.i18n import N_
from core.listing import csv_response, parse_list
from core.problems import Forbidden, Invalid
from core.web import register_nav
from inventory.reservations import listing as reservation_list
from inventory.reservations.overview import holds_overview

bp = Blueprint("holds_web", __name__, template_folder="templates")

PAGE_SIZE = 50


@bp.get("/holds")
@login_required
def holds() -> ResponseReturnValue:
    """Active holds per warehouse, soonest expiry first: staff see their warehouses, admins all."""
    principal = current_user.principal
    if not principal.has_any("warehouse"):
        abort(403)
    warehouse = request.args.get("warehouse") or None
    cursor = request.args.get("cursor") or None
    try:
        try:
            overview, orders, next_cursor = holds_overview(principal, warehouse, PAGE_SIZE, cursor)
        except Invalid:  # a stale or edited cursor: start from the first page
            overview, orders, next_cursor = holds_overview(principal, warehouse, PAGE_SIZE, None)
    except Forbidden as problem:
        abort(403, problem.detail)
    return render_template(
        "inventory/holds.html",
        overview=overview,
        orders=orders,
        next_cursor=next_cursor,
        warehouse=warehouse,
        now=db.now(),
        args=request.args.to_dict(),
    )


@bp.get("/reservations")
@login_required
def reservations() -> ResponseReturnValue:
    """Reservations by order: staff see those in their warehouses, storefronts their own."""
    principal = require_page_role(*reservation_list.RESERVATION_READERS)
    codes = reservation_list.warehouses_for(principal)
    listing = parse_list(reservation_list.RESERVATION_LIST, request.args, _choices(codes))
    return render_template(
        "inventory/reservations.html",
        listing=listing,
        page=reservation_list.reservation_page(principal, listing),
        codes=codes,
        statuses=reservation_list.RESERVATION_STATUS_CHOICES,
        status_labels=RESERVATION_STATUS_LABELS,
    )


@bp.get("/reservations/export.csv")
@login_required
def reservations_export() -> ResponseReturnValue:
    principal = require_page_role(*reservation_list.RESERVATION_READERS)
    choices = _choices(reservation_list.warehouses_for(principal))
    listing = parse_list(reservation_list.RESERVATION_LIST, request.args, choices, strict=True)
    return csv_response(
        listing,
        reservation_list.RESERVATION_CSV_HEADER,
        reservation_list.reservation_rows(principal, listing),
    )


def _choices(codes: list[str]) -> dict[str, Any]:
    """A warehouse outside the person's own is not a choice: it is said so, not shown empty."""
    return {"warehouse": set(codes), "status": reservation_list.RESERVATION_STATUS_CHOICES}


#: What each reservation status reads as on the page.
RESERVATION_STATUS_LABELS = {
    "active": N_("active"),
    "committed": N_("committed"),
    "released": N_("released"),
    "expired": N_("expired"),
}


@bp.app_template_filter("time_left")
def time_left(seconds: float) -> str:
    """A short "in 4 min" for an expiry, precise enough for a page that is reloaded."""
    seconds = int(seconds)
    if seconds <= 0:
        return _("now")
    if seconds < 60:
        return _("in %(s)s s", s=seconds)
    if seconds < 3600:
        return _("in %(m)s min", m=seconds // 60)
    return _("in %(h)s h %(m)s min", h=seconds // 3600, m=seconds % 3600 // 60)


def init_app(app: Flask) -> None:
    app.register_blueprint(bp)
    register_nav(
        app,
        N_("Holds"),
        "holds_web.holds",
        roles=("warehouse",),
        icon="hourglass-split",
        order=15,
        group=N_("Stock"),
    )
    register_nav(
        app,
        N_("Reservations"),
        "holds_web.reservations",
        roles=reservation_list.RESERVATION_READERS,
        icon="cart-check",
        order=16,
        group=N_("Stock"),
    )
