"""The gateway clients, :class:`Client` (synchronous) and :class:`AsyncClient`, over httpx.

Both run the same calls (:mod:`adapters.sdk._protocol`) with the same retry policy and the
same receipt check, and have the same methods (the async ones are coroutines)::

    with Client(ClientConfig.from_env(os.environ)) as gw:        # or: async with AsyncClient
        out = gw.document(sender=..., recipients=[...], subject=..., code="12/UBND-VP",
                          signer="Nguyễn Văn A", files=["cv12.pdf"])   # signed if a key is set
        sent = gw.submit(out)                   # Submitted: doc_id, receipt (checked), routes
        for item in gw.iter_inbox(state="delivered"):
            received = gw.fetch(item)           # bytes + edxml package, attachments decoded
            gw.ack(item)                        # done; gw.ack(item, ok=False, reason=...) fails
            gw.send_status(received, code="03", comment="Đã tiếp nhận")
        gw.track(sent.doc_id).recipients[0].progress.level      # "03"...

Retries: a transport error, a 5xx or a 429 is retried ``config.retries`` times with
exponential backoff (or the ``Retry-After`` the gateway sent). Every call is safe to repeat —
a re-sent package returns its original DocId (the gateway's invariant §3.3), an ack repeating
the same answer is harmless — so a retry never duplicates a document.

Receipts: with ``config.verify_receipts`` (the default), :meth:`Client.submit` checks that the
receipt states the SHA-256 of the bytes sent and that its signature verifies with the hub
certificate (``config.hub_certificate``, or ``GET /api/v1/certificate`` fetched once over the
same authenticated connection), and raises :class:`~adapters.sdk.errors.ReceiptError`
otherwise. httpx errors are translated to SDK errors here and nowhere else.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import ssl
import time
from collections.abc import AsyncIterator, Iterable, Iterator
from datetime import datetime
from pathlib import Path
from types import TracebackType
from typing import Any, Self, TypeVar

import httpx
from cryptography import x509

from adapters.sdk import _protocol as P
from adapters.sdk import compose
from adapters.sdk.config import ClientConfig
from adapters.sdk.errors import (
    EdxgwError,
    ProtocolError,
    ReceiptError,
    TransportError,
    UsageError,
)
from adapters.sdk.models import (
    Acknowledged,
    InboxItem,
    InboxPage,
    Me,
    Received,
    Submitted,
    Tracking,
)
from edxml.model import DocumentPackage, StatusCode
from edxml.trust import SigningKey

__all__ = ["AsyncClient", "Client", "PackageSource"]

T = TypeVar("T")
_CHUNK = 256 * 1024
#: What :meth:`Client.submit` takes: composed output, the bytes, or a file (streamed).
PackageSource = compose.Outgoing | bytes | str | os.PathLike[str]


def _translate(exc: httpx.HTTPError, url: str) -> EdxgwError:
    """httpx's exceptions as the SDK's (the one place they are mapped; most specific first)."""
    if isinstance(exc, httpx.TimeoutException):
        return TransportError(
            f"the gateway {url} did not answer in time ({type(exc).__name__})",
            f"trục {url} không trả lời kịp thời ({type(exc).__name__})",
        )
    if isinstance(exc, httpx.TransportError):
        return TransportError(
            f"cannot talk to the gateway {url}: {exc!r}",
            f"không kết nối được với trục {url}: {exc!r}",
        )
    return ProtocolError(
        f"unexpected HTTP exchange with {url}: {exc!r}",
        f"trao đổi HTTP bất thường với {url}: {exc!r}",
    )


def _headers(response: httpx.Response) -> dict[str, str]:
    return {k.lower(): v for k, v in response.headers.items()}


def _source(package: PackageSource) -> tuple[bytes | Path, str | None, str]:
    """(body, declared kind, sha256) of what is submitted; a file is hashed, not loaded."""
    if isinstance(package, compose.Outgoing):
        return package.data, package.kind, package.sha256
    if isinstance(package, bytes):
        return package, None, hashlib.sha256(package).hexdigest()
    path = Path(package)
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(_CHUNK):
            digest.update(chunk)
    return path, None, digest.hexdigest()


def _file_chunks(path: Path) -> Iterator[bytes]:
    with path.open("rb") as f:
        while chunk := f.read(_CHUNK):
            yield chunk


async def _afile_chunks(path: Path) -> AsyncIterator[bytes]:
    with path.open("rb") as f:  # local disk reads of 256 KiB: not worth a thread hop each
        while chunk := f.read(_CHUNK):
            yield chunk


def _delivery_id(item: InboxItem | Received | str) -> str:
    return item if isinstance(item, str) else item.delivery_id


class _Common:
    """Configuration, keys and checks both clients share (no I/O)."""

    def __init__(self, config: ClientConfig) -> None:
        self.config = config
        self._keys: dict[str, SigningKey] | None = None
        self._hub_cert: x509.Certificate | None = None
        if config.hub_certificate is not None:
            try:
                self._hub_cert = x509.load_pem_x509_certificate(config.hub_certificate.read_bytes())
            except (OSError, ValueError) as exc:
                raise UsageError(
                    f"cannot read hub_certificate {config.hub_certificate}: {exc}",
                    f"không đọc được hub_certificate {config.hub_certificate}: {exc}",
                ) from exc

    def _http_options(self) -> dict[str, Any]:
        c = self.config
        headers = {"User-Agent": c.user_agent, "Accept": "application/json"}
        if c.token:
            headers["Authorization"] = f"Bearer {c.token}"
        verify: ssl.SSLContext | bool = True
        if c.url.startswith("https://"):
            ctx = ssl.create_default_context(cafile=str(c.ca_file) if c.ca_file else None)
            if c.client_cert is not None and c.client_key is not None:
                ctx.load_cert_chain(str(c.client_cert), str(c.client_key))
            verify = ctx
        return {
            "base_url": c.url,
            "headers": headers,
            "timeout": httpx.Timeout(c.timeout),
            "verify": verify,
            "follow_redirects": False,
        }

    def _request(self, call: P.Call[Any]) -> dict[str, Any]:
        kwargs: dict[str, Any] = {"params": list(call.params)}
        headers: dict[str, str] = {}
        if call.json is not None:
            kwargs["json"] = dict(call.json)
        elif isinstance(call.content, bytes):
            kwargs["content"] = call.content
        if call.content is not None and call.content_type:
            headers["Content-Type"] = call.content_type
        if isinstance(call.content, Path):
            headers["Content-Length"] = str(call.content.stat().st_size)
        kwargs["headers"] = headers
        return kwargs

    def signing_key(self, organ_id: str) -> SigningKey | None:
        """The configured key of ``organ_id`` (packages from it are signed), or None."""
        if self._keys is None:
            self._keys = self.config.signing_key_map()
        return self._keys.get(organ_id)

    def _document(self, fields: dict[str, Any]) -> compose.Outgoing:
        if "key" not in fields:
            sender = fields.get("sender")
            organ = getattr(sender, "organ_id", sender)
            fields["key"] = self.signing_key(str(organ)) if organ else None
        return compose.document(**fields)

    def _status(
        self, original: DocumentPackage | Received | bytes, fields: dict[str, Any]
    ) -> compose.Outgoing:
        if "key" not in fields:
            # Compose unsigned first to learn the sender, then sign with its key.
            draft = compose.status(original, **fields)
            key = self.signing_key(draft.sender)
            return compose.sign_package(draft.package, key) if key else draft
        return compose.status(original, **fields)

    def _check_receipt(
        self, submitted: Submitted, sha256: str, hub: x509.Certificate | None
    ) -> None:
        receipt = submitted.receipt
        if receipt.sha256 != sha256 or receipt.doc_id != submitted.doc_id:
            raise ReceiptError(
                f"the receipt states sha256 {receipt.sha256} and DocId {receipt.doc_id}; "
                f"sent {sha256}, answered {submitted.doc_id}",
                f"biên nhận ghi sha256 {receipt.sha256} và DocId {receipt.doc_id}; "
                f"đã gửi {sha256}, trục trả lời {submitted.doc_id}",
                submitted,
            )
        if not receipt.verify(hub):
            raise ReceiptError(
                "the receipt's signature does not verify with the hub certificate",
                "chữ ký của biên nhận không khớp với chứng thư của trục",
                submitted,
            )


class Client(_Common):
    """The synchronous client; use it as a context manager, or call :meth:`close`."""

    def __init__(
        self, config: ClientConfig, *, transport: httpx.BaseTransport | None = None
    ) -> None:
        super().__init__(config)
        self._http = httpx.Client(transport=transport, **self._http_options())

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    # -- transport ------------------------------------------------------------------------
    def _send(self, call: P.Call[Any]) -> P.Reply:
        kwargs = self._request(call)
        if isinstance(call.content, Path):
            kwargs["content"] = _file_chunks(call.content)
        try:
            r = self._http.request(call.method, call.path, **kwargs)
        except httpx.HTTPError as exc:
            raise _translate(exc, self.config.url) from exc
        return P.Reply(r.status_code, _headers(r), r.content)

    def _run(self, call: P.Call[T]) -> T:
        attempt = 0
        while True:
            try:
                reply = self._send(call)
                if reply.status >= 400:
                    raise P.error_for(reply.status, reply.headers, reply.body)
                return call.parse(reply)
            except EdxgwError as exc:
                if not exc.retryable or attempt >= self.config.retries:
                    raise
                time.sleep(P.delay(attempt, self.config.backoff, exc))
                attempt += 1

    # -- the API ----------------------------------------------------------------------------
    def submit(self, package: PackageSource, *, kind: str | None = None) -> Submitted:
        """Submit a package (composed, bytes, or a file path streamed from disk)."""
        body, declared, sha256 = _source(package)
        submitted = self._run(P.submit(body, kind or declared))
        if self.config.verify_receipts:
            self._check_receipt(submitted, sha256, self.hub_certificate())
        return submitted

    def inbox(
        self,
        *,
        organ: str | Iterable[str] = (),
        state: str | None = None,
        kind: str | None = None,
        since: datetime | None = None,
        limit: int = 100,
        cursor: str | None = None,
    ) -> InboxPage:
        """One page of the inbox (all the system's agencies, or ``organ``)."""
        organs = [organ] if isinstance(organ, str) else list(organ)
        return self._run(
            P.inbox(organs=organs, state=state, kind=kind, since=since, limit=limit, cursor=cursor)
        )

    def iter_inbox(
        self,
        *,
        organ: str | Iterable[str] = (),
        state: str | None = None,
        kind: str | None = None,
        since: datetime | None = None,
        page_size: int = 100,
    ) -> Iterator[InboxItem]:
        """Every inbox item matching the filters, page after page."""
        cursor: str | None = None
        while True:
            page = self.inbox(
                organ=organ, state=state, kind=kind, since=since, limit=page_size, cursor=cursor
            )
            yield from page.items
            if not page.next_cursor:
                return
            cursor = page.next_cursor

    def fetch(self, item: InboxItem | str) -> Received:
        """The sealed package of an inbox item, read (attachments decoded in memory)."""
        return self._run(P.fetch(_delivery_id(item), item if isinstance(item, InboxItem) else None))

    def download(self, item: InboxItem | str, path: str | os.PathLike[str]) -> dict[str, str]:
        """Stream an inbox item's package to ``path`` (fsync'ed; bounded memory). Returns the
        response headers (``edxgw-doc-id``, ``edxgw-kind``, ``edxgw-sender``, ...)."""
        call = P.fetch(_delivery_id(item))
        attempt = 0
        while True:
            try:
                with self._http.stream("GET", call.path) as r:
                    if r.status_code >= 400:
                        r.read()
                        raise P.error_for(r.status_code, _headers(r), r.content)
                    with open(path, "wb") as f:
                        for chunk in r.iter_bytes(_CHUNK):
                            f.write(chunk)
                        f.flush()
                        os.fsync(f.fileno())
                    return _headers(r)
            except httpx.HTTPError as exc:
                error: EdxgwError = _translate(exc, self.config.url)
            except EdxgwError as exc:
                error = exc
            if not error.retryable or attempt >= self.config.retries:
                raise error
            time.sleep(P.delay(attempt, self.config.backoff, error))
            attempt += 1

    def ack(
        self, item: InboxItem | Received | str, *, ok: bool = True, reason: str | None = None
    ) -> Acknowledged:
        """Acknowledge an item: done (``ok``), or failed with a ``reason`` for the sender."""
        return self._run(P.ack(_delivery_id(item), ok=ok, reason=reason))

    def track(self, doc_id: str) -> Tracking:
        """A document's deliveries and status progress per recipient."""
        return self._run(P.track(doc_id))

    def me(self) -> Me:
        return self._run(P.me())

    def hub_certificate(self) -> x509.Certificate:
        """The certificate receipts are checked with (configured, or fetched once)."""
        if self._hub_cert is None:
            self._hub_cert = self._run(P.certificate())
        return self._hub_cert

    # -- compose and send -------------------------------------------------------------------
    def document(self, **fields: Any) -> compose.Outgoing:
        """:func:`adapters.sdk.compose.document`, signed with the sender's configured key."""
        return self._document(fields)

    def status(
        self, original: DocumentPackage | Received | bytes, **fields: Any
    ) -> compose.Outgoing:
        """:func:`adapters.sdk.compose.status`, signed with the sender's configured key."""
        return self._status(original, fields)

    def send_document(self, **fields: Any) -> Submitted:
        return self.submit(self._document(fields))

    def send_status(
        self,
        original: DocumentPackage | Received | bytes,
        *,
        code: str | StatusCode,
        **fields: Any,
    ) -> Submitted:
        """Compose, sign and submit a status (01–06, 13, 15, 16) about ``original``."""
        return self.submit(self._status(original, {"code": code, **fields}))


class AsyncClient(_Common):
    """The asyncio client: the methods of :class:`Client`, as coroutines."""

    def __init__(
        self, config: ClientConfig, *, transport: httpx.AsyncBaseTransport | None = None
    ) -> None:
        super().__init__(config)
        self._http = httpx.AsyncClient(transport=transport, **self._http_options())

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._http.aclose()

    # -- transport ------------------------------------------------------------------------
    async def _send(self, call: P.Call[Any]) -> P.Reply:
        kwargs = self._request(call)
        if isinstance(call.content, Path):
            kwargs["content"] = _afile_chunks(call.content)
        try:
            r = await self._http.request(call.method, call.path, **kwargs)
        except httpx.HTTPError as exc:
            raise _translate(exc, self.config.url) from exc
        return P.Reply(r.status_code, _headers(r), r.content)

    async def _run(self, call: P.Call[T]) -> T:
        attempt = 0
        while True:
            try:
                reply = await self._send(call)
                if reply.status >= 400:
                    raise P.error_for(reply.status, reply.headers, reply.body)
                if call.heavy:  # reading a package (lxml, base64): CPU work, off the loop
                    return await asyncio.to_thread(call.parse, reply)
                return call.parse(reply)
            except EdxgwError as exc:
                if not exc.retryable or attempt >= self.config.retries:
                    raise
                await asyncio.sleep(P.delay(attempt, self.config.backoff, exc))
                attempt += 1

    # -- the API ----------------------------------------------------------------------------
    async def submit(self, package: PackageSource, *, kind: str | None = None) -> Submitted:
        body, declared, sha256 = await asyncio.to_thread(_source, package)
        submitted = await self._run(P.submit(body, kind or declared))
        if self.config.verify_receipts:
            self._check_receipt(submitted, sha256, await self.hub_certificate())
        return submitted

    async def inbox(
        self,
        *,
        organ: str | Iterable[str] = (),
        state: str | None = None,
        kind: str | None = None,
        since: datetime | None = None,
        limit: int = 100,
        cursor: str | None = None,
    ) -> InboxPage:
        organs = [organ] if isinstance(organ, str) else list(organ)
        return await self._run(
            P.inbox(organs=organs, state=state, kind=kind, since=since, limit=limit, cursor=cursor)
        )

    async def iter_inbox(
        self,
        *,
        organ: str | Iterable[str] = (),
        state: str | None = None,
        kind: str | None = None,
        since: datetime | None = None,
        page_size: int = 100,
    ) -> AsyncIterator[InboxItem]:
        cursor: str | None = None
        while True:
            page = await self.inbox(
                organ=organ, state=state, kind=kind, since=since, limit=page_size, cursor=cursor
            )
            for item in page.items:
                yield item
            if not page.next_cursor:
                return
            cursor = page.next_cursor

    async def fetch(self, item: InboxItem | str) -> Received:
        return await self._run(
            P.fetch(_delivery_id(item), item if isinstance(item, InboxItem) else None)
        )

    async def download(self, item: InboxItem | str, path: str | os.PathLike[str]) -> dict[str, str]:
        call = P.fetch(_delivery_id(item))
        attempt = 0
        while True:
            try:
                async with self._http.stream("GET", call.path) as r:
                    if r.status_code >= 400:
                        await r.aread()
                        raise P.error_for(r.status_code, _headers(r), r.content)
                    with open(path, "wb") as f:
                        async for chunk in r.aiter_bytes(_CHUNK):
                            f.write(chunk)
                        f.flush()
                        await asyncio.to_thread(os.fsync, f.fileno())
                    return _headers(r)
            except httpx.HTTPError as exc:
                error: EdxgwError = _translate(exc, self.config.url)
            except EdxgwError as exc:
                error = exc
            if not error.retryable or attempt >= self.config.retries:
                raise error
            await asyncio.sleep(P.delay(attempt, self.config.backoff, error))
            attempt += 1

    async def ack(
        self, item: InboxItem | Received | str, *, ok: bool = True, reason: str | None = None
    ) -> Acknowledged:
        return await self._run(P.ack(_delivery_id(item), ok=ok, reason=reason))

    async def track(self, doc_id: str) -> Tracking:
        return await self._run(P.track(doc_id))

    async def me(self) -> Me:
        return await self._run(P.me())

    async def hub_certificate(self) -> x509.Certificate:
        if self._hub_cert is None:
            self._hub_cert = await self._run(P.certificate())
        return self._hub_cert

    # -- compose and send (CPU work: signing runs in a thread) ------------------------------
    async def document(self, **fields: Any) -> compose.Outgoing:
        return await asyncio.to_thread(self._document, fields)

    async def status(
        self, original: DocumentPackage | Received | bytes, **fields: Any
    ) -> compose.Outgoing:
        return await asyncio.to_thread(self._status, original, fields)

    async def send_document(self, **fields: Any) -> Submitted:
        return await self.submit(await self.document(**fields))

    async def send_status(
        self,
        original: DocumentPackage | Received | bytes,
        *,
        code: str | StatusCode,
        **fields: Any,
    ) -> Submitted:
        return await self.submit(await self.status(original, code=code, **fields))
