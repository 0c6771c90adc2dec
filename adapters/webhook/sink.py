"""Push each delivery of a ``push`` agency to its webhook: the consumer effect, gateway side.

:class:`WebhookSink` is a :data:`gateway.broker.Effect`. The consumer of the agency's inbox
queue calls it for every delivery it is about to record; it returns once the receiver answered
2xx and raises :class:`~gateway.broker.EffectFailed` otherwise, so the consumer's one
acknowledgement policy (``gateway/core/deliver.py``) retries through the delay queues with
exponential backoff and dead-letters after ``delivery_max_attempts`` (invariant §3.2: the
message is acked only after the push succeeded and the delivery row is committed).

The request: ``POST <url>`` with the sealed package as the body (``application/xml``, streamed
from the blob file, never held whole in memory) and these headers::

    Edxgw-Delivery-Id, Edxgw-Doc-Id, Edxgw-Kind (edoc|status), Edxgw-Sender, Edxgw-Recipient,
    Edxgw-Sha256 (of the body), Edxgw-Attempt (1, 2, ...), Edxgw-Hub (this hub's organ id),
    Edxgw-Timestamp and Edxgw-Signature (HMAC-SHA256, ``adapters.webhook.signature``)

A slow or dead receiver holds only its own agency back: every agency has its own inbox queue and
consumer (``gateway/app.py``), and here its own HTTP session whose connection pool and
semaphore admit ``concurrency`` pushes at a time, each bounded by ``timeout_seconds``; nothing
is shared with another agency's pushes but the event loop. With ``tls_client`` the hub presents
its own certificate (``cert_file``/``key_file``: mTLS); ``ca_file`` pins the CA that must have
issued the receiver's certificate. Redirects are never followed. aiohttp's exceptions are
translated in one place, :func:`_translate`, most specific first.
"""

from __future__ import annotations

import asyncio
import io
import json
import logging
import ssl
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

import aiohttp

from adapters.webhook.config import classify
from adapters.webhook.errors import (
    HTTP_ERROR,
    NOT_CONFIGURED,
    PACKAGE_UNREADABLE,
    REDIRECTED,
    REFUSED,
    TIMEOUT,
    TLS_FAILED,
    UNREACHABLE,
)
from adapters.webhook.signature import (
    DELIVERY_HEADER,
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    sign_file,
    signature_header,
)
from gateway.blobs import BlobError, Packages
from gateway.broker import EffectFailed, Handover
from gateway.core.errors import Reason
from gateway.store.base import Store, WebhookEndpoint

__all__ = ["WebhookSink"]

log = logging.getLogger(__name__)

_USER_AGENT = "edxgw-webhook/0.1"
_MESSAGES = {r.code: r for r in (REFUSED, REDIRECTED, HTTP_ERROR)}


def _fail(why: Reason, /, *, retryable: bool, **params: object) -> EffectFailed:
    return EffectFailed(why.code, retryable=retryable, message=why.en.format(**params))


@dataclass(eq=False)
class _Client:
    """One endpoint's HTTP session: its own pool, TLS settings and concurrency limit."""

    version: tuple[Any, ...]
    session: aiohttp.ClientSession
    slots: asyncio.Semaphore
    busy: int = 0  # pushes holding or waiting for a slot
    retired: bool = False  # replaced after a configuration change; closed once idle


class WebhookSink:
    """The effect that POSTs a delivery to its agency's webhook (module doc)."""

    def __init__(
        self,
        store: Store,
        blobs: Packages,
        *,
        hub_organ_id: str,
        cert_file: str | Path,
        key_file: str | Path,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.store = store
        self.blobs = blobs
        self.hub_organ_id = hub_organ_id
        self.cert_file = Path(cert_file)
        self.key_file = Path(key_file)
        self.clock = clock
        self._clients: dict[str, _Client] = {}
        self._retired: set[_Client] = set()

    async def __call__(self, handover: Handover) -> None:
        recipient = handover.decision.recipient
        endpoint = await self.store.get_webhook(recipient)
        if endpoint is None:
            raise _fail(NOT_CONFIGURED, retryable=True, organ=recipient)
        client = self._client(endpoint)
        client.busy += 1
        try:
            async with client.slots:  # the timeout starts once a slot is ours
                await self._push(client, endpoint, handover)
        finally:
            client.busy -= 1
            if client.retired and client.busy == 0:
                self._retired.discard(client)
                await client.session.close()

    async def close(self) -> None:
        """Close every session (after the consumers stopped: nothing is in flight)."""
        for client in [*self._clients.values(), *self._retired]:
            await client.session.close()
        self._clients.clear()
        self._retired.clear()

    # -- one push ---------------------------------------------------------------------------
    async def _push(self, client: _Client, endpoint: WebhookEndpoint, handover: Handover) -> None:
        decision = handover.decision
        blob_key, sha256 = _claim(handover)
        if blob_key is None:
            message = await self.store.get_message(decision.doc_id)
            blob_key = message.blob_key if message is not None else ""
        timestamp = int(self.clock())
        try:
            package = await self.blobs.body(blob_key)
            if isinstance(package, bytes):
                mac, digest, size = sign_file(
                    endpoint.secret, timestamp, decision.delivery_id, io.BytesIO(package)
                )
            else:
                mac, digest, size = await asyncio.to_thread(
                    _sign_path, package, endpoint.secret, timestamp, decision.delivery_id
                )
        except (BlobError, OSError) as exc:
            raise _fail(PACKAGE_UNREADABLE, retryable=True, blob_key=blob_key, reason=exc) from exc
        if sha256 is not None and digest != sha256:
            raise _fail(
                PACKAGE_UNREADABLE, retryable=True, blob_key=blob_key, reason="sha256 mismatch"
            )
        headers = {
            "Content-Type": "application/xml",
            "User-Agent": f"{_USER_AGENT} (+hub {self.hub_organ_id})",
            DELIVERY_HEADER: decision.delivery_id,
            "Edxgw-Doc-Id": decision.doc_id,
            "Edxgw-Kind": _text(handover.headers.get("kind")),
            "Edxgw-Sender": _text(handover.headers.get("sender")),
            "Edxgw-Recipient": decision.recipient,
            "Edxgw-Sha256": digest,
            "Edxgw-Attempt": str(_attempt(handover)),
            "Edxgw-Hub": self.hub_organ_id,
            TIMESTAMP_HEADER: str(timestamp),
            SIGNATURE_HEADER: signature_header(mac),
        }
        try:
            # Opening is instant; aiohttp reads a file in its executor, chunk by chunk.
            with _open(package) as body:
                async with client.session.post(
                    endpoint.url,
                    data=body,
                    headers={**headers, "Content-Length": str(size)},
                    allow_redirects=False,
                    timeout=aiohttp.ClientTimeout(total=endpoint.timeout_seconds),
                ) as response:
                    status = response.status
                    answer = await response.content.read(300)
        except (TimeoutError, aiohttp.ClientError, OSError) as exc:
            raise _translate(exc, endpoint) from exc
        verdict = classify(status)
        if verdict.delivered:
            return
        assert verdict.code is not None
        log.warning(
            "push of delivery %s to %s (%s): HTTP %s %r",
            decision.delivery_id,
            decision.recipient,
            endpoint.url,
            status,
            answer[:200],
        )
        raise _fail(_MESSAGES[verdict.code], retryable=verdict.retryable, status=status)

    # -- sessions ---------------------------------------------------------------------------
    def _client(self, endpoint: WebhookEndpoint) -> _Client:
        """The endpoint's session; a changed configuration gets a new one (the old one is
        closed once its pushes in flight are done)."""
        version = (
            endpoint.url,
            endpoint.tls_client,
            endpoint.ca_file,
            endpoint.concurrency,
            endpoint.updated_at,
        )
        client = self._clients.get(endpoint.organ_id)
        if client is not None and client.version == version:
            return client
        if client is not None:
            client.retired = True
            self._retired.add(client)  # closed by the last push it carries, or by close()
        try:
            tls = self._tls(endpoint)
        except (OSError, ssl.SSLError, ValueError) as exc:
            raise _fail(TLS_FAILED, retryable=True, reason=exc) from exc
        connector = aiohttp.TCPConnector(limit=endpoint.concurrency, ssl=tls)
        client = _Client(
            version=version,
            session=aiohttp.ClientSession(connector=connector, auto_decompress=False),
            slots=asyncio.Semaphore(endpoint.concurrency),
        )
        self._clients[endpoint.organ_id] = client
        return client

    def _tls(self, endpoint: WebhookEndpoint) -> ssl.SSLContext | bool:
        if not endpoint.url.startswith("https:"):
            return True  # unused for http://
        context = ssl.create_default_context(cafile=endpoint.ca_file)
        if endpoint.tls_client:
            context.load_cert_chain(self.cert_file, self.key_file)
        return context


def _open(package: bytes | Path) -> BinaryIO:
    return io.BytesIO(package) if isinstance(package, bytes) else open(package, "rb")


def _sign_path(path: Path, secret: str, timestamp: int, delivery_id: str) -> tuple[str, str, int]:
    with open(path, "rb") as fh:
        return sign_file(secret, timestamp, delivery_id, fh)


def _claim(handover: Handover) -> tuple[str | None, str | None]:
    """The blob key and SHA-256 of the sealed package from the claim check (route.py)."""
    try:
        claim = json.loads(handover.body)
    except (ValueError, UnicodeDecodeError):
        return None, None
    if not isinstance(claim, dict):
        return None, None
    key, digest = claim.get("blob_key"), claim.get("sha256")
    return (
        key if isinstance(key, str) else None,
        digest if isinstance(digest, str) else None,
    )


def _attempt(handover: Handover) -> int:
    for trace in handover.decision.trace:
        attempt = trace.detail.get("attempt")
        if isinstance(attempt, int):
            return attempt
    return 1


def _text(value: object) -> str:
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return str(value) if value is not None else ""


def _translate(exc: BaseException, endpoint: WebhookEndpoint) -> EffectFailed:
    """The one place aiohttp's client errors become failure codes, most specific first."""
    what = f"{type(exc).__name__}: {exc}"
    if isinstance(exc, TimeoutError | aiohttp.ServerTimeoutError):
        return _fail(TIMEOUT, retryable=True, seconds=endpoint.timeout_seconds)
    if isinstance(
        exc,
        aiohttp.ClientConnectorCertificateError | aiohttp.ClientSSLError | ssl.SSLError,
    ):
        return _fail(TLS_FAILED, retryable=True, reason=what)
    # Connection refused or reset, DNS, a receiver that closed mid-answer.
    return _fail(UNREACHABLE, retryable=True, reason=what)
