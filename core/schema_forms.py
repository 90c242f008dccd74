"""Web forms checked by the API's own marshmallow schemas.

A page that creates what an endpoint creates loads its input through the endpoint's schema and
calls the same service, so it refuses exactly what the API refuses and names the same fields.
The messages are the API's, word for word in English; readers of another language get them
translated here (the API itself keeps English: programs read it), and a message this table does
not know is shown as it is.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

import marshmallow as ma
from flask_babel import gettext as _
from wtforms import Field, Form

Translate = Callable[[re.Match[str]], str]

#: The messages marshmallow, ``core.api.Schema`` and ``core.inputs`` give, in the reader's language.
MESSAGES: list[tuple[re.Pattern[str], Translate]] = [
    (
        re.compile(r"Missing data for required field\."),
        lambda m: _("Missing data for required field."),
    ),
    (re.compile(r"Field may not be null\."), lambda m: _("Field may not be null.")),
    (re.compile(r"Not a valid number\."), lambda m: _("Not a valid number.")),
    (re.compile(r"Not a valid integer\."), lambda m: _("Not a valid integer.")),
    (re.compile(r"Not a valid boolean\."), lambda m: _("Not a valid boolean.")),
    (re.compile(r"Not a valid date\."), lambda m: _("Not a valid date.")),
    (re.compile(r"Not a valid string\."), lambda m: _("Not a valid string.")),
    (re.compile(r"Number too large\."), lambda m: _("Number too large.")),
    (
        re.compile(r"Special numeric values \(nan or infinity\) are not permitted\."),
        lambda m: _("Special numeric values (nan or infinity) are not permitted."),
    ),
    (re.compile(r"Must be a finite number\."), lambda m: _("Must be a finite number.")),
    (
        re.compile(r"Shorter than minimum length (?P<n>\d+)\."),
        lambda m: _("Shorter than minimum length %(n)s.", n=m["n"]),
    ),
    (
        re.compile(r"Longer than maximum length (?P<n>\d+)\."),
        lambda m: _("Longer than maximum length %(n)s.", n=m["n"]),
    ),
    (
        re.compile(r"Length must be between (?P<low>\d+) and (?P<high>\d+)\."),
        lambda m: _("Length must be between %(low)s and %(high)s.", low=m["low"], high=m["high"]),
    ),
    (
        re.compile(
            r"Must be greater than or equal to (?P<low>.+?)"
            r" and less than or equal to (?P<high>.+)\."
        ),
        lambda m: _(
            "Must be greater than or equal to %(low)s and less than or equal to %(high)s.",
            low=m["low"],
            high=m["high"],
        ),
    ),
    (
        re.compile(r"Must be greater than or equal to (?P<low>.+?) and less than (?P<high>.+)\."),
        lambda m: _(
            "Must be greater than or equal to %(low)s and less than %(high)s.",
            low=m["low"],
            high=m["high"],
        ),
    ),
    (
        re.compile(r"Must be greater than or equal to (?P<low>.+)\."),
        lambda m: _("Must be greater than or equal to %(low)s.", low=m["low"]),
    ),
    (
        re.compile(r"Must be less than or equal to (?P<high>.+)\."),
        lambda m: _("Must be less than or equal to %(high)s.", high=m["high"]),
    ),
    (
        re.compile(r"Must be less than (?P<limit>[\d,]+) in absolute value\."),
        lambda m: _("Must be less than %(limit)s in absolute value.", limit=m["limit"]),
    ),
    (
        re.compile(r"Rounds to 0 at (?P<n>\d+) decimal places\."),
        lambda m: _("Rounds to 0 at %(n)s decimal places.", n=m["n"]),
    ),
    (
        re.compile(r"At most (?P<n>\d+) decimal places\."),
        lambda m: _("At most %(n)s decimal places.", n=m["n"]),
    ),
    (
        re.compile(r"Must not contain NUL characters\."),
        lambda m: _("Must not contain NUL characters."),
    ),
    (re.compile(r"Unknown field\."), lambda m: _("Unknown field.")),
    (re.compile(r"Invalid value\."), lambda m: _("Invalid value.")),
    # What services say about one field when the value is well-formed but clashes (409).
    (re.compile(r"taken"), lambda m: _("taken")),
]


def translate(message: str, extra: Mapping[str, Translate] | None = None) -> str:
    """The reader's wording of one API field message; ``extra`` adds a feature's own messages.

    A schema's own sentence marked with ``N_`` where it is raised is in the catalog, so it is
    looked up there last.
    """
    tables = [
        *((re.compile(re.escape(text)), fn) for text, fn in (extra or {}).items()),
        *MESSAGES,
    ]
    for pattern, render in tables:
        found = pattern.fullmatch(message)
        if found:
            return render(found)
    return _(message) if message else message


#: An integer as a person types it into a number field.
_WHOLE = re.compile(r"^[+-]?\d+$")


def whole_or_text(raw: str | None) -> int | str | None:
    """A number field's text for a schema: an int when it is one, else the text, else None.

    Integer fields are ``strict`` (JSON numbers only), so "12" must arrive as 12; anything else
    goes on as typed, for the schema's "Not a valid integer." to answer, as the API's does.
    """
    text = (raw or "").strip()
    if not text:
        return None
    return int(text) if _WHOLE.match(text) else text


def flatten(messages: Any, prefix: str = "") -> dict[str, list[str]]:
    """marshmallow's nested messages as ``field`` (or ``field.sub``) -> list of texts."""
    out: dict[str, list[str]] = {}
    if isinstance(messages, Mapping):
        for key, inner in messages.items():
            name = f"{prefix}.{key}" if prefix else str(key)
            for field, texts in flatten(inner, name).items():
                out.setdefault(field, []).extend(texts)
    elif isinstance(messages, list | tuple):
        for inner in messages:
            for field, texts in flatten(inner, prefix).items():
                out.setdefault(field, []).extend(texts)
    else:
        out.setdefault(prefix or "form", []).append(str(messages))
    return out


def load(schema: ma.Schema, data: dict[str, Any]) -> tuple[dict[str, Any] | None, dict[str, Any]]:
    """``schema.load(data)``: the loaded values and no errors, or None and the field messages."""
    try:
        return schema.load(data), {}
    except ma.ValidationError as error:
        return None, flatten(error.normalized_messages())


def attach(
    form: Form,
    errors: Mapping[str, Any] | None,
    *,
    aliases: Mapping[str, str] | None = None,
    extra: Mapping[str, Translate] | None = None,
    where: Callable[[str], Field | None] | None = None,
) -> list[str]:
    """Show each field's messages next to that field of ``form`` (``aliases`` maps an API field
    name to the form's, ``where`` finds the field of a key such as ``lines.3.sku`` in a list of
    rows); returns the messages about no field of the form, to show above it."""
    loose: list[str] = []
    for key, texts in flatten(errors or {}).items():
        name = (aliases or {}).get(key, key)
        field = (where(key) if where else None) or form._fields.get(name)
        translated = [translate(t, extra) for t in texts]
        if field is None:
            loose.extend(f"{key}: {t}" for t in translated)
        else:
            field.errors = [*list(field.errors or []), *translated]
    return loose
