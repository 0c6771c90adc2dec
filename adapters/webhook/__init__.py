"""Webhook push: the gateway POSTs each delivery of a ``push`` agency to the agency's own URL.

Configure an agency with ``edxgw webhook set ORGAN --url https://...`` (it switches the
agency's ``delivery_mode`` to ``push`` and prints the HMAC secret once). Then, for every
delivery addressed to it, the gateway's consumer of its inbox queue POSTs the sealed package,
signed with HMAC-SHA256 over a timestamp, the delivery id and the body (optionally over mTLS),
retries with exponential backoff through the broker's delay queues and dead-letters after
``delivery_max_attempts`` (:mod:`adapters.webhook.sink`). The agency answers 2xx once it has
stored the package, and sends its acknowledgement and statuses back over the REST API
(``POST /api/v1/inbox/{delivery_id}/ack``, ``POST /api/v1/packages``) with its system token.

Modules: :mod:`~adapters.webhook.config` (endpoint rules, what an HTTP answer means),
:mod:`~adapters.webhook.signature` (sign/verify, standard library only),
:mod:`~adapters.webhook.receiver` (an aiohttp handler for agencies),
:mod:`~adapters.webhook.sink` (the gateway-side effect), :mod:`~adapters.webhook.cli`
(``edxgw webhook``), :mod:`~adapters.webhook.errors` (the ``webhook.*`` codes).
"""

from adapters.webhook.config import (
    DEFAULT_CONCURRENCY,
    DEFAULT_TIMEOUT,
    DELIVERY_MODE,
    Verdict,
    check_endpoint,
    classify,
)
from adapters.webhook.errors import WebhookError
from adapters.webhook.signature import (
    DELIVERY_HEADER,
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    TOLERANCE_SECONDS,
    Verified,
    sign,
    signature_header,
    verify,
)

__all__ = [
    "DEFAULT_CONCURRENCY",
    "DEFAULT_TIMEOUT",
    "DELIVERY_HEADER",
    "DELIVERY_MODE",
    "SIGNATURE_HEADER",
    "TIMESTAMP_HEADER",
    "TOLERANCE_SECONDS",
    "Verdict",
    "Verified",
    "WebhookError",
    "check_endpoint",
    "classify",
    "sign",
    "signature_header",
    "verify",
]
