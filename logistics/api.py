"""Carriers, rate cards, shipments and carrier assignment over HTTP: parse, call, serialise."""

from __future__ import annotations

from typing import Any

from flask import Response, request, url_for
from flask.views import MethodView

from accounts.auth import authenticates_itself, current_principal, require
from core.api import Blueprint, page_of
from core.csv_rows import CSV_BODY, uploaded_text
from logistics import carriers, planning, shipments
from logistics.schemas import (
    AssignmentStartedSchema,
    AssignRequestSchema,
    CarrierCreateSchema,
    CarrierSchema,
    CarrierScorecardSchema,
    CarrierServiceSchema,
    QuoteQuerySchema,
    RateImportResultSchema,
    RateQuoteSchema,
    ServiceCreateSchema,
    ServicePatchSchema,
    ShipmentCreateSchema,
    ShipmentEventCreateSchema,
    ShipmentQuerySchema,
    ShipmentSchema,
    WebhookResultSchema,
)

blp = Blueprint("logistics", __name__, description="Carriers, rate cards and shipments.")

ADMIN = ("admin",)
SHIPPERS = ("warehouse",)
PLANNERS = ("warehouse", "planner")
READERS = ("warehouse", "planner", "buyer", "approver", "viewer")


@blp.route("/carriers")
class Carriers(MethodView):
    @require(*READERS)
    @blp.response(200, CarrierSchema(many=True))
    def get(self) -> Any:
        """Carriers with their services."""
        return carriers.list_carriers()

    @require(*ADMIN)
    @blp.arguments(CarrierCreateSchema)
    @blp.response(201, CarrierSchema)
    @blp.alt_response(409, response="CONFLICT")
    def post(self, data: dict[str, Any]) -> Any:
        """Add a carrier (admin); its webhooks are signed with `webhook_secret`."""
        return carriers.create_carrier(current_principal(), data)


@blp.route("/carriers/scorecard")
class CarrierScorecard(MethodView):
    @require(*READERS)
    @blp.response(200, CarrierScorecardSchema(many=True))
    def get(self) -> Any:
        """Per carrier: shipments, delivered, on-time rate, exceptions and cost per kg."""
        return shipments.carrier_scorecard()


@blp.route("/carriers/<code>")
class CarrierItem(MethodView):
    @require(*READERS)
    @blp.response(200, CarrierSchema)
    @blp.alt_response(404, response="NOT_FOUND")
    def get(self, code: str) -> Any:
        return carriers.get_carrier(code)


@blp.route("/carriers/<code>/services")
class CarrierServices(MethodView):
    @require(*ADMIN)
    @blp.arguments(ServiceCreateSchema)
    @blp.response(201, CarrierServiceSchema)
    @blp.alt_response(404, response="NOT_FOUND")
    @blp.alt_response(409, response="CONFLICT")
    def post(self, data: dict[str, Any], code: str) -> Any:
        """Add a service to a carrier (admin): transit days, daily capacity, cut-off, fuel."""
        return carriers.create_service(current_principal(), code, data)


@blp.route("/carriers/<code>/webhook")
class CarrierWebhook(MethodView):
    @blp.doc(
        security=[],
        parameters=[
            {
                "name": shipments.SIGNATURE_HEADER,
                "in": "header",
                "required": True,
                "description": "sha256=<hex HMAC-SHA256 of the raw body with the carrier's secret>",
                "schema": {"type": "string"},
            }
        ],
        requestBody={
            "required": True,
            "content": {
                "application/json": {
                    "schema": {
                        "type": "object",
                        "required": ["event_id", "tracking_number", "status"],
                        "properties": {
                            "event_id": {"type": "string"},
                            "tracking_number": {"type": "string"},
                            "status": {"type": "string"},
                            "occurred_at": {"type": "string", "format": "date-time"},
                            "location": {"type": "string"},
                            "note": {"type": "string"},
                        },
                    }
                }
            },
        },
    )
    @blp.response(200, WebhookResultSchema)
    @blp.alt_response(401, response="UNAUTHORIZED")
    @blp.alt_response(404, response="NOT_FOUND")
    @blp.alt_response(409, response="CONFLICT")
    @authenticates_itself
    def post(self, code: str) -> Any:
        """A carrier's tracking event, signed; a repeated `event_id` is acknowledged and ignored."""
        return shipments.carrier_webhook(
            code, request.get_data(cache=True), request.headers.get(shipments.SIGNATURE_HEADER)
        )


@blp.route("/services/<code>")
class ServiceItem(MethodView):
    @require(*ADMIN)
    @blp.arguments(ServicePatchSchema)
    @blp.response(200, CarrierServiceSchema)
    @blp.alt_response(404, response="NOT_FOUND")
    def patch(self, changes: dict[str, Any], code: str) -> Any:
        """Change a service (admin): capacity, transit days, fuel surcharge, active."""
        return carriers.update_service(current_principal(), code, changes)


@blp.route("/services/<code>/rates")
class ServiceRates(MethodView):
    @require(*READERS)
    @blp.response(200, description="the rate card as CSV", content_type="text/csv")
    @blp.alt_response(404, response="NOT_FOUND")
    def get(self, code: str) -> Any:
        """The rate card as CSV (`origin,region,max_weight_kg,base,per_kg,minimum`)."""
        return Response(
            carriers.export_rates(code),
            mimetype="text/csv",
            headers={"Content-Disposition": f'attachment; filename="rates-{code}.csv"'},
        )

    @require(*ADMIN)
    @blp.doc(requestBody=CSV_BODY)
    @blp.response(200, RateImportResultSchema)
    @blp.alt_response(404, response="NOT_FOUND")
    @blp.alt_response(422, response="UNPROCESSABLE_ENTITY", description="errors keyed `row N`")
    def put(self, code: str) -> Any:
        """Replace the service's rate card with a CSV file: every row or, on any bad row, none."""
        return carriers.import_rates(current_principal(), code, uploaded_text())


@blp.route("/rates/quote")
class RateQuote(MethodView):
    @require(*READERS)
    @blp.arguments(QuoteQuerySchema, location="query")
    @blp.response(200, RateQuoteSchema(many=True))
    @blp.alt_response(404, response="NOT_FOUND")
    def get(self, args: dict[str, Any]) -> Any:
        """What each active service charges for one parcel, cheapest first."""
        return carriers.quote(args)


@blp.route("/shipments")
class Shipments(MethodView):
    @require(*READERS)
    @blp.arguments(ShipmentQuerySchema, location="query")
    @blp.response(200, page_of(ShipmentSchema))
    def get(self, args: dict[str, Any]) -> dict[str, Any]:
        """Shipments, newest first; filter by warehouse, status and ship date."""
        items, next_cursor = shipments.list_shipments(args)
        return {"items": items, "next_cursor": next_cursor}

    @require(*SHIPPERS)
    @blp.arguments(ShipmentCreateSchema)
    @blp.response(201, ShipmentSchema)
    @blp.alt_response(404, response="NOT_FOUND")
    def post(self, data: dict[str, Any]) -> Any:
        """Plan a shipment by hand; committed storefront orders get theirs automatically."""
        actor = current_principal()
        actor.ensure_warehouse(data["warehouse"])
        shipment = shipments.create_shipment(actor, data)
        return shipments.get_shipment(shipment.id)


@blp.route("/shipments/assign")
class ShipmentAssignment(MethodView):
    @require(*PLANNERS)
    @blp.arguments(AssignRequestSchema)
    @blp.response(202, AssignmentStartedSchema)
    @blp.alt_response(404, response="NOT_FOUND")
    def post(self, data: dict[str, Any]) -> Any:
        """Choose a service for each of the day's shipments; follow it at `/api/v1/jobs/<id>`.

        The job's result lists each shipment's service, cost, ETA and why (the cheapest, or the
        cheaper one was full or too slow), with the cheapest-rate habit's cost beside it.
        """
        started = planning.start_assignment(current_principal(), data)
        return started, 202, {"Location": url_for("jobs.JobItem", job_id=started["job_id"])}


@blp.route("/shipments/<bigint:shipment_id>")
class ShipmentItem(MethodView):
    @require(*READERS)
    @blp.response(200, ShipmentSchema)
    @blp.alt_response(404, response="NOT_FOUND")
    def get(self, shipment_id: int) -> Any:
        """A shipment with its timeline."""
        return shipments.get_shipment(shipment_id)


@blp.route("/shipments/<bigint:shipment_id>/events")
class ShipmentEvents(MethodView):
    @require(*SHIPPERS)
    @blp.arguments(ShipmentEventCreateSchema)
    @blp.response(201, ShipmentSchema)
    @blp.alt_response(404, response="NOT_FOUND")
    @blp.alt_response(409, response="CONFLICT")
    def post(self, data: dict[str, Any], shipment_id: int) -> Any:
        """Record what happened to a shipment; a move its state does not allow is a 409."""
        shipments.record_event(current_principal(), shipment_id, data)
        return shipments.get_shipment(shipment_id)
