"""Fixtures shared by every test: a migrated database, the app, API clients with tokens per role.

The suite runs twice: on SQLite (default) and on PostgreSQL when ``TEST_DATABASE_URL`` names a
server. Tests marked ``pg`` need PostgreSQL; they are left out of the SQLite pass and, outside CI,
skip when no server is configured. In CI (``CI`` set) a missing server is a failure, never a skip.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient

from core.config import normalise_database_url

pytest_plugins = [
    "tests.factories",
    "tests.forecasting_factories",
    "tests.procurement_factories",
    "tests.reservation_factories",
    "tests.replenishment_factories",
]

PG_ADMIN_URL = os.environ.get("PG_ADMIN_URL", "postgresql://postgres@127.0.0.1:5432/test")
IN_CI = bool(os.environ.get("CI"))


def backend() -> str:
    url = os.environ.get("TEST_DATABASE_URL", "")
    return "postgresql" if url.startswith(("postgres", "postgresql")) else "sqlite"


def pytest_report_header(config: pytest.Config) -> str:
    return f"stockroom database backend: {backend()}"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """The SQLite pass leaves PostgreSQL-only tests to the PostgreSQL pass."""
    if backend() == "postgresql":
        return
    kept, dropped = [], []
    for item in items:
        (dropped if item.get_closest_marker("pg") else kept).append(item)
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = kept


def _pg_reachable(url: str) -> bool:
    engine = sa.create_engine(normalise_database_url(url))
    try:
        with engine.connect():
            return True
    except sa.exc.OperationalError:
        return False
    finally:
        engine.dispose()


def require_redis(url: str) -> None:
    """Skip the test when no Redis answers at ``url``; in CI, where Redis is started, fail."""
    import redis

    client = redis.Redis.from_url(url, socket_connect_timeout=2)
    try:
        client.ping()
    except redis.exceptions.ConnectionError as exc:
        if IN_CI:
            pytest.fail(f"Redis is required in CI but {url} is unreachable: {exc}")
        pytest.skip(f"no Redis at {url}")
    finally:
        client.close()


class PgServer:
    """Creates, empties and drops throwaway databases on the configured PostgreSQL server."""

    def __init__(self, admin_url: str) -> None:
        self.admin_url = normalise_database_url(admin_url)
        self.admin = sa.create_engine(self.admin_url, isolation_level="AUTOCOMMIT")
        #: One engine per database emptied, kept for the session: a connection costs a backend.
        self.engines: dict[str, sa.Engine] = {}

    def create(self, prefix: str = "stockroom_t") -> str:
        name = f"{prefix}_{uuid.uuid4().hex[:10]}"
        with self.admin.connect() as conn:
            conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
        return sa.make_url(self.admin_url).set(database=name).render_as_string(hide_password=False)

    def empty(self, url: str) -> None:
        """Every table emptied and every identity restarted: the database as migrating left it.

        ``TRUNCATE`` gives each table new files, 50-100 ms however little a test wrote. Deleting
        the rows of the tables that have any costs a few ms; as a superuser may, it skips the
        triggers (the ledger's append-only guard, foreign keys) while doing so, with every table
        locked so no other session's rows slip in. Other roles get the ``TRUNCATE``.
        """
        engine = self.engines.get(url)
        if engine is None:
            # Pinged: tests/pg cut every connection to their database on purpose.
            engine = self.engines[url] = sa.create_engine(
                normalise_database_url(url), pool_size=1, pool_pre_ping=True
            )
        with engine.begin() as conn:
            tables = [
                f'"{name}"'
                for (name,) in conn.exec_driver_sql(
                    "SELECT tablename FROM pg_tables WHERE schemaname = 'public' "
                    "AND tablename <> 'alembic_version' ORDER BY tablename"
                )
            ]
            if not tables:
                return
            if not conn.exec_driver_sql(
                "SELECT rolsuper FROM pg_roles WHERE rolname = current_user"
            ).scalar():
                conn.exec_driver_sql(f"TRUNCATE {', '.join(tables)} RESTART IDENTITY CASCADE")
                return
            conn.exec_driver_sql(f"LOCK TABLE {', '.join(tables)} IN ACCESS EXCLUSIVE MODE")
            filled = (
                conn.exec_driver_sql(
                    " UNION ALL ".join(
                        f"SELECT '{table}' WHERE EXISTS (SELECT FROM {table})" for table in tables
                    )
                )
                .scalars()
                .all()
            )
            used = (
                conn.exec_driver_sql(
                    "SELECT quote_ident(schemaname) || '.' || quote_ident(sequencename) "
                    "FROM pg_sequences WHERE schemaname = 'public' AND last_value IS NOT NULL"
                )
                .scalars()
                .all()
            )
            conn.exec_driver_sql("SET LOCAL session_replication_role = replica")
            for table in filled:
                conn.exec_driver_sql(f"DELETE FROM {table}")
            for sequence in used:
                conn.exec_driver_sql(f"ALTER SEQUENCE {sequence} RESTART")

    def drop(self, url: str) -> None:
        engine = self.engines.pop(url, None)
        if engine is not None:
            engine.dispose()
        name = sa.make_url(url).database
        with self.admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session")
def pg_server() -> Iterator[PgServer]:
    url = os.environ.get("TEST_DATABASE_URL") if backend() == "postgresql" else PG_ADMIN_URL
    assert url
    if not _pg_reachable(url):
        if IN_CI:
            pytest.fail(f"PostgreSQL is required in CI but {url} is not reachable")
        pytest.skip(f"no PostgreSQL server reachable at {url}")
    server = PgServer(url)
    yield server
    for engine in server.engines.values():
        engine.dispose()
    server.admin.dispose()


def migrate(url: str) -> None:
    """Bring a database to the latest schema exactly as operators do: through Alembic."""
    from flask_migrate import upgrade

    from app import create_app

    app = create_app({"DATABASE_URL": url, "TESTING": True, "LOG_LEVEL": "WARNING"})
    with app.app_context():
        upgrade()
    app.extensions["stockroom.engine"].dispose()


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("template") / "stockroom.db"
    migrate(f"sqlite:///{path}")
    return path


@pytest.fixture(scope="session")
def pg_database(request: pytest.FixtureRequest) -> Iterator[str]:
    server: PgServer = request.getfixturevalue("pg_server")
    url = server.create()
    migrate(url)
    yield url
    server.drop(url)


@pytest.fixture
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A migrated, empty database for one test."""
    if backend() == "postgresql" or request.node.get_closest_marker("pg"):
        server: PgServer = request.getfixturevalue("pg_server")
        url = request.getfixturevalue("pg_database")
        yield url
        server.empty(url)
    else:
        template: Path = request.getfixturevalue("sqlite_template")
        path = tmp_path / "stockroom.db"
        shutil.copyfile(template, path)
        yield f"sqlite:///{path}"


@pytest.fixture
def app_config() -> dict[str, Any]:
    """Override in a test module to change settings."""
    return {}


#: scrypt at 1/32 of werkzeug's default work factor (N=2**10 instead of 2**15): the suite creates
#: and signs in a thousand or so people, 70 ms of a core each at full strength. Servers never set
#: it; tests/security/test_sessions.py checks that they store werkzeug's default.
TEST_PASSWORD_HASH = "scrypt:1024:8:1"


@pytest.fixture
def app(database_url: str, app_config: dict[str, Any]) -> Iterator[Flask]:
    from app import create_app

    config = {
        "DATABASE_URL": database_url,
        "TESTING": True,
        "SECRET_KEY": "test-secret",
        "WTF_CSRF_ENABLED": False,
        "LOG_LEVEL": "WARNING",
        "PASSWORD_HASH_METHOD": TEST_PASSWORD_HASH,
        **app_config,
    }
    app = create_app(config)
    yield app
    from core import jobs
    from core.db import dispose

    # A job thread may still be closing its session after reporting success: let it finish
    # before the pool goes, or its connection is dropped unclosed.
    jobs.shutdown(app, wait=True)
    dispose(app)


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()
