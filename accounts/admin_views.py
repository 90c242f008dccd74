"""Administration pages: users (roles, warehouse scope, deactivation) and API tokens.

Admins only. Every change goes through ``accounts.services`` and lands in the audit log with the
admin's name and the reason they typed; the pages run no queries of their own.
"""

from __future__ import annotations

import functools
import secrets
from collections.abc import Callable
from datetime import timedelta
from typing import ParamSpec, TypeVar

from flask import (
    Blueprint,
    Flask,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    url_for,
)
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import login_required
from flask_wtf import FlaskForm
from wtforms import (
    HiddenField,
    PasswordField,
    SelectField,
    SelectMultipleField,
    StringField,
    TextAreaField,
)
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, Email, Length, Optional

from accounts import services
from accounts.auth import page_principal
from accounts.models import ROLE_VALUES, User
from core import schema_forms
from core.db import utcnow
from core.i18n import N_
from core.problems import Forbidden, Problem
from core.web import register_nav, register_nav_group

bp = Blueprint("accounts_admin", __name__, template_folder="templates", url_prefix="/admin")

P = ParamSpec("P")
T = TypeVar("T")

ADMINS = ("admin",)

#: What each role opens, as the user form explains it.
ROLE_LABELS = {
    "admin": N_("admin — everything, including users, tokens and the catalog"),
    "buyer": N_("buyer — suppliers and purchase orders"),
    "approver": N_("approver — approves orders and suppliers, reads the audit log"),
    "warehouse": N_("warehouse — stock movements and counts in the warehouses below"),
    "planner": N_("planner — forecasts and replenishment plans"),
    "storefront": N_("storefront — availability and reservations, through the API"),
    "viewer": N_("viewer — reads stock, orders and plans"),
}

#: Lifetimes offered for a new token, in days ("" is until revoked).
TOKEN_LIFETIMES = (
    ("", N_("Until revoked")),
    ("30", N_("30 days")),
    ("90", N_("90 days")),
    ("365", N_("1 year")),
)

#: What ``accounts.services`` says about a field, in the reader's language.
ACCOUNT_MESSAGES: dict[str, schema_forms.Translate] = {
    "given without the warehouse role": lambda m: _(
        "Only warehouse staff are scoped to warehouses: add the warehouse role or clear these."
    ),
    "keep admin on your own account": lambda m: _("You cannot take the admin role from yourself."),
    "this is your own account": lambda m: _("You cannot deactivate your own account."),
    "use letters, digits and . _ @ + -": lambda m: _(
        "Use letters, digits and . _ @ + - (starting with a letter or digit)."
    ),
    "deactivated user": lambda m: _("This user is deactivated; reactivate them first."),
    "1 to 64 characters": lambda m: _("Between 1 and 64 characters."),
    "in the past": lambda m: _("Choose a moment in the future."),
}
#: Service field names that differ from the form's.
ACCOUNT_FIELDS = {"role": "roles", "warehouse": "warehouses", "user": "username"}

#: Given by ``inventory`` (which sits above accounts): the warehouses a user may be scoped to.
WarehouseChoices = Callable[[], list[tuple[str, str]]]


def provide_warehouses(app: Flask, choices: WarehouseChoices) -> None:
    """Let the user form offer the known warehouses; without it, only a user's current ones."""
    app.extensions["stockroom.warehouse_choices"] = choices


def _known_warehouses() -> list[tuple[str, str]]:
    choices: WarehouseChoices | None = current_app.extensions.get("stockroom.warehouse_choices")
    return choices() if choices is not None else []


def admin_page(view: Callable[P, T]) -> Callable[P, T]:
    """Signed in (else to the login page) and an admin (else a 403 page)."""

    @functools.wraps(view)
    @login_required
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> T:
        if not page_principal().has_any(*ADMINS):
            raise Forbidden(
                _("This page needs one of the roles: %(roles)s.", roles=", ".join(ADMINS))
            )
        return view(*args, **kwargs)

    return wrapper


# --- forms ----------------------------------------------------------------------------------------


def _reason_field() -> TextAreaField:
    return TextAreaField(
        _l("Reason"),
        validators=[DataRequired(message=_l("Say why, for the audit log.")), Length(max=1000)],
        description=_l("Kept in the audit log with your name."),
        render_kw={"rows": 2},
    )


class UserForm(FlaskForm):
    username = StringField(
        _l("Username"),
        validators=[DataRequired(), Length(max=64)],
        description=_l("Letters, digits and . _ @ + -; it never changes."),
    )
    full_name = StringField(_l("Full name"), validators=[Optional(), Length(max=128)])
    email = StringField(_l("Email"), validators=[Optional(), Email(), Length(max=254)])
    roles = SelectMultipleField(
        _l("Roles"), validators=[DataRequired(message=_l("Choose at least one role."))]
    )
    warehouses = SelectMultipleField(
        _l("Warehouses"), description=_l("Where a warehouse user may post stock.")
    )
    password = PasswordField(
        _l("Password"),
        validators=[Optional(), Length(min=8, max=128)],
        description=_l("Lets the user sign in to these pages; leave empty for an API-only user."),
    )
    reason = _reason_field()


class TokenForm(FlaskForm):
    user = SelectField(_l("User"), validators=[DataRequired()])
    name = StringField(
        _l("Name"),
        validators=[DataRequired(), Length(max=64)],
        description=_l("What the token is for, e.g. storefront-eu."),
    )
    expires = SelectField(_l("Expires"), default="")
    reason = _reason_field()
    #: Drawn when the form is shown: the same value sent again is the same form sent again (a
    #: reload of the page that shows the new secret, a double click), which issues no token.
    submission = HiddenField()


#: Longest form value kept with a token (``ApiToken.form_submission``); the page draws 22.
_SUBMISSION_LENGTH = 32


class ReasonForm(FlaskForm):
    """Deactivating a user or revoking a token: only why."""

    reason = StringField(
        _l("Reason"),
        validators=[DataRequired(message=_l("Say why, for the audit log.")), Length(max=1000)],
    )
    next = HiddenField()


def _role_choices() -> list[SelectChoice]:
    return [SelectChoice(r, _(ROLE_LABELS.get(r, r))) for r in ROLE_VALUES]


def _warehouse_choices(current: frozenset[str] = frozenset()) -> list[SelectChoice]:
    known = dict(_known_warehouses())
    codes = sorted(set(known) | set(current))
    return [SelectChoice(c, f"{c} — {known[c]}" if c in known else c) for c in codes]


def _show(form: FlaskForm, problem: Problem) -> None:
    """A service's refusal: its field messages next to the fields, the rest above the form."""
    loose = schema_forms.attach(
        form, problem.errors, aliases=ACCOUNT_FIELDS, extra=ACCOUNT_MESSAGES
    )
    if not problem.errors or loose:
        flash(problem.detail, "error")
    else:
        flash(_("Nothing was saved; correct the fields marked."), "error")


def _flash_problem(problem: Problem) -> None:
    messages = schema_forms.flatten(problem.errors or {})
    texts = [schema_forms.translate(t, ACCOUNT_MESSAGES) for ts in messages.values() for t in ts]
    flash(" ".join(texts) if texts else problem.detail, "error")


def _back(default: str) -> str:
    """Where a small form on a list came from: a page of this site, else ``default``."""
    target = request.form.get("next") or ""
    return target if target.startswith("/") and not target.startswith("//") else default


# --- users ----------------------------------------------------------------------------------------


@bp.get("/users")
@admin_page
def users() -> ResponseReturnValue:
    """Everyone who can sign in or call the API, with what they may do."""
    return render_template(
        "accounts/users.html", users=services.list_users(), role_labels=ROLE_LABELS
    )


@bp.route("/users/new", methods=["GET", "POST"])
@admin_page
def user_new() -> ResponseReturnValue:
    form = UserForm()
    form.roles.choices = _role_choices()
    form.warehouses.choices = _warehouse_choices()
    if form.validate_on_submit():
        try:
            user = services.create_user(
                (form.username.data or "").strip(),
                list(form.roles.data or []),
                warehouses=list(form.warehouses.data or []),
                password=form.password.data or None,
                full_name=(form.full_name.data or "").strip() or None,
                email=(form.email.data or "").strip() or None,
                actor=page_principal(),
                reason=(form.reason.data or "").strip(),
            )
        except Problem as problem:
            _show(form, problem)
        else:
            flash(_("User %(name)s created.", name=user.username), "success")
            return redirect(url_for(".user_edit", user_id=user.id))
    return render_template("accounts/user_form.html", form=form, user=None)


@bp.route("/users/<int:user_id>", methods=["GET", "POST"])
@admin_page
def user_edit(user_id: int) -> ResponseReturnValue:
    """A user's roles, scope and details; their tokens; deactivation."""
    user = services.get_user(user_id)
    form = UserForm()
    del form.username
    form.password.label.text = _("New password")
    form.password.description = _("Leave empty to keep the current one.")
    form.roles.choices = _role_choices()
    form.warehouses.choices = _warehouse_choices(user.warehouse_codes)
    if request.method == "GET":
        form.full_name.data = user.full_name
        form.email.data = user.email
        form.roles.data = sorted(user.role_names)
        form.warehouses.data = sorted(user.warehouse_codes)
    if form.validate_on_submit():
        try:
            services.update_user(
                page_principal(),
                user.id,
                roles=list(form.roles.data or []),
                warehouses=list(form.warehouses.data or []),
                full_name=(form.full_name.data or "").strip() or None,
                email=(form.email.data or "").strip() or None,
                password=form.password.data or None,
                reason=(form.reason.data or "").strip(),
            )
        except Problem as problem:
            _show(form, problem)
        else:
            flash(_("User %(name)s saved.", name=user.username), "success")
            return redirect(url_for(".user_edit", user_id=user.id))
    token_form = _token_form(fixed_user=user)
    return render_template(
        "accounts/user_form.html",
        form=form,
        user=user,
        tokens=services.tokens(user.id),
        token_form=token_form,
        now=utcnow(),
        cache_seconds=current_app.config.get("AUTH_CACHE_SECONDS", 0),
    )


@bp.post("/users/<int:user_id>/active")
@admin_page
def user_active(user_id: int) -> ResponseReturnValue:
    """Deactivate (or reactivate) a user: sign-in, sessions and tokens stop at once here."""
    active = request.form.get("active") == "1"
    form = ReasonForm()
    if not form.validate_on_submit():
        flash(_("Say why, for the audit log."), "error")
    else:
        try:
            user = services.set_active(
                page_principal(), user_id, active, reason=(form.reason.data or "").strip()
            )
        except Problem as problem:
            _flash_problem(problem)
        else:
            if active:
                flash(_("%(name)s can sign in again.", name=user.username), "success")
            else:
                flash(
                    _(
                        "%(name)s is deactivated: signed out, and their tokens are refused.",
                        name=user.username,
                    ),
                    "success",
                )
    return redirect(url_for(".user_edit", user_id=user_id))


# --- tokens ---------------------------------------------------------------------------------------


def _token_form(fixed_user: User | None = None) -> TokenForm:
    form = TokenForm(prefix="token")
    if fixed_user is not None:
        form.user.choices = [SelectChoice(fixed_user.username, fixed_user.username)]
        form.user.data = fixed_user.username
    else:
        form.user.choices = [
            SelectChoice(u.username, u.username) for u in services.list_users() if u.active
        ]
    form.expires.choices = [SelectChoice(v, _(label)) for v, label in TOKEN_LIFETIMES]
    if not form.submission.data:
        form.submission.data = secrets.token_urlsafe(16)
    return form


@bp.get("/tokens")
@admin_page
def tokens() -> ResponseReturnValue:
    return render_template(
        "accounts/tokens.html",
        tokens=services.tokens(),
        token_form=_token_form(),
        now=utcnow(),
        cache_seconds=current_app.config.get("AUTH_CACHE_SECONDS", 0),
    )


@bp.post("/tokens")
@admin_page
def token_create() -> ResponseReturnValue:
    """Issue a token and show its secret on this response only: it is stored hashed, and this
    page is neither cached nor reachable again. The same form sent again (the page reloaded)
    issues nothing: the secret of the token it issued cannot be shown a second time."""
    fixed = request.form.get("token-fixed_user")
    user = services.get_user(int(fixed)) if fixed and fixed.isdigit() else None
    form = _token_form(fixed_user=user)
    submission = request.form.get("token-submission", "")
    if form.validate_on_submit():
        days = form.expires.data or ""
        try:
            issued = services.create_token(
                form.user.data or "",
                (form.name.data or "").strip(),
                actor=page_principal(),
                expires_at=utcnow() + timedelta(days=int(days)) if days else None,
                reason=(form.reason.data or "").strip(),
                form_submission=submission if 0 < len(submission) <= _SUBMISSION_LENGTH else None,
            )
        except services.TokenFormSentAgain:
            return render_template("accounts/token_sent_again.html", user=user), 409
        except Problem as problem:
            _show(form, problem)
        else:
            response = current_app.make_response(
                render_template("accounts/token_created.html", issued=issued, user=user)
            )
            response.headers["Cache-Control"] = "no-store"
            return response
    else:
        flash(_("Nothing was saved; correct the fields marked."), "error")
    if user is not None:
        return render_template(
            "accounts/user_form.html",
            form=_filled_user_form(user),
            user=user,
            tokens=services.tokens(user.id),
            token_form=form,
            now=utcnow(),
            cache_seconds=current_app.config.get("AUTH_CACHE_SECONDS", 0),
        )
    return render_template(
        "accounts/tokens.html",
        tokens=services.tokens(),
        token_form=form,
        now=utcnow(),
        cache_seconds=current_app.config.get("AUTH_CACHE_SECONDS", 0),
    )


def _filled_user_form(user: User) -> UserForm:
    """The user form as the edit page shows it, for when the token form beside it was refused."""
    form = UserForm(formdata=None)
    del form.username
    form.roles.choices = _role_choices()
    form.warehouses.choices = _warehouse_choices(user.warehouse_codes)
    form.full_name.data = user.full_name
    form.email.data = user.email
    form.roles.data = sorted(user.role_names)
    form.warehouses.data = sorted(user.warehouse_codes)
    return form


@bp.post("/tokens/<int:token_id>/revoke")
@admin_page
def token_revoke(token_id: int) -> ResponseReturnValue:
    """Refuse the token from now on: at once in this process, within ``AUTH_CACHE_SECONDS`` in
    the others (their token cache)."""
    form = ReasonForm()
    back = _back(url_for(".tokens"))
    if not form.validate_on_submit():
        flash(_("Say why the token is revoked, for the audit log."), "error")
        return redirect(back)
    try:
        token = services.revoke_token(
            token_id, actor=page_principal(), reason=(form.reason.data or "").strip()
        )
    except Problem as problem:
        _flash_problem(problem)
    else:
        flash(
            _("Token %(name)s (%(prefix)s…) is revoked.", name=token.name, prefix=token.prefix),
            "success",
        )
    return redirect(back)


def init_app(app: Flask) -> None:
    app.register_blueprint(bp)
    register_nav_group(app, N_("Administration"), icon="shield-lock")
    register_nav(
        app,
        N_("Users"),
        "accounts_admin.users",
        roles=ADMINS,
        icon="people",
        order=95,
        group=N_("Administration"),
    )
    register_nav(
        app,
        N_("API tokens"),
        "accounts_admin.tokens",
        roles=ADMINS,
        icon="key",
        order=96,
        group=N_("Administration"),
    )
