"""The SDK's one exception tree: what went wrong talking to the gateway, with a stable code.

Every error carries ``code`` (dotted and stable: switch on it), ``message_vi`` and
``message_en`` (for people) and ``retryable``. When the gateway refused, ``code`` is the
gateway's own problem code (``receive.sender_not_registered``, ``edxml.signature_invalid``…,
see the README's error tables) and the problem document is kept whole. Errors made here, on
the client side, use the ``sdk.`` prefix::

    EdxgwError                      base; code, message_vi, message_en, retryable
    ├── TransportError              sdk.transport: no connection, TLS failure, timeout (retryable)
    ├── ProtocolError               sdk.protocol: an answer the API does not document
    ├── ReceiptError                sdk.receipt_invalid: the receipt does not verify, or states
    │                               another SHA-256 than the bytes sent
    ├── UsageError (ValueError)     sdk.usage: bad input to the SDK (unknown status code, no
    │                               signing key for a sender that must sign, ...)
    └── ProblemError                <the gateway's code>: an RFC 9457 problem document
        ├── BadRequest              400  malformed request or package
        ├── Unauthenticated         401  no or unknown token / client certificate
        ├── Forbidden               403  not registered for that agency, revoked system
        ├── NotFound                404  no such inbox item or document (or not yours)
        ├── Conflict                409  acknowledged differently before
        ├── PackageTooLarge         413
        ├── PackageRejected         422  invalid package or signature, unroutable
        └── ServerError             5xx, 429: the gateway's side; retryable as it says

Errors of the ``edxml`` library (composing from a bad description, a package that does not
parse) are not wrapped: they are :class:`edxml.EdxmlError` with their own ``edxml.*`` code.
Foreign exceptions (httpx, JSON) are translated in one place, :mod:`adapters.sdk.client`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = [
    "BadRequest",
    "Conflict",
    "EdxgwError",
    "Forbidden",
    "NotFound",
    "PackageRejected",
    "PackageTooLarge",
    "ProblemError",
    "ProtocolError",
    "ReceiptError",
    "ServerError",
    "TransportError",
    "Unauthenticated",
    "UsageError",
    "problem_error",
]


class EdxgwError(Exception):
    """Base of every SDK error."""

    code: str = "sdk.error"
    retryable: bool = False

    def __init__(
        self,
        message_en: str,
        message_vi: str | None = None,
        *,
        code: str | None = None,
        retryable: bool | None = None,
    ) -> None:
        if code is not None:
            self.code = code
        if retryable is not None:
            self.retryable = retryable
        self.message_en = message_en
        self.message_vi = message_vi or message_en
        super().__init__(f"{self.code}: {message_en}")


class TransportError(EdxgwError):
    """The gateway could not be reached or did not answer in time; nothing is known."""

    code = "sdk.transport"
    retryable = True


class ProtocolError(EdxgwError):
    """The gateway answered something the API does not document (a proxy's HTML page...)."""

    code = "sdk.protocol"


class ReceiptError(EdxgwError):
    """The receipt's signature does not verify, or it does not state what was sent.

    The gateway did answer 2xx: ``submitted`` holds its answer (DocId, the receipt) for the
    investigation; treat the package as *not* reliably accepted.
    """

    code = "sdk.receipt_invalid"

    def __init__(self, message_en: str, message_vi: str, submitted: Any = None) -> None:
        super().__init__(message_en, message_vi)
        #: The :class:`~adapters.sdk.models.Submitted` answer whose receipt failed.
        self.submitted = submitted


class UsageError(EdxgwError, ValueError):
    """The SDK was called with input it cannot use."""

    code = "sdk.usage"


class ProblemError(EdxgwError):
    """The gateway refused with a problem document; ``code`` is the gateway's code."""

    def __init__(self, status: int, problem: Mapping[str, Any]) -> None:
        code = str(problem.get("code") or f"http.{status}")
        en = str(problem.get("message_en") or problem.get("title") or f"HTTP {status}")
        vi = str(problem.get("message_vi") or en)
        retryable = bool(problem.get("retryable", status >= 500 or status == 429))
        super().__init__(en, vi, code=code, retryable=retryable)
        self.status = status
        self.problem: dict[str, Any] = dict(problem)
        #: The DocId a refused package was traced under (quote it to the hub's admins).
        self.doc_id: str | None = problem.get("doc_id")
        #: Package findings: dicts with code, severity, message_vi, message_en, path, line.
        self.issues: list[dict[str, Any]] = list(problem.get("issues") or [])
        #: Seconds the gateway asked to wait (``Retry-After``), when it said so.
        self.retry_after: float | None = None


class BadRequest(ProblemError):
    pass


class Unauthenticated(ProblemError):
    pass


class Forbidden(ProblemError):
    pass


class NotFound(ProblemError):
    pass


class Conflict(ProblemError):
    pass


class PackageTooLarge(ProblemError):
    pass


class PackageRejected(ProblemError):
    pass


class ServerError(ProblemError):
    pass


_BY_STATUS: dict[int, type[ProblemError]] = {
    400: BadRequest,
    401: Unauthenticated,
    403: Forbidden,
    404: NotFound,
    409: Conflict,
    413: PackageTooLarge,
    422: PackageRejected,
    429: ServerError,
}


def problem_error(status: int, problem: Mapping[str, Any]) -> ProblemError:
    """The exception for an error answer (the class follows the HTTP status)."""
    kind = _BY_STATUS.get(status) or (ServerError if status >= 500 else BadRequest)
    return kind(status, problem)
