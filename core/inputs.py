"""Input the database cannot store is refused at the door, naming the field, before any write.

A NUL byte, a lone UTF-16 surrogate, an integer beyond its column, a decimal beyond
``numeric(14, 4)`` or a document nested thousands deep all used to reach the database (or the JSON
parser's recursion limit) and come back as a 500. The checks here apply to every request and every
schema, so a feature gets them without asking.
"""

from __future__ import annotations

import json
from decimal import Decimal, InvalidOperation
from typing import Any

import marshmallow as ma
from flask import Flask, request
from werkzeug.routing import IntegerConverter

from core.problems import Invalid

INT32_MIN, INT32_MAX = -(2**31), 2**31 - 1
INT64_MAX = 2**63 - 1
#: ``numeric(14, 4)``: ten digits before the point, four after.
DECIMAL_PRECISION, DECIMAL_PLACES = 14, 4
#: Deeper than any document this API defines; deeper input is refused, not parsed on.
MAX_JSON_DEPTH = 32


class BoundedIntConverter(IntegerConverter):
    """``<int:...>`` that matches only what an INTEGER column holds: a huge id is a 404, not a 500.

    PostgreSQL refuses to compare an INTEGER key with a larger number; ``<bigint:...>`` is for
    BIGINT keys.
    """

    def __init__(self, map: Any, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("max", INT32_MAX)
        super().__init__(map, *args, **kwargs)


class BigIntConverter(IntegerConverter):
    """``<bigint:...>`` for BIGINT keys: up to 2**63 - 1, 404 beyond."""

    def __init__(self, map: Any, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("max", INT64_MAX)
        super().__init__(map, *args, **kwargs)


def bad_text(value: str | None) -> str | None:
    """Why a string cannot be stored, or None: text columns hold neither NUL nor lone surrogates."""
    if not isinstance(value, str):
        return None
    if "\x00" in value:
        return "Must not contain NUL characters."
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return "Must be valid Unicode text (no unpaired surrogates)."
    return None


def _path(parts: list[str | int]) -> str:
    return ".".join(str(p) for p in parts) or "body"


def check_document(document: Any) -> dict[str, list[str]]:
    """Field path -> messages for every unstorable string (keys too) and for excessive nesting."""
    problems: dict[str, list[str]] = {}
    stack: list[tuple[Any, list[str | int]]] = [(document, [])]
    while stack:
        node, parts = stack.pop()
        if len(parts) > MAX_JSON_DEPTH:
            problems[_path(parts[:MAX_JSON_DEPTH])] = [
                f"Nested deeper than {MAX_JSON_DEPTH} levels."
            ]
            continue
        if isinstance(node, str):
            message = bad_text(node)
            if message:
                problems.setdefault(_path(parts), []).append(message)
        elif isinstance(node, dict):
            for key, value in node.items():
                message = bad_text(key)
                if message:
                    problems.setdefault(_path([*parts, repr(key)]), []).append(
                        "Field name: " + message
                    )
                    continue
                stack.append((value, [*parts, key]))
        elif isinstance(node, list):
            if _all_storable_text(node):
                continue
            stack.extend((value, [*parts, i]) for i, value in enumerate(node))
    return problems


def _all_storable_text(items: list[Any]) -> bool:
    """Whether a list holds only strings, none of them unstorable: checked in one pass.

    A storefront basket is a thousand skus; checking them one by one, each with its own path,
    cost more than answering the request.
    """
    if not all(type(item) is str for item in items):
        return False
    return bad_text("".join(items)) is None


def _refuse(problems: dict[str, list[str]]) -> None:
    raise Invalid(
        "The request contains values that cannot be stored; see errors for each field.",
        errors=problems,
        slug="invalid-input",
    )


def guard_request() -> None:
    """Check query, form and JSON input of every request before a view sees it."""
    problems: dict[str, list[str]] = {}
    sources = [request.args]
    if request.mimetype in ("application/x-www-form-urlencoded", "multipart/form-data"):
        sources.append(request.form)
    for source in sources:
        for key, values in source.lists():
            message = bad_text(key)
            if message:
                problems.setdefault("parameter name", []).append(message)
                continue
            for value in values:
                message = bad_text(value)
                if message:
                    problems.setdefault(key, []).append(message)
    for key, value in (request.view_args or {}).items():
        if isinstance(value, str):
            message = bad_text(value)
            if message:
                problems.setdefault(key, []).append(message)
    if problems:
        _refuse(problems)
    if request.is_json and request.content_length != 0:
        raw = request.get_data(cache=True)  # 413 beyond MAX_CONTENT_LENGTH
        if not raw.strip():
            return
        try:
            document = json.loads(raw)
        except RecursionError:
            _refuse({"body": [f"Nested deeper than {MAX_JSON_DEPTH} levels."]})
        except ValueError:
            return  # not JSON at all: the API answers that with its own 400
        problems = check_document(document)
        if problems:
            _refuse(problems)
        if request.method == "PATCH" and document == {}:
            _refuse({"body": ["Name at least one field to change."]})


def csv_text(raw: bytes | str) -> str:
    """An uploaded CSV file as text, refused (422 naming the row) if no column could store it.

    Python's csv module passes NUL characters through, and the database then fails on them.
    """
    if isinstance(raw, bytes):
        try:
            text = raw.decode("utf-8-sig")
        except UnicodeDecodeError:
            raise Invalid("The file is not UTF-8 text.", errors={"file": ["not UTF-8 text"]})
    else:
        text = raw.removeprefix("\ufeff")
    nul = text.find("\x00")
    if nul >= 0:
        row = text.count("\n", 0, nul) + 1
        raise Invalid(
            "The file contains a NUL character.",
            errors={f"row {row}": ["contains a NUL character"]},
        )
    return text


# --------------------------------------------------------------------------------------------------
# Schema fields


def numeric_of(field: ma.fields.Field) -> tuple[int, int]:
    """The column a decimal field is stored in: ``metadata={"numeric": (10, 3)}``, else money's."""
    precision, scale = field.metadata.get("numeric", (DECIMAL_PRECISION, DECIMAL_PLACES))
    return int(precision), int(scale)


def check_decimal_input(
    raw: Any, precision: int = DECIMAL_PRECISION, scale: int = DECIMAL_PLACES
) -> str | None:
    """Why a number given for a ``numeric(precision, scale)`` field cannot be kept exactly.

    Checked on the value as sent, before marshmallow rounds it: ``0.00001`` would otherwise become
    a price of 0 without a word.
    """
    if isinstance(raw, bool) or not isinstance(raw, str | int | float | Decimal):
        return None  # the field's own type check answers
    try:
        value = Decimal(str(raw).strip())
    except (InvalidOperation, ValueError):
        return None
    if not value.is_finite():
        return "Must be a finite number."
    limit = Decimal(10) ** (precision - scale)
    if abs(value) >= limit:
        return f"Must be less than {limit:,} in absolute value."
    step = Decimal(1).scaleb(-scale)
    exponent = value.as_tuple().exponent
    if isinstance(exponent, int) and exponent < -scale and value != value.quantize(step):
        if value.quantize(step) == 0:
            return f"Rounds to 0 at {scale} decimal places."
        return f"At most {scale} decimal places."
    return None


def bound_field(field: ma.fields.Field) -> None:
    """Give an integer field the range of the column it ends up in, unless it has a tighter one.

    Integers go to 32-bit columns unless the field says ``metadata={"format": "int64"}``.
    """
    if not isinstance(field, ma.fields.Integer) or field.dump_only:
        return
    wide = field.metadata.get("format") == "int64"
    low, high = (-INT64_MAX - 1, INT64_MAX) if wide else (INT32_MIN, INT32_MAX)
    ranges = [v for v in field.validators if isinstance(v, ma.validate.Range)]
    has_min = any(r.min is not None for r in ranges)
    has_max = any(r.max is not None for r in ranges)
    if has_min and has_max:
        return
    field.validators.append(
        ma.validate.Range(min=None if has_min else low, max=None if has_max else high)
    )


def decimal_problems(schema: ma.Schema, data: Any) -> dict[str, list[str]]:
    """Messages for the schema's decimal fields whose raw input cannot be stored exactly."""
    if not isinstance(data, dict):
        return {}
    problems: dict[str, list[str]] = {}
    for name, field in schema.load_fields.items():
        if not isinstance(field, ma.fields.Decimal):
            continue
        key = field.data_key or name
        if key in data and data[key] is not None:
            message = check_decimal_input(data[key], *numeric_of(field))
            if message:
                problems[key] = [message]
    return problems


def init_app(app: Flask) -> None:
    app.before_request(guard_request)
