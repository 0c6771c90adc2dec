"""The retention archive format: its members, the signed manifest, and the checks that verify it.

Retention (``gateway/ops/retention.py``) moves old trace entries and the packages of finished
documents out of the hub into archive files; this module says what such a file contains and
how to tell that it is intact, with no I/O of its own (the shell reads and writes the tar).
An archive is a gzip'ed POSIX tar, members in this order::

    trace.jsonl       the archived trace entries, one canonical JSON object per line, seq order
    messages.jsonl    the purged messages: the message row, its deliveries, its package member
    packages/<doc_id>.edxml   the sealed package of each purged message, byte for byte
    manifest.json     canonical JSON: number, hub, node, times, the previous archive (number,
                      name, SHA-256 of its file), the trace range with its first prev_hash and
                      last hash, the SHA-256 of trace.jsonl and messages.jsonl, counts
    manifest.sig      {"alg", "signature", "certificate"}: the hub key's signature over
                      manifest.json, made as a receipt is (gateway/core/receipt.py)

Two chains hold the archives together: the trace hash chain runs through them (the first
entry of archive n continues the last of n - 1, and the live table continues the last
archive), and each manifest names the SHA-256 of the previous archive *file*, which the store
also registers. Changing a byte anywhere is caught: in a member by its hash in the manifest, in
the manifest by the signature, a swapped, removed or re-signed file by the next link.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from cryptography import x509

from edxml.errors import EdxmlError
from edxml.trust import SigningKey, TrustStore, certificate_organ_id, subject_text
from gateway.core.errors import LocalError, NotFound, Reason, define
from gateway.core.receipt import canonical_json, sign_receipt, verify_receipt
from gateway.store import _codec, chain
from gateway.store.base import Delivery, Message, TraceRow

__all__ = [
    "ARCHIVE_ALTERED",
    "ARCHIVE_MISSING",
    "ARCHIVE_UNREADABLE",
    "CHAIN_BROKEN",
    "FORMAT",
    "HEAD_MISMATCH",
    "LINK_BROKEN",
    "MANIFEST",
    "MESSAGES",
    "PACKAGES",
    "PURGED",
    "RETENTION_BUSY",
    "SIGNATURE",
    "SIGNATURE_INVALID",
    "TRACE",
    "ArchiveBroken",
    "ArchiveTrust",
    "ChainCheck",
    "Manifest",
    "PackageArchived",
    "archive_name",
    "check_manifest",
    "message_line",
    "package_member",
    "parse_trace_line",
    "sha256_hex",
    "sign_manifest",
    "trace_line",
]

FORMAT = "edxgw-archive"
VERSION = 1
TRACE = "trace.jsonl"
MESSAGES = "messages.jsonl"
PACKAGES = "packages/"
MANIFEST = "manifest.json"
SIGNATURE = "manifest.sig"

ARCHIVE_MISSING = define(
    "ops.retention.archive_missing",
    "Tệp lưu trữ {name} đã đăng ký trong kho dữ liệu nhưng không có trong thư mục {folder}",
    "Archive {name} is registered in the store but missing from {folder}",
)
ARCHIVE_UNREADABLE = define(
    "ops.retention.archive_unreadable",
    "Không đọc được tệp lưu trữ {name}: {detail}",
    "Archive {name} cannot be read: {detail}",
)
ARCHIVE_ALTERED = define(
    "ops.retention.archive_altered",
    "Tệp lưu trữ {name} đã bị thay đổi: {detail}",
    "Archive {name} was altered: {detail}",
)
SIGNATURE_INVALID = define(
    "ops.retention.signature_invalid",
    "Chữ ký của tệp lưu trữ {name} không hợp lệ: {detail}",
    "The signature of archive {name} is not valid: {detail}",
)
CHAIN_BROKEN = define(
    "ops.retention.chain_broken",
    "Chuỗi vết trong tệp lưu trữ {name} bị phá vỡ tại sự kiện {seq}: {detail}",
    "The trace chain in archive {name} breaks at entry {seq}: {detail}",
)
LINK_BROKEN = define(
    "ops.retention.link_broken",
    "Tệp lưu trữ {name} không nối tiếp tệp lưu trữ trước ({previous}): {detail}",
    "Archive {name} does not continue the previous archive ({previous}): {detail}",
)
HEAD_MISMATCH = define(
    "ops.retention.head_mismatch",
    "Điểm lưu trữ cuối trong kho dữ liệu (sự kiện {seq}) không khớp tệp lưu trữ cuối {name}",
    "The store's archived head (entry {seq}) does not match the last archive {name}",
)
RETENTION_BUSY = define(
    "ops.retention.busy",
    "Nút {node} đang ghi tệp lưu trữ (đến {until}); hãy chạy lại sau",
    "Node {node} is writing archives (lease until {until}); run again later",
)
PURGED = define(
    "ops.retention.purged",
    "Gói tin của văn bản {doc_id} đã được chuyển vào tệp lưu trữ {archive} ngày {at} và không "
    "còn trên trục; liên hệ quản trị trục nếu cần bản này",
    "The package of document {doc_id} was moved to archive {archive} on {at} and is no longer "
    "kept on the hub; ask the hub's administrators for it",
)


class ArchiveBroken(LocalError):
    """An archive (or the link between two, or to the live trace) fails verification."""

    def __init__(
        self,
        reason: Reason,
        /,
        *,
        name: str,
        detail: str = "",
        seq: int = 0,
        previous: str = "",
        folder: str = "",
    ) -> None:
        super().__init__(
            reason, name=name, detail=detail, seq=seq, previous=previous, folder=folder
        )
        self.archive = name


class PackageArchived(NotFound):
    """The delivery exists but retention moved its package to an archive: 410 Gone."""

    http_status = 410


def archive_name(number: int, created_at: datetime, node: str) -> str:
    """``edxgw-archive-000042-20260701T020000Z-node-1.tar.gz``: ordered by number, and unique
    per attempt, so a run that loses its lease never overwrites the file of the one that won."""
    stamp = _codec.utc(created_at).strftime("%Y%m%dT%H%M%SZ")
    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in node)
    return f"{FORMAT}-{number:06d}-{stamp}-{safe}.tar.gz"


# -- trace.jsonl --------------------------------------------------------------------------------


def trace_line(row: TraceRow) -> bytes:
    """One entry as canonical JSON with every field its hash covers (``chain.entry_hash``)."""
    return (
        _codec.dumps(
            {
                "seq": row.seq,
                "doc_id": row.doc_id,
                "node": row.node,
                "stage": row.stage,
                "outcome": row.outcome,
                "detail": row.detail,
                "at": _codec.to_text(row.at),
                "prev_hash": row.prev_hash,
                "hash": row.hash,
            }
        ).encode()
        + b"\n"
    )


def parse_trace_line(line: bytes) -> TraceRow:
    """Raises ValueError (or KeyError/TypeError) for a line that is not an entry."""
    raw = json.loads(line)
    return TraceRow(
        seq=int(raw["seq"]),
        doc_id=raw["doc_id"],
        node=str(raw["node"]),
        stage=str(raw["stage"]),
        outcome=str(raw["outcome"]),
        detail=raw["detail"],
        at=_codec.from_text(str(raw["at"])),
        prev_hash=str(raw["prev_hash"]),
        hash=str(raw["hash"]),
    )


class ChainCheck:
    """Checks entries one by one as they stream past: consecutive seq, each ``prev_hash`` the
    hash before it, each hash recomputed. Raises :class:`ArchiveBroken` (``CHAIN_BROKEN``)."""

    def __init__(self, name: str, first_seq: int, prev_hash: str) -> None:
        self.name = name
        self.first_seq = first_seq
        self.next_seq = first_seq
        self.last_hash = prev_hash
        self.count = 0

    @property
    def last_seq(self) -> int:
        return self.next_seq - 1

    def feed(self, row: TraceRow) -> None:
        if row.seq != self.next_seq:
            self._broken(self.next_seq, f"entry {row.seq} found where {self.next_seq} belongs")
        if row.prev_hash != self.last_hash:
            self._broken(row.seq, "prev_hash does not match the entry before")
        digest = chain.entry_hash(
            row.seq, row.doc_id, row.node, row.stage, row.outcome, row.detail, row.at, row.prev_hash
        )
        if digest != row.hash:
            self._broken(row.seq, "hash mismatch: the entry was altered")
        self.last_hash = row.hash
        self.next_seq += 1
        self.count += 1

    def _broken(self, seq: int, detail: str) -> None:
        vi = {
            "prev_hash does not match the entry before": "prev_hash không khớp sự kiện trước",
            "hash mismatch: the entry was altered": "sai mã băm: sự kiện đã bị sửa",
        }.get(detail, detail)
        raise ArchiveBroken(CHAIN_BROKEN, name=self.name, seq=seq, detail=_both(vi, detail))


# -- messages.jsonl and packages ------------------------------------------------------------


def package_member(doc_id: str) -> str:
    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in doc_id)
    return f"{PACKAGES}{safe}.edxml"


def message_line(
    message: Message, deliveries: list[Delivery], member: str | None, sha256: str | None
) -> bytes:
    """A purged message: its row, its deliveries, and where its package is in the archive
    (``member`` None when the package file was already missing from the blob folder)."""
    return (
        _codec.dumps(
            {
                "message": _plain(message),
                "deliveries": [_plain(d) for d in deliveries],
                "package": None if member is None else {"member": member, "sha256": sha256},
            }
        ).encode()
        + b"\n"
    )


def _plain(value: Any) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for f in dataclasses.fields(value):
        v = getattr(value, f.name)
        if isinstance(v, datetime):
            v = _codec.to_text(v)
        elif isinstance(v, date):
            v = v.isoformat()
        elif hasattr(v, "value"):  # enums (delivery states)
            v = v.value
        elif isinstance(v, tuple):
            v = list(v)
        out[f.name] = v
    return out


# -- manifest -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ArchiveTrust:
    """Who may have signed an archive: the hub ``hub`` (its organ id in the certificate's
    serialNumber, or one of its own certificates ``own``), with a certificate ``trust``
    accepted when the archive was written (the hub's key is renewed over the years)."""

    hub: str
    trust: TrustStore
    own: tuple[x509.Certificate, ...] = ()


@dataclass(frozen=True, slots=True)
class Manifest:
    """The manifest as read back and checked; ``data`` is the whole object."""

    data: Mapping[str, Any]
    certificate: x509.Certificate


def sign_manifest(manifest: Mapping[str, Any], key: SigningKey) -> tuple[bytes, bytes]:
    """``manifest.json`` (canonical JSON) and ``manifest.sig`` for it, signed by the hub key."""
    signed = sign_receipt(manifest, key)
    signature = {k: signed[k] for k in ("alg", "signature", "certificate")}
    return canonical_json(manifest), canonical_json(signature)


def check_manifest(
    name: str, manifest_bytes: bytes, signature_bytes: bytes, signer: ArchiveTrust
) -> Manifest:
    """The manifest, if its signature verifies, it names this hub, and the signing certificate
    is the hub's and was trusted when the archive was made. Raises :class:`ArchiveBroken`."""
    try:
        manifest = json.loads(manifest_bytes)
        signature = json.loads(signature_bytes)
        cert = x509.load_pem_x509_certificate(str(signature["certificate"]).encode())
        created = _codec.from_text(str(manifest["created_at"]))
    except (ValueError, KeyError, TypeError) as exc:
        raise ArchiveBroken(
            ARCHIVE_UNREADABLE, name=name, detail=f"manifest: {type(exc).__name__}: {exc}"
        ) from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise ArchiveBroken(ARCHIVE_UNREADABLE, name=name, detail=f"not an {FORMAT} manifest")
    if not verify_receipt({**signature, "receipt": manifest}, cert):
        raise ArchiveBroken(
            SIGNATURE_INVALID,
            name=name,
            detail=_both(
                "chữ ký không khớp nội dung manifest.json",
                "the signature does not match manifest.json",
            ),
        )
    organ = certificate_organ_id(cert)
    if manifest.get("hub") != signer.hub or (organ != signer.hub and cert not in signer.own):
        raise ArchiveBroken(
            SIGNATURE_INVALID,
            name=name,
            detail=_both(
                f"ký bởi {organ or subject_text(cert)}, không phải trục {signer.hub}",
                f"signed by {organ or subject_text(cert)}, not by the hub {signer.hub}",
            ),
        )
    try:
        signer.trust.validate([cert], at=created)
    except EdxmlError as exc:
        raise ArchiveBroken(
            SIGNATURE_INVALID, name=name, detail=_both(exc.message_vi, exc.message_en)
        ) from None
    return Manifest(manifest, cert)


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _both(vi: str, en: str) -> str:
    # The messages are formatted once per language; a detail in both reads well in each.
    return en if vi == en else f"{en} / {vi}"
