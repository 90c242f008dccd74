"""A real server and a real browser: gunicorn on a migrated database, headless Chromium."""

from __future__ import annotations

import os
import re
import shutil
import sqlite3
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import sqlalchemy as sa
from flask import Flask

from tests.conftest import PgServer, backend, migrate

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
#: Without these, Chromium keeps trying to reach Google's services, which this network refuses.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
]


@dataclass
class LiveServer:
    url: str
    database_url: str
    app: Flask
    process: subprocess.Popen[bytes]


class Gunicorn:
    """``gunicorn wsgi:app`` on a database, as operators run it (two workers, four threads)."""

    def __init__(self, database_url: str, log_path: Path, *, workers: int = 2, **env: str) -> None:
        self.database_url = database_url
        self.log_path = log_path
        self.log = log_path.open("wb")
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "gunicorn",
                "wsgi:app",
                "--bind",
                "127.0.0.1:0",
                "--workers",
                str(workers),
                "--threads",
                "4",
                "--timeout",
                "60",
                "--no-control-socket",
            ],
            cwd=ROOT,
            env={
                **os.environ,
                "DATABASE_URL": database_url,
                "SECRET_KEY": "e2e-secret",
                "LOG_LEVEL": "WARNING",
                **env,
            },
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )
        self.url = self._wait_until_ready()

    def _wait_until_ready(self) -> str:
        """gunicorn binds port 0 and the URL is read from its log: picking a free port first and
        passing it on races with other test processes doing the same."""
        deadline = time.monotonic() + 30
        url = None
        while True:
            if url is None:
                found = re.search(r"Listening at: (http://127\.0\.0\.1:\d+)", self.log_text())
                url = found.group(1) if found else None
            if url is not None:
                try:
                    with urllib.request.urlopen(url + "/readyz", timeout=1) as response:
                        if response.status == 200:
                            return url
                except OSError:
                    pass
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                pytest.fail("gunicorn did not become ready:\n" + self.log_text()[-3000:])
            time.sleep(0.05)

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace")

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.log.close()


@pytest.fixture(scope="session")
def shared_server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Gunicorn]:
    """One gunicorn for every browser test of this test process, on a database of its own.

    Starting gunicorn costs two workers' imports (seconds of CPU); the tests pay it once. Each test
    still starts from an empty migrated database (``database_url`` below) and a browser context
    of its own, so no cookie, session or row outlives a test. Tokens are random, so the server's
    token cache cannot answer for another test's. Sign-in limits count per server process, so
    the session's many sign-ins as the same few people must not add up to a throttle no single
    test would meet: the limits are raised here, and the throttle itself is tested through the
    app (tests/security/test_throttling.py).
    """
    folder = tmp_path_factory.mktemp("e2e-server")
    if backend() == "postgresql":
        # Not the other tests' database: tests/pg cut every connection to that one on purpose.
        pg: PgServer = request.getfixturevalue("pg_server")
        url = pg.create("stockroom_e2e")
        migrate(url)
    else:
        template: Path = request.getfixturevalue("sqlite_template")
        path = folder / "stockroom.db"
        shutil.copyfile(template, path)
        url = f"sqlite:///{path}"
    server = Gunicorn(
        url,
        folder / "gunicorn.log",
        SIGN_IN_RATE_LIMIT="1000 per minute",
        SIGN_IN_USER_RATE_LIMIT="1000 per minute",
    )
    yield server
    server.stop()
    if backend() == "postgresql":
        pg.drop(url)


@pytest.fixture
def database_url(request: pytest.FixtureRequest, shared_server: Gunicorn) -> str:
    """The shared server's database, empty and migrated as a fresh test database would be.

    SQLite: the migrated template is copied in with SQLite's online backup, which takes the write
    lock and makes the server's connections read the new contents (their statements are prepared
    again: the backup bumps the schema version). PostgreSQL: ``PgServer.empty``.
    """
    if shared_server.process.poll() is not None:
        pytest.fail("the shared gunicorn has exited:\n" + shared_server.log_text()[-3000:])
    url = shared_server.database_url
    if backend() == "postgresql":
        pg: PgServer = request.getfixturevalue("pg_server")
        pg.empty(url)
    else:
        template: Path = request.getfixturevalue("sqlite_template")
        source = sqlite3.connect(template)
        target = sqlite3.connect(sa.make_url(url).database or "", timeout=30)
        try:
            source.backup(target)
        finally:
            source.close()
            target.close()
    return url


@pytest.fixture
def live_server(app: Flask, shared_server: Gunicorn) -> LiveServer:
    """The shared gunicorn, serving this test's (fresh) database; ``app`` is for arranging data."""
    return LiveServer(shared_server.url, shared_server.database_url, app, shared_server.process)


@pytest.fixture
def dedicated_live_server(app: Flask, database_url: str, tmp_path: Path) -> Iterator[LiveServer]:
    """A gunicorn of this test's own, for tests that harm it (kill its workers, cut its
    connections)."""
    server = Gunicorn(database_url, tmp_path / "gunicorn.log")
    yield LiveServer(server.url, database_url, app, server.process)
    server.stop()


@pytest.fixture(scope="session")
def browser() -> Iterator[object]:
    if not shutil.which(CHROMIUM) and not Path(CHROMIUM).exists():
        if os.environ.get("CI"):
            pytest.fail(f"Chromium is required in CI but {CHROMIUM} is missing")
        pytest.skip(f"no Chromium at {CHROMIUM}")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        instance = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
        )
        yield instance
        instance.close()


@pytest.fixture
def browser_page(browser: object, tmp_path: Path) -> Iterator[object]:
    context = browser.new_context(viewport={"width": 1280, "height": 900})  # type: ignore[attr-defined]
    context.set_default_timeout(15_000)
    page = context.new_page()
    failed: list[str] = []

    def on_failed(request: object) -> None:
        # A request the browser itself abandoned because the page moved on (a favicon still
        # loading when a form is submitted) is not a failure of the server.
        if request.failure != "net::ERR_ABORTED":  # type: ignore[attr-defined]
            failed.append(f"{request.url} ({request.failure})")  # type: ignore[attr-defined]

    page.on("requestfailed", on_failed)
    yield page
    if failed:
        page.screenshot(path=str(tmp_path / "failure.png"))
    context.close()
    # Every asset the page needed must come from the server itself; nothing may fail to load.
    assert not failed, f"requests failed: {failed}"


def login(page: object, base_url: str, username: str, password: str) -> None:
    """Sign in through the login form like a person would."""
    page.goto(base_url + "/login")  # type: ignore[attr-defined]
    page.fill("#username", username)  # type: ignore[attr-defined]
    page.fill("#password", password)  # type: ignore[attr-defined]
    page.click("button[type=submit]")  # type: ignore[attr-defined]
    page.wait_for_selector("[data-testid=user-menu]")  # type: ignore[attr-defined]


def open_page(page: object, menu: str, item: str) -> None:
    """Go to a page through the navigation bar: open the menu, pick the entry."""
    page.click(f"[data-testid=menu-{menu.lower()}]")  # type: ignore[attr-defined]
    page.click(f"nav .dropdown-menu.show >> text={item}")  # type: ignore[attr-defined]
