"""Generated requests over the whole OpenAPI document: no 5xx, and responses match the document.

Bounded (a few examples per operation) and derandomised, so the run is the same every time and
takes well under the three minutes CI allows; run with ``-p no:xdist`` for a single report.
"""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import response_schema_conformance

from tests.factories import ApiClient

MAX_EXAMPLES = 20


@pytest.fixture
def api_schema(app, admin: ApiClient, make_product, make_warehouse, receive):
    make_product(sku="A")
    make_warehouse(code="W1")
    receive("A", "W1", 20)
    app.config["SCHEMATHESIS_TOKEN"] = admin.token
    # Generated bursts must meet the rules, not the sign-in throttle.
    app.config["RATELIMIT_ENABLED"] = False
    return schemathesis.openapi.from_wsgi("/api/openapi.json", app)


def test_no_server_errors_and_responses_match_the_document(api_schema, app):
    headers = {"Authorization": f"Bearer {app.config['SCHEMATHESIS_TOKEN']}"}
    checks = [not_a_server_error, response_schema_conformance]
    failures: list[str] = []
    cases = 0
    operations = [result.ok() for result in api_schema.get_all_operations()]
    assert len(operations) > 30

    for operation in operations:

        @settings(
            max_examples=MAX_EXAMPLES,
            derandomize=True,
            deadline=None,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        @given(case=operation.as_strategy())
        def run(case):
            nonlocal cases
            cases += 1
            try:
                response = case.call(headers=headers)
                case.validate_response(response, checks=checks)
            except (Exception, BaseExceptionGroup) as exc:  # report every failing operation
                failures.append(f"{case.operation.label}: {str(exc).splitlines()[0][:300]}")

        run()
    print(f"schemathesis: {len(operations)} operations, {cases} cases, {len(failures)} failures")
    assert failures == []
