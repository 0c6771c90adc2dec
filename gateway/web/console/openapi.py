"""The console's and the admin API's entries in ``/openapi.json``, read off the live router.

Feature modules (this helper's and console-B's) add routes independently; describing them
from the router keeps the document complete without a hand-kept list: each operation's
summary is its handler's first docstring line, its path parameters come from the route, its
required role from ``require()``, and its error answers are the ``admin.*`` problem documents.
Console pages answer ``text/html``; ``/api/admin/v1`` answers JSON.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

__all__ = ["SECURITY_SCHEME", "paths"]

_PREFIXES = ("/console", "/api/admin/")
_PROBLEM = {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}


def _summary(handler: Any) -> str:
    doc = (getattr(handler, "__doc__", None) or "").strip()
    return doc.splitlines()[0] if doc else "Admin console"


def _operation(path: str, method: str, handler: Any) -> dict[str, Any]:
    role = getattr(handler, "console_role", None)
    api = path.startswith("/api/admin/")
    content: dict[str, Any] = {"application/json": {}} if api else {"text/html": {}}
    responses: dict[str, Any] = {"200": {"description": "OK", "content": content}}
    if method in ("post", "delete") and not api:
        responses = {"303": {"description": "done; see Location"}}
    responses["400"] = {"description": "admin.bad_query", "content": _PROBLEM}
    if role is not None:
        responses["401"] = {"description": "admin.login_required", "content": _PROBLEM}
        forbidden = "admin.forbidden, admin.csrf_failed"
        responses["403"] = {"description": forbidden, "content": _PROBLEM}
    operation: dict[str, Any] = {
        "tags": ["admin API" if api else "admin console (HTML)"],
        "summary": _summary(handler),
        "security": [{"adminSession": []}] if role is not None else [],
        "responses": responses,
    }
    if role is not None:
        operation["description"] = f"Role: {role}. State changes need the X-CSRF-Token header."
    parameters = [
        {"name": part.strip("{}"), "in": "path", "required": True, "schema": {"type": "string"}}
        for part in path.split("/")
        if part.startswith("{")
    ]
    if parameters:
        operation["parameters"] = parameters
    return operation


def paths(app: web.Application) -> dict[str, Any]:
    """OpenAPI path items for every console and admin API route of ``app``."""
    out: dict[str, dict[str, Any]] = {}
    for route in app.router.routes():
        resource = route.resource
        if resource is None or route.method == "HEAD" or isinstance(resource, web.StaticResource):
            continue
        path = resource.canonical
        if not path.startswith(_PREFIXES):
            continue
        method = route.method.lower()
        out.setdefault(path, {})[method] = _operation(path, method, route.handler)
    return out


#: Added to ``components.securitySchemes`` by the OpenAPI document.
SECURITY_SCHEME = {
    "type": "apiKey",
    "in": "cookie",
    "name": "edxgw_session",
    "description": "admin console session (POST /api/admin/v1/session); __Host- prefixed under TLS",
}
