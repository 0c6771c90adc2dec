"""Turn refusals into HTTP answers: RFC 9457 problem documents, bilingual, with the stable code.

Every error answer of the REST API has the same shape (``application/problem+json``)::

    {"type": "urn:edxgw:error:receive.sender_not_registered", "status": 403,
     "title": "<English message>", "code": "receive.sender_not_registered",
     "message_vi": "...", "message_en": "...", "retryable": false,
     "doc_id": "...",            # when the refusal was traced under a DocId
     "issues": [{"code": ..., "message_vi": ..., "message_en": ..., "line": ...}, ...]}

A client switches on ``code``; people read ``message_vi`` (or ``message_en``).
"""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web

from gateway.core.errors import Problem, define
from gateway.service.hub import issue_json

__all__ = ["BAD_REQUEST", "INTERNAL", "problem_body", "problem_response", "request_problem"]

BAD_REQUEST = define(
    "request.invalid",
    "Yêu cầu không hợp lệ: {reason}",
    "The request is not valid: {reason}",
)
INTERNAL = define(
    "gateway.internal",
    "Lỗi nội bộ của trục (mã sự cố {incident}); gói tin chưa được nhận, hãy gửi lại sau",
    "Internal error of the hub (incident {incident}); nothing was accepted, send again later",
)


def request_problem(reason: str, *, status: int = 400, vi: str | None = None) -> Problem:
    """A malformed request (not a malformed package): bad JSON, unknown parameter values."""
    return Problem(
        code=BAD_REQUEST.code,
        http_status=status,
        retryable=False,
        message_vi=BAD_REQUEST.vi.format(reason=vi or reason),
        message_en=BAD_REQUEST.en.format(reason=reason),
    )


def problem_body(problem: Problem, doc_id: str | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {
        "type": f"urn:edxgw:error:{problem.code}",
        "status": problem.http_status,
        "title": problem.message_en,
        "code": problem.code,
        "message_vi": problem.message_vi,
        "message_en": problem.message_en,
        "retryable": problem.retryable,
    }
    if doc_id:
        body["doc_id"] = doc_id
    if problem.issues:
        body["issues"] = [issue_json(i) for i in problem.issues]
    return body


def problem_response(
    problem: Problem, doc_id: str | None = None, headers: dict[str, str] | None = None
) -> web.Response:
    return web.Response(
        status=problem.http_status,
        text=json.dumps(problem_body(problem, doc_id), ensure_ascii=False),
        content_type="application/problem+json",
        headers=headers,
    )
