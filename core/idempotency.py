"""``Idempotency-Key`` for POSTs that change stock or money: a retried request has one effect.

A client that lost a response (a timeout, a dropped connection) sends the same request again with
the same key. Usage, in a feature's API module::

    @blp.route("/things")
    class Things(MethodView):
        @require("buyer")
        @idempotent
        @blp.arguments(ThingCreateSchema)
        @blp.response(201, ThingSchema)
        def post(self, data): ...

Put ``@idempotent`` below ``require`` (a caller without the right gets 403 and nothing is recorded)
and above flask-smorest's decorators (so it sees the finished response, and a body that fails
validation is answered like any other outcome). Requests without the header run as before.

The rules (API.md, *Idempotency*):

- Keys are scoped to the calling principal: two storefront accounts may both use key ``abc``.
- The first response for a key is stored with a SHA-256 fingerprint of the request (method, path,
  query, and the JSON body with keys sorted) and kept for ``IDEMPOTENCY_TTL`` seconds (24 hours).
  The same key with the same request replays it: same status, same body, and the header
  ``Idempotent-Replayed: true``. The same key with a different request is a 422.
- While the first request is still running, the same key is a 409 (PostgreSQL: a transaction
  advisory lock on a hash of (principal, key), tried without waiting). SQLite serialises writers,
  so there a duplicate simply waits for the first and then replays it.
- The stored response and the business effect commit in one transaction: the wrapper opens the
  outer unit of work, the view's service runs nested in it (``core.db.UnitOfWork``), and the record
  is added before the single commit. A crash in between loses both, never only the record, so a
  retry can never cause a second effect.
- Which outcomes are stored: 2xx (the effect happened and must not happen again) and 400/422 (the
  request itself is wrong; the same bytes are refused the same way, so the retry is answered from
  the record). Not stored: 401/403 (about the caller, who may be granted the right and retry), 404
  and 409 (about the state of the world: a retry after stock arrives or after a concurrent change
  may rightly succeed, and since nothing happened a re-run cannot double anything), and 5xx
  (nothing was committed). A key whose request was not stored can be used again for that request.

Expired records are deleted by ``purge_expired`` (run by ``flask inventory release-expired``).

A view whose whole effect is one database statement can take the record into that statement
(``@idempotent(records_itself=True)``, PostgreSQL only): the wrapper opens no transaction and hands
the view a ``Claim``; the view's service passes the claim's lock, scope and key and the record of
its response to that statement, which claims the key (``idempotency_claim``: the lock, then the
look-up), writes the effect and the record, and commits them together, or returns the earlier
record and does nothing. The view must settle the claim (``recorded``, ``answer``, ``in_flight``)
or raise ``Declined`` before changing anything, and the request then runs as above. A view that
fails without having settled it changed nothing; the wrapper then claims the key and looks it up
as above (an earlier answer is replayed, a 400/422 is stored), so every rule reads the same.
"""

from __future__ import annotations

import contextlib
import copy
import functools
import hashlib
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from types import SimpleNamespace
from typing import Any, ParamSpec, cast, overload

from flask import Flask, Response, current_app
from flask_smorest.utils import deepupdate
from sqlalchemy import (
    Integer,
    String,
    Table,
    Text,
    bindparam,
    delete,
    insert,
    select,
)
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Mapped, Session, mapped_column
from werkzeug.exceptions import HTTPException

from core import context, db, hot_paths
from core.db import Base, Timestamp, UnitOfWork
from core.errors import handle_http_exception, handle_problem
from core.problems import Conflict, Invalid, Problem

HEADER = "Idempotency-Key"
REPLAYED_HEADER = "Idempotent-Replayed"
MAX_KEY_LENGTH = 255
DEFAULT_TTL_SECONDS = 24 * 3600
#: Outcomes recorded besides 2xx; see the module docstring for why these and no others.
STORED_CLIENT_ERRORS = frozenset({400, 422})
ATTEMPTS = 5

P = ParamSpec("P")


class IdempotencyRecord(Base):
    """The first response to a request sent with an ``Idempotency-Key``."""

    __tablename__ = "idempotency_keys"

    #: Whose key it is, e.g. ``user:12``; the same key of another caller is another record.
    scope: Mapped[str] = mapped_column(String(64), primary_key=True)
    key: Mapped[str] = mapped_column(String(MAX_KEY_LENGTH), primary_key=True)
    #: SHA-256 of method, path, query and canonical body: tells a retry from a different request.
    fingerprint: Mapped[str] = mapped_column(String(64))
    method: Mapped[str] = mapped_column(String(8))
    path: Mapped[str] = mapped_column(String(255))
    status: Mapped[int] = mapped_column(Integer)
    content_type: Mapped[str] = mapped_column(String(100))
    body: Mapped[str] = mapped_column(Text)
    location: Mapped[str | None] = mapped_column(String(500))
    #: JSON of the response headers in ``REPLAYED_HEADERS`` (the ETag a client sends as If-Match).
    headers: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[Timestamp]
    expires_at: Mapped[Timestamp] = mapped_column(index=True)


#: Returns the scope of the current caller (``user:<id>``); set by the accounts feature.
ScopeResolver = Callable[[], str]


#: Response headers a replay repeats besides Location: what a client acts on next.
REPLAYED_HEADERS = ("ETag", "Last-Modified")
_REPLAYED_BY_LOWER = {name.lower(): name for name in REPLAYED_HEADERS}


def init_app(app: Flask, scope_of_caller: ScopeResolver) -> None:
    app.extensions["stockroom.idempotency_scope"] = scope_of_caller
    app.config.setdefault("IDEMPOTENCY_TTL", DEFAULT_TTL_SECONDS)


def stored(status: int) -> bool:
    return 200 <= status < 300 or status in STORED_CLIENT_ERRORS


def _key_from_header(raw: str) -> str:
    # Visible ASCII: printable ASCII but the space.
    if not 1 <= len(raw) <= MAX_KEY_LENGTH or not (
        raw.isascii() and raw.isprintable() and " " not in raw
    ):
        raise Invalid(
            "The Idempotency-Key header is not valid.",
            errors={HEADER: [f"1 to {MAX_KEY_LENGTH} visible ASCII characters, no spaces"]},
        )
    return raw


#: No document yet (a body that is not JSON has none).
_UNPARSED = object()


def fingerprint() -> str:
    """What makes two requests "the same": method, path, query and body (JSON keys sorted).

    The body's document as ``core.hot_paths`` parsed it, when it did: werkzeug's stream, read
    again, cost 3 % of a reservation's instructions (``benchmarks/instructions.py``), and parsing
    it again 2 % (1.49 to 1.46 million)."""
    current = context.current_request()
    raw = b""
    document = current.environ.get(hot_paths.DOCUMENT, _UNPARSED)
    if document is _UNPARSED:
        raw = current.get_data(cache=True)
        with contextlib.suppress(ValueError):
            document = json.loads(raw)
    canonical = (
        raw
        if document is _UNPARSED
        else json.dumps(
            document, sort_keys=True, separators=(",", ":"), ensure_ascii=False
        ).encode()
    )
    digest = hashlib.sha256()
    # If-Match is part of the request: the same body against another version is another request.
    if_match = current.headers.get("If-Match", "").encode()
    for part in (current.method.encode(), current.path.encode(), current.query_string, if_match):
        digest.update(part)
        digest.update(b"\0")
    digest.update(canonical)
    return digest.hexdigest()


def _advisory_lock_id(scope: str, key: str) -> int:
    """A signed 64-bit number for ``pg_try_advisory_xact_lock``; collisions only cost a 409."""
    raw = hashlib.sha256(f"{scope}\0{key}".encode()).digest()[:8]
    return int.from_bytes(raw, "big", signed=True)


#: SQLSTATE of ``idempotency_claim`` (a migration) when another request holds the key.
IN_FLIGHT = "SR409"
#: The columns of an earlier record a replay needs, in the order ``Claim.answer`` reads them.
EARLIER = ("fingerprint", "status", "content_type", "body", "location", "headers")
_CLAIM_AND_FIND = (
    f"SELECT {', '.join(EARLIER)} FROM idempotency_claim("
    "%(lock)s::bigint, %(scope)s, %(key)s, %(now)s::timestamptz)"
)


def _in_flight() -> Conflict:
    return Conflict(
        "A request with this Idempotency-Key is still being processed; retry shortly.",
        slug="idempotency-key-in-flight",
        headers={"Retry-After": "1"},
    )


def _claim(s: Session, scope: str, key: str, now: datetime) -> Any:
    """Claim the key for this transaction and return its live record, if any.

    PostgreSQL: a transaction advisory lock tried without waiting (409 while another transaction
    holds it), then the look-up, in one round trip (``idempotency_claim``). SQLite: the unit of
    work holds the database's write lock, so no one else is running; the look-up alone.
    """
    conn = s.connection()
    if not db.is_sqlite():
        try:
            found = conn.exec_driver_sql(
                _CLAIM_AND_FIND,
                {"lock": _advisory_lock_id(scope, key), "scope": scope, "key": key, "now": now},
            ).first()
        except DBAPIError as exc:
            if db.sqlstate(exc) == IN_FLIGHT:
                raise _in_flight() from None
            raise
        return _earlier(found) if found is not None else None
    record = conn.execute(_FIND, {"scope": scope, "key": key}).first()
    if record is not None and record.expires_at <= now:
        conn.execute(_FORGET, {"scope": scope, "key": key})
        return None
    return record


table = cast(Table, IdempotencyRecord.__table__)
_FIND = select(table).where(table.c.scope == bindparam("scope"), table.c.key == bindparam("key"))
_FORGET = delete(table).where(table.c.scope == bindparam("scope"), table.c.key == bindparam("key"))


def _replay(record: Any) -> Response:
    response = current_app.response_class(
        record.body, status=record.status, content_type=record.content_type
    )
    response.headers[REPLAYED_HEADER] = "true"
    if record.location:
        response.headers["Location"] = record.location
    for name, value in json.loads(record.headers or "{}").items():
        response.headers[name] = value
    return response


def _record_of(
    response: Response, scope: str, key: str, digest: str, now: datetime
) -> dict[str, Any]:
    current = context.current_request()
    return {
        "scope": scope,
        "key": key,
        "fingerprint": digest,
        "method": current.method,
        "path": current.path[:255],
        "status": response.status_code,
        "content_type": response.content_type or "application/json",
        "body": response.get_data(as_text=True),
        "location": response.headers.get("Location"),
        "headers": json.dumps(_replayed_headers(response)),
        "created_at": now,
        "expires_at": now + timedelta(seconds=context.app().config["IDEMPOTENCY_TTL"]),
    }


def _replayed_headers(response: Response) -> dict[str, str]:
    """The response's headers in ``REPLAYED_HEADERS``, read in one pass over its headers: asking
    werkzeug's ``Headers`` for an absent one raises (and builds) an HTTP exception."""
    found: dict[str, str] = {}
    for name, value in response.headers.items():
        canonical = _REPLAYED_BY_LOWER.get(name.lower())
        if canonical is not None:
            found.setdefault(canonical, value)
    return found


def _earlier(values: Sequence[Any]) -> Any:
    return SimpleNamespace(**dict(zip(EARLIER, values, strict=True)))


def _answer_from(record: Any, digest: str) -> Response:
    """The replay of an earlier record, or 422 when it answered a different request."""
    if record.fingerprint != digest:
        raise Invalid(
            "This Idempotency-Key was used for a different request.",
            errors={HEADER: ["already used with another method, path or body"]},
            slug="idempotency-key-reused",
        )
    return _replay(record)


@db.retry_on_conflict(ATTEMPTS)
def _run_once(
    view: Callable[..., Any], args: Any, kwargs: Any, scope: str, key: str, digest: str
) -> Response:
    with UnitOfWork() as uow:
        s = uow.session
        now = db.now()
        record = _claim(s, scope, key, now)
        if record is not None:
            return _answer_from(record, digest)
        try:
            response = current_app.make_response(view(*args, **kwargs))
        except Problem as problem:
            if not stored(problem.status):
                raise
            response = handle_problem(problem)
        except HTTPException as error:
            if not stored(error.code or 500):
                raise
            response = handle_http_exception(error)
        if stored(response.status_code):
            s.connection().execute(insert(table), _record_of(response, scope, key, digest, now))
        uow.commit()
        return response


class Declined(Exception):
    """Raised by a view that records itself when its effect cannot be one statement this time
    (nothing was changed): the wrapper runs the request again the ordinary way."""


@dataclass
class Claim:
    """The Idempotency-Key of the request, handed to a view that records itself.

    The view's statement runs ``idempotency_claim(lock_id, scope, key, now)`` first and stops
    there if it returns a record; otherwise it writes the effect and inserts ``record``.
    """

    scope: str
    key: str
    fingerprint: str
    settled: bool = False

    @property
    def lock_id(self) -> int:
        return _advisory_lock_id(self.scope, self.key)

    def record(self, response: Response, now: datetime) -> dict[str, Any]:
        """The record of ``response``, by column, for the statement that makes the effect to
        insert."""
        return _record_of(response, self.scope, self.key, self.fingerprint, now)

    def recorded(self) -> None:
        """The statement wrote the effect and the record."""
        self.settled = True

    def answer(self, earlier: Sequence[Any]) -> Response:
        """The statement found an earlier record (columns ``EARLIER``) and did nothing."""
        self.settled = True
        return _answer_from(_earlier(earlier), self.fingerprint)

    def in_flight(self) -> Conflict:
        """The statement failed with ``IN_FLIGHT``: another request holds the key (409)."""
        self.settled = True
        return _in_flight()


def claim() -> Claim | None:
    """The current request's claim, when its view is to record the key itself."""
    return cast(Claim | None, context.app_globals().get("_idempotency_claim"))


def _reraise(error: Exception) -> Callable[[], Any]:
    def view() -> Any:
        raise error

    return view


def _earlier_answer_or(error: Exception, scope: str, key: str, digest: str) -> Response:
    """The key's earlier answer, else ``error`` (not stored): one statement, which is its own
    transaction, since nothing is written whatever it finds."""
    with db.driver_connection() as conn:
        try:
            found = conn.rows(
                _CLAIM_AND_FIND,
                {
                    "lock": _advisory_lock_id(scope, key),
                    "scope": scope,
                    "key": key,
                    "now": db.now(),
                },
            )
        except DBAPIError as exc:
            if db.sqlstate(exc) == IN_FLIGHT:
                raise _in_flight() from None
            raise
    if found:
        return _answer_from(_earlier(found[0]), digest)
    raise error


def _run_recording_itself(
    view: Callable[..., Any], args: Any, kwargs: Any, scope: str, key: str, digest: str
) -> Response:
    current = Claim(scope, key, digest)
    try:
        kept = context.app_globals()
        kept._idempotency_claim = current
        try:
            response = context.app().make_response(view(*args, **kwargs))
        finally:
            kept.pop("_idempotency_claim", None)
    except Declined:
        return _run_once(view, args, kwargs, scope, key, digest)
    except (Problem, HTTPException) as error:
        if current.settled:
            raise
        # Nothing was changed. An earlier answer for the key still wins, a 400/422 is stored.
        status = error.status if isinstance(error, Problem) else error.code or 500
        if stored(status):
            return _run_once(_reraise(error), (), {}, scope, key, digest)
        return _earlier_answer_or(error, scope, key, digest)
    if not current.settled:
        raise RuntimeError(f"{view.__qualname__} answered without settling its Idempotency-Key")
    return response


@overload
def idempotent(view: Callable[P, Any], /) -> Callable[P, Any]: ...


@overload
def idempotent(
    *, records_itself: bool = False
) -> Callable[[Callable[P, Any]], Callable[P, Any]]: ...


def idempotent(view: Callable[P, Any] | None = None, /, *, records_itself: bool = False) -> Any:
    """Honour ``Idempotency-Key`` on a flask-smorest view (see the module docstring).

    ``records_itself``: the view writes the record with its effect in one statement (``Claim``).
    """
    if view is None:
        return functools.partial(idempotent, records_itself=records_itself)

    @functools.wraps(view)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> Any:
        raw = context.current_request().headers.get(HEADER)
        if raw is None:
            return view(*args, **kwargs)
        key = _key_from_header(raw)
        scope = context.app().extensions["stockroom.idempotency_scope"]()
        digest = fingerprint()
        if records_itself and not db.is_sqlite():
            return _run_recording_itself(view, args, kwargs, scope, key, digest)
        # Serialization failures and deadlocks re-run claim, effect and record together.
        return _run_once(view, args, kwargs, scope, key, digest)

    wrapper._apidoc = deepupdate(  # type: ignore[attr-defined]
        copy.deepcopy(getattr(wrapper, "_apidoc", {})),
        {
            "manual_doc": {
                "parameters": [
                    {
                        "in": "header",
                        "name": HEADER,
                        "required": False,
                        "schema": {"type": "string", "minLength": 1, "maxLength": MAX_KEY_LENGTH},
                        "description": (
                            "Makes a retry safe: the same key and request within 24 hours replay "
                            "the first response (header `Idempotent-Replayed: true`); the same "
                            "key with another request is a 422; while the first is running, 409."
                        ),
                    }
                ]
            }
        },
    )
    return wrapper


def purge_expired(s: Session, now: datetime) -> int:
    """Delete records past their 24 hours, inside the caller's unit of work."""
    result = s.execute(delete(IdempotencyRecord).where(IdempotencyRecord.expires_at <= now))
    return int(result.rowcount or 0)  # type: ignore[attr-defined]
