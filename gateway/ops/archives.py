"""Write and verify retention archive files: the disk side of ``gateway/core/archive.py``.

:class:`ArchiveWriter` stages the members of one archive in a private folder next to the
archives (the trace and message lines as they are read page by page, so memory stays bounded),
then packs them with the packages into ``<name>.tmp``, fsyncs it, renames it into place and
syncs the folder: a crash leaves a whole archive or a stray ``.tmp``/staging folder, never half
an archive under a registered name. :func:`verify_archives` walks every registered archive in
order and then the live trace, so ``edxgw trace verify`` checks the whole history at once.
"""

from __future__ import annotations

import asyncio
import hashlib
import io
import json
import os
import shutil
import tarfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import IO, Any

from edxml.trust import SigningKey
from gateway.core import archive as fmt
from gateway.core.archive import ArchiveBroken, ArchiveTrust, ChainCheck
from gateway.store import _codec, chain
from gateway.store.base import ArchiveRecord, Delivery, Message, Store, TraceRow, VerifyResult

__all__ = ["ArchiveWriter", "VerifyReport", "verify_archive_file", "verify_archives"]

_CHUNK = 1024 * 1024


def _file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _sync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@dataclass
class _Lines:
    """A staged JSON-lines member: written as it grows, hashed on the way."""

    path: Path
    fh: IO[bytes] | None = None
    digest: Any = field(default_factory=hashlib.sha256)
    count: int = 0

    def write(self, data: bytes, lines: int) -> None:
        if self.fh is None:
            self.fh = open(self.path, "wb")  # noqa: SIM115 - closed by close()
        self.fh.write(data)
        self.digest.update(data)
        self.count += lines

    def close(self) -> None:
        if self.fh is None:
            self.path.write_bytes(b"")
        else:
            self.fh.close()


class ArchiveWriter:
    """One archive under construction: ``add_trace``/``add_message``, then ``pack``."""

    def __init__(
        self, folder: Path, name: str, *, first_seq: int, prev_hash: str, fsync: bool = True
    ) -> None:
        self.folder = folder
        self.name = name
        self.fsync = fsync
        self.staging = folder / f".{name}.parts"
        self.staging.mkdir(parents=True, exist_ok=False)
        self.prev_hash = prev_hash
        self.check = ChainCheck(name, first_seq, prev_hash)
        self._trace = _Lines(self.staging / fmt.TRACE)
        self._messages = _Lines(self.staging / fmt.MESSAGES)
        #: member, package file (a blob file, or its bytes staged here), size
        self._packages: list[tuple[str, Path, int]] = []
        self.package_bytes = 0

    @property
    def path(self) -> Path:
        return self.folder / self.name

    async def add_trace(self, rows: list[TraceRow]) -> None:
        """Append entries (in seq order); the chain is checked on the way, so a damaged live
        trace is never archived (and then deleted) as if it were sound."""
        for row in rows:
            self.check.feed(row)
        data = b"".join(fmt.trace_line(r) for r in rows)
        await asyncio.to_thread(self._trace.write, data, len(rows))

    async def add_message(
        self, message: Message, deliveries: list[Delivery], blob: bytes | Path | None
    ) -> None:
        """A purged message and its package: the bytes (kept in the store) or its file
        (``blob`` None or a missing file: recorded as missing)."""
        member = digest = None
        if isinstance(blob, bytes):
            # Staged as a file until pack(): an archive's thousand packages are not held.
            staged = self.staging / f"package-{len(self._packages)}"
            await asyncio.to_thread(staged.write_bytes, blob)
            blob = staged
        if blob is not None:
            try:
                digest, size = await asyncio.to_thread(_hash_size, blob)
            except FileNotFoundError:
                pass
            else:
                member = fmt.package_member(message.doc_id)
                self._packages.append((member, blob, size))
                self.package_bytes += size
        line = fmt.message_line(message, deliveries, member, digest)
        await asyncio.to_thread(self._messages.write, line, 1)

    def manifest(
        self,
        *,
        number: int,
        hub: str,
        node: str,
        created_at: datetime,
        cutoff: datetime,
        retention_days: int,
        previous: ArchiveRecord | None,
    ) -> dict[str, Any]:
        return {
            "format": fmt.FORMAT,
            "version": fmt.VERSION,
            "number": number,
            "name": self.name,
            "hub": hub,
            "node": node,
            "created_at": _codec.to_text(created_at),
            "cutoff": _codec.to_text(cutoff),
            "retention_days": retention_days,
            "previous": None
            if previous is None
            else {"number": previous.number, "name": previous.name, "sha256": previous.sha256},
            "trace": {
                "first_seq": self.check.first_seq,
                "last_seq": self.check.last_seq,
                "count": self.check.count,
                "prev_hash": self.prev_hash,
                "last_hash": self.check.last_hash,
                "sha256": self._trace.digest.hexdigest(),
            },
            "messages": {
                "count": self._messages.count,
                "sha256": self._messages.digest.hexdigest(),
            },
            "packages": {"count": len(self._packages), "bytes": self.package_bytes},
        }

    def pack(self, manifest: Mapping[str, Any], key: SigningKey) -> str:
        """Write the archive file (blocking: run it in a thread); returns its SHA-256."""
        self._trace.close()
        self._messages.close()
        manifest_bytes, signature_bytes = fmt.sign_manifest(manifest, key)
        tmp = self.folder / f".{self.name}.tmp"
        with open(tmp, "wb") as raw:
            with tarfile.open(fileobj=raw, mode="w:gz", compresslevel=6) as tar:
                tar.add(self._trace.path, arcname=fmt.TRACE, filter=_plain_member)
                tar.add(self._messages.path, arcname=fmt.MESSAGES, filter=_plain_member)
                for member, blob, size in self._packages:
                    info = _plain_member(tarfile.TarInfo(member))
                    info.size = size
                    with open(blob, "rb") as fh:
                        tar.addfile(info, fh)
                for member, data in (
                    (fmt.MANIFEST, manifest_bytes),
                    (fmt.SIGNATURE, signature_bytes),
                ):
                    info = _plain_member(tarfile.TarInfo(member))
                    info.size = len(data)
                    tar.addfile(info, io.BytesIO(data))
            raw.flush()
            if self.fsync:
                os.fsync(raw.fileno())
        digest = _file_sha256(tmp)
        os.replace(tmp, self.path)
        if self.fsync:
            _sync_dir(self.folder)
        self.discard_staging()
        return digest

    def discard_staging(self) -> None:
        for lines in (self._trace, self._messages):
            if lines.fh is not None and not lines.fh.closed:
                lines.fh.close()
        shutil.rmtree(self.staging, ignore_errors=True)

    def discard(self) -> None:
        """Drop everything of this attempt, the packed file included."""
        self.discard_staging()
        (self.folder / f".{self.name}.tmp").unlink(missing_ok=True)
        self.path.unlink(missing_ok=True)


def _plain_member(info: tarfile.TarInfo) -> tarfile.TarInfo:
    # No owner names, ids or times of this machine: what the archive says is in the manifest.
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    info.mode = 0o644
    info.mtime = 0
    return info


def _hash_size(path: Path) -> tuple[str, int]:
    digest = hashlib.sha256()
    size = 0
    with open(path, "rb") as fh:
        while chunk := fh.read(_CHUNK):
            digest.update(chunk)
            size += len(chunk)
    return digest.hexdigest(), size


# -- verification -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class VerifyReport:
    """Every archive and the live trace verified: what was checked."""

    archives: int
    archived_events: int
    packages: int
    live: VerifyResult


@dataclass(frozen=True, slots=True)
class _Expect:
    """What the archive must contain, from the store's register and the previous archive."""

    record: ArchiveRecord
    previous: ArchiveRecord | None
    first_seq: int
    prev_hash: str


def verify_archive_file(
    path: Path, expect: _Expect, trust: ArchiveTrust, retained: Mapping[int, str]
) -> tuple[int, int]:
    """Check one archive file completely (blocking); returns (entries, packages).

    ``retained`` maps the seq of entries still in the live table (documents still on the
    hub) to the hash recomputed from their live fields: each must equal its archived copy.
    Raises :class:`ArchiveBroken` naming the archive.
    """
    record = expect.record
    name = record.name

    def altered(detail_en: str, detail_vi: str) -> ArchiveBroken:
        return ArchiveBroken(fmt.ARCHIVE_ALTERED, name=name, detail=f"{detail_en} / {detail_vi}")

    if _file_sha256(path) != record.sha256:
        raise altered(
            "the file's SHA-256 differs from the one registered when it was written",
            "SHA-256 của tệp khác với giá trị đã đăng ký khi ghi",
        )
    check = ChainCheck(name, expect.first_seq, expect.prev_hash)
    hashes: dict[str, str] = {}
    packages_seen: dict[str, str] = {}
    packages_listed: dict[str, str] = {}
    messages = 0
    small: dict[str, bytes] = {}
    try:
        with tarfile.open(path, mode="r|gz") as tar:
            for member in tar:
                fh = tar.extractfile(member) if member.isfile() else None
                if fh is None:
                    raise altered(
                        f"unexpected member {member.name!r}", f"thành phần lạ {member.name!r}"
                    )
                if member.name == fmt.TRACE:
                    hashes[member.name] = _read_lines(
                        fh, lambda line: _trace_entry(line, check, retained, name)
                    )
                elif member.name == fmt.MESSAGES:
                    counted = [0]

                    def message(line: bytes, counted: list[int] = counted) -> None:
                        counted[0] += 1
                        package = json.loads(line).get("package")
                        if package is not None:
                            packages_listed[str(package["member"])] = str(package["sha256"])

                    hashes[member.name] = _read_lines(fh, message)
                    messages = counted[0]
                elif member.name.startswith(fmt.PACKAGES):
                    packages_seen[member.name] = _read_lines(fh, None)
                elif member.name in (fmt.MANIFEST, fmt.SIGNATURE):
                    small[member.name] = fh.read(1024 * 1024)
                else:
                    raise altered(
                        f"unexpected member {member.name!r}", f"thành phần lạ {member.name!r}"
                    )
    except (tarfile.TarError, OSError, EOFError) as exc:
        raise ArchiveBroken(fmt.ARCHIVE_UNREADABLE, name=name, detail=str(exc)) from None
    except (ValueError, KeyError, TypeError) as exc:
        raise altered(
            f"a line does not parse ({exc})", f"một dòng không đọc được ({exc})"
        ) from None
    if fmt.MANIFEST not in small or fmt.SIGNATURE not in small:
        raise altered(
            "manifest.json or manifest.sig is missing", "thiếu manifest.json/manifest.sig"
        )
    manifest = fmt.check_manifest(name, small[fmt.MANIFEST], small[fmt.SIGNATURE], trust).data
    previous = manifest.get("previous")
    if expect.previous is None:
        if previous is not None:
            raise ArchiveBroken(
                fmt.LINK_BROKEN, name=name, previous="-", detail="the first archive names one"
            )
    elif not isinstance(previous, dict) or (
        previous.get("number"),
        previous.get("sha256"),
    ) != (expect.previous.number, expect.previous.sha256):
        raise ArchiveBroken(
            fmt.LINK_BROKEN,
            name=name,
            previous=expect.previous.name,
            detail="it names another file or hash / tệp hoặc mã băm khác",
        )
    trace = manifest.get("trace") or {}
    facts = {
        "number": (manifest.get("number"), record.number),
        "name": (manifest.get("name"), name),
        "trace.first_seq": (trace.get("first_seq"), expect.first_seq),
        "trace.prev_hash": (trace.get("prev_hash"), expect.prev_hash),
        "trace.last_seq": (trace.get("last_seq"), check.last_seq),
        "trace.last_hash": (trace.get("last_hash"), check.last_hash),
        "trace.count": (trace.get("count"), check.count),
        "trace.sha256": (trace.get("sha256"), hashes.get(fmt.TRACE)),
        "messages.count": ((manifest.get("messages") or {}).get("count"), messages),
        "messages.sha256": (
            (manifest.get("messages") or {}).get("sha256"),
            hashes.get(fmt.MESSAGES),
        ),
        "packages": (packages_listed, packages_seen),
        "register.last_seq": (record.last_seq, check.last_seq),
        "register.last_hash": (record.last_hash, check.last_hash),
        "register.events": (record.events, check.count),
    }
    for what, (stated, found) in facts.items():
        if stated != found:
            raise altered(f"{what} does not match the content", f"{what} không khớp nội dung")
    return check.count, len(packages_seen)


def _read_lines(fh: IO[bytes], on_line: Callable[[bytes], None] | None) -> str:
    """Hash a member while feeding its lines (if asked); returns the hex SHA-256."""
    digest = hashlib.sha256()
    rest = b""
    while chunk := fh.read(_CHUNK):
        digest.update(chunk)
        if on_line is None:
            continue
        lines = (rest + chunk).split(b"\n")
        rest = lines.pop()
        for line in lines:
            if line:
                on_line(line)
    if on_line is not None and rest:
        on_line(rest)
    return digest.hexdigest()


def _trace_entry(line: bytes, check: ChainCheck, retained: Mapping[int, str], name: str) -> None:
    row = fmt.parse_trace_line(line)
    check.feed(row)
    live = retained.get(row.seq)
    if live is not None and live != row.hash:
        raise ArchiveBroken(
            fmt.CHAIN_BROKEN,
            name=name,
            seq=row.seq,
            detail="the entry kept in the live table differs from its archived copy"
            " / sự kiện còn trong bảng khác bản đã lưu trữ",
        )


async def verify_archives(store: Store, folder: Path, trust: ArchiveTrust) -> VerifyReport:
    """Every registered archive in order, the store's archived head, then the live trace.

    Raises :class:`ArchiveBroken` for the first archive that fails (the live trace is then not
    judged); a broken live chain is reported in ``live`` as ``Store.verify_trace`` reports it.
    """
    records = await store.list_archives()
    head = await store.retention_head()
    retained: dict[int, str] = {}
    after = 0
    while after < head.archived_seq:
        page = await store.trace_page(after, head.archived_seq, 1000)
        if not page:
            break
        for row in page:
            retained[row.seq] = chain.entry_hash(
                row.seq, row.doc_id, row.node, row.stage, row.outcome, row.detail, row.at,
                row.prev_hash,
            )  # fmt: skip
        after = page[-1].seq
    previous: ArchiveRecord | None = None
    first_seq, prev_hash = 1, chain.GENESIS
    events = packages = 0
    for record in records:
        path = folder / record.name
        if not path.is_file():
            raise ArchiveBroken(fmt.ARCHIVE_MISSING, name=record.name, folder=str(folder))
        expect = _Expect(record, previous, first_seq, prev_hash)
        count, stored = await asyncio.to_thread(verify_archive_file, path, expect, trust, retained)
        events += count
        packages += stored
        previous, first_seq, prev_hash = record, record.last_seq + 1, record.last_hash
    if (head.archived_seq, head.archived_hash) != (first_seq - 1, prev_hash):
        raise ArchiveBroken(
            fmt.HEAD_MISMATCH,
            name=previous.name if previous else "-",
            seq=head.archived_seq,
        )
    live = await store.verify_trace()
    return VerifyReport(len(records), events, packages, live)
