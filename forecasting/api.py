"""Forecasting API: demand import and history, promotions, forecast runs and forecasts."""

from __future__ import annotations

from typing import Any

from flask import request, url_for
from flask.views import MethodView

from accounts.auth import current_principal, require
from core.api import Blueprint, PageArgs, page_of
from core.problems import Invalid
from forecasting import services
from forecasting.schemas import (
    DemandQuerySchema,
    DemandSchema,
    ForecastQuerySchema,
    ForecastSchema,
    ImportResultSchema,
    PromotionCreateSchema,
    PromotionQuerySchema,
    PromotionSchema,
    RunCreateSchema,
    RunSchema,
    RunStartedSchema,
)

blp = Blueprint(
    "forecasting",
    __name__,
    description="Demand history, promotions, forecast runs (background jobs) and forecasts.",
)

READERS = services.READERS
PLANNERS = services.PLANNERS

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
    "description": (
        "CSV with header `sku,warehouse,date,quantity` and optionally `stockout` (true/false); "
        "one row per item, warehouse and day (YYYY-MM-DD, UTC). Errors name file lines: "
        '"row 2" is the first line after the header.'
    ),
}


@blp.route("/demand/import")
class DemandImport(MethodView):
    @require(*PLANNERS)
    @blp.doc(requestBody=CSV_BODY)
    @blp.response(201, ImportResultSchema)
    @blp.alt_response(403, response="FORBIDDEN")
    @blp.alt_response(422, response="UNPROCESSABLE_ENTITY", description="rows with errors")
    def post(self) -> Any:
        """Import daily demand from CSV (planner): all rows or none.

        Send the file as the body (`Content-Type: text/csv`) or as the `file` field of a form.
        Importing a day again replaces it.
        """
        upload = request.files.get("file")
        if upload is not None:
            content, source = upload.read(), upload.filename or "upload.csv"
        elif request.mimetype in ("text/csv", "text/plain", "application/csv"):
            content, source = request.get_data(), request.headers.get("X-Filename", "api.csv")
        else:
            raise Invalid(
                "Send CSV as the body (Content-Type: text/csv) or as a form's `file` field.",
                errors={"file": ["no CSV found in the request"]},
            )
        return services.import_demand(current_principal(), content, source)


@blp.route("/demand")
class Demand(MethodView):
    @require(*READERS)
    @blp.arguments(DemandQuerySchema, location="query")
    @blp.response(200, DemandSchema)
    @blp.alt_response(404, response="NOT_FOUND")
    def get(self, args: dict[str, Any]) -> Any:
        """Demand per period as forecasts learn it, with censored (stock-out) periods marked."""
        return services.demand_of(args["sku"], args["warehouse"], args["frequency"])


@blp.route("/promotions")
class Promotions(MethodView):
    @require(*READERS)
    @blp.arguments(PromotionQuerySchema, location="query")
    @blp.response(200, page_of(PromotionSchema))
    @blp.alt_response(404, response="NOT_FOUND")
    def get(self, args: dict[str, Any]) -> dict[str, Any]:
        """Promotions, newest first; filter by item, warehouse and dates."""
        items, next_cursor = services.list_promotions(args)
        return {"items": items, "next_cursor": next_cursor}

    @require(*PLANNERS)
    @blp.arguments(PromotionCreateSchema)
    @blp.response(201, PromotionSchema)
    @blp.alt_response(403, response="FORBIDDEN")
    def post(self, data: dict[str, Any]) -> Any:
        """Plan a promotion (planner) for one item or all, in some warehouses or all."""
        return services.create_promotion(current_principal(), data)


@blp.route("/promotions/<int:promotion_id>")
class PromotionItem(MethodView):
    @require(*READERS)
    @blp.response(200, PromotionSchema)
    @blp.alt_response(404, response="NOT_FOUND")
    def get(self, promotion_id: int) -> Any:
        """One promotion."""
        return services.get_promotion(promotion_id)

    @require(*PLANNERS)
    @blp.arguments(PromotionCreateSchema)
    @blp.response(200, PromotionSchema)
    @blp.alt_response(403, response="FORBIDDEN")
    @blp.alt_response(404, response="NOT_FOUND")
    def put(self, data: dict[str, Any], promotion_id: int) -> Any:
        """Replace a promotion's plan (planner): every field as when creating it."""
        return services.update_promotion(current_principal(), promotion_id, data)

    @require(*PLANNERS)
    @blp.response(204)
    @blp.alt_response(403, response="FORBIDDEN")
    @blp.alt_response(404, response="NOT_FOUND")
    def delete(self, promotion_id: int) -> None:
        """Withdraw a promotion (planner); the audit log keeps what it was."""
        services.delete_promotion(current_principal(), promotion_id)


@blp.route("/forecasts/runs")
class Runs(MethodView):
    @require(*READERS)
    @blp.arguments(PageArgs, location="query")
    @blp.response(200, page_of(RunSchema))
    def get(self, args: dict[str, Any]) -> dict[str, Any]:
        """Forecast runs, newest first, with their job's status and progress."""
        items, next_cursor = services.list_runs(args)
        return {"items": items, "next_cursor": next_cursor}

    @require(*PLANNERS)
    @blp.arguments(RunCreateSchema)
    @blp.response(202, RunStartedSchema)
    @blp.alt_response(403, response="FORBIDDEN")
    def post(self, data: dict[str, Any]) -> Any:
        """Start a forecast run (planner); follow it at `GET /api/v1/jobs/<job_id>`."""
        started = services.start_run(current_principal(), data)
        location = url_for("jobs.JobItem", job_id=started["job_id"])
        return started, 202, {"Location": location}


@blp.route("/forecasts/runs/<int:run_id>")
class RunItem(MethodView):
    @require(*READERS)
    @blp.response(200, RunSchema)
    @blp.alt_response(404, response="NOT_FOUND")
    def get(self, run_id: int) -> Any:
        """One run, with its accuracy, models chosen and the series that failed."""
        return services.get_run(run_id)


@blp.route("/forecasts")
class Forecasts(MethodView):
    @require(*READERS)
    @blp.arguments(ForecastQuerySchema, location="query")
    @blp.response(200, ForecastSchema)
    @blp.alt_response(404, response="NOT_FOUND")
    def get(self, args: dict[str, Any]) -> Any:
        """The latest forecast of an item in a warehouse: periods with mean and quantiles."""
        return services.latest_forecast(args["sku"], args["warehouse"], args.get("frequency"))
