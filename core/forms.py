"""Web forms that validate exactly as the API: the API's schema decides, the page shows where.

A page builds the body the API would receive from its form fields, loads it with the same
marshmallow schema the endpoint uses, and puts each message next to the field it names. The use
case's own refusals (a ``Problem`` whose ``errors`` name fields, such as ``lines.2.sku``) are
placed the same way, so a form cannot accept what the API refuses or refuse what it accepts.

Messages stay English in the API (programs read them); on a page they are shown in the reader's
language where the catalog knows them: the schemas mark their own sentences with ``N_`` and the
standard marshmallow sentences are matched below.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

import marshmallow as ma
from flask_babel import gettext as _
from wtforms import Field, Form

from core.i18n import N_

Errors = dict[str, list[str]]

#: An integer as a person types it into a number field; anything else goes to the schema as
#: typed, so that its "Not a valid integer." answers, as the API's does.
_WHOLE = re.compile(r"^[+-]?\d+$")

#: marshmallow's and core.inputs' standard sentences, as patterns -> the catalog's wording.
_STANDARD: list[tuple[re.Pattern[str], str]] = [
    (re.compile(r"^Missing data for required field\.$"), N_("Required.")),
    (re.compile(r"^Field may not be null\.$"), N_("Required.")),
    (re.compile(r"^Shorter than minimum length 1\.$"), N_("Required.")),
    (re.compile(r"^Not a valid integer\.$"), N_("Not a whole number.")),
    (re.compile(r"^Not a valid number\.$"), N_("Not a number.")),
    (re.compile(r"^Not a valid date\.$"), N_("Not a date (YYYY-MM-DD).")),
    (re.compile(r"^Not a valid string\.$"), N_("Not text.")),
    (re.compile(r"^Unknown field\.$"), N_("Not a field of this form.")),
    (
        re.compile(r"^An? \w+ moves a positive quantity\.$"),
        N_("Must be positive; use an adjustment to correct downwards."),
    ),
    (
        re.compile(
            r"^Must be greater than or equal to (?P<low>\S+) and less than or equal to "
            r"(?P<high>\S+)\.$"
        ),
        N_("Must be between %(low)s and %(high)s."),
    ),
    (
        re.compile(
            r"^Must be greater than or equal to (?P<low>\S+) and less than (?P<high>\S+)\.$"
        ),
        N_("Must be at least %(low)s and below %(high)s."),
    ),
    (
        re.compile(r"^Must be greater than or equal to (?P<low>\S+)\.$"),
        N_("Must be at least %(low)s."),
    ),
    (
        re.compile(r"^Must be less than or equal to (?P<high>\S+)\.$"),
        N_("Must be at most %(high)s."),
    ),
    (re.compile(r"^Longer than maximum length (?P<n>\d+)\.$"), N_("At most %(n)s characters.")),
    (re.compile(r"^Shorter than minimum length (?P<n>\d+)\.$"), N_("At least %(n)s characters.")),
    (
        re.compile(r"^Length must be between (?P<low>\d+) and (?P<high>\d+)\.$"),
        N_("Length must be from %(low)s to %(high)s."),
    ),
    (re.compile(r"^At most (?P<n>\d+) decimal places\.$"), N_("At most %(n)s decimal places.")),
    (re.compile(r"^Must be a finite number\.$"), N_("Must be a finite number.")),
    (
        re.compile(r"^Must be less than (?P<limit>[\d,]+) in absolute value\.$"),
        N_("Must be less than %(limit)s in absolute value."),
    ),
    (
        re.compile(r"^Rounds to 0 at (?P<n>\d+) decimal places\.$"),
        N_("Rounds to 0 at %(n)s decimal places."),
    ),
]


#: "Length must be between 1 and 200." said of an empty value means it is missing.
_LENGTH = re.compile(r"^Length must be between (?P<low>\d+) and (?P<high>\d+)\.$")
_AT_LEAST_ONE = re.compile(r"^(Length must be between 1 and \d+|Shorter than minimum length 1)\.$")


def shown(message: str, value: Any = None) -> str:
    """An API message in the reader's language when the catalog has it, else as the API says it.

    ``value`` is what was sent for the field, when known: a length rule broken by an empty value
    is shown as "Required.".
    """
    if value in ("", [], None) and _AT_LEAST_ONE.match(message):
        return _("Required.")
    length = _LENGTH.match(message)
    if length and isinstance(value, str):
        low, high = int(length["low"]), int(length["high"])
        if len(value) > high:
            return _("At most %(n)s characters.", n=high)
        return _("At least %(n)s characters.", n=low)
    for pattern, template in _STANDARD:
        match = pattern.match(message)
        if match:
            return _(template, **match.groupdict())
    return _(message)


def whole_or_text(raw: str | None) -> int | str | None:
    """A number field's text for the schema: an int when it is one, else the text (or None)."""
    text = (raw or "").strip()
    if not text:
        return None
    return int(text) if _WHOLE.match(text) else text


def flatten(messages: Any, prefix: str = "") -> Errors:
    """marshmallow's nested messages as ``{"lines.0.sku": [...]}``, the keys problems use."""
    out: Errors = {}
    if isinstance(messages, Mapping):
        for key, inner in messages.items():
            name = f"{prefix}.{key}" if prefix else str(key)
            for k, v in flatten(inner, name).items():
                out.setdefault(k, []).extend(v)
    elif isinstance(messages, list | tuple):
        texts = [m for m in messages if isinstance(m, str)]
        if texts:
            out[prefix or "_schema"] = texts
        for inner in messages:
            if not isinstance(inner, str):
                for k, v in flatten(inner, prefix).items():
                    out.setdefault(k, []).extend(v)
    elif messages is not None:
        out[prefix or "_schema"] = [str(messages)]
    return out


def load(schema: ma.Schema, body: dict[str, Any]) -> tuple[dict[str, Any] | None, Errors]:
    """What the API would make of ``body``: the loaded data, or the messages per field."""
    try:
        return schema.load(body), {}
    except ma.ValidationError as error:
        return None, flatten(error.messages)


def _value_at(body: Any, key: str) -> Any:
    for part in key.split("."):
        if isinstance(body, Mapping):
            body = body.get(part)
        elif isinstance(body, list) and part.isdigit() and int(part) < len(body):
            body = body[int(part)]
        else:
            return None
    return body


def place(
    form: Form,
    errors: Mapping[str, Any],
    *,
    body: Mapping[str, Any] | None = None,
    where: Callable[[str], Field | None] | None = None,
) -> list[str]:
    """Put each message next to its field; return the ones no field of the page shows.

    ``body`` is what was sent (for wording messages about empty values). ``where`` maps an API
    key (``to_warehouse``, ``lines.3.sku``) to the form field for it when the names differ;
    otherwise the form's field of the same name is used.
    """
    unplaced: list[str] = []
    for key, messages in errors.items():
        value = _value_at(body, key) if body is not None else None
        texts = [
            shown(str(m), value) for m in (messages if isinstance(messages, list) else [messages])
        ]
        field = where(key) if where else None
        if field is None and "." not in key:
            candidate = getattr(form, key, None)
            field = candidate if isinstance(candidate, Field) else None
        if field is None:
            unplaced.extend(f"{key}: {t}" if key != "_schema" else t for t in texts)
            continue
        field.errors = [*field.errors, *(t for t in texts if t not in field.errors)]
    return unplaced
