"""Database engine, the per-context session and the unit of work every use case runs in.

SQLite is the embedded default and PostgreSQL the production database; the differences that matter
for correctness (write serialisation, UTC timestamps, retryable conflicts) are absorbed here so that
services are written once.
"""

from __future__ import annotations

import functools
import itertools
import logging
import select
import time
from collections.abc import Callable, Generator, Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Annotated, Any, ParamSpec, TypeVar, cast

from flask import Flask, has_app_context
from psycopg import errors as pg_errors
from psycopg import pq
from psycopg.adapt import Transformer
from psycopg.postgres import types as pg_types
from sqlalchemy import (
    BigInteger,
    DateTime,
    Engine,
    Integer,
    MetaData,
    Numeric,
    String,
    TypeDecorator,
    create_engine,
    event,
)
from sqlalchemy.dialects.postgresql.psycopg import dialect as psycopg_dialect
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import DeclarativeBase, Session, mapped_column

from core import context

log = logging.getLogger(__name__)

#: libpq 17 is the first to hand a result over in chunks; an older one hands it over whole.
_CHUNKED_ROWS = pq.version() >= 170000

#: Stable constraint names so Alembic migrations are the same on every database.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def utcnow() -> datetime:
    """The one clock every timestamp comes from: ledger, orders, reservations, jobs, audit.

    It is the wall clock unless the app is configured with ``CLOCK`` (a callable returning an aware
    datetime): tests move that clock to cross an expiry instead of sleeping through it, and a
    replay of history can stamp rows with the time they describe. Column defaults use it too.
    """
    clock = context.app().config.get("CLOCK") if has_app_context() else None
    return clock() if clock is not None else datetime.now(UTC)


#: The same clock under the name business rules read best with (``expires_at > now()``).
now = utcnow


def moment(at: datetime | None) -> datetime:
    """When a use case happens: now, or the given time when history is being recorded (the demo
    seed replays a year of orders, each stamped with the day it describes)."""
    return at if at is not None else utcnow()


class UTCDateTime(TypeDecorator[datetime]):
    """Timestamps stored as UTC and always read back timezone-aware.

    SQLite has no time zones and returns naive values; without this, comparisons between values
    read from SQLite and ``utcnow()`` would raise or, worse, silently shift by the local offset.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given where a UTC timestamp is required")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


# Column types shared by every feature, so a quantity or an amount means the same everywhere.
Qty = Annotated[int, mapped_column(Integer)]
Money = Annotated[Decimal, mapped_column(Numeric(14, 4))]
Code = Annotated[str, mapped_column(String(64))]
Timestamp = Annotated[datetime, mapped_column(UTCDateTime())]
BigId = Annotated[int, mapped_column(BigInteger().with_variant(Integer(), "sqlite"))]


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {datetime: UTCDateTime(), Decimal: Numeric(14, 4), str: String(255)}


# --------------------------------------------------------------------------------------------------
# Engine


def _configure_sqlite(engine: Engine) -> None:
    """Give SQLite the behaviour the services rely on.

    The driver's own transaction handling is switched off so that we can emit ``BEGIN IMMEDIATE``
    for writers: it takes the write lock up front, serialising writers instead of letting two read
    the same stock level and fail (or worse) on upgrade.
    """

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        immediate = conn.get_execution_options().get("sqlite_immediate", False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


def make_engine(
    url: str, *, pool_size: int = 10, prepare_threshold: int | None = 5, **overrides: Any
) -> Engine:
    """An engine whose pool keeps ``pool_size`` connections open.

    The pool must hold at least as many connections as a process has threads serving requests:
    connections beyond it are opened and closed per use, and under load that churn (a PostgreSQL
    backend started per request) costs more than the queries themselves.

    ``prepare_threshold`` is psycopg's: after that many executions of a statement on a connection
    it is prepared on the server; None never prepares (PgBouncer in transaction pooling mode
    without prepared statement support hands the next transaction another server connection,
    where the prepared statement does not exist).
    """
    options: dict[str, Any] = {"future": True}
    if url.startswith("sqlite"):
        options["connect_args"] = {"check_same_thread": False, "timeout": 30}
    else:
        options.update(pool_size=pool_size, max_overflow=20, pool_pre_ping=True, pool_recycle=1800)
        if url.startswith("postgresql+psycopg"):
            options["connect_args"] = {"prepare_threshold": prepare_threshold}
    options.update(overrides)
    engine = create_engine(url, **options)
    if engine.dialect.name == "sqlite":
        _configure_sqlite(engine)
    return engine


def init_app(app: Flask) -> None:
    app.extensions["stockroom.engine"] = make_engine(
        app.config["DATABASE_URL"],
        pool_size=app.config["DB_POOL_SIZE"],
        prepare_threshold=app.config.get("DB_PREPARE_THRESHOLD", 5),
    )
    app.teardown_appcontext(_close_session)


def engine() -> Engine:
    return context.app().extensions["stockroom.engine"]  # type: ignore[no-any-return]


def _read_engine() -> Engine:
    """A second pool whose connections stay in autocommit, for ``read_rows``,
    ``DriverStatement`` and ``DriverConnection``: single statements that are each a transaction."""
    app = context.app()
    read: Engine | None = app.extensions.get("stockroom.read_engine")
    if read is not None:
        return read
    main: Engine = app.extensions["stockroom.engine"]
    if main.dialect.name == "sqlite":
        return main
    prepare_threshold = app.config.get("DB_PREPARE_THRESHOLD", 5)
    read = make_engine(
        app.config["DATABASE_URL"],
        isolation_level="AUTOCOMMIT",
        pool_size=app.config["DB_POOL_SIZE"],
        prepare_threshold=prepare_threshold,
        max_overflow=20,
        pool_pre_ping=False,
        # Autocommit connections have no transaction to roll back when they return.
        pool_reset_on_return=None,
    )
    if read.dialect.name == "postgresql" and prepare_threshold is not None:
        event.listen(read, "connect", _keep_generic_plans)
    app.extensions["stockroom.read_engine"] = read
    return read


def _keep_generic_plans(dbapi_connection: Any, _record: Any) -> None:
    """The storefront's statements on this pool are planned once per connection, then kept.

    Left to itself (``plan_cache_mode = auto``), PostgreSQL plans a prepared statement again at
    every call while its plan for the actual parameters looks cheaper than the generic one. The
    lapsed-hold check compares with the request's time (``expires_at <= $now``), a value the
    generic plan can only guess (a third of the held lines), so every call was planned anew:
    0.33 ms of the database's CPU per availability read, against 0.1 ms with the plan kept, for
    the same plan but one bitmap scan. This pool runs only the point reads and single-statement
    writes of ``DriverStatement``/``DriverConnection``/``read_rows``, whose generic plans
    ``tests/pg/test_query_plans.py`` checks. Sent through libpq, outside psycopg's
    transaction tracking, before the connection is first used.
    """
    pgconn = dbapi_connection.pgconn
    _check(
        pgconn, pgconn.exec_(b"SET plan_cache_mode = force_generic_plan"), pq.ExecStatus.COMMAND_OK
    )


def read_rows(statement: Any, params: dict[str, Any] | None = None) -> list[Any]:
    """Run one read-only statement on the hottest paths (storefront availability).

    A single statement sees a single snapshot, so it needs no transaction: on PostgreSQL it runs
    on an autocommit connection, one round trip instead of BEGIN, query and ROLLBACK. That pool
    does without pre-ping (another round trip per request); a connection found dead (the database
    restarted) is discarded by SQLAlchemy and the statement is run once more on a fresh one.
    """
    read = _read_engine()
    for attempt in (1, 2):
        try:
            with read.connect() as conn:
                return list(conn.execute(statement, params or {}).all())
        except DBAPIError as exc:
            if attempt == 2 or not exc.connection_invalidated:
                raise
    raise AssertionError("unreachable")


def is_sqlite() -> bool:
    return engine().dialect.name == "sqlite"


def session() -> Session:
    """The session of the current app context (one per request, job or command)."""
    kept = context.app_globals()
    s: Session | None = kept.get("_db_session")
    if s is None:
        s = Session(bind=engine(), expire_on_commit=False, autoflush=True)
        kept._db_session = s
    return s


class DriverStatement:
    """A statement prepared once per connection and run through libpq itself.

    For the statements behind the storefront's availability and reservations, where
    SQLAlchemy's and even psycopg's per-execution work (cache keys, parameter adaptation, the
    cursor's generators and their several waits for the socket) cost as much as the query. On
    PostgreSQL, on the autocommit pool of ``read_rows``, the statement is prepared on each
    connection the first time that connection runs it; a call then sends the parameters as text
    and waits once for the rows (``PQexecPrepared``, which lets other threads run meanwhile), and
    psycopg's own loaders turn them into tuples. The rows come in PostgreSQL's binary format: a
    number is read from its bytes instead of parsed from its digits, which took 3.7 % of a
    reservation's instructions away (1.80 to 1.74 million, ``benchmarks/instructions.py``);
    psycopg reads every built-in type so, but a type of the schema's own (an enum) would come as
    bytes: cast it to text in the statement. In a threaded server every wait for the database
    hands the GIL to another thread and back: one wait instead of several is fewer switches per
    request. With ``DB_PREPARE_THRESHOLD=none`` (PgBouncer's transaction pooling) nothing is
    prepared: each call sends the statement with its parameters (``PQexecParams``).

    ``rows`` runs a read on a connection of its own; ``DriverConnection.rows`` runs reads and
    writes (a database function that is a whole transaction) one after another on one connection.
    Parameters are str, int, float, bool, dates, aware datetimes and lists of str or int (sent as
    arrays), typed from the statement's binds or its casts. A statement with an expanding ``IN``
    (a statement per size) goes through psycopg's cursor, which also serves ``expand``. SQLite,
    and PostgreSQL when something listens to the engine's ``before_cursor_execute`` (tracing), go
    through SQLAlchemy or psycopg's cursor: the same statement, one round trip, seen by the
    listener.
    """

    _numbers = itertools.count(1)

    def __init__(self, statement: Any) -> None:
        self.statement = statement
        self.name = f"stockroom_statement_{next(DriverStatement._numbers)}"
        self._compiled: dict[str, Any] = {}
        self._numbered: Any = None
        #: The expanding binds' names; an expanding ``IN`` has a prepared form per list length.
        self._expanding: tuple[str, ...] = ()
        self._forms: dict[tuple[int, ...], _PreparedForm] = {}
        #: Without expanding binds: each placeholder's bind and its value when the call gives
        #: none (``_REQUIRED``: it must).
        self._binds: list[tuple[str, Any]] = []

    def _prepared_form(self, params: dict[str, Any]) -> _PreparedForm:
        """The statement with $1, $2... placeholders for these parameters' list lengths: its
        name, text, the PostgreSQL type of each placeholder (from its SQLAlchemy type; 0 lets the
        server infer it) and where each one's value comes from (a bind, or an item of one).

        An expanding ``IN`` is prepared once per length rather than as ``= ANY(array)``: the
        planner then knows how many rows the list brings, where for an array it guesses ten and
        may scan a whole table to join them."""
        if self._numbered is None:
            dialect = psycopg_dialect(paramstyle="numeric_dollar")
            self._numbered = self.statement.compile(dialect=dialect)
            self._expanding = tuple(
                name for name in self._numbered.positiontup if self._numbered.binds[name].expanding
            )
            self._binds = [
                (key, _REQUIRED if bind.required else bind.effective_value)
                for key in self._numbered.positiontup
                for bind in [self._numbered.binds[key]]
            ]
        lengths = tuple(len(params[name]) for name in self._expanding)
        form = self._forms.get(lengths)
        if form is None:
            form = self._forms[lengths] = self._form_for(lengths)
        return form

    def _form_for(self, lengths: tuple[int, ...]) -> _PreparedForm:
        compiled = self._numbered
        dialect = compiled.dialect
        types_of = {name: compiled.binds[name].type for name in compiled.positiontup}
        if not self._expanding:
            sources: list[tuple[str, int | None]] = [(key, None) for key in compiled.positiontup]
            sql = compiled.string
        else:
            # Expand once with markers to learn which placeholder takes which item.
            markers = {
                name: [(name, i) for i in range(length)]
                for name, length in zip(self._expanding, lengths, strict=True)
            }
            probe = {key: (key, None) for key in types_of}
            state = compiled.construct_expanded_state({**probe, **markers})
            sql = state.statement
            sources = [state.parameters[key] for key in state.positiontup]
        types = [_type_oid(types_of[key], dialect) for key, _ in sources]
        name = f"{self.name}_{'_'.join(map(str, lengths))}" if lengths else self.name
        return name.encode(), sql, types, sources

    def expand(self, dialect: Any, params: dict[str, Any]) -> tuple[str, Any]:
        """The driver's SQL and parameters for this call."""
        compiled = self._compiled.get(dialect.name)
        if compiled is None:
            compiled = self._compiled[dialect.name] = self.statement.compile(dialect=dialect)
        state = compiled.construct_expanded_state(params)
        return state.statement, state.parameters

    def prepared_call(self, pool: Engine, params: dict[str, Any]) -> _PreparedCall | None:
        """What ``_run_prepared`` sends for this call, or None where libpq is not to be used
        directly (SQLite, or a listener to see the statement)."""
        if pool.dialect.name != "postgresql" or pool.dispatch.before_cursor_execute:
            return None
        name, sql, types, sources = self._prepared_form(params)
        values = self._values(params, sources)
        if context.app().config.get("DB_PREPARE_THRESHOLD", 5) is None:
            return None, sql, types, values
        return name, sql, types, values

    def _values(
        self, params: dict[str, Any], sources: list[tuple[str, int | None]]
    ) -> list[bytes | None]:
        """The placeholders' values in text. What SQLAlchemy's ``construct_params`` gives (each
        bind's value, or its own when the call gives none) without its general machinery, which
        cost a reservation as much as turning its thirty values into text; a statement with an
        expanding ``IN``, or a call that lacks a required value (SQLAlchemy's error), goes
        through it."""
        if not self._expanding:
            values: list[bytes | None] = []
            for key, default in self._binds:
                value = params.get(key, default)
                if value is _REQUIRED:
                    break
                values.append(_as_text(value))
            else:
                return values
        bound = self._numbered.construct_params(params)
        return [_as_text(bound[key] if item is None else bound[key][item]) for key, item in sources]

    def rows(self, params: dict[str, Any]) -> list[Any]:
        """The rows of a read, on a connection of the autocommit pool for this call alone."""
        read = _read_engine()
        call = self.prepared_call(read, params)
        if call is None:
            if read.dialect.name != "postgresql" or read.dispatch.before_cursor_execute:
                return read_rows(self.statement, params)
            with driver_connection() as conn:
                return conn.rows(self, params, repeatable=True)
        name, sql, types, values = call
        for attempt in (1, 2):
            raw = read.raw_connection()
            try:
                return _run_prepared(raw, name, sql, types, values)
            except pg_errors.Error as exc:
                # A connection the database dropped (it restarted): try once more on a fresh
                # one. A statement that failed on a sound connection (a timeout) is not retried.
                # Either way the caller sees SQLAlchemy's exception, as from any other query.
                driver = raw.driver_connection
                lost = driver is None or driver.pgconn.status != pq.ConnStatus.OK
                if lost:
                    raw.invalidate()
                if attempt == 2 or not lost:
                    raise DBAPIError.instance(
                        sql,
                        values,
                        exc,
                        pg_errors.Error,
                        connection_invalidated=lost,
                        dialect=read.dialect,
                    ) from exc
            finally:
                raw.close()
        raise AssertionError("unreachable")

    def chunks_side_by_side(
        self, calls: Sequence[dict[str, Any]], chunk_rows: int = 100
    ) -> Generator[tuple[int, list[Any]], None, None]:
        """The rows of several calls of this read, as ``(call's index, rows)`` in the order they
        arrive, in chunks of up to ``chunk_rows`` rows.

        Each call is sent on a connection of its own before any answer is awaited, so the
        database works on them at once, on as many of its cores; and each chunk is handed over as
        soon as it has come (libpq's chunked rows mode), so the caller turns rows into answers
        while the database is still producing the others. A large read split in parts this way
        answers sooner than in one piece, where the database's work and then the caller's would
        follow each other. Where libpq is not used directly (``prepared_call``) the calls run one
        after another and each comes whole.

        Any failure, or a caller that stops reading early, discards every connection that may
        still have an answer on its way (it is not worth draining); a database error comes out as
        SQLAlchemy's exception. A read on a connection the database dropped is not retried here,
        unlike ``rows``: the caller may send it again.
        """
        read = _read_engine()
        prepared = [self.prepared_call(read, params) for params in calls]
        if len(calls) < 2 or any(call is None for call in prepared):
            for index, params in enumerate(calls):
                yield index, self.rows(params)
            return
        chunk = chunk_rows if _CHUNKED_ROWS else 0
        sent: list[Any] = []
        ended: set[int] = set()  # calls whose last rows have come
        finished: set[int] = set()  # calls whose connection has nothing more to say
        failed = 0  # the call being sent or read when something fails
        try:
            for call in prepared:
                failed = len(sent)
                sent.append(read.raw_connection())
                _send_prepared(sent[-1], *cast(_PreparedCall, call), chunk_rows=chunk)
            while len(finished) < len(sent):
                for index, raw in enumerate(sent):
                    if index in finished:
                        continue
                    failed = index
                    pgconn, _, loaders = raw.info[_PREPARED]
                    pgconn.consume_input()
                    while not pgconn.is_busy():
                        result = pgconn.get_result()
                        if result is None:  # the call is over: it must have ended its rows
                            if index not in ended:
                                raise pg_errors.OperationalError(pgconn.get_error_message())
                            finished.add(index)
                            break
                        if result.status != pq.ExecStatus.TUPLES_CHUNK:
                            _check(pgconn, result, pq.ExecStatus.TUPLES_OK)
                            ended.add(index)
                        if result.ntuples:
                            yield index, _loaded(loaders, result)
                if len(finished) < len(sent):
                    _wait_for_any(
                        raw.info[_PREPARED][0].socket
                        for index, raw in enumerate(sent)
                        if index not in finished
                    )
        except pg_errors.Error as exc:
            _, sql, _, values = cast(_PreparedCall, prepared[failed])
            raise DBAPIError.instance(
                sql, values, exc, pg_errors.Error, connection_invalidated=True, dialect=read.dialect
            ) from exc
        finally:
            for index, raw in enumerate(sent):
                if index not in finished:
                    raw.invalidate()
                raw.close()


class DriverConnection:
    """One connection of the autocommit pool, driven through psycopg's own cursor (PostgreSQL).

    Every statement is a transaction of its own. A use case that reads, decides in Python and
    then writes everything in one statement (a database function that changes several tables
    commits whole or fails whole) costs one round trip per statement: no BEGIN, COMMIT,
    SAVEPOINT or pre-ping.

    The pool does without pre-ping. A connection found dead (the database restarted) is
    replaced; a statement that is safe to send twice (``repeatable``: a read) is then sent again
    on the fresh one, any other fails, since whether it was applied is unknown. Driver errors come
    out as SQLAlchemy's ``DBAPIError``, so ``retry_on_conflict`` and ``sqlstate`` read them like
    any other.
    """

    def __init__(self, pool: Engine) -> None:
        self._pool = pool
        self._raw: Any = None

    def rows(
        self, statement: DriverStatement | str, params: dict[str, Any], *, repeatable: bool = False
    ) -> list[Any]:
        """Every row the statement returns (a SELECT: psycopg's result description, which this
        does not read, costs more than a small result's rows)."""
        if isinstance(statement, DriverStatement):
            prepared = statement.prepared_call(self._pool, params)
            if prepared is not None:
                name, sql, types, values = prepared
                return self._attempt(
                    lambda raw: _run_prepared(raw, name, sql, types, values),
                    sql,
                    values,
                    repeatable,
                )
            sql, parameters = statement.expand(self._pool.dialect, params)
        else:
            sql, parameters = statement, params
        return self._attempt(
            lambda raw: _cursor_rows(raw, sql, parameters), sql, parameters, repeatable
        )

    def _attempt(
        self, send: Callable[[Any], list[Any]], sql: str, parameters: Any, repeatable: bool
    ) -> list[Any]:
        """``send`` on this block's connection; on a connection found dead, once more on a fresh
        one if the statement is ``repeatable``."""
        for attempt in (1, 2):
            if self._raw is None:
                self._raw = self._pool.raw_connection()
            try:
                return send(self._raw)
            except pg_errors.Error as exc:
                driver = self._raw.driver_connection
                lost = (
                    driver is None
                    or driver.broken
                    or driver.closed
                    or driver.pgconn.status != pq.ConnStatus.OK
                )
                if lost:
                    self._raw.invalidate()
                    self._raw.close()
                    self._raw = None
                    if repeatable and attempt == 1:
                        continue
                raise DBAPIError.instance(
                    sql,
                    parameters,
                    exc,
                    pg_errors.Error,
                    connection_invalidated=lost,
                    dialect=self._pool.dialect,
                ) from exc
        raise AssertionError("unreachable")

    def close(self) -> None:
        if self._raw is not None:
            self._raw.close()
            self._raw = None


def _cursor_rows(raw: Any, sql: str, parameters: Any) -> list[Any]:
    cursor = raw.cursor()
    try:
        cursor.execute(sql, parameters)
        return cursor.fetchall()  # type: ignore[no-any-return]
    finally:
        cursor.close()


@contextmanager
def driver_connection() -> Iterator[DriverConnection]:
    """A ``DriverConnection`` for the block, back to the pool afterwards (PostgreSQL only)."""
    conn = DriverConnection(_read_engine())
    try:
        yield conn
    finally:
        conn.close()


def sqlstate(exc: BaseException) -> str | None:
    """The SQLSTATE of a database error (PostgreSQL), e.g. ``40P01`` for a deadlock."""
    orig = getattr(exc, "orig", exc)
    return getattr(orig, "sqlstate", None) or getattr(orig, "pgcode", None)


_PREPARED = "stockroom.prepared"
#: The format ``DriverStatement``'s rows come in (see there).
BINARY = pq.Format.BINARY


def _run_prepared(
    raw: Any, name: bytes | None, sql: str, types: list[int], values: list[bytes | None]
) -> list[Any]:
    """Rows of ``sql``: prepared as ``name`` on this connection once, or sent whole (no name)."""
    pgconn, loaders = _prepared_on(raw, name, sql, types)
    if name is None:
        result = pgconn.exec_params(sql.encode(), values, types, result_format=BINARY)
    else:
        result = pgconn.exec_prepared(name, values, result_format=BINARY)
    return _rows_of(pgconn, loaders, result)


def _prepared_on(raw: Any, name: bytes | None, sql: str, types: list[int]) -> tuple[Any, Any]:
    """The connection's libpq handle and result loaders, with ``name`` prepared on it."""
    connection = raw.driver_connection
    pgconn = connection.pgconn
    kept = raw.info.get(_PREPARED)
    if kept is None or kept[0] is not pgconn:
        # What this connection has prepared, and the loaders that read its results.
        kept = raw.info[_PREPARED] = (pgconn, set(), Transformer(connection))
    _, prepared, loaders = kept
    if name is not None and name not in prepared:
        _check(pgconn, pgconn.prepare(name, sql.encode(), types), pq.ExecStatus.COMMAND_OK)
        prepared.add(name)
    return pgconn, loaders


def _rows_of(pgconn: Any, loaders: Any, result: Any) -> list[Any]:
    _check(pgconn, result, pq.ExecStatus.TUPLES_OK)
    return _loaded(loaders, result)


def _loaded(loaders: Any, result: Any) -> list[Any]:
    loaders.set_pgresult(result)
    rows: list[Any] = loaders.load_rows(0, result.ntuples, tuple)
    loaders.set_pgresult(None)
    return rows


def _send_prepared(
    raw: Any,
    name: bytes | None,
    sql: str,
    types: list[int],
    values: list[bytes | None],
    *,
    chunk_rows: int = 0,
) -> None:
    """Send the call without waiting for its rows; with ``chunk_rows``, its rows come in
    results of that many as they arrive (libpq's chunked rows mode)."""
    pgconn, _ = _prepared_on(raw, name, sql, types)
    if name is None:
        pgconn.send_query_params(sql.encode(), values, types, result_format=BINARY)
    else:
        pgconn.send_query_prepared(name, values, result_format=BINARY)
    if chunk_rows:
        pgconn.set_chunked_rows_mode(chunk_rows)
    while pgconn.flush():  # psycopg's connections are non-blocking: send what is left
        _wait_for_any([pgconn.socket], select.POLLOUT)


def _wait_for_any(sockets: Iterable[int], event: int = select.POLLIN) -> None:
    """Until one of the sockets is ready. ``poll`` lets other threads run meanwhile and, unlike
    ``select``, takes descriptors above 1023; libpq's own reads then never block."""
    poller = select.poll()
    for fd in sockets:
        poller.register(fd, event)
    poller.poll()


def _check(pgconn: Any, result: Any, expected: Any) -> None:
    if result.status == expected:
        return
    if pgconn.status != pq.ConnStatus.OK:
        raise pg_errors.OperationalError(pgconn.get_error_message())
    raise pg_errors.error_from_result(result)


def _type_oid(type_: Any, dialect: Any) -> int:
    try:
        name = type_.compile(dialect=dialect)
    except Exception:  # an untyped bind: the server infers its type from the statement
        return 0
    found = pg_types.get(name.split("(")[0].strip().lower())
    return found.oid if found is not None else 0


#: A bind's default in ``DriverStatement._binds`` when the call must give its value.
_REQUIRED = object()
#: A prepared statement's name (None: sent whole), text, parameter types and values.
_PreparedCall = tuple[bytes | None, str, list[int], list[bytes | None]]
#: A statement's name, text, parameter types, and the bind (and item of it) each value is.
_PreparedForm = tuple[bytes, str, list[int], list[tuple[str, int | None]]]


def _as_text(value: Any) -> bytes | None:
    """A parameter in PostgreSQL's text format; the statement's casts give it its type.

    Looked up by the value's exact type first: a reservation sends some thirty parameters, most
    of them strings, ints and None."""
    if value is None:
        return None
    kind = type(value)
    if kind is str:
        return value.encode()  # type: ignore[no-any-return]
    if kind is int:
        return str(value).encode()
    if isinstance(value, bool):
        return b"t" if value else b"f"
    if isinstance(value, int | str):
        return str(value).encode()
    if isinstance(value, float):
        return repr(value).encode()
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise TypeError("DriverStatement sends aware datetimes only")
        return value.isoformat().encode()
    if isinstance(value, date):
        return value.isoformat().encode()
    if isinstance(value, list):
        return _array_text(value).encode()
    raise TypeError(f"DriverStatement cannot send {type(value).__name__}")


def _array_text(items: list[Any]) -> str:
    """A one-dimensional array literal: ints as they are, strings quoted and escaped."""
    if all(type(item) is int for item in items):
        return "{" + ",".join(map(str, items)) + "}"
    if all(type(item) is str for item in items):
        quoted = (item.replace("\\", "\\\\").replace('"', '\\"') for item in items)
        return "{" + ",".join(f'"{item}"' for item in quoted) + "}"
    raise TypeError("DriverStatement sends arrays of ints or of strings")


def dispose(app: Flask) -> None:
    """Close every pooled connection of the app (tests, and forked processes)."""
    for name in ("stockroom.read_engine", "stockroom.engine"):
        pooled = app.extensions.get(name)
        if pooled is not None:
            pooled.dispose()


def _close_session(_exc: BaseException | None) -> None:
    s: Session | None = context.app_globals().pop("_db_session", None)
    if s is not None:
        s.close()


# --------------------------------------------------------------------------------------------------
# Unit of work


def in_unit_of_work() -> bool:
    """Whether a unit of work is open in this app context (an inner one then nests in it)."""
    return bool(context.app_globals().get("_uow_depth", 0))


class UnitOfWork:
    """One use case, one transaction: nothing is kept unless the use case calls ``commit``.

    A half-done use case that raises (or simply forgets to commit) leaves the database untouched,
    which is what "every write is all or nothing" means in practice.

    Units nest. A unit opened while another is open in the same app context runs in a SAVEPOINT:
    its ``commit`` only releases the savepoint and the outer unit decides whether anything is kept;
    if it fails, only its own changes are rolled back. This is how a wrapper such as
    ``core.idempotency`` makes its own record and a service's effect one transaction without the
    service knowing it is wrapped.
    """

    def __init__(self, *, write: bool = True) -> None:
        self.write = write
        self.committed = False
        self.nested = False
        self.session: Session = session()
        self._savepoint: Any = None

    def __enter__(self) -> UnitOfWork:
        s = self.session
        if in_unit_of_work():
            self.nested = True
            self._savepoint = s.begin_nested()
        else:
            if s.in_transaction():
                if s.new or s.dirty or s.deleted:
                    raise RuntimeError("a unit of work started with unsaved changes in the session")
                # End the read transaction a previous step (authentication, say) left open, so
                # ours starts fresh and, on SQLite, takes the write lock up front.
                s.rollback()
            # Objects an earlier unit of work loaded in this session (a command or a job runs
            # many) would otherwise be read from memory, not from the database: a row locked
            # FOR UPDATE must come with its current values.
            s.expire_all()
            if self.write and s.get_bind().dialect.name == "sqlite":
                s.connection(execution_options={"sqlite_immediate": True})
        kept = context.app_globals()
        kept._uow_depth = kept.get("_uow_depth", 0) + 1
        return self

    def commit(self) -> None:
        if self.nested:
            self._savepoint.commit()
        else:
            self.session.commit()
        self.committed = True

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        kept = context.app_globals()
        kept._uow_depth = kept.get("_uow_depth", 1) - 1
        if self.committed:
            return
        if self.nested:
            if self._savepoint.is_active:
                self._savepoint.rollback()
        else:
            self.session.rollback()


@contextmanager
def read_only() -> Iterator[Session]:
    """A short read transaction that never holds locks beyond the block.

    It ends with COMMIT, not ROLLBACK, although it wrote nothing: a rollback expires every object
    the block loaded, and serialising a page of fifty of them afterwards would cost fifty more
    queries. Objects loaded earlier in the same session are not refreshed (they may still be
    needed, eager-loaded, by the caller); a unit of work expires everything when it starts, so
    writes always judge current values.

    Inside an open unit of work it reads in that unit's transaction and leaves it alone.
    """
    s = session()
    if in_unit_of_work():
        yield s
        return
    if s.new or s.dirty or s.deleted:
        raise RuntimeError("a read started with unsaved changes in the session")
    try:
        yield s
    except BaseException:
        s.rollback()
        raise
    if s.new or s.dirty or s.deleted:
        s.rollback()
        raise RuntimeError("a read-only block changed objects; use a UnitOfWork to write")
    s.commit()


# --------------------------------------------------------------------------------------------------
# Retrying conflicts

P = ParamSpec("P")
T = TypeVar("T")

#: PostgreSQL's serialization failure and deadlock: the transaction was sound but lost a race;
#: running it again from the start is the documented remedy.
RETRYABLE_SQLSTATES = frozenset({"40001", "40P01"})


def is_retryable(exc: BaseException) -> bool:
    if not isinstance(exc, DBAPIError):
        return False
    if sqlstate(exc) in RETRYABLE_SQLSTATES:
        return True
    # SQLite reports a lock it could not get within busy_timeout as "database is locked".
    return "database is locked" in str(exc.orig)


def retry_on_conflict(attempts: int = 5) -> Callable[[Callable[P, T]], Callable[P, T]]:
    """Re-run a whole use case when the database aborted it to resolve a race.

    Only the outermost unit of work can be re-run: a use case called inside an open unit (an
    idempotent request, say) lets the error through so that its owner retries everything.
    """

    def decorate(fn: Callable[P, T]) -> Callable[P, T]:
        @functools.wraps(fn)
        def wrapper(*args: P.args, **kwargs: P.kwargs) -> T:
            if in_unit_of_work():
                return fn(*args, **kwargs)
            for attempt in range(1, attempts + 1):
                try:
                    return fn(*args, **kwargs)
                except DBAPIError as exc:
                    if attempt == attempts or not is_retryable(exc):
                        raise
                    session().rollback()
                    log.info("retrying %s after %s (attempt %d)", fn.__name__, exc.orig, attempt)
                    time.sleep(0.005 * attempt)
            raise AssertionError("unreachable")

        return wrapper

    return decorate


# --------------------------------------------------------------------------------------------------
# Dialect helpers


def insert_ignoring_conflicts(table: Any, index_elements: list[str]) -> Any:
    """``INSERT ... ON CONFLICT DO NOTHING`` for the dialect in use (SQLite and PostgreSQL)."""
    if is_sqlite():
        from sqlalchemy.dialects.sqlite import insert as dialect_insert
    else:
        from sqlalchemy.dialects.postgresql import insert as dialect_insert  # type: ignore[assignment]
    return dialect_insert(table).on_conflict_do_nothing(index_elements=index_elements)
