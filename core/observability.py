"""Request ids in every log line, and Prometheus metrics for request counts and latencies."""

from __future__ import annotations

import logging
import os
import random
import re
import time
from typing import Any

from flask import Flask, Response, g
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
    multiprocess,
)

from core import context

REQUEST_COUNT = Counter(
    "stockroom_http_requests_total",
    "HTTP requests handled, by method, route and status.",
    ["method", "route", "status"],
)
REQUEST_LATENCY = Histogram(
    "stockroom_http_request_duration_seconds",
    "Time from request start to response, by method and route.",
    ["method", "route"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)

_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,128}$")


class RequestIdFilter(logging.Filter):
    """Stamp each record with the request id so one request's lines can be found together."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            record.request_id = g.get("request_id", "-")
        except RuntimeError:  # outside an app context: a worker or a command
            record.request_id = "-"
        return True


def configure_logging(level: str) -> None:
    root = logging.getLogger()
    if not any(getattr(h, "_stockroom", False) for h in root.handlers):
        handler = logging.StreamHandler()
        handler.setFormatter(
            logging.Formatter("%(asctime)s %(levelname)s [%(request_id)s] %(name)s: %(message)s")
        )
        handler.addFilter(RequestIdFilter())
        handler._stockroom = True  # type: ignore[attr-defined]
        root.addHandler(handler)
    root.setLevel(level.upper())


def start_request() -> None:
    """Before anything else: the request's id (the caller's, if it sent a usable one) and clock."""
    incoming = context.current_request().headers.get("X-Request-ID", "")
    kept = context.app_globals()
    kept.request_id = incoming if _REQUEST_ID.match(incoming) else new_request_id()
    kept.started_at = time.perf_counter()


def new_request_id() -> str:
    """32 random hex digits, like a UUID's, from ``random``'s generator rather than the system's.

    An id only has to tell requests apart in the logs; it guards nothing. ``os.urandom`` (which
    ``uuid.uuid4`` calls too) is a system call during which Python lets the process's other
    threads take the interpreter, and under load taking it back was a wait of its own: about one
    context switch per request in gunicorn's threads (``perf record -e sched:sched_switch``).
    ``random``'s module-level generator is seeded from the system at start and again in every
    forked child, so two worker processes never share a sequence.
    """
    return f"{random.getrandbits(128):032x}"


def finish_request(response: Response) -> Response:
    """The id on the response, so a caller can quote it; the request counted and timed."""
    kept = context.app_globals()
    response.headers["X-Request-ID"] = kept.get("request_id", "")
    started = kept.get("started_at")
    if started is not None:
        current = context.current_request()
        route = current.url_rule.rule if current.url_rule else "unmatched"
        count_request(current.method, route, response.status_code, started)
    return response


#: The metrics' children per (method, route, status): labels() takes a lock and checks its
#: arguments on every call, a tenth of what the storefront's availability answer costs.
_CHILDREN: dict[tuple[str, str, int], tuple[Any, Any]] = {}


def count_request(method: str, route: str, status: int, started: float) -> None:
    """One request of ``route`` answered with ``status``, timed from ``started``."""
    key = (method, route, status)
    children = _CHILDREN.get(key)
    if children is None:
        children = _CHILDREN[key] = (
            REQUEST_LATENCY.labels(method, route),
            REQUEST_COUNT.labels(method, route, str(status)),
        )
    children[0].observe(time.perf_counter() - started)
    children[1].inc()


def init_app(app: Flask) -> None:
    configure_logging(app.config.get("LOG_LEVEL", "INFO"))

    app.before_request(start_request)
    app.after_request(finish_request)

    @app.get("/metrics")
    def metrics() -> Response:
        """Prometheus scrape; sums all gunicorn workers when PROMETHEUS_MULTIPROC_DIR is set."""
        if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
            registry = CollectorRegistry()
            multiprocess.MultiProcessCollector(registry)
            return Response(generate_latest(registry), mimetype=CONTENT_TYPE_LATEST)
        return Response(generate_latest(), mimetype=CONTENT_TYPE_LATEST)
