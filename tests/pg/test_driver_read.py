"""core.db.DriverStatement on PostgreSQL: libpq's prepared statements, as SQLAlchemy behaves."""

from __future__ import annotations

import time
from collections.abc import Iterable
from contextlib import closing
from datetime import UTC, date, datetime
from typing import Any

import pytest
from sqlalchemy import (
    Boolean,
    Date,
    DateTime,
    Float,
    Integer,
    Numeric,
    String,
    bindparam,
    cast,
    literal,
    select,
    text,
)
from sqlalchemy.dialects import postgresql
from sqlalchemy.exc import DBAPIError, InvalidRequestError, OperationalError

from core import db

pytestmark = pytest.mark.pg

STATEMENT = select(
    bindparam("word", type_=String()),
    bindparam("number", type_=Integer()) * 2,
    bindparam("flag", type_=Boolean()),
    bindparam("moment", type_=DateTime(timezone=True)),
    literal(7),
    # Rows come in binary: the types the storefront's statements return, read as in text.
    cast(literal("12.50"), Numeric(10, 2)),
    cast(literal(0.1), Float()),
    cast(literal('{"a": [1, "b"]}'), postgresql.JSONB()),
    cast(literal("{3,4}"), postgresql.ARRAY(Integer())),
    cast(literal("{x,y}"), postgresql.ARRAY(String())),
    cast(literal("2026-12-05"), Date()),
)
PARAMS = {
    "word": "quote ' and \\\\ 螺丝",
    "number": 21,
    "flag": True,
    "moment": datetime(2026, 3, 1, 12, 30, tzinfo=UTC),
}


def test_answers_what_sqlalchemy_answers(app):
    read = db.DriverStatement(STATEMENT)
    with app.app_context():
        expected = [tuple(row) for row in db.read_rows(STATEMENT, PARAMS)]
        assert read.rows(PARAMS) == expected
        assert read.rows({**PARAMS, "number": None, "flag": False})[0][1:3] == (None, False)


def test_binds_take_their_own_value_or_must_be_given_as_sqlalchemy_has_it(app):
    """The values are made without SQLAlchemy's ``construct_params``, to the same effect: a
    bind's own value when the call gives none, the call's when it does, and SQLAlchemy's error,
    before anything is sent, for a value the call must give."""
    statement = select(
        bindparam("step", value=3, type_=Integer()) + bindparam("number", type_=Integer()),
        cast(bindparam("at", type_=db.UTCDateTime()), String()),
    )
    read = db.DriverStatement(statement)
    moment = datetime(2026, 3, 1, 12, 30, tzinfo=UTC)
    with app.app_context():
        expected = [tuple(row) for row in db.read_rows(statement, {"at": moment, "number": 4})]
        assert read.rows({"at": moment, "number": 4}) == expected
        assert expected[0][0] == 7
        assert read.rows({"at": moment, "number": 4, "step": 10})[0][0] == 14
        with pytest.raises(InvalidRequestError, match="number"):
            read.rows({"at": moment})


def test_a_connection_the_database_dropped_is_replaced(app):
    read = db.DriverStatement(STATEMENT)
    with app.app_context():
        assert read.rows(PARAMS)
        with db.engine().connect() as conn:
            conn.execute(
                text(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                    "WHERE datname = current_database() AND pid <> pg_backend_pid()"
                )
            )
        assert read.rows(PARAMS)[0][0] == PARAMS["word"]


def test_a_failing_statement_raises_sqlalchemys_error_and_is_not_repeated(app):
    read = db.DriverStatement(select(literal(1) / bindparam("zero", type_=Integer())))
    with app.app_context():
        with pytest.raises(DBAPIError) as raised:
            read.rows({"zero": 0})
        assert not isinstance(raised.value, OperationalError)
        assert "division by zero" in str(raised.value)
        assert read.rows({"zero": 1}) == [(1,)]


@pytest.mark.parametrize("threshold", [5, None])
def test_prepares_only_when_the_threshold_allows(database_url, threshold):
    """``DB_PREPARE_THRESHOLD=none`` (PgBouncer's transaction pooling): nothing stays prepared."""
    from app import create_app

    app = create_app(
        {
            "DATABASE_URL": database_url,
            "TESTING": True,
            "LOG_LEVEL": "WARNING",
            "DB_PREPARE_THRESHOLD": threshold,
            "DB_POOL_SIZE": 1,
        }
    )
    read = db.DriverStatement(STATEMENT)
    try:
        with app.app_context():
            for _ in range(3):
                assert read.rows(PARAMS)[0][0] == PARAMS["word"]
            with db._read_engine().connect() as conn:
                prepared = conn.execute(
                    text(
                        "SELECT count(*) FROM pg_prepared_statements "
                        "WHERE name LIKE 'stockroom_statement_%'"
                    )
                ).scalar()
                plans = conn.execute(text("SHOW plan_cache_mode")).scalar()
        assert (prepared == 1) is (threshold is not None), prepared
        # What is prepared is planned once and kept; behind PgBouncer nothing is set.
        assert plans == ("force_generic_plan" if threshold is not None else "auto")
    finally:
        db.dispose(app)


def test_an_expanding_in_is_prepared_once_per_length(app):
    """The planner sees how many items the list has; each length is one prepared statement."""
    numbers = select(literal(0) + bindparam("n", type_=Integer())).subquery()
    statement = (
        select(numbers.c[0])
        .where(numbers.c[0].in_(bindparam("wanted", expanding=True)))
        .where(numbers.c[0] > bindparam("above", type_=Integer()))
    )
    read = db.DriverStatement(statement)
    with app.app_context(), db.driver_connection() as conn:
        assert conn.rows(read, {"n": 3, "wanted": [1, 3], "above": 0}) == [(3,)]
        assert conn.rows(read, {"n": 3, "wanted": [3], "above": 2}) == [(3,)]
        assert conn.rows(read, {"n": 3, "wanted": [3], "above": 3}) == []
        assert conn.rows(read, {"n": 5, "wanted": [1, 2, 5], "above": 0}) == [(5,)]
        names = {
            row[0]
            for row in conn.rows(
                "SELECT name FROM pg_prepared_statements WHERE name LIKE %(like)s",
                {"like": read.name + "%"},
            )
        }
    assert names == {f"{read.name}_2", f"{read.name}_1", f"{read.name}_3"}


def test_arrays_dates_and_floats_are_sent_as_postgresql_reads_them(app):
    """A database function's arguments: the text format of each type, quoting included."""
    statement = db.DriverStatement(
        text(
            "SELECT CAST(:words AS text[]), CAST(:ids AS integer[]), CAST(:day AS date), "
            "CAST(:ratio AS double precision), CAST(:empty AS integer[]), CAST(:nothing AS text)"
        )
    )
    words = ['a "quoted" word', "back\\slash", "comma, brace}", "NULL", "", "螺丝"]
    params = {
        "words": words,
        "ids": [3, -1, 2_000_000_000],
        "day": date(2026, 12, 4),
        "ratio": 0.1 + 0.2,
        "empty": [],
        "nothing": None,
    }
    with app.app_context(), db.driver_connection() as conn:
        assert conn.rows(statement, params) == [
            (words, [3, -1, 2_000_000_000], date(2026, 12, 4), 0.1 + 0.2, [], None)
        ]


SLEEPER = db.DriverStatement(
    text(
        "SELECT pg_backend_pid(), clock_timestamp(), pg_sleep(CAST(:seconds AS double precision)), "
        "clock_timestamp(), CAST(:part AS integer)"
    )
)


def _by_call(chunks: Iterable[tuple[int, list[Any]]]) -> dict[int, list[Any]]:
    answers: dict[int, list[Any]] = {}
    for index, rows in chunks:
        answers.setdefault(index, []).extend(rows)
    return answers


def test_reads_side_by_side_run_at_once_on_connections_of_their_own(app):
    """Each part is sent before any answer is awaited, so the database works on them at the
    same time: two parts that each sleep overlap, where one after the other could not."""
    with app.app_context():
        answers = _by_call(
            SLEEPER.chunks_side_by_side([{"seconds": 0.3, "part": 1}, {"seconds": 0.3, "part": 2}])
        )
    (pid_1, start_1, _, end_1, part_1), (pid_2, start_2, _, end_2, part_2) = (
        answers[0][0],
        answers[1][0],
    )
    assert (part_1, part_2) == (1, 2)  # each answer under its call's index
    assert pid_1 != pid_2
    assert start_2 < end_1
    assert start_1 < end_2


#: 1,000 rows wide enough that the database sends the first ones while it is still producing the
#: others; at row ``:pause`` it sleeps for ``:seconds`` (and fails, divided by ``:zero`` = 0).
ROWS = db.DriverStatement(
    text(
        "SELECT g, repeat('x', 100), CAST(:part AS integer), "
        "CASE WHEN g = CAST(:pause AS integer) "
        "THEN pg_sleep(CAST(:seconds AS double precision))::text || (1 / CAST(:zero AS integer)) "
        "END FROM generate_series(1, 1000) AS g"
    )
)


def test_rows_are_handed_over_in_chunks_as_they_arrive(app):
    """The caller gets the first rows while the database is still working on the rest (libpq's
    chunked rows mode): here a part that pauses half-way has delivered its first chunks long
    before its last; each chunk has at most ``chunk_rows`` rows, a part's rows in their order."""
    calls = [{"part": part, "pause": 600, "seconds": 0.4, "zero": 1} for part in (1, 2)]
    arrivals: list[tuple[float, int, list[Any]]] = []
    with app.app_context():
        for index, rows in ROWS.chunks_side_by_side(calls, chunk_rows=100):
            arrivals.append((time.monotonic(), index, rows))
    assert all(0 < len(rows) <= 100 for _, _, rows in arrivals)
    answers = _by_call((index, rows) for _, index, rows in arrivals)
    assert [[row[0] for row in answers[i]] for i in (0, 1)] == [list(range(1, 1001))] * 2
    assert {row[2] for row in answers[1]} == {2}
    first, last = arrivals[0][0], arrivals[-1][0]
    assert last - first >= 0.3, "the first rows waited for the last"


def test_with_a_libpq_older_than_17_each_part_comes_whole(app, monkeypatch):
    """Before libpq 17 there is no chunked rows mode: the same rows, a part at a time."""
    monkeypatch.setattr(db, "_CHUNKED_ROWS", False)
    calls = [{"part": part, "pause": 0, "seconds": 0, "zero": 1} for part in (1, 2, 3)]
    with app.app_context():
        chunks = list(ROWS.chunks_side_by_side(calls, chunk_rows=100))
    assert sorted((index, len(rows)) for index, rows in chunks) == [(0, 1000), (1, 1000), (2, 1000)]
    assert [row[0] for row in chunks[0][1]] == list(range(1, 1001))


def test_a_part_that_fails_raises_sqlalchemys_error_and_poisons_no_connection(app):
    """The other part's answer may still be on its way when one fails: those connections are
    discarded, so the next reads, on whatever connection the pool hands out, answer correctly."""
    read = db.DriverStatement(
        select(literal(12) / bindparam("d", type_=Integer()), bindparam("tag", type_=String()))
    )
    with app.app_context():
        with pytest.raises(DBAPIError) as raised:
            _by_call(read.chunks_side_by_side([{"d": 0, "tag": "a"}, {"d": 4, "tag": "b"}]))
        assert "division by zero" in str(raised.value)
        for i in (1, 2, 3, 4, 6):
            assert read.rows({"d": i, "tag": f"t{i}"}) == [(12 / i, f"t{i}")]
            answers = _by_call(
                read.chunks_side_by_side([{"d": 1, "tag": "x"}, {"d": 4, "tag": "y"}])
            )
            assert answers == {0: [(12, "x")], 1: [(3, "y")]}
        assert db._read_engine().pool.checkedout() == 0


def test_a_part_that_fails_after_its_first_chunks_raises_and_poisons_no_connection(app):
    """A failure half-way through a part's rows comes after chunks already handed over."""
    calls = [
        {"part": 1, "pause": 700, "seconds": 0, "zero": 0},
        {"part": 2, "pause": 0, "seconds": 0, "zero": 1},
    ]
    handed: list[int] = []

    def read_all() -> None:
        for index, rows in ROWS.chunks_side_by_side(calls, chunk_rows=100):
            handed.extend(row[0] for row in rows if index == 0)

    with app.app_context():
        with pytest.raises(DBAPIError) as raised:
            read_all()
        assert "division by zero" in str(raised.value)
        assert handed, "no chunk came before the failure"
        assert max(handed) < 700
        assert db._read_engine().pool.checkedout() == 0
        ok = [{**call, "zero": 1} for call in calls]
        assert {i: len(rows) for i, rows in _by_call(ROWS.chunks_side_by_side(ok)).items()} == {
            0: 1000,
            1: 1000,
        }


def test_a_part_whose_connection_dies_raises_rather_than_ending_short(app):
    """A backend gone half-way is an error, not a part with fewer rows."""
    read = db.DriverStatement(
        text(
            "SELECT g, CASE WHEN g = 500 AND CAST(:die AS boolean) "
            "THEN pg_terminate_backend(pg_backend_pid()) END "
            "FROM generate_series(1, 1000) AS g"
        )
    )
    with app.app_context():
        with pytest.raises(OperationalError):
            _by_call(read.chunks_side_by_side([{"die": False}, {"die": True}], chunk_rows=100))
        assert db._read_engine().pool.checkedout() == 0
        answers = _by_call(read.chunks_side_by_side([{"die": False}, {"die": False}]))
    assert [len(answers[i]) for i in (0, 1)] == [1000, 1000]


def test_a_caller_that_stops_reading_early_leaves_the_pool_sound(app):
    """Leaving after the first chunk discards the connections still answering: the next reads
    get fresh ones, not a connection with someone else's rows still to come."""
    calls = [{"part": part, "pause": 0, "seconds": 0, "zero": 1} for part in (1, 2)]
    with app.app_context():
        with closing(ROWS.chunks_side_by_side(calls, chunk_rows=100)) as chunks:
            _, rows = next(chunks)
            assert len(rows) == 100
        assert db._read_engine().pool.checkedout() == 0
        for _ in range(3):
            answers = _by_call(ROWS.chunks_side_by_side(calls))
            assert [len(answers[i]) for i in (0, 1)] == [1000, 1000]
            assert answers[1][0][:1] + answers[1][0][2:3] == (1, 2)


def test_reads_side_by_side_without_prepared_statements(database_url):
    """``DB_PREPARE_THRESHOLD=none`` sends each part whole; the answers are the same."""
    from app import create_app

    app = create_app(
        {
            "DATABASE_URL": database_url,
            "TESTING": True,
            "LOG_LEVEL": "WARNING",
            "DB_PREPARE_THRESHOLD": None,
        }
    )
    try:
        with app.app_context():
            answers = _by_call(
                SLEEPER.chunks_side_by_side([{"seconds": 0, "part": p} for p in (1, 2, 3)])
            )
        assert [answers[i][0][-1] for i in (0, 1, 2)] == [1, 2, 3]
        assert len({answers[i][0][0] for i in (0, 1, 2)}) == 3
    finally:
        db.dispose(app)
