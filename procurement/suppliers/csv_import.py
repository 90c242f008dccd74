"""Reading supplier and price list files: every bad row is reported, by row number, at once.

Rows are numbered as a spreadsheet shows them: the header is row 1, the first supplier or price
row is row 2. Blank cells mean "not given".
"""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from marshmallow import ValidationError, fields, validate

from core.api import Schema
from core.inputs import csv_text
from core.problems import Invalid
from inventory.schemas import CODE, CURRENCY

MAX_ROWS = 20_000


class BreaksCell(fields.Field):
    """``100:9.50;500:9.00`` -> price breaks (from 100 units 9.50 each, from 500 units 9.00)."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> Any:
        out: list[dict[str, Any]] = []
        for part in str(value).split(";"):
            if not part.strip():
                continue
            qty, sep, price = part.partition(":")
            try:
                if not sep:
                    raise ValueError
                out.append({"min_quantity": int(qty.strip()), "unit_price": Decimal(price.strip())})
            except (ValueError, InvalidOperation):
                raise ValidationError(
                    f"{part.strip()!r} is not min_quantity:unit_price (e.g. 100:9.50;500:9.00)"
                )
        for b in out:
            if b["min_quantity"] < 2 or not b["unit_price"].is_finite() or b["unit_price"] < 0:
                raise ValidationError("breaks start at 2 units or more and cost 0 or more")
        return out


class SupplierRow(Schema):
    code = fields.String(required=True, validate=[validate.Length(min=1, max=32), CODE])
    name = fields.String(required=True, validate=validate.Length(min=1, max=200))
    email = fields.Email(validate=validate.Length(max=254))
    currency = fields.String(validate=CURRENCY)
    default_lead_time_days = fields.Integer(required=True, validate=validate.Range(min=0, max=730))


class PriceListRow(Schema):
    supplier = fields.String(required=True, validate=validate.Length(min=1, max=32))
    sku = fields.String(required=True, validate=validate.Length(min=1, max=64))
    supplier_sku = fields.String(validate=validate.Length(max=64))
    unit_price = fields.Decimal(required=True, allow_nan=False, validate=validate.Range(min=0))
    currency = fields.String(validate=CURRENCY)
    moq = fields.Integer(validate=validate.Range(min=1))
    pack_size = fields.Integer(validate=validate.Range(min=1))
    lead_time_days = fields.Integer(validate=validate.Range(min=0, max=730))
    price_breaks = BreaksCell()


@dataclass(frozen=True)
class ImportOutcome:
    """What an import did: a file is imported whole or not at all, so these are all its rows."""

    rows: int
    created: int
    updated: int


def decode(raw: bytes) -> str:
    return csv_text(raw)


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
