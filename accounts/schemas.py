"""Shapes of the accounts API."""

from __future__ import annotations

from marshmallow import fields

from core.api import PageArgs, Schema


class MeSchema(Schema):
    user_id = fields.Integer(allow_none=True)
    username = fields.String()
    roles = fields.List(fields.String())
    warehouses = fields.List(fields.String())


class AuditEntrySchema(Schema):
    id = fields.Integer()
    at = fields.DateTime()
    actor = fields.String()
    action = fields.String()
    object_type = fields.String()
    object_id = fields.String()
    reason = fields.String(allow_none=True)
    before = fields.Dict(allow_none=True)
    after = fields.Dict(allow_none=True)
    request_id = fields.String(allow_none=True)


class AuditQuerySchema(PageArgs):
    object_type = fields.String()
    object_id = fields.String()
    actor = fields.String()
