"""Replenishment over HTTP: policies, plans as jobs, and plans into draft purchase orders."""

from __future__ import annotations

from typing import Any

from flask import url_for
from flask.views import MethodView

from accounts.auth import current_principal, require
from core.api import Blueprint
from core.idempotency import idempotent
from procurement.replenishment import plans, policies
from procurement.replenishment.schemas import (
    PlanCreateSchema,
    PlanLinePatchSchema,
    PlanSchema,
    PlanStartedSchema,
    PolicyQuerySchema,
    PolicySchema,
)

blp = Blueprint(
    "replenishment",
    __name__,
    url_prefix="/replenishment",
    description="Stock policies from forecasts and least-cost purchase plans.",
)

READERS = ("planner", "buyer", "approver")


@blp.route("/policy")
class Policy(MethodView):
    @require(*READERS)
    @blp.arguments(PolicyQuerySchema, location="query")
    @blp.response(200, PolicySchema)
    @blp.alt_response(404, response="NOT_FOUND", description="no item, warehouse or forecast")
    def get(self, args: dict[str, Any]) -> Any:
        """Safety stock, reorder point and order-up-to of one item in one warehouse.

        Demand over lead time plus review period comes from the latest forecast's own spread per
        period; lead-time variability from the supplier's receipts. One entry per approved
        supplier (its lead time changes the numbers); the top level is the cheapest one's.
        """
        return policies.policy_of(args["sku"], args["warehouse"], args.get("service_level"))


@blp.route("/plans")
class Plans(MethodView):
    @require(*plans.PLANNERS)
    @blp.arguments(PlanCreateSchema)
    @blp.response(202, PlanStartedSchema)
    @blp.alt_response(404, response="NOT_FOUND")
    def post(self, data: dict[str, Any]) -> Any:
        """Start a plan (planner, buyer); follow it at `/api/v1/jobs/<job_id>`.

        Without `lines`, every forecast series at or below its reorder point is ordered up to
        its order-up-to level; with `lines`, exactly those quantities are sourced at least cost.
        """
        started = plans.start_plan(current_principal(), data)
        return (
            started,
            202,
            {"Location": url_for("replenishment.PlanItem", plan_id=started["plan_id"])},
        )


@blp.route("/plans/<int:plan_id>")
class PlanItem(MethodView):
    @require(*READERS)
    @blp.response(200, PlanSchema)
    @blp.alt_response(404, response="NOT_FOUND")
    def get(self, plan_id: int) -> Any:
        """A plan: solver status and gap, each purchase with its explanation, what stays short."""
        return plans.get_plan(plan_id)


@blp.route("/plans/<int:plan_id>/lines/<int:line_id>")
class PlanLine(MethodView):
    @require(*plans.APPLIERS)
    @blp.arguments(PlanLinePatchSchema)
    @blp.response(200, PlanSchema)
    @blp.alt_response(404, response="NOT_FOUND")
    @blp.alt_response(409, response="CONFLICT", description="plan running or already applied")
    def patch(self, data: dict[str, Any], plan_id: int, line_id: int) -> Any:
        """Change a proposed quantity before applying (buyer); recorded with who changed it."""
        return plans.update_line(current_principal(), plan_id, line_id, data["quantity"])


@blp.route("/plans/<int:plan_id>/apply")
class PlanApply(MethodView):
    @require(*plans.APPLIERS)
    @idempotent
    @blp.response(201, PlanSchema)
    @blp.alt_response(404, response="NOT_FOUND")
    @blp.alt_response(409, response="CONFLICT", description="not finished, applied, supplier")
    @blp.alt_response(422, response="UNPROCESSABLE_ENTITY", description="MOQ or pack size")
    def post(self, plan_id: int) -> Any:
        """Create the plan's draft purchase orders, one per supplier and warehouse (buyer).

        All or nothing; send an `Idempotency-Key` to retry safely. The drafts then go through
        the usual approval flow.
        """
        return plans.apply_plan(current_principal(), plan_id)
