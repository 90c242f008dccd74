"""A WSGI application that answers every request with the same few bytes, and does nothing else.

Served by gunicorn with the service's settings, it measures the server's own floor: the CPU that
gunicorn, its threads and the kernel's sockets spend per request before any application runs.
``reservations.py`` sets the reservation's cost against it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

BODY = b'{"status":"ok"}'
HEADERS = [("Content-Type", "application/json"), ("Content-Length", str(len(BODY)))]


def app(_environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
    start_response("200 OK", HEADERS)
    return [BODY]
