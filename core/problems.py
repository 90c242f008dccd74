"""Problems (RFC 9457) that services raise when a caller can understand and act on a failure.

Kept free of Flask and SQLAlchemy so pure rules (approval workflow, allocation) can raise them too;
``core.errors`` renders them as ``application/problem+json`` or an HTML page.
"""

from __future__ import annotations

from typing import Any


class Problem(Exception):
    """A failure the caller can understand and act on."""

    status: int = 400
    slug: str | None = None

    def __init__(
        self,
        detail: str,
        *,
        errors: dict[str, Any] | None = None,
        slug: str | None = None,
        status: int | None = None,
        headers: dict[str, str] | None = None,
        **extra: Any,
    ) -> None:
        super().__init__(detail)
        self.detail = detail
        self.errors = errors
        if slug is not None:
            self.slug = slug
        if status is not None:
            self.status = status
        self.headers = headers or {}
        self.extra = extra


class BadRequest(Problem):
    status = 400


class Unauthorized(Problem):
    status = 401

    def __init__(self, detail: str = "A valid bearer token is required.", **kw: Any) -> None:
        kw.setdefault("headers", {"WWW-Authenticate": 'Bearer realm="stockroom"'})
        super().__init__(detail, **kw)


class Forbidden(Problem):
    status = 403


class NotFound(Problem):
    status = 404


class Conflict(Problem):
    status = 409


class PreconditionFailed(Problem):
    status = 412


class Invalid(Problem):
    """The request is well-formed but breaks a rule (422), e.g. a field naming an unknown thing."""

    status = 422
