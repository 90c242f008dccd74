"""The project's own wrappers around flask-smorest, so every API customisation has one home.

Features import ``Blueprint``, ``Schema``, ``PageArgs`` and ``page_of`` from here, never from
flask-smorest directly: the error format, the pager and the OpenAPI details stay consistent.
"""

from __future__ import annotations

import base64
import binascii
import http
import json
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import flask_smorest
import marshmallow as ma
from flask import Flask, Response, current_app, send_from_directory
from sqlalchemy import Select, tuple_
from sqlalchemy.orm import Session
from werkzeug.exceptions import HTTPException

from core import errors, inputs
from core.problems import Invalid

API_PREFIX = "/api/v1"


class Schema(ma.Schema):
    """Unknown fields are an error: a typo in a field name must not be silently ignored.

    Every integer field is bounded by its column's range and every decimal by ``numeric(14, 4)``
    (``core.inputs``), so out-of-range input is a 422 naming the field in every feature.
    """

    class Meta:
        unknown = ma.RAISE

    def on_bind_field(self, field_name: str, field_obj: ma.fields.Field) -> None:
        inputs.bound_field(field_obj)

    @ma.pre_load
    def _storable_decimals(self, data: Any, **_kw: Any) -> Any:
        problems = inputs.decimal_problems(self, data)
        if problems:
            raise ma.ValidationError(problems)
        return data


class ProblemSchema(Schema):
    type = ma.fields.String()
    title = ma.fields.String()
    status = ma.fields.Integer()
    detail = ma.fields.String()
    instance = ma.fields.String()
    errors = ma.fields.Dict(metadata={"description": "field or CSV row -> messages"})
    request_id = ma.fields.String()


def _decimal_as_string(self: Any, field: ma.fields.Field, ret: dict[str, Any], **_kw: Any) -> dict:
    """Document decimals as the strings the API sends (JSON numbers would lose exactness).

    A JSON-schema ``minimum`` applies to numbers only, so bounds move into the description.
    """
    if not isinstance(field, ma.fields.Decimal):
        return {}
    precision, scale = inputs.numeric_of(field)
    bounds = []
    for key, word in (("minimum", "at least"), ("maximum", "at most")):
        if key in ret:
            bounds.append(f"{word} {ret.pop(key)}")
    for key in ("exclusiveMinimum", "exclusiveMaximum", "format"):
        ret.pop(key, None)
    description = ret.get("description", "")
    note = f"decimal string, up to {scale} places" + (f", {' and '.join(bounds)}" if bounds else "")
    fraction = rf"(\.[0-9]{{1,{scale}}})?" if scale else ""
    return {
        "type": "string",
        "pattern": rf"^-?[0-9]{{1,{precision - scale}}}{fraction}$",
        "description": f"{description} ({note})" if description else note,
    }


def _bounded_int_schema(converter: Any) -> dict[str, Any]:
    """Path ids as the integers the route accepts (a larger one is a 404)."""
    schema: dict[str, Any] = {"type": "integer", "minimum": converter.min or 0}
    if converter.max is not None:
        schema["maximum"] = converter.max
    return schema


class Api(flask_smorest.Api):
    """flask-smorest's Api, with the OpenAPI document built when it is first read.

    Documenting a blueprint converts each of its schemas and routes into the document; that was
    half the cost of building an app, paid by every server process, Celery worker and test app
    at start, although only ``/api/openapi.json`` (and ``flask openapi``) read the document.
    Mounting a blueprint now routes it at once and queues its documentation; the first read of
    ``spec`` documents the queued blueprints in the order they were mounted, as mounting did.
    """

    ERROR_SCHEMA = ProblemSchema

    _document_lock = threading.Lock()

    @property
    def spec(self) -> Any:
        if self.__dict__.get("_undocumented"):
            # A blueprint leaves the queue once documented: a thread arriving meanwhile sees it
            # still queued and waits for the lock rather than reading a half-built document.
            with self._document_lock:
                while self._undocumented:
                    blueprint, app, name, parameters = self._undocumented[0]
                    blueprint.register_views_in_doc(
                        self, app, self._spec, name=name, parameters=parameters
                    )
                    self._spec.tag({"name": name, "description": blueprint.description})
                    del self._undocumented[0]
        return self._spec

    @spec.setter
    def spec(self, value: Any) -> None:
        """A new document (``init_app``) starts with nothing queued."""
        self._spec = value
        self._undocumented: list[tuple[flask_smorest.Blueprint, Flask, str, Any]] = []

    def register_blueprint(
        self, blp: flask_smorest.Blueprint, *, parameters: Any = None, **options: Any
    ) -> None:
        """What flask-smorest's does, with the documentation queued for the first read."""
        name = options.get("name", blp.name)
        self._app.extensions["flask-smorest"]["blp_name_to_api"][name] = self
        self._app.register_blueprint(blp, **options)
        self._undocumented.append((blp, self._app, name, parameters))

    def handle_http_exception(self, error: HTTPException) -> Response:  # type: ignore[override]
        return errors.handle_http_exception(error)

    def _register_responses(self) -> None:
        """Error responses are problem documents, under each status's old and new names."""
        for status in http.HTTPStatus:
            response: dict[str, Any] = {"description": status.phrase}
            if not (100 <= status < 200) and status not in (204, 304):
                response["content"] = {
                    errors.PROBLEM_JSON: {"schema": self.ERROR_SCHEMA},
                }
            self.spec.components.response(status.name, response, lazy=True)
        # Python 3.13 renamed 422; code written against either name finds its response.
        aliases = {"UNPROCESSABLE_CONTENT": 422, "CONTENT_TOO_LARGE": 413}
        for name, code in aliases.items():
            if name not in http.HTTPStatus.__members__:
                self.spec.components.response(
                    name,
                    {
                        "description": http.HTTPStatus(code).phrase,
                        "content": {errors.PROBLEM_JSON: {"schema": self.ERROR_SCHEMA}},
                    },
                    lazy=True,
                )
        self.spec.components.response(
            "DEFAULT_ERROR",
            {
                "description": "Default error response",
                "content": {errors.PROBLEM_JSON: {"schema": self.ERROR_SCHEMA}},
            },
            lazy=True,
        )

    def _openapi_json(self) -> Response:
        return current_app.response_class(
            json.dumps(openapi_document(self), indent=2, default=str),
            mimetype="application/json",
        )


def openapi_document(api: flask_smorest.Api) -> dict[str, Any]:
    """The served document: an empty PATCH changes nothing, so its body needs one property."""
    doc = api.spec.to_dict()
    schemas = doc.get("components", {}).get("schemas", {})
    for item in doc.get("paths", {}).values():
        patch = item.get("patch")
        if not patch:
            continue
        for media in patch.get("requestBody", {}).get("content", {}).values():
            ref = media.get("schema", {}).get("$ref", "")
            name = ref.rsplit("/", 1)[-1]
            if name in schemas:
                schemas[name]["minProperties"] = 1
    return doc


class Blueprint(flask_smorest.Blueprint):
    """A feature's API blueprint; mounted under ``/api/v1`` by ``register_api``."""


api = Api()


def init_app(app: Flask) -> None:
    app.config.setdefault("API_TITLE", "Stockroom")
    app.config.setdefault("API_VERSION", "v1")
    app.config.setdefault("OPENAPI_VERSION", "3.0.3")
    app.config.setdefault("OPENAPI_URL_PREFIX", "/api")
    app.config.setdefault("OPENAPI_JSON_PATH", "openapi.json")
    app.config.setdefault("OPENAPI_SWAGGER_UI_PATH", "docs")
    app.config.setdefault("OPENAPI_SWAGGER_UI_URL", "/api/docs/assets/")
    app.config.setdefault(
        "API_SPEC_OPTIONS",
        {
            "info": {
                "description": (
                    "Inventory, storefront availability and reservations, procurement, "
                    "forecasting and logistics. Errors are RFC 9457 problem documents."
                )
            },
            "security": [{"bearerAuth": []}],
        },
    )
    api.init_app(app)
    api.ma_plugin.converter.add_attribute_function(_decimal_as_string)
    for converter in (inputs.BoundedIntConverter, inputs.BigIntConverter):
        api.register_converter(converter, _bounded_int_schema)
    api.spec.components.security_scheme(
        "bearerAuth", {"type": "http", "scheme": "bearer", "description": "API token"}
    )
    _serve_swagger_assets(app)


def _serve_swagger_assets(app: Flask) -> None:
    """Swagger UI comes from the installed ``swagger-ui-bundle`` package, never from a CDN."""
    import swagger_ui_bundle

    assets = Path(swagger_ui_bundle.swagger_ui_path)

    def swagger_asset(filename: str) -> Response:
        return send_from_directory(assets, filename, max_age=86400)

    app.add_url_rule("/api/docs/assets/<path:filename>", "swagger_asset", swagger_asset)


def register_api(app: Flask, blueprint: Blueprint) -> None:
    """Mount a feature's API; token-authenticated routes need no CSRF token."""
    api.register_blueprint(blueprint, url_prefix=API_PREFIX + (blueprint.url_prefix or ""))
    csrf = app.extensions.get("csrf")
    if csrf is not None:
        csrf.exempt(blueprint)


# --------------------------------------------------------------------------------------------------
# Cursor pagination


class PageArgs(Schema):
    limit = ma.fields.Integer(load_default=50, validate=ma.validate.Range(min=1, max=500))
    cursor = ma.fields.String(load_default=None)


_page_schemas: dict[type[ma.Schema], type[ma.Schema]] = {}


def page_of(item_schema: type[ma.Schema]) -> type[ma.Schema]:
    """``{"items": [...], "next_cursor": ...}`` around an item schema, one class per item type."""
    if item_schema not in _page_schemas:
        name = item_schema.__name__.removesuffix("Schema") + "PageSchema"
        _page_schemas[item_schema] = type(
            name,
            (Schema,),
            {
                "items": ma.fields.List(ma.fields.Nested(item_schema)),
                "next_cursor": ma.fields.String(
                    allow_none=True,
                    metadata={"description": "pass as `cursor` for the next page; null at the end"},
                ),
            },
        )
    return _page_schemas[item_schema]


def encode_cursor(values: Sequence[Any]) -> str:
    raw = json.dumps(list(values), separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str, arity: int) -> list[Any]:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        values = json.loads(base64.urlsafe_b64decode(padded.encode()))
    except (binascii.Error, ValueError, UnicodeDecodeError):
        values = None
    if not isinstance(values, list) or len(values) != arity:
        raise Invalid(
            "The cursor is not one this service issued.",
            errors={"cursor": ["Not a valid cursor; use next_cursor from a previous page."]},
        )
    return values


#: Any ``select()``, whatever its columns (SQLAlchemy 2.1 types selects by their row tuple).
AnySelect = Select[*tuple[Any, ...]]


def keyset_page(
    session: Session,
    stmt: AnySelect,
    keys: Sequence[Any],
    key_of: Callable[[Any], Sequence[Any]],
    *,
    limit: int,
    cursor: str | None,
    descending: bool = False,
    scalars: bool = True,
    parse: Callable[[list[Any]], list[Any]] | None = None,
) -> tuple[list[Any], str | None]:
    """Keyset pagination over a 2.0 ``select()``: stable under concurrent inserts, O(limit).

    ``keys`` are the columns (or mapped attributes) the page is ordered by, unique together.
    ``key_of`` gives a row's keys as JSON values; ``parse`` turns them back (a timestamp from its
    ISO text) when a cursor comes back.
    """
    if cursor:
        after = decode_cursor(cursor, len(keys))
        if parse is not None:
            try:
                after = parse(after)
            except (TypeError, ValueError):
                raise Invalid(
                    "The cursor is not one this service issued.",
                    errors={
                        "cursor": ["Not a valid cursor; use next_cursor from a previous page."]
                    },
                )
        left = tuple_(*keys) if len(keys) > 1 else keys[0]
        right = tuple_(*after) if len(keys) > 1 else after[0]
        stmt = stmt.where(left < right if descending else left > right)
    stmt = stmt.order_by(*(k.desc() if descending else k.asc() for k in keys)).limit(limit + 1)
    result = session.execute(stmt)
    rows = list(result.scalars() if scalars else result.all())
    next_cursor = None
    if len(rows) > limit:
        rows = rows[:limit]
        next_cursor = encode_cursor(key_of(rows[-1]))
    return rows, next_cursor
