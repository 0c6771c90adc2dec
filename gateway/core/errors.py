"""The one exception tree of the core, its catalogue of stable codes, and the edxml translation.

Every error has a stable code ``stage.reason``, an HTTP status, a ``retryable`` flag and a
message in Vietnamese and English (style.md §6). Errors the *sender* made are split from errors
*we* made, as h11 splits ``RemoteProtocolError`` from ``LocalProtocolError``::

    GatewayError                 base, never raised itself              500
    ├── SenderError              the caller's fault: never retried, traced as a rejection
    │   ├── MalformedPackage     edxml.* from XmlError/FormatError      400
    │   ├── PackageTooLarge      receive.too_large, edxml.too_large,    413
    │   │                        edxml.size_limit
    │   ├── InvalidPackage       edxml.* from ValidationError,          422
    │   │                        receive.kind_mismatch
    │   ├── SignatureRejected    edxml.* from SignatureError            422
    │   ├── Unauthenticated      auth.* (no or unknown credentials)     401
    │   ├── NotAuthorized        receive.sender_not_registered,         403
    │   │                        verify.signer_mismatch
    │   ├── NotFound             acknowledge.not_found                  404
    │   ├── Conflict             acknowledge.not_delivered,             409
    │   │                        acknowledge.already_answered
    │   └── Unroutable           route.recipient_locked, route.no_recipient,
    │                            receive.loop_detected                  422
    └── LocalError               our fault (keys, directory): the sender may retry later
        ├── SealFailed           sign.failed                            500
        └── DirectoryInconsistent route.merge_loop                      500

edxml errors keep their own ``edxml.<reason>`` code (a client already knows them from the
library) and are translated in exactly one place, :func:`from_edxml` (called only by
``trace.Trail.stage``, which also traces the rejection), most specific class first (httpx
``map_httpcore_exceptions``). The ``deliver.*`` codes are dead-letter reasons, not exceptions;
they are defined here too so that :func:`catalogue` lists every code. Anything that is not a
GatewayError escaping the core is a bug: the shell answers ``500`` and logs it. The core never
returns an exception across a process boundary: :meth:`GatewayError.problem` turns it into a
picklable :class:`Problem`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import ClassVar

from edxml.errors import (
    EdxmlError,
    FormatError,
    Issue,
    SignatureError,
    ValidationError,
    XmlError,
)

__all__ = [
    "Conflict",
    "DirectoryInconsistent",
    "GatewayError",
    "InvalidPackage",
    "LocalError",
    "MalformedPackage",
    "NotAuthorized",
    "NotFound",
    "PackageTooLarge",
    "Problem",
    "Reason",
    "SealFailed",
    "SenderError",
    "SignatureRejected",
    "Unauthenticated",
    "Unroutable",
    "catalogue",
    "define",
    "from_edxml",
]


@dataclass(frozen=True, slots=True)
class Reason:
    """A stable code with its bilingual message templates (``str.format`` fields)."""

    code: str
    vi: str
    en: str


_CATALOGUE: dict[str, Reason] = {}


def define(code: str, vi: str, en: str) -> Reason:
    """Register a code once, next to the stage that raises it; a clash is a bug."""
    stage, _, reason = code.partition(".")
    if not stage or not reason:
        raise ValueError(f"core error codes are 'stage.reason': {code!r}")
    new = Reason(code, vi, en)
    if _CATALOGUE.setdefault(code, new) != new:
        raise ValueError(f"error code {code!r} defined twice with different messages")
    return new


def catalogue() -> list[Reason]:
    """Every core code, sorted (for the README); imports the stages that define codes."""
    import gateway.core.archive  # retention's codes, ops.retention.*
    import gateway.core.drain  # noqa: F401 - ops.drain.*
    from gateway.core import (  # noqa: F401
        acknowledge,
        deliver,
        receive,
        route,
        sign,
        vdxp,
        vdxp_door,
        verify,
    )

    return sorted(_CATALOGUE.values(), key=lambda r: r.code)


@dataclass(frozen=True, slots=True)
class Problem:
    """An error as a plain value: what a response body, a log line or a trace needs."""

    code: str
    http_status: int
    retryable: bool
    message_vi: str
    message_en: str
    issues: tuple[Issue, ...] = ()
    #: Who made the error: ``sender`` (4xx) or ``local`` (5xx, ours).
    fault: str = "sender"


class _Keep(dict[str, object]):
    def __missing__(self, key: str) -> str:
        return "{" + key + "}"


class GatewayError(Exception):
    """Base of every core error; ``code`` is stable, the messages are for people."""

    http_status: ClassVar[int] = 500
    retryable: ClassVar[bool] = False
    fault: ClassVar[str] = "local"

    def __init__(
        self,
        reason: Reason,
        /,
        *,
        issues: tuple[Issue, ...] = (),
        trace: Mapping[str, str] | None = None,
        **params: object,
    ) -> None:
        self.code = reason.code
        self.message_vi = reason.vi.format_map(_Keep(params))
        self.message_en = reason.en.format_map(_Keep(params))
        self.issues = issues
        #: Identifiers safe to put in the trace (organ ids, delivery ids), never content.
        self.trace_detail: Mapping[str, str] = dict(trace or {})
        super().__init__(f"{self.code}: {self.message_en}")

    def problem(self) -> Problem:
        return Problem(
            code=self.code,
            http_status=self.http_status,
            retryable=self.retryable,
            message_vi=self.message_vi,
            message_en=self.message_en,
            issues=self.issues,
            fault=self.fault,
        )


class SenderError(GatewayError):
    """The sender (or calling system) made this error; resending the same input fails again."""

    http_status = 400
    fault = "sender"


class MalformedPackage(SenderError):
    """Not acceptable XML, or XML that is no readable edXML package."""


class PackageTooLarge(SenderError):
    http_status = 413


class InvalidPackage(SenderError):
    """The package breaks the schema or a semantic rule; ``issues`` lists every error."""

    http_status = 422


class SignatureRejected(SenderError):
    """A signature is missing (strict), invalid, or made with an untrusted certificate."""

    http_status = 422


class Unauthenticated(SenderError):
    """No credentials, or credentials this hub does not accept (token, client certificate)."""

    http_status = 401


class NotAuthorized(SenderError):
    """The caller may not do this: send as that agency, read that inbox."""

    http_status = 403


class NotFound(SenderError):
    http_status = 404


class Conflict(SenderError):
    """The request contradicts the current state (acknowledging twice, differently)."""

    http_status = 409


class Unroutable(SenderError):
    """The package cannot go where it asks to go (locked recipient, nothing to deliver)."""

    http_status = 422


class LocalError(GatewayError):
    """Our fault (configuration, keys, directory data): nothing is wrong with the input."""

    http_status = 500
    retryable = True


class SealFailed(LocalError):
    pass


class DirectoryInconsistent(LocalError):
    pass


# Most specific first: the first match wins (httpx's map_httpcore_exceptions).
_EDXML: tuple[tuple[type[EdxmlError], type[SenderError]], ...] = (
    (SignatureError, SignatureRejected),
    (ValidationError, InvalidPackage),
    (FormatError, MalformedPackage),
    (XmlError, MalformedPackage),
    (EdxmlError, InvalidPackage),
)
# Size refusals are 413 whichever layer found them (safexml before parsing, validate after).
_TOO_LARGE = frozenset({"edxml.too_large", "edxml.size_limit"})


def from_edxml(exc: EdxmlError) -> SenderError:
    """The one place where edxml errors become gateway errors (code, messages, issues kept)."""
    kind = next(ours for theirs, ours in _EDXML if isinstance(exc, theirs))
    if exc.code in _TOO_LARGE:
        kind = PackageTooLarge
    # The messages are already rendered: pass them through as templates without fields.
    reason = Reason(exc.code, _literal(exc.message_vi), _literal(exc.message_en))
    return kind(reason, issues=exc.issues)


def _literal(text: str) -> str:
    return text.replace("{", "{{").replace("}", "}}")
