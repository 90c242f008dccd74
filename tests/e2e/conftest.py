"""A real server and a real browser: gunicorn on a migrated database, headless Chromium."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from flask import Flask

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


@pytest.fixture
def live_server(app: Flask, database_url: str, tmp_path: Path) -> Iterator[LiveServer]:
    """gunicorn serving the test's database; ``app`` (same database) is for arranging data.

    gunicorn binds port 0 and the test reads the port it got from its log: picking a free port
    first and passing it on races with other test processes doing the same.
    """
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "SECRET_KEY": "e2e-secret",
        "LOG_LEVEL": "WARNING",
    }
    log = (tmp_path / "gunicorn.log").open("wb")
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gunicorn",
            "wsgi:app",
            "--bind",
            "127.0.0.1:0",
            "--workers",
            "2",
            "--threads",
            "4",
            "--timeout",
            "60",
            "--no-control-socket",
        ],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    deadline = time.monotonic() + 30
    url = None
    while True:
        if url is None:
            found = re.search(
                r"Listening at: (http://127\.0\.0\.1:\d+)", (tmp_path / "gunicorn.log").read_text()
            )
            url = found.group(1) if found else None
        if url is not None:
            try:
                with urllib.request.urlopen(url + "/readyz", timeout=1) as response:
                    if response.status == 200:
                        break
            except OSError:
                pass
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            log.close()
            pytest.fail(
                "gunicorn did not become ready:\n" + (tmp_path / "gunicorn.log").read_text()[-3000:]
            )
        time.sleep(0.1)
    yield LiveServer(url, database_url, app, process)
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
    log.close()


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
