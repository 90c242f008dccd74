"""`flask accounts ...`: scripting a fresh install without the web UI."""

from __future__ import annotations

import click
from flask import Flask, current_app
from flask.cli import AppGroup
from sqlalchemy import select

from accounts import services
from accounts.models import ROLE_VALUES, User
from core import db
from core.problems import Problem

group = AppGroup("accounts", help="Users and API tokens.")


def _fail(problem: Problem) -> None:
    raise click.ClickException(problem.detail + (f" {problem.errors}" if problem.errors else ""))


@group.command("create-user")
@click.argument("name")
@click.option(
    "--role",
    "roles",
    multiple=True,
    required=True,
    type=click.Choice(ROLE_VALUES),
    help="Repeat for several roles.",
)
@click.option("--warehouse", "warehouses", multiple=True, help="Warehouse code (warehouse role).")
@click.option("--password", default=None, help="Lets the user sign in to the web UI.")
@click.option("--full-name", default=None)
@click.option("--email", default=None)
def create_user(
    name: str,
    roles: tuple[str, ...],
    warehouses: tuple[str, ...],
    password: str | None,
    full_name: str | None,
    email: str | None,
) -> None:
    """Create a user with one or more roles."""
    try:
        user = services.create_user(
            name,
            list(roles),
            warehouses=list(warehouses),
            password=password,
            full_name=full_name,
            email=email,
        )
    except Problem as problem:
        _fail(problem)
        return
    click.echo(f"created user {user.username} ({', '.join(sorted(roles))})")


@group.command("set-password")
@click.argument("name")
@click.password_option()
def set_password(name: str, password: str) -> None:
    """Set or change a user's web UI password."""
    try:
        services.set_password(name, password)
    except Problem as problem:
        _fail(problem)
    click.echo(f"password set for {name}")


@group.command("create-token")
@click.argument("name")
@click.option("--label", default="default", help="What the token is for, e.g. 'storefront-eu'.")
def create_token(name: str, label: str) -> None:
    """Issue an API token for a user and print it once; it cannot be shown again."""
    try:
        issued = services.create_token(name, label)
    except Problem as problem:
        _fail(problem)
        return
    click.echo(issued.token)


@group.command("revoke-token")
@click.argument("token_id", type=int)
def revoke_token(token_id: int) -> None:
    """Revoke a token by its id (see list-tokens).

    Running servers may still accept it for up to AUTH_CACHE_SECONDS (their token cache); after
    that every request with it gets 401.
    """
    try:
        services.revoke_token(token_id)
    except Problem as problem:
        _fail(problem)
    click.echo(
        f"revoked token {token_id}; running servers refuse it within "
        f"{current_app.config['AUTH_CACHE_SECONDS']:g} s (their token cache)"
    )


@group.command("list-tokens")
@click.option("--user", "username", default=None)
def list_tokens(username: str | None) -> None:
    """Tokens with their owner, prefix, last use and whether they are revoked."""
    with db.read_only() as s:
        for t in services.list_tokens(s, username):
            state = f"revoked {t.revoked_at:%Y-%m-%d %H:%M}" if t.revoked_at else "active"
            used = f"{t.last_used_at:%Y-%m-%d %H:%M}" if t.last_used_at else "never"
            click.echo(
                f"{t.id}\t{t.user.username}\t{t.name}\t{t.prefix}…\tlast used {used}\t{state}"
            )


@group.command("list-users")
def list_users() -> None:
    """Users with their roles and warehouses."""
    with db.read_only() as s:
        for u in s.scalars(select(User).order_by(User.username)):
            scope = f" @ {', '.join(sorted(u.warehouse_codes))}" if u.warehouse_codes else ""
            state = "" if u.active else " (inactive)"
            click.echo(f"{u.username}\t{', '.join(sorted(u.role_names))}{scope}{state}")


def init_app(app: Flask) -> None:
    app.cli.add_command(group)
