"""The agency side of webhook push: an aiohttp handler that verifies each push, then hands it over.

For an agency's developers (and the conformance kit's reference agency)::

    from aiohttp import web
    from adapters.webhook.receiver import Push, receiver

    async def store_it(push: Push) -> None:
        # Store push.body durably under push.delivery_id (a repeat is a no-op) BEFORE returning:
        # the 2xx this handler then answers tells the hub the package is yours.
        ...

    app = web.Application(client_max_size=80 * 1024 * 1024)
    app.router.add_post("/edxgw", receiver("the secret edxgw webhook set printed", store_it))
    web.run_app(app, port=8443, ssl_context=...)

Answers: ``204`` after ``on_push`` returned; ``401`` with a problem document (``code``
``webhook.signature_*`` / ``webhook.timestamp_stale``) for a push that does not verify (the hub
retries, so a rotated secret heals once configured); ``400`` (``webhook.not_edxml``) for a body
that is not XML — the hub then stops retrying it; ``503`` if ``on_push`` raised (the hub retries).
Acknowledge (done/fail) and send statuses over the REST API as any system does:
``POST /api/v1/inbox/{delivery_id}/ack`` and ``POST /api/v1/packages``.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass

from aiohttp import web

from adapters.webhook.errors import NOT_EDXML, RECEIVER_FAILED, WebhookError
from adapters.webhook.signature import TOLERANCE_SECONDS, verify
from gateway.core.errors import Reason

__all__ = ["Push", "receiver"]

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Push:
    """One verified push: the sealed package and what the hub says about it."""

    delivery_id: str
    doc_id: str
    kind: str  # edoc | status
    sender: str
    recipient: str
    attempt: int
    body: bytes  # the sealed edXML package, byte for byte as the hub stored it
    headers: Mapping[str, str]


def _problem(status: int, reason: Reason | WebhookError) -> web.Response:
    if isinstance(reason, WebhookError):
        code, vi, en = reason.code, reason.message_vi, reason.message_en
    else:
        code, vi, en = reason.code, reason.vi, reason.en
    body = {"status": status, "code": code, "message_vi": vi, "message_en": en, "title": en}
    return web.Response(
        status=status,
        text=json.dumps(body, ensure_ascii=False),
        content_type="application/problem+json",
    )


def receiver(
    secrets: str | Iterable[str],
    on_push: Callable[[Push], Awaitable[None]],
    *,
    tolerance: int = TOLERANCE_SECONDS,
    now: Callable[[], float] = time.time,
) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
    """An aiohttp handler for the hub's pushes (module doc)."""
    keys = [secrets] if isinstance(secrets, str) else list(secrets)

    async def handle(request: web.Request) -> web.StreamResponse:
        body = await request.read()
        try:
            verified = verify(keys, request.headers, body, tolerance=tolerance, now=now)
        except WebhookError as exc:
            log.warning("push refused: %s", exc)
            return _problem(401, exc)
        if not body.lstrip().startswith(b"<"):
            return _problem(400, NOT_EDXML)
        attempt = request.headers.get("Edxgw-Attempt", "1")
        push = Push(
            delivery_id=verified.delivery_id,
            doc_id=request.headers.get("Edxgw-Doc-Id", ""),
            kind=request.headers.get("Edxgw-Kind", ""),
            sender=request.headers.get("Edxgw-Sender", ""),
            recipient=request.headers.get("Edxgw-Recipient", ""),
            attempt=int(attempt) if attempt.isdigit() else 1,
            body=body,
            headers=dict(request.headers),
        )
        try:
            await on_push(push)
        except Exception:
            log.exception("storing push %s failed; the hub will retry", push.delivery_id)
            return _problem(503, RECEIVER_FAILED)
        return web.Response(status=204)

    return handle
