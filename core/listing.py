"""Lists on web pages: search, filters, sorting, numbered pages and a streamed CSV of the lot.

A list declares a ``ListSpec``: its name (the CSV file's), a dataclass of its filters, the
columns it may be sorted by and whether it has a date range. The sort columns are a whitelist:
a sort key from the URL reaches SQL only as one of them, and every order ends with the list's
unique columns (ids), so rows that tie keep one order from page to page.

``parse_list`` turns the query string into a ``ListQuery``. A value it cannot use (an unknown
sort column or filter value, a date that is not one, a range ending before it starts) is left
out and the page says why, so a hand-edited or outdated link shows a message, never an error
page. The CSV export downloads without being seen first, so there the same values are refused
instead (422 naming the field) rather than quietly exporting something else.

Services build a ``select()`` with ``matching`` and ``within`` and hand it to ``page_of`` (one
page and the count of all rows) or ``stream`` (every row, read in batches through a server-side
cursor); ``csv_response`` sends the streamed rows on as they come, so an export of 100,000 rows
never sits in memory whole.

Dates: ``from`` and ``to`` are calendar days in ``DISPLAY_TIMEZONE``, both included. Timestamps
are stored in UTC, so the range becomes [midnight starting ``from``, midnight ending ``to``)
there, converted to UTC. A column holding a plain date (a ship date) compares with the days as
they are.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import math
import re
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any, Generic, TypeVar
from zoneinfo import ZoneInfo

from flask import Response, current_app, stream_with_context
from flask_babel import gettext
from sqlalchemy import Date, func, or_, select
from sqlalchemy.orm import Session
from sqlalchemy.sql import ColumnElement

from core.api import AnySelect
from core.db import read_only, utcnow
from core.i18n import N_
from core.problems import Invalid

F = TypeVar("F")
T = TypeVar("T")

#: What the page-size menu offers; a size in the URL is kept within 1 and the largest.
PAGE_SIZES = (20, 50, 100, 200)
DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = PAGE_SIZES[-1]
#: Longer search terms are cut: nothing stored is longer than 200 characters.
SEARCH_MAX = 100
#: Rows fetched per round trip of a streamed export, and written per chunk sent.
BATCH = 1000


@dataclass(frozen=True)
class ListSpec(Generic[F]):
    """What one list allows: its filters, sort columns and date range."""

    #: Names the CSV file: ``<name>-<day>.csv``.
    name: str
    #: A dataclass whose fields (all ``str | None``) are the list's filters, as named in the URL.
    filters: type[F]
    #: Sort key in the URL -> the column (or columns, compared in turn) it sorts by.
    sorts: Mapping[str, Any]
    #: A key of ``sorts``, with ``-`` in front for descending.
    default_sort: str
    #: Columns that tell any two rows apart, appended to every order in its direction.
    tiebreak: Sequence[Any]
    #: Whether the list has a from/to date filter (the service says which column it applies to).
    dated: bool = False

    def __post_init__(self) -> None:
        if self.default_sort.removeprefix("-") not in self.sorts:
            raise ValueError(f"{self.name}: default sort {self.default_sort!r} is not sortable")

    @property
    def filter_names(self) -> tuple[str, ...]:
        return tuple(f.name for f in dataclasses.fields(self.filters))  # type: ignore[arg-type]


@dataclass(frozen=True)
class Notice:
    """A value of the URL that was not used, and why.

    ``message`` (marked for translation) tells the page's reader what the list did instead;
    ``reason`` is the English for a problem document, which stays English like the API's.
    """

    field: str
    value: str
    message: str
    reason: str

    def text(self) -> str:
        return gettext(self.message, value=self.value)

    def english(self) -> str:
        return f"“{self.value}” {self.reason}"


@dataclass(frozen=True)
class ListQuery(Generic[F]):
    """One request of a list: the search, filters, order, page and date range it asks for."""

    spec: ListSpec[F]
    filters: F
    search: str | None = None
    sort: str = ""
    descending: bool = False
    page: int = 1
    size: int = DEFAULT_PAGE_SIZE
    date_from: date | None = None
    date_to: date | None = None
    zone: str = "UTC"
    notices: tuple[Notice, ...] = ()

    @property
    def since(self) -> datetime | None:
        """The first instant of ``date_from`` in the display time zone, in UTC."""
        return None if self.date_from is None else self._midnight(self.date_from)

    @property
    def until(self) -> datetime | None:
        """The first instant after ``date_to`` in the display time zone, in UTC (excluded)."""
        return None if self.date_to is None else self._midnight(self.date_to + timedelta(days=1))

    def _midnight(self, day: date) -> datetime:
        return datetime.combine(day, time(0), ZoneInfo(self.zone)).astimezone(UTC)

    @property
    def sort_token(self) -> str:
        return ("-" if self.descending else "") + self.sort

    def args(self, **changes: Any) -> dict[str, str]:
        """This list's query string (defaults left out), with ``changes`` applied (None drops)."""
        out: dict[str, Any] = {"q": self.search}
        out.update(dataclasses.asdict(self.filters))  # type: ignore[call-overload]
        out["from"] = self.date_from.isoformat() if self.date_from else None
        out["to"] = self.date_to.isoformat() if self.date_to else None
        out["sort"] = self.sort_token if self.sort_token != self.spec.default_sort else None
        out["size"] = self.size if self.size != DEFAULT_PAGE_SIZE else None
        out["page"] = self.page
        out.update(changes)
        if out["page"] is not None and int(out["page"]) <= 1:
            out["page"] = None
        return {k: str(v) for k, v in out.items() if v not in (None, "")}

    def sorted_by(self, key: str) -> str | None:
        """``asc`` or ``desc`` when the list is sorted by ``key``, else None."""
        if key != self.sort:
            return None
        return "desc" if self.descending else "asc"

    def sort_args(self, key: str) -> dict[str, str]:
        """The link of a column header: sort by it, or turn the order round if it already is."""
        descending = self.sort == key and not self.descending
        return self.args(sort=("-" if descending else "") + key, page=None)

    def export_args(self) -> dict[str, str]:
        """What the CSV export needs: everything but the page."""
        return self.args(page=None, size=None)


def parse_list(
    spec: ListSpec[F],
    args: Mapping[str, str],
    choices: Mapping[str, Collection[str]] | None = None,
    *,
    strict: bool = False,
) -> ListQuery[F]:
    """Read a list's query string; ``choices`` limits filters to known values (codes, statuses).

    Unusable values are left out with a notice; with ``strict`` they raise ``Invalid`` instead.
    """
    notices: list[Notice] = []
    search = (args.get("q") or "").strip()[:SEARCH_MAX] or None

    values: dict[str, str] = {}
    for name in spec.filter_names:
        raw = (args.get(name) or "").strip()
        if not raw:
            continue
        allowed = (choices or {}).get(name)
        if allowed is not None and raw not in allowed:
            notices.append(
                Notice(
                    name,
                    raw,
                    N_("“%(value)s” is not one of the choices; that filter is off."),
                    "is not one of the choices",
                )
            )
            continue
        values[name] = raw

    token = (args.get("sort") or "").strip() or spec.default_sort
    if token.removeprefix("-") not in spec.sorts:
        notices.append(
            Notice(
                "sort",
                token,
                N_("The list cannot be sorted by “%(value)s”; it is in its usual order."),
                "is not a column the list can be sorted by",
            )
        )
        token = spec.default_sort

    page, size = 1, DEFAULT_PAGE_SIZE
    if not strict:  # an export has no pages
        page = _whole(
            args, "page", 1, notices, N_("“%(value)s” is not a page number; page 1 shown.")
        )
        size = _whole(
            args,
            "size",
            DEFAULT_PAGE_SIZE,
            notices,
            N_("“%(value)s” is not a number of rows; the usual page size is shown."),
        )
        if size > MAX_PAGE_SIZE:
            notices.append(
                Notice(
                    "size",
                    str(MAX_PAGE_SIZE),
                    N_("A page shows at most %(value)s rows."),
                    "is the most rows a page shows",
                )
            )
            size = MAX_PAGE_SIZE

    date_from = date_to = None
    if spec.dated:
        date_from = _day(args, "from", notices)
        date_to = _day(args, "to", notices)
        if date_from and date_to and date_from > date_to:
            notices.append(
                Notice(
                    "to",
                    date_to.isoformat(),
                    N_("The date range ends on %(value)s, before it starts; the dates are off."),
                    "is before the start of the date range",
                )
            )
            date_from = date_to = None

    if strict and notices:
        raise Invalid(
            "The export was not made; these settings are not usable: "
            + "; ".join(f"{n.field} {n.english()}" for n in notices)
            + ".",
            errors={n.field: [n.english()] for n in notices},
        )
    return ListQuery(
        spec=spec,
        filters=spec.filters(**values),
        search=search,
        sort=token.removeprefix("-"),
        descending=token.startswith("-"),
        page=page,
        size=size,
        date_from=date_from,
        date_to=date_to,
        zone=current_app.config.get("DISPLAY_TIMEZONE", "UTC"),
        notices=tuple(notices),
    )


def _whole(
    args: Mapping[str, str], name: str, default: int, notices: list[Notice], message: str
) -> int:
    raw = (args.get(name) or "").strip()
    if not raw:
        return default
    if raw.isdigit() and 1 <= int(raw) <= 10**9:
        return int(raw)
    notices.append(Notice(name, raw, message, "is not a whole number from 1"))
    return default


_ISO_DAY = re.compile(r"\d{4}-\d{2}-\d{2}")


def _day(args: Mapping[str, str], name: str, notices: list[Notice]) -> date | None:
    raw = (args.get(name) or "").strip()
    if not raw:
        return None
    try:
        if not _ISO_DAY.fullmatch(raw):
            raise ValueError(raw)
        return date.fromisoformat(raw)
    except ValueError:
        notices.append(
            Notice(
                name,
                raw,
                N_("“%(value)s” is not a date (YYYY-MM-DD); that date is off."),
                "is not a date (YYYY-MM-DD)",
            )
        )
        return None


# --- queries --------------------------------------------------------------------------------------


def _like(term: str) -> str:
    escaped = term.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def matching(query: ListQuery[Any], *columns: Any) -> ColumnElement[bool] | None:
    """Rows where any of ``columns`` contains the search term, whatever its case; None if no term.

    ``%`` and ``_`` in the term are matched as themselves.
    """
    if not query.search:
        return None
    pattern = _like(query.search)
    return or_(*(func.lower(c).like(func.lower(pattern), escape="\\") for c in columns))


def within(stmt: AnySelect, query: ListQuery[Any], column: Any) -> AnySelect:
    """Keep the rows whose ``column`` falls in the query's days (see the module's note on dates)."""
    is_day = isinstance(getattr(column, "type", None), Date)
    if query.date_from is not None:
        stmt = stmt.where(column >= (query.date_from if is_day else query.since))
    if query.date_to is not None:
        stmt = stmt.where(column <= query.date_to if is_day else column < query.until)
    return stmt


def ordered(stmt: AnySelect, query: ListQuery[Any]) -> AnySelect:
    """The query's order: its sort column(s), empty values last either way, then the tiebreak."""
    spec = query.spec
    chosen = spec.sorts[query.sort]
    columns = chosen if isinstance(chosen, tuple) else (chosen,)
    order = [(c.desc() if query.descending else c.asc()).nulls_last() for c in columns]
    order += [c.desc() if query.descending else c.asc() for c in spec.tiebreak]
    return stmt.order_by(*order)


@dataclass(frozen=True)
class Page(Generic[T]):
    """One page of a list and where it sits in the whole."""

    rows: list[T]
    total: int
    number: int
    size: int

    @property
    def pages(self) -> int:
        return max(1, math.ceil(self.total / self.size))

    @property
    def first(self) -> int:
        """1-based position of the first row shown (0 when there are none)."""
        return (self.number - 1) * self.size + 1 if self.rows else 0

    @property
    def last(self) -> int:
        return self.first + len(self.rows) - 1 if self.rows else 0

    @property
    def has_previous(self) -> bool:
        return self.number > 1

    @property
    def has_next(self) -> bool:
        return self.number < self.pages


def page_of(
    session: Session, stmt: AnySelect, query: ListQuery[Any], convert: Callable[[Any], T]
) -> Page[T]:
    """The requested page (the last one if it asks beyond) and the number of matching rows."""
    total = session.scalar(select(func.count()).select_from(stmt.order_by(None).subquery())) or 0
    number = min(query.page, max(1, math.ceil(total / query.size)))
    rows = session.execute(
        ordered(stmt, query).limit(query.size).offset((number - 1) * query.size)
    ).all()
    return Page([convert(r) for r in rows], total, number, query.size)


def stream(
    stmt: AnySelect, query: ListQuery[Any], convert: Callable[[Any], Sequence[Any]]
) -> Iterator[Sequence[Any]]:
    """Every matching row in the query's order, fetched ``BATCH`` at a time.

    ``yield_per`` makes PostgreSQL (psycopg) use a server-side cursor, so memory holds one batch
    whatever the number of rows. Runs when iterated, in one read transaction: meant to be consumed
    by ``csv_response`` inside the request.
    """
    with read_only() as s:
        result = s.execute(ordered(stmt, query), execution_options={"yield_per": BATCH})
        for row in result:
            yield convert(row)


# --- CSV ------------------------------------------------------------------------------------------


#: A cell starting with one of these is a formula to a spreadsheet; such text gets a leading '.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def csv_cell(value: Any) -> Any:
    """Plain values a program can read back: numbers without grouping, ISO dates, UTC times."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat().replace("+00:00", "Z")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return format(value.normalize(), "f")
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        return "'" + value
    return value


def csv_response(
    query: ListQuery[Any], header: Sequence[str], rows: Iterable[Sequence[Any]]
) -> Response:
    """Send ``rows`` as ``<list>-<day>.csv`` while they are read, in chunks of ``BATCH`` rows.

    UTF-8 with a byte order mark, so spreadsheet programs read Chinese names right; times are in
    UTC, which the header's ``_utc`` column names say.
    """
    day = utcnow().astimezone(ZoneInfo(query.zone)).date()
    filename = f"{query.spec.name}-{day.isoformat()}.csv"

    def generate() -> Iterator[str]:
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\r\n")
        buffer.write("\ufeff")
        writer.writerow(header)
        yield _drain(buffer)
        for n, row in enumerate(rows, start=1):
            writer.writerow([csv_cell(v) for v in row])
            if n % BATCH == 0:
                yield _drain(buffer)
        yield _drain(buffer)

    return Response(
        stream_with_context(generate()),
        content_type="text/csv; charset=utf-8",
        headers={
            "Content-Disposition": f'attachment; filename="{filename}"',
            "Cache-Control": "no-store",
        },
    )


def _drain(buffer: io.StringIO) -> str:
    text = buffer.getvalue()
    buffer.seek(0)
    buffer.truncate()
    return text
