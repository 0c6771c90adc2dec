"""The OpenAPI 3.1 document of the REST door, served at ``/openapi.json``.

Written by hand next to the handlers it describes (``api.py``) and checked by a test that
every route of the application appears here and every path here is routed. The error codes a
client may meet are listed from the live catalogue (``gateway.core.errors.catalogue``).
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

import gateway
from edxml.errors import catalogue as edxml_catalogue
from gateway.core.errors import catalogue
from gateway.store import errors as store_errors
from gateway.web.console import openapi as console_openapi
from gateway.web.vdxp import openapi_paths as vdxp_paths

__all__ = ["document", "setup"]


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _problem(description: str) -> dict[str, Any]:
    return {
        "description": description,
        "content": {"application/problem+json": {"schema": _ref("Problem")}},
    }


_ERRORS = {
    "400": _problem("Malformed request or package (code says which)"),
    "401": _problem("No or unknown credentials (auth.*)"),
    "403": _problem("Not allowed for this system (wrong sender, foreign inbox, revoked)"),
    "404": _problem("Not found, or not visible to this system"),
    "409": _problem("Conflicts with the current state (e.g. acknowledged differently)"),
    "413": _problem("Package larger than the hub accepts (receive.too_large)"),
    "422": _problem("Invalid package, signature, or unroutable (locked recipient)"),
    "500": _problem("The hub's fault; nothing was accepted; retry later"),
    "503": _problem("Store temporarily unavailable; retry after Retry-After"),
}

_TIME = {"type": "string", "format": "date-time"}
_NULLABLE_STR = {"type": ["string", "null"]}


def _codes() -> list[str]:
    """Every code a problem document may carry: the core's, edxml's (passed through verbatim
    by ``from_edxml``), the store's (``api.refusals``) and the request's own."""
    store = {
        cls.code
        for cls in vars(store_errors).values()
        if isinstance(cls, type) and issubclass(cls, store_errors.StoreError)
    }
    core = {r.code for r in catalogue()}
    return sorted(core | {c.code for c in edxml_catalogue()} | store | {"request.invalid"})


def _schemas() -> dict[str, Any]:
    progress = {
        "type": ["object", "null"],
        "properties": {
            "level": {**_NULLABLE_STR, "description": "01 < 03 < 04 < 05 < 06; 02 terminal"},
            "level_at": {**_TIME, "type": ["string", "null"]},
            "change_state": {**_NULLABLE_STR, "description": "13 asked, 15 agreed, 16 refused"},
            "change_at": {**_TIME, "type": ["string", "null"]},
            "last_code": _NULLABLE_STR,
            "events": {"type": "integer"},
        },
    }
    message = {
        "doc_id": {"type": "string"},
        "kind": {"enum": ["edoc", "status"]},
        "sender": {"type": "string", "description": "From organ id, canonical"},
        "document_id": {"type": "string"},
        "business_type": {"type": ["integer", "null"]},
        "status_code": _NULLABLE_STR,
        "subject": _NULLABLE_STR,
        "code_notation": _NULLABLE_STR,
        "received_at": _TIME,
        "sha256": {"type": "string"},
        "size": {"type": "integer"},
    }
    delivery = {
        "delivery_id": {"type": "string"},
        "recipient": {"type": "string"},
        "route": {"enum": ["local", "downlink", "uplink", None]},
        "state": {"enum": ["pending", "queued", "retrying", "delivered", "done", "failed", "dead"]},
        "attempts": {"type": "integer"},
        "last_error": _NULLABLE_STR,
        "delivered_at": {**_TIME, "type": ["string", "null"]},
        "acked_at": {**_TIME, "type": ["string", "null"]},
    }
    return {
        "Problem": {
            "type": "object",
            "required": ["type", "status", "code", "message_vi", "message_en", "retryable"],
            "properties": {
                "type": {"type": "string", "example": "urn:edxgw:error:route.recipient_locked"},
                "status": {"type": "integer"},
                "title": {"type": "string"},
                "code": {"enum": _codes()},
                "message_vi": {"type": "string"},
                "message_en": {"type": "string"},
                "retryable": {"type": "boolean"},
                "doc_id": {"type": "string", "description": "the id the refusal is traced under"},
                "issues": {"type": "array", "items": {"type": "object"}},
            },
        },
        "SignedReceipt": {
            "type": "object",
            "description": "sign(canonical_json(receipt)) with the hub key; verify with "
            "GET /api/v1/certificate (gateway/core/receipt.py)",
            "properties": {
                "receipt": {
                    "type": "object",
                    "properties": {
                        "version": {"const": 1},
                        "doc_id": {"type": "string"},
                        "sha256": {"type": "string", "description": "of the bytes received"},
                        "size": {"type": "integer"},
                        "received_at": _TIME,
                        "hub": {"type": "string"},
                        "node": {"type": "string"},
                        "kind": {"enum": ["edoc", "status"]},
                        "sender": {"type": "string"},
                        "document_id": {"type": "string"},
                    },
                },
                "alg": {"enum": ["RS256", "ES256", "ES384"]},
                "signature": {"type": "string", "contentEncoding": "base64"},
                "certificate": {"type": "string", "description": "PEM"},
            },
        },
        "Acceptance": {
            "type": "object",
            "properties": {
                **{k: message[k] for k in ("doc_id", "kind", "sender", "document_id")},
                "duplicate": {"type": "boolean"},
                "sha256": {"type": "string"},
                "size": {"type": "integer"},
                "received_at": _TIME,
                "recipients": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "properties": {
                            "recipient": {"type": "string"},
                            "route": {"enum": ["local", "downlink", "uplink"]},
                            "delivery_id": {"type": "string"},
                        },
                    },
                },
                "warnings": {"type": "array", "items": {"type": "object"}},
                "receipt": _ref("SignedReceipt"),
            },
        },
        "InboxItem": {"type": "object", "properties": {**message, **delivery}},
        "InboxPage": {
            "type": "object",
            "properties": {
                "items": {"type": "array", "items": _ref("InboxItem")},
                "next_cursor": _NULLABLE_STR,
            },
        },
        "Tracking": {
            "type": "object",
            "properties": {
                **message,
                "original_doc_id": _NULLABLE_STR,
                "recipients": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "properties": {**delivery, "progress": progress},
                    },
                },
                "statuses": {"type": "array", "items": {"type": "object"}},
            },
        },
    }


def document() -> dict[str, Any]:
    auth: list[dict[str, list[str]]] = [{"bearer": []}, {"mtls": []}]
    package_body = {
        "required": True,
        "content": {
            "application/xml": {"schema": {"type": "string", "format": "binary"}},
            "application/octet-stream": {"schema": {"type": "string", "format": "binary"}},
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "properties": {"package": {"type": "string", "format": "binary"}},
                }
            },
        },
    }
    delivery_id = {
        "name": "delivery_id",
        "in": "path",
        "required": True,
        "schema": {"type": "string"},
    }
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "edXML gateway — agency API / API cho hệ thống QLVB",
            "version": gateway.__version__,
            "description": "Submit edXML packages (QCVN 102:2016), read and acknowledge the "
            "inbox, follow a document's delivery and status progress. Errors are RFC 9457 "
            "problem documents with a stable `code` and messages in Vietnamese and English.",
        },
        "components": {
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer", "description": "API token"},
                "mtls": {"type": "mutualTLS", "description": "client certificate of the system"},
            },
            "schemas": _schemas(),
        },
        "security": auth,
        "paths": {
            "/api/v1/packages": {
                "post": {
                    "summary": "Submit a document or status package / Gửi gói tin",
                    "parameters": [
                        {
                            "name": "kind",
                            "in": "query",
                            "schema": {"enum": ["edoc", "status"]},
                            "description": "refuse the package unless it is of this kind",
                        }
                    ],
                    "requestBody": package_body,
                    "responses": {
                        "202": _json("Accepted, committed and signed", "Acceptance"),
                        "200": _json("Already accepted before: the original DocId", "Acceptance"),
                        **_ERRORS,
                    },
                }
            },
            "/api/v1/inbox": {
                "get": {
                    "summary": "List the inbox / Danh sách văn bản đến",
                    "parameters": [
                        _query(
                            "organ", "only this agency (repeatable); default: all of the system's"
                        ),
                        _query(
                            "state", "delivered | done | failed", ["delivered", "done", "failed"]
                        ),
                        _query("kind", "edoc | status", ["edoc", "status"]),
                        _query("since", "ISO 8601 time with zone"),
                        _query("limit", "1-1000, default 100"),
                        _query("cursor", "next_cursor of the previous page"),
                    ],
                    "responses": {"200": _json("One page", "InboxPage"), **_ERRORS},
                }
            },
            "/api/v1/inbox/{delivery_id}": {
                "get": {
                    "summary": "Fetch one package (sealed by the hub) / Tải gói tin",
                    "parameters": [delivery_id],
                    "responses": {
                        "200": {
                            "description": "the edXML package",
                            "content": {"application/xml": {}},
                        },
                        **_ERRORS,
                    },
                }
            },
            "/api/v1/inbox/{delivery_id}/ack": {
                "post": {
                    "summary": "Acknowledge done or fail / Xác nhận đã nhận",
                    "parameters": [delivery_id],
                    "requestBody": {
                        "required": True,
                        "content": {
                            "application/json": {
                                "schema": {
                                    "type": "object",
                                    "required": ["result"],
                                    "properties": {
                                        "result": {"enum": ["done", "fail"]},
                                        "reason": {"type": "string"},
                                    },
                                }
                            }
                        },
                    },
                    "responses": {"200": {"description": "the delivery's new state"}, **_ERRORS},
                }
            },
            "/api/v1/documents/{doc_id}": {
                "get": {
                    "summary": "Delivery and status progress / Tiến trình xử lý",
                    "parameters": [
                        {
                            "name": "doc_id",
                            "in": "path",
                            "required": True,
                            "schema": {"type": "string"},
                        }
                    ],
                    "responses": {"200": _json("The document", "Tracking"), **_ERRORS},
                }
            },
            "/api/v1/me": {
                "get": {
                    "summary": "The calling system",
                    "responses": {"200": {"description": "system id and agencies"}, **_ERRORS},
                }
            },
            "/api/v1/certificate": {
                "get": {
                    "summary": "The hub certificate that signs receipts",
                    "security": [],
                    "responses": {"200": {"description": "PEM"}},
                }
            },
            "/healthz": {"get": {"security": [], "responses": {"200": {"description": "up"}}}},
            "/readyz": {
                "get": {
                    "security": [],
                    "responses": {
                        "200": {"description": "store, broker, keys, directory ready"},
                        "503": {"description": "not ready; checks say which part"},
                    },
                }
            },
            "/openapi.json": {
                "get": {"security": [], "responses": {"200": {"description": "this document"}}}
            },
            "/metrics": {
                "get": {
                    "summary": "Prometheus metrics of this node (README: Operations)",
                    "description": "Bearer metrics_token when the node is configured with one.",
                    "security": [],
                    "responses": {
                        "200": {"description": "text exposition format 0.0.4"},
                        "401": {"description": "metrics_token set and not presented"},
                    },
                }
            },
            # The national-axis door (gateway/web/vdxp.py): not REST, listed for completeness.
            **vdxp_paths(),
        },
    }


def _json(description: str, schema: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": _ref(schema)}}}


def _path(name: str) -> dict[str, Any]:
    return {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}


def _query(name: str, description: str, enum: list[str] | None = None) -> dict[str, Any]:
    schema: dict[str, Any] = {"enum": enum} if enum else {"type": "string"}
    return {"name": name, "in": "query", "description": description, "schema": schema}


async def serve(request: web.Request) -> web.Response:
    doc = document()
    # The admin console and its JSON API (gateway/web/console), described from the router.
    doc["paths"].update(console_openapi.paths(request.app))
    doc["components"]["securitySchemes"]["adminSession"] = console_openapi.SECURITY_SCHEME
    return web.json_response(doc)


def setup(app: web.Application) -> None:
    app.router.add_get("/openapi.json", serve)
