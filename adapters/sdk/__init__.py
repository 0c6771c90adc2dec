"""The Python SDK of the edXML gateway: compose, sign, send, receive and track documents.

Depends on the ``edxml`` library and httpx only (never on the gateway's server code: an
import-linter contract keeps it so), so an agency's document-management system installs it
without RabbitMQ, PostgreSQL or aiohttp: ``pip install 'edxml-gateway[sdk]'``.

Synchronous::

    import os
    from adapters.sdk import Client, ClientConfig

    with Client(ClientConfig.from_env(os.environ)) as gw:      # EDXGW_URL, EDXGW_TOKEN, ...
        sent = gw.send_document(
            sender="000.21.31.H53", recipients=["000.00.31.H53"],
            subject="V/v triển khai liên thông", code="12/UBND-VP", signer="Nguyễn Văn A",
            files=["cv12.pdf"])
        print(sent.doc_id, sent.receipt.received_at)           # receipt already verified

        for item in gw.iter_inbox(state="delivered"):           # not yet acknowledged
            received = gw.fetch(item)                           # edxml package, files decoded
            ...                                                 # store it in the DMS
            gw.ack(item)                                        # then: done
            gw.send_status(received, code="01")                 # "Đã đến"

        gw.track(sent.doc_id)                                   # progress per recipient

Asynchronous: the same methods on :class:`AsyncClient`, awaited (``async with``,
``async for item in gw.iter_inbox(...)``).

Public surface (each module's docstring has the details):

- :mod:`adapters.sdk.config` — :class:`ClientConfig` (URL, token or mTLS, signing keys,
  receipt pinning, timeouts, retries), :class:`KeyPair`.
- :mod:`adapters.sdk.client` — :class:`Client`, :class:`AsyncClient`: ``submit``, ``inbox``,
  ``iter_inbox``, ``fetch``, ``download``, ``ack``, ``track``, ``me``, ``hub_certificate``,
  ``document``/``status`` (compose and sign with the configured key) and
  ``send_document``/``send_status`` (compose, sign, submit).
- :mod:`adapters.sdk.compose` — pure composition: :func:`compose.document`,
  :func:`compose.status`, :func:`compose.from_description`, :func:`compose.sign_package`,
  :class:`File`, :class:`Outgoing`.
- :mod:`adapters.sdk.models` — the typed answers (:class:`Submitted`, :class:`InboxItem`,
  :class:`Received`, :class:`Tracking`, ...); :mod:`adapters.sdk.receipts` — :class:`Receipt`.
- :mod:`adapters.sdk.errors` — the exception tree; every error has a stable ``code`` (the
  gateway's problem code when it refused).
"""

from adapters.sdk import compose
from adapters.sdk.client import AsyncClient, Client, PackageSource
from adapters.sdk.compose import STATUS_CODES, File, Outgoing
from adapters.sdk.config import ClientConfig, KeyPair
from adapters.sdk.errors import (
    BadRequest,
    Conflict,
    EdxgwError,
    Forbidden,
    NotFound,
    PackageRejected,
    PackageTooLarge,
    ProblemError,
    ProtocolError,
    ReceiptError,
    ServerError,
    TransportError,
    Unauthenticated,
    UsageError,
)
from adapters.sdk.models import (
    Acknowledged,
    InboxItem,
    InboxPage,
    Me,
    Progress,
    Received,
    RecipientTracking,
    Route,
    StatusEvent,
    Submitted,
    Tracking,
)
from adapters.sdk.receipts import Receipt

__all__ = [
    "STATUS_CODES",
    "Acknowledged",
    "AsyncClient",
    "BadRequest",
    "Client",
    "ClientConfig",
    "Conflict",
    "EdxgwError",
    "File",
    "Forbidden",
    "InboxItem",
    "InboxPage",
    "KeyPair",
    "Me",
    "NotFound",
    "Outgoing",
    "PackageRejected",
    "PackageSource",
    "PackageTooLarge",
    "ProblemError",
    "Progress",
    "ProtocolError",
    "Receipt",
    "ReceiptError",
    "Received",
    "RecipientTracking",
    "Route",
    "ServerError",
    "StatusEvent",
    "Submitted",
    "Tracking",
    "TransportError",
    "Unauthenticated",
    "UsageError",
    "compose",
]

__version__ = "0.1.0"
