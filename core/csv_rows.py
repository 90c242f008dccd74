"""Reading uploaded CSV files: every bad row is reported, by row number, at once.

Rows are numbered as a spreadsheet shows them: the header is row 1, the first data row is row 2.
Blank cells mean "not given". Each feature declares its columns as a marshmallow schema; checks
that need the database are the feature's, added to ``Parsed.errors`` so one answer lists them all.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from flask import request
from marshmallow import Schema, ValidationError

from core.inputs import csv_text
from core.problems import Invalid, Problem

MAX_ROWS = 20_000
#: The OpenAPI request body of an endpoint that takes a CSV file.
CSV_BODY = {
    "required": True,
    "content": {
        "text/csv": {"schema": {"type": "string"}},
        "multipart/form-data": {
            "schema": {
                "type": "object",
                "properties": {"file": {"type": "string", "format": "binary"}},
            }
        },
    },
}


def decode(raw: bytes | str) -> str:
    """The upload as text, refused with a 422 naming the row when it cannot be stored."""
    return csv_text(raw)


def uploaded_text() -> str:
    """The request's file: multipart field ``file``, or the raw ``text/csv`` body."""
    if request.mimetype == "multipart/form-data":
        upload = request.files.get("file")
        if upload is None:
            raise Problem(
                "Attach the CSV as the form field `file`.",
                status=422,
                errors={"file": ["missing"]},
            )
        return decode(upload.read())
    if request.mimetype not in ("text/csv", "text/plain", "application/csv"):
        raise Problem(
            "Send the file as text/csv or as multipart/form-data with a `file` field.",
            status=415,
        )
    return decode(request.get_data())


def _messages(error: ValidationError) -> list[str]:
    out = []
    messages = error.messages if isinstance(error.messages, Mapping) else {"": error.messages}
    for field, ms in messages.items():
        for m in ms if isinstance(ms, list) else [ms]:
            out.append(f"{field}: {m}" if field and field != "_schema" else str(m))
    return out


@dataclass
class Parsed:
    """Rows that passed their own checks, as ``(row number, data)``, and the ones that did not."""

    rows: list[tuple[int, dict[str, Any]]]
    errors: dict[str, list[str]]

    def fail_if_any(self, more: dict[str, list[str]] | None = None) -> None:
        """422 listing every bad row, in file order, when this or a later check found any."""
        errors = {**self.errors}
        for row, messages in (more or {}).items():
            errors.setdefault(row, []).extend(messages)
        if errors:
            ordered = dict(sorted(errors.items(), key=lambda kv: int(kv[0].split()[1])))
            raise Invalid(
                f"{len(errors)} rows are not usable; nothing was imported.", errors=ordered
            )


def parse(text: str, schema: type[Schema], *, fixed: Mapping[str, str] | None = None) -> Parsed:
    """Check the header (422 at once if unusable) and every row on its own.

    Checks that need the database (does the supplier exist?) are the use case's; it adds them to
    ``Parsed.errors`` so the caller hears about every bad row in one answer.

    ``fixed`` supplies a column for every row (the supplier of ``/suppliers/<code>/items/import``);
    a file that names another value in that column is wrong on that row.
    """
    fixed = dict(fixed or {})
    declared = schema().fields
    required = {name for name, f in declared.items() if f.required} - set(fixed)
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = [h.strip().lower() for h in next(reader)]
    except StopIteration:
        raise Invalid("The file is empty.", errors={"row 1": ["no header row"]})
    except csv.Error as exc:
        raise Invalid("The file is not CSV.", errors={"row 1": [str(exc)]})
    problems = []
    unknown = [h for h in header if h not in declared]
    if unknown:
        problems.append(
            f"unknown columns: {', '.join(unknown)}; expected {', '.join(sorted(declared))}"
        )
    missing = sorted(required - set(header))
    if missing:
        problems.append(f"missing columns: {', '.join(missing)}")
    duplicated = sorted({h for h in header if header.count(h) > 1})
    if duplicated:
        problems.append(f"columns named twice: {', '.join(duplicated)}")
    if problems:
        raise Invalid(
            "The header row is not usable; nothing was imported.", errors={"row 1": problems}
        )

    rows: list[tuple[int, dict[str, Any]]] = []
    errors: dict[str, list[str]] = {}
    loader = schema()
    row_no = 1
    try:
        for cells in reader:
            row_no += 1
            if not any(c.strip() for c in cells):
                continue
            if row_no - 1 > MAX_ROWS:
                raise Invalid(
                    f"A file may have at most {MAX_ROWS} rows; split it.",
                    errors={f"row {row_no}": [f"more than {MAX_ROWS} rows"]},
                )
            if len(cells) != len(header):
                errors[f"row {row_no}"] = [f"{len(cells)} cells where the header has {len(header)}"]
                continue
            raw = {h: c.strip() for h, c in zip(header, cells, strict=True) if c.strip()}
            clash = [
                f"{k}: this file is for {v}, not {raw[k]}"
                for k, v in fixed.items()
                if k in raw and raw[k] != v
            ]
            raw.update(fixed)
            try:
                data = loader.load(raw)
            except ValidationError as exc:
                errors[f"row {row_no}"] = clash + _messages(exc)
                continue
            if clash:
                errors[f"row {row_no}"] = clash
                continue
            rows.append((row_no, data))
    except csv.Error as exc:
        errors[f"row {row_no}"] = [f"not CSV: {exc}"]
    if not rows and not errors:
        raise Invalid("The file has no data rows.", errors={"row 2": ["no data rows"]})
    return Parsed(rows, errors)
