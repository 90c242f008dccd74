"""The columns of supplier and price list files; ``core.csv_rows`` reads them row by row.

Every bad row is reported, by row number, at once; blank cells mean "not given".
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from marshmallow import ValidationError, fields, validate

from core.api import Schema
from core.csv_rows import MAX_ROWS, Parsed, decode, parse
from inventory.schemas import CODE, CURRENCY

__all__ = [
    "MAX_ROWS",
    "BreaksCell",
    "ImportOutcome",
    "Parsed",
    "PriceListRow",
    "SupplierRow",
    "decode",
    "parse",
]


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
