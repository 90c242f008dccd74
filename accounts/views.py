"""Signing in and out of the web UI, and a page about oneself."""

from __future__ import annotations

from datetime import date
from typing import Any
from urllib.parse import urlsplit

from flask import Blueprint, Flask, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user, login_required, login_user, logout_user
from flask_wtf import FlaskForm
from wtforms import BooleanField, PasswordField, StringField
from wtforms.validators import DataRequired, Length

from accounts import audit, services
from accounts.auth import WebUser
from core import db
from core.i18n import N_, remember_language
from core.problems import Forbidden, Problem
from core.security import throttle_sign_in
from core.web import register_nav

bp = Blueprint("accounts_web", __name__, template_folder="templates")


class LoginForm(FlaskForm):
    username = StringField(_l("Username"), validators=[DataRequired(), Length(max=64)])
    password = PasswordField(_l("Password"), validators=[DataRequired()])
    remember = BooleanField(_l("Keep me signed in on this device"))


def _safe_next(target: str | None) -> str:
    """Only follow ``next`` to a page of this site, never to another host."""
    if target:
        parts = urlsplit(target)
        if not parts.scheme and not parts.netloc and target.startswith("/"):
            return target
    return url_for("web.index")


@bp.route("/login", methods=["GET", "POST"])
@throttle_sign_in
def login() -> ResponseReturnValue:
    if current_user.is_authenticated:
        return redirect(url_for("web.index"))
    form = LoginForm()
    if form.validate_on_submit():
        with db.read_only() as s:
            user = services.authenticate_password(
                s, form.username.data or "", form.password.data or ""
            )
            principal = services.principal_of(user) if user else None
            language = user.language if user else None
        if principal is not None and principal.user_id is not None:
            login_user(WebUser(principal, language), remember=form.remember.data)
            services.record_sign_in(principal.user_id)
            response = redirect(_safe_next(request.args.get("next")))
            if language:
                # Pages shown after signing out (this one) speak the account's language too.
                remember_language(response, language)
            return response
        flash(_("Unknown username or wrong password."), "error")
    return render_template(
        "accounts/login.html", form=form
    ), 200 if request.method == "GET" else 401


@bp.post("/logout")
@login_required
def logout() -> ResponseReturnValue:
    logout_user()
    flash(_("You are signed out."), "info")
    return redirect(url_for("accounts_web.login"))


AUDITORS = ("admin", "approver")


@bp.get("/audit")
@login_required
def audit_page() -> ResponseReturnValue:
    """Who did what to which object, when and why: filter by person, action, object and dates."""
    principal = current_user.principal
    if not principal.has_any(*AUDITORS):
        raise Forbidden(
            _("This page needs one of the roles: %(roles)s.", roles=", ".join(AUDITORS))
        )
    query = {
        name: (request.args.get(name) or "").strip() or None
        for name in ("actor", "action", "object_type", "object_id", "since", "until", "cursor")
    }
    args: dict[str, Any] = {**query, "limit": 100}
    error = None
    try:
        for name in ("since", "until"):
            given = query[name]
            if given:
                args[name] = date.fromisoformat(given)
        entries, next_cursor = audit.list_entries(args)
    except (ValueError, Problem) as problem:
        error = getattr(problem, "detail", None) or _("Dates are YYYY-MM-DD.")
        entries, next_cursor = [], None
    return render_template(
        "accounts/audit.html", entries=entries, next_cursor=next_cursor, query=query, error=error
    )


def init_app(app: Flask) -> None:
    app.config.setdefault("LOGIN_ENDPOINT", "accounts_web.login")
    app.config.setdefault("LOGOUT_ENDPOINT", "accounts_web.logout")
    app.register_blueprint(bp)
    register_nav(
        app,
        N_("Audit log"),
        "accounts_web.audit_page",
        roles=AUDITORS,
        icon="journal-text",
        order=90,
    )
