"""Configuration from the environment, with defaults that need no database server."""

from __future__ import annotations

import os
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

INSTANCE_DIR = Path(__file__).resolve().parent.parent / "instance"


def normalise_database_url(url: str) -> str:
    """Map plain driver-less URLs to the drivers we install.

    Operators paste ``postgresql://user@host/db`` from their provider's console; SQLAlchemy would
    pick psycopg2 for that, which we do not ship, so we point it at psycopg 3.
    """
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def default_database_url() -> str:
    INSTANCE_DIR.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{INSTANCE_DIR / 'stockroom.db'}"


def _decimal(name: str, default: str) -> Decimal:
    return Decimal(os.environ.get(name, default))


def _flag(name: str, default: bool) -> bool:
    raw = os.environ.get(name)
    if raw is None or not raw.strip():
        return default
    value = raw.strip().lower()
    if value in ("1", "true", "yes", "on"):
        return True
    if value in ("0", "false", "no", "off"):
        return False
    raise ValueError(f"{name} must be true or false, not {raw!r}")


#: psycopg's own default: a statement is prepared on its sixth execution on a connection.
DEFAULT_PREPARE_THRESHOLD = 5


def _prepare_threshold(raw: str | None) -> int | None:
    if raw is None or not raw.strip():
        return DEFAULT_PREPARE_THRESHOLD
    if raw.strip().lower() in ("none", "off", "false", "no"):
        return None
    try:
        return int(raw)
    except ValueError:
        raise ValueError(f"DB_PREPARE_THRESHOLD must be a whole number or none, not {raw!r}")


def parse_mapping(name: str, raw: str) -> dict[str, Decimal]:
    """``"A=85,B=70"`` -> ``{"A": Decimal("85"), ...}``; a typo fails at start-up, not later."""
    out: dict[str, Decimal] = {}
    for part in raw.split(","):
        if not part.strip():
            continue
        key, sep, value = part.partition("=")
        try:
            if not sep or not key.strip():
                raise ValueError
            out[key.strip()] = Decimal(value.strip())
        except (ValueError, ArithmeticError):
            raise ValueError(f"{name}: expected key=number pairs separated by commas, got {part!r}")
    return out


def from_environment() -> dict[str, Any]:
    """Read settings once at app creation; tests pass overrides to ``create_app`` instead."""
    return {
        "DATABASE_URL": normalise_database_url(
            os.environ.get("DATABASE_URL") or default_database_url()
        ),
        # production (default for `make run`), development, demo or test. Production refuses to
        # start without a real SECRET_KEY; the others generate one kept in the instance folder.
        "ENV_NAME": os.environ.get("STOCKROOM_ENV", "development").strip().lower(),
        "SECRET_KEY": os.environ.get("SECRET_KEY") or None,
        "CELERY_BROKER_URL": os.environ.get("CELERY_BROKER_URL") or None,
        "CELERY_RESULT_BACKEND": os.environ.get("CELERY_RESULT_BACKEND") or None,
        # Workers listen on this queue; several installations can share one broker.
        "CELERY_QUEUE": os.environ.get("CELERY_QUEUE", "stockroom"),
        # Threads running jobs inside a web process when no broker is configured.
        "JOBS_THREADS": int(os.environ.get("JOBS_THREADS", "2")),
        # Series per chunk of a forecast run; on Celery each chunk is a task any worker may take.
        "FORECAST_CHUNK_SERIES": int(os.environ.get("FORECAST_CHUNK_SERIES", "50")),
        # A running job that reported nothing for this long is taken for dead and marked failed.
        "JOB_STALE_AFTER_SECONDS": int(os.environ.get("JOB_STALE_AFTER_SECONDS", "900")),
        "LOG_LEVEL": os.environ.get("LOG_LEVEL", "INFO"),
        # Connections each process keeps open; at least gunicorn's --threads.
        "DB_POOL_SIZE": int(os.environ.get("DB_POOL_SIZE", "10")),
        "DEFAULT_CURRENCY": os.environ.get("DEFAULT_CURRENCY", "CNY"),
        # The warehouses' time zone: pages show times in it, and carrier cut-off hours are in it.
        "DISPLAY_TIMEZONE": os.environ.get("DISPLAY_TIMEZONE", "Asia/Shanghai"),
        # Replenishment: target cycle service level, review period, and a unit short costs the
        # price times (1 + this factor times the chance of a stock-out).
        "REPLENISHMENT_SERVICE_LEVEL": float(os.environ.get("REPLENISHMENT_SERVICE_LEVEL", "0.95")),
        "REPLENISHMENT_REVIEW_DAYS": float(os.environ.get("REPLENISHMENT_REVIEW_DAYS", "7")),
        "REPLENISHMENT_SHORTAGE_FACTOR": _decimal("REPLENISHMENT_SHORTAGE_FACTOR", "4"),
        # Carrier assignment: what one day late costs, in DEFAULT_CURRENCY.
        "LATENESS_PENALTY_PER_DAY": _decimal("LATENESS_PENALTY_PER_DAY", "20.00"),
        # Purchase orders under this total are approved on submit; above the second threshold
        # two different approvers must sign.
        "PO_AUTO_APPROVE_LIMIT": _decimal("PO_AUTO_APPROVE_LIMIT", "1000"),
        "PO_SECOND_APPROVAL_LIMIT": _decimal("PO_SECOND_APPROVAL_LIMIT", "50000"),
        # A typed unit price more than this fraction below the list price needs an approver, who
        # is told which lines; the limits above compare the higher of typed and list totals.
        "PO_PRICE_BELOW_LIST_FLAG": _decimal("PO_PRICE_BELOW_LIST_FLAG", "0.5"),
        # Other currencies in units of DEFAULT_CURRENCY ("USD=7.1,EUR=7.7"), used only to compare
        # purchase order totals with the approval limits above. A currency without a rate gets
        # the strictest route: two approvers.
        "PO_FX_RATES": parse_mapping("PO_FX_RATES", os.environ.get("PO_FX_RATES", "")),
        # Supplier scorecards: relative weights of the parts of the 0-100 score, the lowest score
        # of grades A, B and C (below C is D), and the tolerances at which quality and price
        # score zero (a reject rate of 20 %, prices 25 % above the other suppliers' median).
        "SCORECARD_WEIGHTS": parse_mapping(
            "SCORECARD_WEIGHTS",
            os.environ.get(
                "SCORECARD_WEIGHTS", "on_time=30,in_full=25,quality=25,lead_time=10,price=10"
            ),
        ),
        "SCORECARD_GRADES": parse_mapping(
            "SCORECARD_GRADES", os.environ.get("SCORECARD_GRADES", "A=85,B=70,C=50")
        ),
        # Fewer settled orders in the window than this: figures and score, but no grade (and so no
        # flag), since one unlucky delivery says little about a supplier.
        "SCORECARD_MIN_ORDERS": int(os.environ.get("SCORECARD_MIN_ORDERS", "3")),
        "SCORECARD_REJECT_TOLERANCE": _decimal("SCORECARD_REJECT_TOLERANCE", "0.2"),
        "SCORECARD_PRICE_TOLERANCE": _decimal("SCORECARD_PRICE_TOLERANCE", "0.25"),
        # Days of history behind a supplier's grade (and the scorecard's default window).
        "SCORECARD_DAYS": int(os.environ.get("SCORECARD_DAYS", "365")),
        # When true, a supplier whose grade fell to D gets no new purchase orders while it is
        # flagged for review (an approver's review lifts the flag); when false it is only flagged.
        "SCORECARD_REFUSE_GRADE_D": _flag("SCORECARD_REFUSE_GRADE_D", False),
        # An item without a reorder point of its own counts as low in a warehouse when this many
        # units or fewer are available there (the stock page's "low" filter and badge).
        "LOW_STOCK_UNITS": int(os.environ.get("LOW_STOCK_UNITS", "5")),
        "RESERVATION_DEFAULT_TTL": int(os.environ.get("RESERVATION_DEFAULT_TTL", "900")),
        # The longest hold a storefront may ask for, at creation or by extending.
        "RESERVATION_MAX_TTL": int(os.environ.get("RESERVATION_MAX_TTL", "86400")),
        # Seconds between releases of expired holds by a timer inside each server process;
        # 0 (the default) leaves it to cron running `flask --app app inventory release-expired`.
        "RESERVATION_SWEEP_SECONDS": float(os.environ.get("RESERVATION_SWEEP_SECONDS", "0")),
        # How long a server process trusts a bearer token it has checked (accounts.token_cache).
        "AUTH_CACHE_SECONDS": float(os.environ.get("AUTH_CACHE_SECONDS", "5")),
        # The storefront's availability and reserve requests answered without the hooks other
        # requests run (core.hot_paths); false sends them through Flask's ordinary dispatch.
        "HOT_PATHS": _flag("HOT_PATHS", True),
        # Seconds each server process may reuse an availability answer (0, the default: never).
        # Writes through the same process are seen at once, others' within this many seconds;
        # reserving always checks the database (inventory.reservations.availability_cache).
        "AVAILABILITY_CACHE_SECONDS": float(os.environ.get("AVAILABILITY_CACHE_SECONDS", "0")),
        # Seconds each server process may plan a reservation from its last read of the basket's
        # skus instead of reading them again (0: read every time); the hold itself always checks
        # the database (inventory.reservations.plan_cache).
        "RESERVATION_PLAN_SECONDS": float(os.environ.get("RESERVATION_PLAN_SECONDS", "1")),
        "IDEMPOTENCY_TTL": int(os.environ.get("IDEMPOTENCY_TTL", str(24 * 3600))),
        "SESSION_COOKIE_HTTPONLY": True,
        "SESSION_COOKIE_SAMESITE": "Lax",
        # True behind HTTPS: cookies are then never sent in clear, and HSTS is announced.
        "SESSION_COOKIE_SECURE": _flag("SESSION_COOKIE_SECURE", False),
        "REMEMBER_COOKIE_SECURE": _flag("SESSION_COOKIE_SECURE", False),
        "REMEMBER_COOKIE_HTTPONLY": True,
        "REMEMBER_COOKIE_SAMESITE": "Lax",
        "REMEMBER_COOKIE_DURATION": timedelta(days=int(os.environ.get("REMEMBER_DAYS", "14"))),
        # Largest request body accepted (413 beyond); CSV price lists are the largest uploads.
        "MAX_CONTENT_LENGTH": int(os.environ.get("MAX_CONTENT_LENGTH", str(5 * 1024 * 1024))),
        # Proxies (load balancers) in front of the app that set X-Forwarded-For and -Proto: the
        # client's address is then read from that header, so sign-in limits count per client
        # rather than per balancer. 0 (the default) ignores the headers, which a client could
        # otherwise forge to escape the limits.
        "TRUSTED_PROXIES": int(os.environ.get("TRUSTED_PROXIES", "0")),
        # Executions of a statement after which psycopg prepares it on the server. "none"
        # switches that off: needed behind PgBouncer in transaction pooling mode unless it
        # tracks prepared statements itself (PgBouncer 1.21+ with max_prepared_statements > 0).
        "DB_PREPARE_THRESHOLD": _prepare_threshold(os.environ.get("DB_PREPARE_THRESHOLD")),
        # Where sign-in attempts are counted: shared by every process when it is Redis.
        "RATELIMIT_STORAGE_URI": os.environ.get("RATELIMIT_STORAGE_URI")
        or os.environ.get("REDIS_URL")
        or "memory://",
        # Sign-in attempts allowed per client address and per username tried.
        "SIGN_IN_RATE_LIMIT": os.environ.get("SIGN_IN_RATE_LIMIT", "20 per minute"),
        "SIGN_IN_USER_RATE_LIMIT": os.environ.get("SIGN_IN_USER_RATE_LIMIT", "10 per minute"),
        # Seconds a client is asked to wait (Retry-After) when the database is unreachable.
        "DB_RETRY_AFTER_SECONDS": int(os.environ.get("DB_RETRY_AFTER_SECONDS", "5")),
    }
