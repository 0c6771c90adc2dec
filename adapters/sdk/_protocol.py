"""The REST API as plain values: which request each call makes, what its answer means (sans-io).

No I/O here (style.md §1, like h11): a :class:`Call` says method, path, parameters and body,
and how to read a successful :class:`Reply`; :func:`error_for` turns an error answer into the
SDK's exception. :mod:`adapters.sdk.client` runs calls over httpx, synchronously or not, so
both clients behave alike by construction.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Generic, TypeVar
from urllib.parse import quote

from cryptography import x509

from adapters.sdk.errors import (
    EdxgwError,
    ProblemError,
    ProtocolError,
    UsageError,
    problem_error,
)
from adapters.sdk.models import (
    Acknowledged,
    InboxItem,
    InboxPage,
    Me,
    Received,
    Submitted,
    Tracking,
    read,
)

__all__ = [
    "Call",
    "Reply",
    "ack",
    "certificate",
    "delay",
    "error_for",
    "fetch",
    "inbox",
    "me",
    "submit",
    "track",
]

T = TypeVar("T")
MAX_DELAY = 30.0


@dataclass(frozen=True, slots=True)
class Reply:
    """An HTTP answer: status, headers (lower-case names) and the whole body."""

    status: int
    headers: Mapping[str, str]
    body: bytes


@dataclass(frozen=True, slots=True)
class Call(Generic[T]):
    """One API request and how to read its successful answer."""

    method: str
    path: str
    parse: Callable[[Reply], T] = field(repr=False)
    params: tuple[tuple[str, str], ...] = ()
    json: Mapping[str, Any] | None = None
    #: Raw body: bytes, or a file streamed from disk (large packages, bounded memory).
    content: bytes | Path | None = None
    content_type: str | None = None
    #: Reading the answer is CPU work (a whole package): an async client does it in a thread.
    heavy: bool = False


def _json(reply: Reply, what: str) -> Any:
    try:
        return json.loads(reply.body)
    except ValueError:
        raise ProtocolError(
            f"the gateway's answer for {what} is not JSON (HTTP {reply.status})",
            f"câu trả lời của trục cho {what} không phải JSON (HTTP {reply.status})",
        ) from None


def _segment(value: str) -> str:
    return quote(value, safe="")


def error_for(status: int, headers: Mapping[str, str], body: bytes) -> EdxgwError:
    """The exception for an error answer: a problem document, or something a proxy said."""
    problem: Mapping[str, Any] | None = None
    try:
        value = json.loads(body) if body else None
        if isinstance(value, dict) and "code" in value:
            problem = value
    except ValueError:
        problem = None
    if problem is None:
        # Not the gateway's own answer (a reverse proxy's 502 page, a wrong URL's 404).
        error: EdxgwError = problem_error(
            status,
            {
                "code": f"http.{status}",
                "message_en": f"HTTP {status} without a problem document: "
                f"{body[:200].decode('utf-8', 'replace')!r}",
                "message_vi": f"HTTP {status}, không kèm tài liệu lỗi của trục",
                "retryable": status >= 500 or status in (408, 429),
            },
        )
    else:
        error = problem_error(status, problem)
    retry_after = headers.get("retry-after")
    if isinstance(error, ProblemError) and retry_after and retry_after.strip().isdigit():
        error.retry_after = float(retry_after)
    return error


def delay(attempt: int, backoff: float, error: EdxgwError) -> float:
    """Seconds to wait before attempt ``attempt + 1`` (exponential, or what the hub asked)."""
    asked: float | None = error.retry_after if isinstance(error, ProblemError) else None
    if asked is not None:
        return min(asked, MAX_DELAY)
    return min(backoff * 2.0**attempt, MAX_DELAY)


# -- the calls --------------------------------------------------------------------------------


def submit(content: bytes | Path, kind: str | None = None) -> Call[Submitted]:
    return Call(
        "POST",
        "/api/v1/packages",
        lambda r: read(Submitted.from_json, _json(r, "submit"), "submit"),
        params=(("kind", kind),) if kind else (),
        content=content,
        content_type="application/xml",
    )


def inbox(
    *,
    organs: Iterable[str] = (),
    state: str | None = None,
    kind: str | None = None,
    since: datetime | None = None,
    limit: int = 100,
    cursor: str | None = None,
) -> Call[InboxPage]:
    params: list[tuple[str, str]] = [("organ", o) for o in organs]
    if state:
        params.append(("state", state))
    if kind:
        params.append(("kind", kind))
    if since is not None:
        if since.tzinfo is None:
            raise UsageError(
                "since needs a time zone (e.g. datetime.now(UTC))",
                "since cần múi giờ (ví dụ datetime.now(UTC))",
            )
        params.append(("since", since.isoformat()))
    params.append(("limit", str(limit)))
    if cursor:
        params.append(("cursor", cursor))
    return Call(
        "GET",
        "/api/v1/inbox",
        lambda r: read(InboxPage.from_json, _json(r, "inbox"), "inbox"),
        params=tuple(params),
    )


def fetch(delivery_id: str, item: InboxItem | None = None) -> Call[Received]:
    return Call(
        "GET",
        f"/api/v1/inbox/{_segment(delivery_id)}",
        lambda r: Received.from_reply(r.headers, r.body, item, delivery_id),
        heavy=True,
    )


def ack(delivery_id: str, *, ok: bool, reason: str | None = None) -> Call[Acknowledged]:
    body: dict[str, Any] = {"result": "done" if ok else "fail"}
    if reason is not None:
        body["reason"] = reason
    return Call(
        "POST",
        f"/api/v1/inbox/{_segment(delivery_id)}/ack",
        lambda r: read(Acknowledged.from_json, _json(r, "ack"), "ack"),
        json=body,
    )


def track(doc_id: str) -> Call[Tracking]:
    return Call(
        "GET",
        f"/api/v1/documents/{_segment(doc_id)}",
        lambda r: read(Tracking.from_json, _json(r, "document"), "document"),
    )


def me() -> Call[Me]:
    return Call("GET", "/api/v1/me", lambda r: read(Me.from_json, _json(r, "me"), "me"))


def _certificate(reply: Reply) -> x509.Certificate:
    try:
        return x509.load_pem_x509_certificate(reply.body)
    except ValueError:
        raise ProtocolError(
            "GET /api/v1/certificate did not return a PEM certificate",
            "GET /api/v1/certificate không trả về chứng thư PEM",
        ) from None


def certificate() -> Call[x509.Certificate]:
    return Call("GET", "/api/v1/certificate", _certificate)
