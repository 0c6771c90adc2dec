"""Everything the document page shows, computed from the store's rows and the sealed package.

Synchronous and free of aiohttp (the handlers run :func:`inspect_package` in a thread: a
package can be tens of megabytes). What it derives:

- **hops**: the package's TraceHeaderList (every hub it crossed, its own seal last) with the
  time between consecutive hops, then this hub's trace events with the time since the
  previous event (the per-hop latency of issue 5 item 3);
- **deliveries**: per recipient, the delivery state and its times, the latency from receipt
  to the inbox and to the acknowledgement, and the status progress — when each code
  01, 03, 04, 05, 06, 02 and 13, 15, 16 was first reported;
- **signatures**: each signature verified (as at the time the hub received the package)
  against the hub's trust store: who signed, with which certificate, and whether it is the
  sender's signature or the seal of a hub on the way;
- **attachments**: the real type and size of each file (``edxml.attachments.sniff`` unwraps
  transport zips and distrusts the declared type);
- **raw**: the package as XML with attachment payloads elided (a viewer sees the envelope,
  an operator may download the whole file).
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from lxml import etree

from edxml.attachments import sniff
from edxml.errors import EdxmlError
from edxml.model import VN_TZ, DocumentPackage, StatusPackage
from edxml.parse import Parsed, read
from edxml.safexml import Limits
from edxml.signature import SignatureKind, SignatureRole, verify_signatures
from edxml.trust import TrustStore
from gateway.core.directory import Directory
from gateway.store.base import Delivery, ProgressRow, StatusEvent, TraceRow

__all__ = [
    "PROGRESS_CODES",
    "AttachmentView",
    "DeliveryView",
    "Hop",
    "PackageView",
    "SignatureView",
    "TimelineRow",
    "attachment_file",
    "deliveries",
    "inspect_package",
    "timeline",
]

#: The columns of the progress table: the main line, the refusal, then a recall's codes.
PROGRESS_CODES = ("01", "03", "04", "05", "06", "02", "13", "15", "16")
_RAW_LIMIT = 400_000  # characters of XML shown inline
_ELIDE_OVER = 512  # payload text longer than this is replaced by its size


@dataclass(frozen=True, slots=True)
class Hop:
    organ_id: str
    name: str | None
    at: datetime | None
    since_previous_ms: float | None


@dataclass(frozen=True, slots=True)
class SignatureView:
    index: int
    kind: str  # xmldsig | placeholder | empty
    role: str | None  # sender | seal
    signer: str | None  # subject
    organ_id: str | None
    organ_name: str | None
    fingerprint: str | None
    not_after: datetime | None
    valid: bool
    failure_code: str | None
    failure_vi: str | None
    failure_en: str | None
    is_hub: bool  # signed by a hub (its organ id is a TraceHeader's)
    covers: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class AttachmentView:
    number: int
    name: str | None
    claimed_type: str | None
    real_name: str | None
    real_type: str | None
    size: int  # bytes as sent (decoded base64)
    real_size: int | None  # after unwrapping a transport zip
    unzipped: bool
    mismatch: bool
    error: str | None


@dataclass(frozen=True, slots=True)
class PackageView:
    """What the sealed package says; ``error`` instead when it cannot be read."""

    hops: list[Hop] = field(default_factory=list)
    signatures: list[SignatureView] = field(default_factory=list)
    attachments: list[AttachmentView] = field(default_factory=list)
    raw: str = ""
    raw_truncated: bool = False
    size: int = 0
    error: str | None = None
    facts: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class TimelineRow:
    seq: int
    at: datetime
    node: str
    stage: str
    outcome: str
    detail: dict[str, object]
    since_previous_ms: float | None


@dataclass(frozen=True, slots=True)
class DeliveryView:
    recipient: str
    name: str | None
    delivery: Delivery | None
    progress: ProgressRow | None
    #: code → first time it was reported (the status Timestamp) for this recipient.
    reached: dict[str, datetime]
    to_inbox_ms: float | None
    to_ack_ms: float | None


def _ms(later: datetime | None, earlier: datetime | None) -> float | None:
    if later is None or earlier is None:
        return None
    return (later - earlier).total_seconds() * 1000


def timeline(rows: list[TraceRow]) -> list[TimelineRow]:
    out: list[TimelineRow] = []
    previous: datetime | None = None
    for row in rows:
        out.append(
            TimelineRow(
                seq=row.seq,
                at=row.at,
                node=row.node,
                stage=row.stage,
                outcome=row.outcome,
                detail=dict(row.detail),
                since_previous_ms=_ms(row.at, previous),
            )
        )
        previous = row.at
    return out


def deliveries(
    received_at: datetime,
    rows: list[Delivery],
    progress: list[ProgressRow],
    statuses: list[StatusEvent],
    directory: Directory,
) -> list[DeliveryView]:
    """One line per recipient: its delivery (if we delivered) and its status progress."""
    levels = {p.recipient: p for p in progress}
    reached: dict[str, dict[str, datetime]] = {}
    for s in statuses:
        first = reached.setdefault(s.recipient, {})
        if s.code not in first or s.at < first[s.code]:
            first[s.code] = s.at
    recipients = [d.recipient for d in rows]
    recipients += sorted((set(levels) | set(reached)) - set(recipients))
    by_recipient = {d.recipient: d for d in rows}
    out = []
    for recipient in recipients:
        d = by_recipient.get(recipient)
        agency = directory.resolve(recipient)
        out.append(
            DeliveryView(
                recipient=recipient,
                name=agency.name if agency else None,
                delivery=d,
                progress=levels.get(recipient),
                reached=reached.get(recipient, {}),
                to_inbox_ms=_ms(d.delivered_at, received_at) if d else None,
                to_ack_ms=_ms(d.acked_at, received_at) if d else None,
            )
        )
    return out


def _limits(max_bytes: int) -> Limits:
    return Limits(max_bytes=max(Limits().max_bytes, max_bytes + 1024 * 1024))


def inspect_package(
    path: bytes | Path,
    trust: TrustStore,
    directory: Directory,
    *,
    received_at: datetime,
    max_bytes: int,
) -> PackageView:
    """Read the sealed package, its bytes or its file (never raises: a problem becomes
    ``error``)."""
    try:
        size = len(path) if isinstance(path, bytes) else path.stat().st_size
        parsed = read(path, limits=_limits(max_bytes))
    except OSError as exc:
        return PackageView(error=f"{type(exc).__name__}: {exc.strerror or exc}")
    except EdxmlError as exc:
        return PackageView(size=size, error=f"{exc.code}: {exc.message_en}")
    hops = _hops(parsed, directory)
    hub_ids = {h.organ_id for h in hops}
    raw, truncated = _raw(parsed)
    return PackageView(
        hops=hops,
        signatures=_signatures(parsed, trust, directory, hub_ids, received_at),
        attachments=_attachments(parsed),
        raw=raw,
        raw_truncated=truncated,
        size=size,
        facts=_facts(parsed),
    )


def _trace_headers(parsed: Parsed) -> list[tuple[str | None, datetime | None]]:
    package = parsed.package
    if isinstance(package, DocumentPackage):
        return [(h.organ_id, h.timestamp) for h in package.trace_headers]
    # The model of a status package has no TraceHeaderList (edxml.md §2.1), but a hub's
    # seal adds one: read it from the tree, in the seal's own time format.
    out: list[tuple[str | None, datetime | None]] = []
    for el in parsed.tree.getroot().iter():
        if isinstance(el.tag, str) and el.tag.rsplit("}", 1)[-1] == "TraceHeader":
            values = {
                c.tag.rsplit("}", 1)[-1]: (c.text or "").strip()
                for c in el
                if isinstance(c.tag, str)
            }
            when = None
            with contextlib.suppress(ValueError):
                when = datetime.strptime(values.get("Timestamp", ""), "%Y/%m/%d %H:%M:%S")
                when = when.replace(tzinfo=VN_TZ)
            out.append((values.get("OrganId") or None, when))
    return out


def _hops(parsed: Parsed, directory: Directory) -> list[Hop]:
    hops: list[Hop] = []
    previous: datetime | None = None
    for organ_id, at in _trace_headers(parsed):
        agency = directory.resolve(organ_id) if organ_id else None
        hops.append(
            Hop(
                organ_id=organ_id or "?",
                name=agency.name if agency else None,
                at=at,
                since_previous_ms=_ms(at, previous),
            )
        )
        previous = at or previous
    return hops


def _signatures(
    parsed: Parsed,
    trust: TrustStore,
    directory: Directory,
    hub_ids: set[str],
    at: datetime,
) -> list[SignatureView]:
    out = []
    for r in verify_signatures(parsed.tree, trust, at):
        agency = directory.resolve(r.signer_organ_id) if r.signer_organ_id else None
        out.append(
            SignatureView(
                index=r.index,
                kind=str(r.kind),
                role=str(r.role) if r.role is not None else None,
                signer=r.signer_subject,
                organ_id=r.signer_organ_id,
                organ_name=agency.name if agency else None,
                fingerprint=r.fingerprint,
                not_after=r.not_after,
                valid=r.valid and r.kind is SignatureKind.XMLDSIG,
                failure_code=r.failure.code if r.failure else None,
                failure_vi=r.failure.message_vi if r.failure else None,
                failure_en=r.failure.message_en if r.failure else None,
                is_hub=r.role is SignatureRole.SEAL or (r.signer_organ_id or "") in hub_ids,
                covers=r.references,
            )
        )
    return out


def _attachments(parsed: Parsed) -> list[AttachmentView]:
    package = parsed.package
    if not isinstance(package, DocumentPackage):
        return []
    out = []
    for number, a in enumerate(package.attachments, start=1):
        try:
            real = sniff(a)
        except EdxmlError as exc:
            out.append(
                AttachmentView(
                    number=number, name=a.name, claimed_type=a.content_type, real_name=None,
                    real_type=None, size=len(a.data), real_size=None, unzipped=False,
                    mismatch=False, error=exc.code,
                )
            )  # fmt: skip
            continue
        out.append(
            AttachmentView(
                number=number, name=a.name, claimed_type=a.content_type, real_name=real.name,
                real_type=real.content_type, size=len(a.data), real_size=real.size,
                unzipped=real.unzipped, mismatch=real.type_mismatch, error=None,
            )
        )  # fmt: skip
    return out


def attachment_file(
    path: bytes | Path, number: int, max_bytes: int
) -> tuple[str, str, bytes] | None:
    """Attachment ``number`` (from 1) of the package as (file name, media type, bytes): the
    real file (a transport zip unwrapped); None when there is no such attachment."""
    package = read(path, limits=_limits(max_bytes)).package
    if not isinstance(package, DocumentPackage) or not 1 <= number <= len(package.attachments):
        return None
    attachment = package.attachments[number - 1]
    try:
        real = sniff(attachment)
    except EdxmlError:  # a corrupt transport zip: hand over what was sent
        name = attachment.name or f"attachment-{number}.bin"
        return name, "application/octet-stream", attachment.data
    return real.name, real.content_type, real.data


def _raw(parsed: Parsed) -> tuple[str, bool]:
    """The package as text, attachment payloads replaced by their length."""
    root = etree.fromstring(etree.tostring(parsed.tree))  # a copy to edit
    for el in root.iter():
        if not isinstance(el.tag, str):
            continue
        text = el.text or ""
        if len(text) > _ELIDE_OVER and _inside_attachments(el):
            el.text = f"[… {len(text):,} base64 characters / ký tự base64 …]"
    text = etree.tostring(root, encoding="unicode")
    if len(text) > _RAW_LIMIT:
        return text[:_RAW_LIMIT], True
    return text, False


def _inside_attachments(el: etree._Element) -> bool:
    for ancestor in el.iterancestors():
        tag = ancestor.tag
        if isinstance(tag, str) and tag.rsplit("}", 1)[-1].lower() == "attachmentencoded":
            return True
    return False


def _facts(parsed: Parsed) -> dict[str, str]:
    """A few envelope facts the message row does not keep (for the page header)."""
    package = parsed.package
    facts: dict[str, str] = {}
    if isinstance(package, DocumentPackage):
        facts["from_name"] = package.from_.organ_name or ""
        facts["to"] = ", ".join(t.organ_id for t in package.to)
        if package.promulgation.date:
            facts["date"] = package.promulgation.date.isoformat()
        if package.signer.full_name:
            facts["signer"] = package.signer.full_name
        if package.due_date:
            facts["due_date"] = package.due_date.isoformat()
    elif isinstance(package, StatusPackage):
        facts["status"] = package.status_code
        facts["description"] = package.description or ""
    return facts
