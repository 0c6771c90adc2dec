"""Why a dropped file could not be sent: one value with a stable code, written to failed/.

The reason file ``failed/<name>.reason.json`` holds a :class:`Reason`: the gateway's problem
(its ``code``, both messages, ``doc_id``, ``issues``) when the gateway refused, otherwise one of
the drop folder's own codes::

    dropfolder.bad_description     the TOML cannot be read or lacks what a package needs
    dropfolder.attachment_missing  a file the TOML names is not in outbox/ (or leaves it)
    dropfolder.unknown_document    a status names a DocId this drop folder never sent or received
    dropfolder.bad_status          the status TOML is incomplete or names an unknown code
    edxml.*                        the package (or the description) breaks the edXML rules
    sdk.receipt_invalid            the gateway answered, but its receipt does not verify

:func:`from_exception` is the one place foreign exceptions become reasons.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any

from adapters.sdk import EdxgwError, ProblemError, ReceiptError
from edxml import EdxmlError

__all__ = ["DropFolderError", "Reason", "from_exception"]


@dataclass(frozen=True, slots=True)
class Reason:
    code: str
    message_vi: str
    message_en: str
    retryable: bool = False
    doc_id: str | None = None
    issues: list[dict[str, Any]] = field(default_factory=list)

    def to_json(self) -> bytes:
        body = {k: v for k, v in asdict(self).items() if v not in (None, [])}
        return json.dumps(body, ensure_ascii=False, indent=2).encode() + b"\n"

    def __str__(self) -> str:
        return f"{self.code}: {self.message_vi} / {self.message_en}"


class DropFolderError(Exception):
    """A dropped file the daemon cannot turn into a package (never retried)."""

    def __init__(self, code: str, vi: str, en: str) -> None:
        super().__init__(f"{code}: {en}")
        self.reason = Reason(code, vi, en)


def from_exception(exc: BaseException) -> Reason:
    """The reason for an exception raised while building or sending one file."""
    if isinstance(exc, DropFolderError):
        return exc.reason
    if isinstance(exc, ReceiptError):
        doc_id = getattr(exc.submitted, "doc_id", None)
        return Reason(
            exc.code,
            f"{exc.message_vi}. Trục đã trả lời với DocId {doc_id}; gửi lại là an toàn "
            "(trục nhận ra gói tin đã gửi)",
            f"{exc.message_en}. The gateway answered DocId {doc_id}; sending again is safe "
            "(the gateway recognises a re-sent package)",
            doc_id=doc_id,
        )
    if isinstance(exc, ProblemError):
        return Reason(
            exc.code, exc.message_vi, exc.message_en, exc.retryable, exc.doc_id, exc.issues
        )
    if isinstance(exc, EdxgwError):
        return Reason(exc.code, exc.message_vi, exc.message_en, exc.retryable)
    if isinstance(exc, EdxmlError):
        issues = [
            {"code": i.code, "message_vi": i.message_vi, "message_en": i.message_en}
            for i in exc.issues
        ]
        return Reason(exc.code, exc.message_vi, exc.message_en, issues=issues)
    raise TypeError(f"no reason for {type(exc).__name__}") from exc
