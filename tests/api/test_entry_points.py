"""Importing the factory builds nothing; servers and workers build the app from the environment;
a production app cannot wipe its database with the demo command."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from flask.testing import FlaskCliRunner

from app import create_app

ROOT = Path(__file__).resolve().parents[2]
STRONG_KEY = "k" * 48


def run_python(code: str, tmp_path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    environ = {k: v for k, v in os.environ.items() if not k.startswith(("CELERY_", "DATABASE_"))}
    environ.update(env)
    return subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env=environ,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_importing_the_factory_opens_no_database(tmp_path):
    db_file = tmp_path / "never.db"
    r = run_python(
        "import app; assert not hasattr(app, 'app'); print(len(app.FEATURES))",
        tmp_path,
        DATABASE_URL=f"sqlite:///{db_file}",
    )
    assert r.returncode == 0, r.stderr
    assert int(r.stdout) >= 4
    assert not db_file.exists()


def test_wsgi_builds_the_app_from_the_environment(tmp_path):
    db_file = tmp_path / "served.db"
    r = run_python(
        "import wsgi; print(wsgi.app.config['DATABASE_URL'])",
        tmp_path,
        DATABASE_URL=f"sqlite:///{db_file}",
        STOCKROOM_ENV="production",
        SECRET_KEY=STRONG_KEY,
    )
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == f"sqlite:///{db_file}"


def test_celery_worker_without_a_broker_says_what_to_set(tmp_path):
    r = run_python("import celery_worker", tmp_path, DATABASE_URL=f"sqlite:///{tmp_path}/w.db")
    assert r.returncode != 0
    assert "Set CELERY_BROKER_URL" in r.stderr


def test_celery_worker_exposes_the_celery_app(tmp_path):
    r = run_python(
        "import celery_worker; print(type(celery_worker.app).__name__, celery_worker.app.main)",
        tmp_path,
        DATABASE_URL=f"sqlite:///{tmp_path}/w.db",
        CELERY_BROKER_URL="memory://",
    )
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == ["Celery", "stockroom"]


@pytest.mark.parametrize("env", ["production", "staging"])
def test_a_production_app_has_no_demo_command(database_url, env):
    app = create_app({"DATABASE_URL": database_url, "ENV_NAME": env, "SECRET_KEY": STRONG_KEY})
    assert "demo" not in app.cli.list_commands(None)  # type: ignore[arg-type]
    result = FlaskCliRunner(app).invoke(args=["demo", "seed", "--reset"])
    assert result.exit_code != 0
    assert "No such command 'demo'" in result.output


@pytest.mark.parametrize("env", ["development", "demo"])
def test_development_and_demo_apps_offer_the_demo(database_url, env):
    app = create_app({"DATABASE_URL": database_url, "ENV_NAME": env})
    result = FlaskCliRunner(app).invoke(args=["demo", "--help"])
    assert result.exit_code == 0, result.output
    assert "seed" in result.output
