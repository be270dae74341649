"""schemathesis against the native API's served OpenAPI document: generated requests
(valid and not) get no 5xx, every response matches its documented schema, content type
and status, in a bounded run. Each operation's cases are drawn with hypothesis here
(schemathesis's own pytest plugin predates this pytest)."""

from __future__ import annotations

from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.specs.openapi.checks import positive_data_acceptance

from search_app.store.usage import UsageLog
from tests.web.conftest import LaunchedApp

EXAMPLES = 40  # per operation: about 200 requests in all, a few seconds
OPERATIONS = ["GET /search", "GET /featured", "GET /gifs", "GET /gifs/{gif_id}",
              "GET /gifs/{gif_id}/similar", "POST /gifs/{gif_id}/share", "GET /categories",
              "GET /complete", "GET /suggestions"]  # fmt: skip


@pytest.fixture(scope="module")
def native_schema(web_app: LaunchedApp) -> Any:
    return schemathesis.openapi.from_url(f"{web_app.url}/api/openapi.json")


def test_every_operation_is_checked(native_schema: Any) -> None:
    found = sorted(op.ok().label for op in native_schema.get_all_operations())
    assert found == sorted(OPERATIONS)


@pytest.mark.parametrize("label", OPERATIONS)
def test_the_native_api_matches_its_openapi_document(
    native_schema: Any, web_app: LaunchedApp, label: str
) -> None:
    # A query's meaning can't be said in JSON Schema: a query of exclusions only ("-dog")
    # is schema-valid and refused (400, one line: test_api_native.py). Every other check
    # runs on /search, and every check on the other operations.
    excluded = [positive_data_acceptance] if label == "GET /search" else []
    operation = next(op.ok() for op in native_schema.get_all_operations() if op.ok().label == label)

    @given(case=operation.as_strategy())
    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        derandomize=True,  # the same requests every run: a failure reproduces
        suppress_health_check=list(HealthCheck),
        database=None,
    )
    def check(case: Any) -> None:
        case.call_and_validate(excluded_checks=excluded)

    try:
        check()
    finally:  # a generated share of a real GIF would rank it up for the session's other tests
        UsageLog.for_settings(web_app.settings).clear()
