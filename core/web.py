"""The web UI shell: layout, navigation, CSRF and locally served Bootstrap.

Features add pages with their own blueprints and announce them with ``register_nav``; the shell
shows each person only the entries their roles allow.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from flask import (
    Blueprint,
    Flask,
    Response,
    current_app,
    redirect,
    render_template,
    send_from_directory,
    url_for,
)
from flask.typing import ResponseReturnValue
from flask_bootstrap import Bootstrap5
from flask_wtf.csrf import CSRFProtect

from core.listing import DEFAULT_PAGE_SIZE, PAGE_SIZES

bp = Blueprint(
    "web",
    __name__,
    template_folder="templates",
    static_folder="static",
    static_url_path="/static/core",
)

csrf = CSRFProtect()
bootstrap = Bootstrap5()


@dataclass(frozen=True)
class NavItem:
    label: str
    endpoint: str
    roles: tuple[str, ...] = ()
    icon: str = "circle"
    order: int = 100
    #: Items sharing a group appear under one menu of that name.
    group: str | None = None


@dataclass(frozen=True)
class NavGroup:
    """A menu in the bar: its visible items, or a single plain link when it has only one."""

    label: str
    icon: str
    items: list[NavItem]

    @property
    def endpoints(self) -> set[str]:
        return {i.endpoint for i in self.items}


def register_nav(
    app: Flask,
    label: str,
    endpoint: str,
    *,
    roles: tuple[str, ...] = (),
    icon: str = "circle",
    order: int = 100,
    group: str | None = None,
) -> None:
    """Add a page to the navigation; empty ``roles`` means everyone signed in."""
    items: list[NavItem] = app.extensions.setdefault("stockroom.nav", [])
    items.append(NavItem(label, endpoint, roles, icon, order, group))
    items.sort(key=lambda i: (i.order, i.label))


def register_nav_group(app: Flask, label: str, *, icon: str) -> None:
    """Name the icon of a menu that features fill with ``register_nav(..., group=label)``."""
    app.extensions.setdefault("stockroom.nav_groups", {})[label] = icon


def nav_for(roles: frozenset[str]) -> list[NavItem]:
    items: list[NavItem] = current_app.extensions.get("stockroom.nav", [])
    admin = "admin" in roles
    return [i for i in items if not i.roles or admin or not roles.isdisjoint(i.roles)]


def menu_for(roles: frozenset[str]) -> list[NavGroup]:
    """The bar for these roles: one entry per group, in the order of each group's first page.

    A dozen pages side by side wrap onto two lines on a laptop screen; grouped by area (stock,
    purchasing, planning) they fit, and each person sees only the areas their roles open.
    """
    icons: dict[str, str] = current_app.extensions.get("stockroom.nav_groups", {})
    menu: dict[str, NavGroup] = {}
    for item in nav_for(roles):
        key = item.group or item.endpoint
        if key not in menu:
            label = item.group or item.label
            menu[key] = NavGroup(label, icons.get(label, item.icon), [])
        menu[key].items.append(item)
    return list(menu.values())


#: Set by the accounts feature: returns the signed-in person's principal or None.
PrincipalLoader = Callable[[], Any]


def init_app(app: Flask, principal_loader: PrincipalLoader) -> None:
    app.config.setdefault("BOOTSTRAP_SERVE_LOCAL", True)
    app.config.setdefault("BOOTSTRAP_BTN_SIZE", "sm")
    app.extensions["stockroom.principal_loader"] = principal_loader
    csrf.init_app(app)
    bootstrap.init_app(app)
    app.register_blueprint(bp)
    app.jinja_env.globals.update(page_sizes=PAGE_SIZES, default_page_size=DEFAULT_PAGE_SIZE)

    @app.template_filter("dict_without")
    def dict_without(args: dict[str, Any], *keys: str) -> dict[str, Any]:
        """Query arguments minus some keys (and blanks), for building pager links."""
        return {k: v for k, v in args.items() if k not in keys and v not in (None, "")}

    @app.context_processor
    def _layout_context() -> dict[str, Any]:
        principal = principal_loader()
        roles = principal.roles if principal is not None else frozenset()
        return {"principal": principal, "nav_menu": menu_for(roles) if principal else []}


@bp.get("/")
def index() -> ResponseReturnValue:
    """Send people to the first page their roles allow, or to sign in."""
    principal = current_app.extensions["stockroom.principal_loader"]()
    if principal is None:
        return redirect(url_for(current_app.config["LOGIN_ENDPOINT"]))
    items = nav_for(principal.roles)
    if not items:
        return render_template("no_pages.html")
    return redirect(url_for(items[0].endpoint))


@bp.get("/favicon.ico")
def favicon() -> ResponseReturnValue:
    """Browsers ask for /favicon.ico whatever the page says; point them at the icon."""
    return redirect(url_for("web.static", filename="favicon.svg"), code=301)


@bp.get("/static/vendor/plotly.min.js")
def plotly_js() -> Response:
    """Plotly's browser bundle from the installed ``plotly`` package: never a CDN or a copy."""
    import plotly

    package_data = Path(plotly.__file__).resolve().parent / "package_data"
    return send_from_directory(package_data, "plotly.min.js", max_age=86400)
