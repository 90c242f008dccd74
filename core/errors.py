"""Problems (RFC 9457) raised by services and rendered as ``application/problem+json``.

Services raise these instead of HTTP aborts so the same rule reads the same from the API, the web UI
and the command line.
"""

from __future__ import annotations

import logging
from typing import Any

from flask import Flask, Response, current_app, g, json, render_template, request
from markupsafe import escape
from sqlalchemy import exc as sa_exc
from werkzeug.exceptions import HTTPException, InternalServerError
from werkzeug.http import HTTP_STATUS_CODES

from core.i18n import N_
from core.problems import (
    Problem,
)

log = logging.getLogger(__name__)

PROBLEM_JSON = "application/problem+json"


def problem_body(
    status: int,
    detail: str | None = None,
    *,
    errors: Any = None,
    slug: str | None = None,
    extra: dict[str, Any] | None = None,
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "type": f"/problems/{slug}" if slug else "about:blank",
        "title": HTTP_STATUS_CODES.get(status, "Error"),
        "status": status,
        "detail": detail or HTTP_STATUS_CODES.get(status, "Error"),
        "instance": request.path if request else None,
    }
    if errors:
        body["errors"] = errors
    if extra:
        body.update(extra)
    request_id = g.get("request_id")
    if request_id:
        body["request_id"] = request_id
    return body


def problem_response(body: dict[str, Any], headers: dict[str, str] | None = None) -> Response:
    response = Response(json.dumps(body), status=body["status"], mimetype=PROBLEM_JSON)
    for key, value in (headers or {}).items():
        response.headers[key] = value
    return response


def wants_problem_json() -> bool:
    """API clients get problem documents; people in a browser get an HTML page."""
    path = request.path
    if path.startswith(("/api/", "/healthz", "/readyz", "/metrics")):
        return True
    best = request.accept_mimetypes.best_match(["text/html", "application/json", PROBLEM_JSON])
    return best in ("application/json", PROBLEM_JSON)


def flatten_validation_messages(messages: Any) -> Any:
    """webargs nests messages by location ({"json": {...}}); clients want field -> messages."""
    if isinstance(messages, dict) and len(messages) == 1:
        (location, inner), *_ = messages.items()
        if location in ("json", "query", "form", "headers", "view_args", "files") and isinstance(
            inner, dict
        ):
            return inner
    if isinstance(messages, dict) and set(messages) <= {"json", "query", "form", "headers"}:
        merged: dict[str, Any] = {}
        for inner in messages.values():
            if isinstance(inner, dict):
                merged.update(inner)
        return merged
    return messages


def http_exception_to_problem(error: HTTPException) -> Response:
    data = getattr(error, "data", None) or {}
    errors = data.get("errors") or data.get("messages")
    status = error.code or 500
    detail = data.get("message") or error.description
    if status == 422 and errors:
        detail = "The request did not pass validation; see errors for each field."
    body = problem_body(status, detail, errors=flatten_validation_messages(errors))
    headers = dict(data.get("headers") or {})
    valid_methods = getattr(error, "valid_methods", None)
    if status == 405 and valid_methods:
        headers["Allow"] = ", ".join(valid_methods)
    return problem_response(body, headers)


#: What a person sees above the detail, by status; marked here, translated on the error page.
PAGE_TITLES = {
    400: N_("That request was not understood"),
    401: N_("Please sign in"),
    403: N_("Your role does not allow this"),
    404: N_("Not found"),
    405: N_("Not possible here"),
    409: N_("That clashes with the current state"),
    413: N_("That upload is too large"),
    422: N_("Some of that input is not usable"),
    429: N_("Too many attempts"),
    500: N_("Something went wrong on our side"),
    503: N_("The service is briefly unavailable"),
}


def _render_html_error(status: int, detail: str) -> Response:
    """The app's own error page: what happened, what to do, and the id to quote to support."""
    request_id = g.get("request_id")
    title = PAGE_TITLES.get(status, N_("Something went wrong"))
    try:
        html = render_template(
            "errors/error.html", status=status, title=title, detail=detail, request_id=request_id
        )
    except Exception:
        html = f"<h1>{status} {escape(title)}</h1><p>{escape(detail)}</p>"
        if request_id:
            html += f"<p>Request id: {escape(request_id)}</p>"
    return Response(html, status=status, mimetype="text/html")


def handle_http_exception(error: HTTPException) -> Response:
    if wants_problem_json():
        return http_exception_to_problem(error)
    return _render_html_error(error.code or 500, error.description or "")


def handle_problem(problem: Problem) -> Response:
    if wants_problem_json():
        body = problem_body(
            problem.status,
            problem.detail,
            errors=problem.errors,
            slug=problem.slug,
            extra=problem.extra,
        )
        return problem_response(body, problem.headers)
    return _render_html_error(problem.status, problem.detail)


def handle_unexpected(error: Exception) -> Response:
    """Log the whole story under the request id; tell the caller only that it failed."""
    if isinstance(error, HTTPException):
        return handle_http_exception(error)
    log.exception("unhandled error")
    generic = InternalServerError()
    if wants_problem_json():
        return problem_response(
            problem_body(500, "The server failed to complete the request; it has been logged.")
        )
    return _render_html_error(500, generic.description or "")


#: Errors that mean the database could not be reached or answered in time, not that the request
#: was wrong: the same request may well succeed in a moment.
UNAVAILABLE_ERRORS: tuple[type[Exception], ...] = (
    sa_exc.OperationalError,
    sa_exc.InterfaceError,
    sa_exc.TimeoutError,
)


def is_database_unavailable(error: BaseException) -> bool:
    if isinstance(error, UNAVAILABLE_ERRORS):
        return True
    return isinstance(error, sa_exc.DBAPIError) and bool(error.connection_invalidated)


def handle_database_error(error: sa_exc.SQLAlchemyError) -> Response:
    """An unreachable database is a 503 with Retry-After, so clients and balancers back off."""
    if not is_database_unavailable(error):
        return handle_unexpected(error)
    log.error(
        "database unavailable: %s", str(getattr(error, "orig", None) or error).splitlines()[0]
    )
    retry_after = str(current_app.config.get("DB_RETRY_AFTER_SECONDS", 5))
    detail = "The database is unavailable; retry shortly."
    if wants_problem_json():
        return problem_response(
            problem_body(503, detail, slug="database-unavailable"), {"Retry-After": retry_after}
        )
    response = _render_html_error(503, detail)
    response.headers["Retry-After"] = retry_after
    return response


def init_app(app: Flask) -> None:
    app.register_error_handler(sa_exc.SQLAlchemyError, handle_database_error)
    app.register_error_handler(Problem, handle_problem)
    app.register_error_handler(HTTPException, handle_http_exception)
    app.register_error_handler(Exception, handle_unexpected)
