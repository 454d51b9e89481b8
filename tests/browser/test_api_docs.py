"""The API docs render their operations from this server alone: Swagger UI and ReDoc come from
drf-spectacular-sidecar's static files, and every request to another host is aborted by the `page` fixture."""

from __future__ import annotations

from typing import Any


def test_swagger_ui_renders_the_operations_with_the_network_blocked(page: Any, blocked_requests, console_errors):
    # when
    page.goto("/api/docs/")
    # then: the operations, read from /api/schema/, are on the page
    page.locator(".opblock-summary-path", has_text="/api/v1/search/").first.wait_for()
    paths = page.locator(".opblock-summary-path").all_inner_texts()
    assert "/api/v1/search/" in paths and "/api/v1/garments/{id}/similar/" in paths
    assert blocked_requests == []
    assert console_errors == []


def test_an_operation_opens_with_its_parameters(page: Any, blocked_requests):
    page.goto("/api/docs/")
    page.locator(".opblock-get .opblock-summary-path", has_text="/api/v1/search/").first.click()
    page.locator(".parameters-col_name", has_text="q").first.wait_for()
    names = [name.split()[0] for name in page.locator(".parameters-col_name").all_inner_texts() if name.strip()]
    assert {"q", "cursor", "price_min", "brand"} <= set(names)
    assert blocked_requests == []


def test_redoc_renders_the_operations_with_the_network_blocked(page: Any, blocked_requests, console_errors):
    page.goto("/api/redoc/")
    page.get_by_text("/api/v1/search/").first.wait_for()
    assert page.locator("[data-section-id^='operation/']").count() >= 5
    assert blocked_requests == []
    # The one thing the page's policy refuses is the logo ReDoc's bundle names on its CDN (prethrift/api_docs.py):
    # it is blocked before any request leaves, and nothing else is refused or fails.
    assert [error for error in console_errors if "cdn.redoc.ly/redoc/logo-mini.svg" not in error] == []


def test_the_api_root_says_how_to_get_a_token_without_one(page: Any):
    # given: a browser with no session and no token
    response = page.goto("/api/v1/")
    # then: the browsable root answers, and explains where a token comes from
    assert response is not None and response.status == 200
    text = page.locator("body").inner_text()
    assert "Getting a token" in text and "drf_create_token" in text
    assert "/api/v1/search/" in text
