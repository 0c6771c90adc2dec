"""The OpenAPI document at /openapi.json against the running application's router."""

from __future__ import annotations

from typing import Any

import pytest
from aiohttp import web

from edxml.errors import catalogue as edxml_catalogue

from .conftest import Gateway

pytestmark = pytest.mark.rabbitmq

#: Every code the refusal tests (test_refusals.py) meet, and the edxml codes of test_routing.
MET = {
    "auth.unknown_token",
    "auth.missing_credentials",
    "auth.system_revoked",
    "auth.certificate_rejected",
    "auth.certificate_unknown",
    "receive.sender_not_registered",
    "receive.too_large",
    "receive.kind_mismatch",
    "inbox.not_registered",
    "inbox.not_found",
    "route.recipient_locked",
    "request.invalid",
    "edxml.not_well_formed",
    "edxml.entity_expansion",
    "edxml.external_entity",
    "edxml.attachment_bad_base64",
}
_METHODS = {"get", "post", "put", "patch", "delete"}


async def _document(gateway: Gateway) -> dict[str, Any]:
    response = await gateway.client.get("/openapi.json")
    assert response.status == 200
    assert response.content_type == "application/json"
    doc: dict[str, Any] = await response.json()
    return doc


def _routed(app: web.Application) -> set[tuple[str, str]]:
    routed = set()
    for route in app.router.routes():
        if route.method == "HEAD" or isinstance(route.resource, web.StaticResource):
            continue
        assert route.resource is not None
        routed.add((route.resource.canonical, route.method.lower()))
    return routed


async def test_every_route_is_documented_and_every_documented_path_is_routed(
    gateway: Gateway,
) -> None:
    doc = await _document(gateway)
    assert doc["openapi"].startswith("3.1")
    assert doc["info"]["title"] and doc["info"]["version"]
    documented = {
        (path, method)
        for path, item in doc["paths"].items()
        for method in item
        if method in _METHODS
    }
    routed = _routed(gateway.client.app)
    assert ("/api/v1/packages", "post") in routed
    assert routed - documented == set(), "routes missing from /openapi.json"
    assert documented - routed == set(), "documented paths nobody serves"
    # Path parameters are declared under the names the routes use.
    for path, method in documented:
        names = {p["name"] for p in doc["paths"][path][method].get("parameters", [])}
        for part in path.split("/"):
            if part.startswith("{"):
                assert part.strip("{}") in names, (path, method)


async def test_every_problem_code_a_client_meets_is_in_the_schema(gateway: Gateway) -> None:
    doc = await _document(gateway)
    problem = doc["components"]["schemas"]["Problem"]
    codes = set(problem["properties"]["code"]["enum"])
    assert MET - codes == set()
    # The edxml library's codes reach clients verbatim (400/413/422 on packages).
    assert {c.code for c in edxml_catalogue()} - codes == set()
    # So do the store's, when it cannot serve (503, Retry-After).
    assert {"store.unavailable", "store.busy"} <= codes
    assert sorted(codes) == problem["properties"]["code"]["enum"]
    # Every documented error response is a Problem.
    for item in doc["paths"].values():
        for method, operation in item.items():
            for status, response in operation["responses"].items():
                if status.startswith(("4", "5")) and "content" in response:
                    schema = response["content"]["application/problem+json"]["schema"]
                    assert schema == {"$ref": "#/components/schemas/Problem"}, (method, status)


async def test_the_documented_security_is_enforced(gateway: Gateway) -> None:
    doc = await _document(gateway)
    assert set(doc["components"]["securitySchemes"]) == {"bearer", "mtls", "adminSession"}
    for path, item in doc["paths"].items():
        if "{" in path:
            continue
        for method, operation in item.items():
            if method not in _METHODS or method != "get":
                continue
            response = await gateway.client.get(path, allow_redirects=False)
            security = operation.get("security", doc["security"])
            if security == []:
                # Public: answered, or (``/console``) redirected to the console's first page.
                assert response.status in (200, 303, 503), path
            elif security == [{"adminSession": []}]:
                # The console: its JSON API answers 401, its pages send the browser to log in.
                if path.startswith("/api/"):
                    assert response.status == 401, path
                    assert (await response.json())["code"] == "admin.login_required", path
                else:
                    assert response.status in (302, 303), path
                    assert "/console/login" in response.headers["Location"], path
            else:
                assert response.status == 401, path
                assert (await response.json())["code"] == "auth.missing_credentials"
