"""Outgoing: files dropped in outbox/ and status/ become submitted packages, then sent/ or failed/.

One file's way, each step idempotent so that a kill -9 anywhere is recovered by doing the
current step again (the journal says which)::

    1 claim    journal row 'claimed' (commit) → rename outbox/F to work/C/source/F, then the
               attachments a TOML names (outbox/a.pdf → work/C/source/files/a.pdf)
    2 build    work/C/package.edxml written (tmp, fsync, rename) → 'built' (commit)
               .edxml: the file itself (signed first when ``sign_edxml`` and unsigned)
               .toml in outbox/: a document (``edxml new`` description); in status/: a status
    3 submit   POST the *stored bytes* → receipt to work/C/answer.json → 'submitted' (commit)
               a refusal → work/C/reason.json → 'refused' (commit); a transport error or a
               5xx → retried later with backoff (the row stays 'built')
    4 finish   target name chosen and journaled → companions renamed into sent/ (or failed/)
               → the dropped file renamed last (the commit point) → 'sent'/'failed' (commit)

No double submission: a package is built once and its bytes kept, so a crash between the
gateway's answer and the journal's commit re-sends *the same bytes*, which the gateway
recognises (same sender, DocumentId and business type — for a status the same timestamp —
give the same DocId, invariant §3.3): at most one delivery per document, whatever happens.

In sent/ a file F comes with ``F.receipt.json`` (the gateway's answer, with the signed
receipt), ``F.edxml`` (the package as submitted, unless F is that package) and ``F.files/``
(a TOML's attachments); in failed/ with ``F.reason.json`` and ``F.files/``.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import secrets
import shutil
import time
import tomllib
from collections.abc import Callable
from pathlib import Path, PurePosixPath
from typing import Any

import edxml
from adapters.dropfolder.config import DropFolderConfig
from adapters.dropfolder.errors import DropFolderError, Reason, from_exception
from adapters.dropfolder.files import fsync_dir, move, write_atomic
from adapters.dropfolder.journal import Journal, OutRow, PackageRow
from adapters.sdk import STATUS_CODES, Client, EdxgwError, Outgoing, compose
from edxml import EdxmlError
from edxml.model import DocumentPackage, StaffInfo

__all__ = ["Source", "new_claim"]

log = logging.getLogger("edxgw.dropfolder")

SUFFIXES = {"outbox": (".edxml", ".toml"), "status": (".toml",)}
_COMPANIONS = (".receipt.json", ".reason.json", ".edxml", ".files")
_STATUS_KEYS = {"doc_id", "code", "comment", "sender", "recipient", "staff", "department"}


def new_claim() -> str:
    """A work folder name: sortable by time, unique."""
    return f"{time.time_ns():020d}-{secrets.token_hex(4)}"


class Source:
    """Takes dropped files to the gateway; one instance per daemon (single-threaded)."""

    def __init__(
        self,
        config: DropFolderConfig,
        journal: Journal,
        client: Client,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.config = config
        self.journal = journal
        self.client = client
        self.clock = clock
        self.work = config.state_dir / "work"
        self.packages = config.state_dir / "packages"
        self._own: tuple[str, ...] | None = None

    # -- 1. claim -------------------------------------------------------------------------------
    def scan(self) -> int:
        """Claim every settled file in outbox/ and status/; returns how many."""
        count = 0
        for origin, suffixes in SUFFIXES.items():
            folder = self.config.folder(origin)
            for path in _settled(folder, suffixes, self.clock() - self.config.settle_seconds):
                self._claim(origin, path)
                count += 1
        return count

    def _claim(self, origin: str, path: Path) -> None:
        if not path.exists():  # taken back by the legacy system since the scan
            return
        claim = new_claim()
        self.journal.add_outgoing(claim, path.name, origin)
        self._take(claim, origin, path.name)
        log.info("nhận tệp / took %s/%s (%s)", origin, path.name, claim)

    def _take(self, claim: str, origin: str, name: str) -> None:
        """Move the dropped file (idempotent: it may already be in the work folder)."""
        source = self.work / claim / "source"
        if not source.is_dir():
            source.mkdir(parents=True)
            fsync_dir(source.parent)
            fsync_dir(self.work)
        dropped = self.config.folder(origin) / name
        if not (source / name).exists() and dropped.exists():
            move(dropped, source / name)

    def _take_attachments(self, claim: str, description: dict[str, Any]) -> None:
        """Move the files a TOML names from outbox/ into the work folder (idempotent)."""
        files = description.get("files", [])
        if not isinstance(files, list):
            raise DropFolderError(
                "dropfolder.bad_description",
                "files phải là danh sách tên tệp",
                "files must be a list of file names",
            )
        outbox = self.config.folder("outbox")
        target = self.work / claim / "source" / "files"
        for entry in files:
            rel = PurePosixPath(str(entry).replace("\\", "/"))
            if rel.is_absolute() or ".." in rel.parts or not rel.parts:
                raise DropFolderError(
                    "dropfolder.attachment_missing",
                    f"Tệp đính kèm {entry!r} phải nằm trong thư mục outbox/",
                    f"Attachment {entry!r} must be a path inside outbox/",
                )
            there = target.joinpath(*rel.parts)
            here = outbox.joinpath(*rel.parts)
            if there.is_file():
                continue
            if not here.is_file():
                raise DropFolderError(
                    "dropfolder.attachment_missing",
                    f"Không tìm thấy tệp đính kèm {entry!r} trong outbox/",
                    f"Attachment {entry!r} is not in outbox/",
                )
            move(here, there)

    # -- the state machine ------------------------------------------------------------------------
    def process(self) -> int:
        """Advance every unfinished claim as far as it goes now; returns how many finished."""
        finished = 0
        for row in self.journal.open_outgoing():
            try:
                finished += self._advance(row)
            except Exception:
                # A disk problem (full, permissions) is not the file's fault, and a bug must
                # not stop the other files: logged, and tried again on the next pass.
                log.exception("lỗi khi xử lý / failed on %s (%s)", row.name, row.claim)
        return finished

    def _advance(self, row: OutRow) -> int:
        if row.state == "claimed":
            row = self._build(row)
        if row.state == "built":
            if row.next_attempt > self.clock():
                return 0
            row = self._submit(row)
        if row.state in ("submitted", "refused"):
            self._finish(row)
            return 1
        return 0

    # -- 2. build -----------------------------------------------------------------------------
    def _build(self, row: OutRow) -> OutRow:
        work = self.work / row.claim
        if row.origin != "auto":
            self._take(row.claim, row.origin, row.name)
        dropped = work / "source" / row.name
        try:
            if not dropped.exists() and row.origin != "auto":
                raise DropFolderError(
                    "dropfolder.bad_description",
                    f"Tệp {row.name} đã bị xóa khỏi thư mục trước khi được gửi",
                    f"{row.name} was removed from the folder before it could be sent",
                )
            out = self._package(row, dropped)
        except (DropFolderError, EdxmlError, EdxgwError) as exc:
            if isinstance(exc, EdxgwError) and exc.retryable:
                log.warning("trục chưa sẵn sàng / gateway unavailable: %s", exc)
                return row  # built again next time
            return self._refuse(row, from_exception(exc))
        if out is None:  # an .edxml submitted as dropped: the file itself is the package
            (work / "package.edxml").unlink(missing_ok=True)
            kind, document_id = _kind_of(dropped)
        else:
            write_atomic(work / "package.edxml", out.data)
            kind, document_id = out.kind, out.document_id
        self.journal.update_outgoing(
            row.claim,
            state="built",
            sha256=_sha256(_package_path(work, row.name)),
            kind=kind,
            document_id=document_id,
        )
        return _replace(row, state="built", kind=kind)

    def _package(self, row: OutRow, dropped: Path) -> Outgoing | None:
        if dropped.suffix.lower() == ".edxml":
            if not self.config.sign_edxml:
                return None
            data = dropped.read_bytes()
            sender = edxml.parse(data).from_.organ_id
            key = self.client.signing_key(sender)
            return compose.sign_package(data, key) if key else None
        description = _read_toml(dropped)
        if row.origin == "status":
            return self._status(description)
        self._take_attachments(row.claim, description)
        if "from" not in description:
            description["from"] = self._only_agency()
        sender = description["from"]
        organ = sender.get("organ_id") if isinstance(sender, dict) else sender
        key = self.client.signing_key(str(organ))
        return compose.from_description(description, dropped.parent / "files", key)

    def _only_agency(self) -> str:
        if self._own is None:
            self._own = self.config.organs or self.client.me().agencies
        if len(self._own) != 1:
            raise DropFolderError(
                "dropfolder.bad_description",
                "Mô tả thiếu 'from' mà hệ thống gửi thay cho nhiều đơn vị: hãy ghi rõ 'from'",
                "The description has no 'from' and the system sends for several agencies",
            )
        return self._own[0]

    def _status(self, d: dict[str, Any]) -> Outgoing:
        """A status from a status/ TOML: doc_id, code, comment (+ sender, recipient, staff)."""
        doc_id, code = d.get("doc_id"), str(d.get("code", "")).zfill(2)
        unknown = sorted(set(d) - _STATUS_KEYS)
        if not isinstance(doc_id, str) or code not in STATUS_CODES or unknown:
            extra_vi = f"; khóa không hợp lệ: {', '.join(unknown)}" if unknown else ""
            extra_en = f"; unknown keys: {', '.join(unknown)}" if unknown else ""
            raise DropFolderError(
                "dropfolder.bad_status",
                "Tệp trạng thái cần doc_id và code (01–06, 13, 15, 16), có thể có comment, "
                f"sender, recipient, staff, department{extra_vi}",
                "A status file needs doc_id and code (01–06, 13, 15, 16), optionally comment, "
                f"sender, recipient, staff, department{extra_en}",
            )
        rows = self.journal.packages(doc_id)
        role = "sent" if code == "13" else "received"
        mine = [r for r in rows if r.role == role]
        sender = d.get("sender")
        if sender is not None:
            mine = [r for r in mine if r.organ == sender]
        if not mine:
            raise DropFolderError(
                "dropfolder.unknown_document",
                f"Không có văn bản {doc_id} mà thư mục này đã "
                f"{'gửi' if role == 'sent' else 'nhận'}"
                f"{' cho ' + sender if sender else ''}",
                f"No document {doc_id} was {role} through this drop folder"
                f"{' by ' + sender if sender else ''}",
            )
        if len(mine) > 1:
            raise DropFolderError(
                "dropfolder.bad_status",
                f"Văn bản {doc_id} được nhiều đơn vị nhận: hãy ghi sender",
                f"Several of our agencies received {doc_id}: say which one reports (sender)",
            )
        [row] = mine
        original = edxml.parse(Path(row.path).read_bytes())
        assert isinstance(original, DocumentPackage)
        recipient = d.get("recipient")
        if code == "13" and recipient is None and len(original.to) == 1:
            recipient = original.to[0].organ_id  # the only agency it went to
        staff = None
        if d.get("staff") or d.get("department"):
            staff = StaffInfo(department=d.get("department"), staff=d.get("staff"))
        return compose.status(
            original,
            code=code,
            sender=row.organ,
            comment=d.get("comment"),
            recipient=recipient,
            staff=staff,
            key=self.client.signing_key(row.organ),
        )

    # -- 3. submit ------------------------------------------------------------------------------
    def _submit(self, row: OutRow) -> OutRow:
        work = self.work / row.claim
        package = _package_path(work, row.name)
        try:
            sent = self.client.submit(package, kind=row.kind)
        except EdxgwError as exc:
            if exc.retryable:
                delay = min(self.config.retry_max_seconds, 2.0 ** min(row.attempts, 16))
                log.warning(
                    "trục chưa nhận %s, thử lại sau %.0f giây / gateway unavailable, retry: %s",
                    *(row.name, delay, exc),
                )
                self.journal.update_outgoing(
                    row.claim,
                    attempts=row.attempts + 1,
                    next_attempt=self.clock() + delay,
                    last_error=str(exc),
                )
                return _replace(row, attempts=row.attempts + 1)
            return self._refuse(row, from_exception(exc))
        answer = json.dumps(dict(sent.raw), ensure_ascii=False, indent=2) + "\n"
        write_atomic(work / "answer.json", answer.encode())
        kept = None
        if sent.kind == "edoc":  # kept for the statuses (13) the sender may send about it
            kept = self._keep(package, sent.doc_id, sent.sender, "sent", sent.document_id)
        self.journal.submitted(row.claim, sent.doc_id, sent.duplicate, kept)
        again = " (trục đã có / already accepted)" if sent.duplicate else ""
        log.info("đã gửi / sent %s: doc_id %s%s", row.name, sent.doc_id, again)
        return _replace(row, state="submitted", doc_id=sent.doc_id)

    def _keep(
        self, package: Path, doc_id: str, organ: str, role: str, document_id: str
    ) -> PackageRow:
        kept = self.packages / f"{doc_id}.{organ}.{role}.edxml"
        kept.unlink(missing_ok=True)
        os.link(package, kept)
        fsync_dir(self.packages)
        return PackageRow(doc_id, organ, role, document_id, str(kept))

    def _refuse(self, row: OutRow, reason: Reason) -> OutRow:
        write_atomic(self.work / row.claim / "reason.json", reason.to_json())
        self.journal.update_outgoing(row.claim, state="refused", last_error=str(reason))
        log.warning("không gửi được / not sent %s: %s", row.name, reason)
        return _replace(row, state="refused")

    # -- 4. finish ------------------------------------------------------------------------------
    def _finish(self, row: OutRow) -> None:
        work = self.work / row.claim
        if row.origin == "auto":  # the daemon's own status 01: nothing to show in sent/
            self.journal.finish_outgoing(
                row.claim, "sent" if row.state == "submitted" else "failed"
            )
            shutil.rmtree(work, ignore_errors=True)
            return
        ok = row.state == "submitted"
        folder = self.config.folder("sent" if ok else "failed")
        target = row.target
        if target is None:
            target = self._target(folder, row.name)
            self.journal.update_outgoing(row.claim, target=target)
        source = work / "source"
        companions: list[tuple[Path, str]] = [
            (
                work / ("answer.json" if ok else "reason.json"),
                ".receipt.json" if ok else ".reason.json",
            ),
            (source / "files", ".files"),
        ]
        if ok:  # only when it is not the dropped file itself
            companions.append((work / "package.edxml", ".edxml"))
        for path, suffix in companions:
            if path.exists() and not (folder / (target + suffix)).exists():
                move(path, folder / (target + suffix))
        if (source / row.name).exists():
            move(source / row.name, folder / target)  # the commit point
        self.journal.finish_outgoing(row.claim, "sent" if ok else "failed")
        shutil.rmtree(work, ignore_errors=True)

    def _target(self, folder: Path, name: str) -> str:
        taken = set(os.listdir(folder)) | self.journal.reserved_targets()
        stem, dot, ext = name.rpartition(".")
        candidate, n = name, 1
        while candidate in taken or any(candidate + s in taken for s in _COMPANIONS):
            n += 1
            candidate = f"{stem} ({n}).{ext}" if dot else f"{name} ({n})"
        return candidate

    # -- recovery -------------------------------------------------------------------------------
    def sweep(self, keep: set[str]) -> None:
        """Remove work folders no unfinished claim owns (an automatic status composed just
        before a crash, or a finished claim's leftovers); ``keep`` are the incoming side's."""
        open_claims = {r.claim for r in self.journal.open_outgoing()} | keep
        for entry in self.work.iterdir():
            if entry.name not in open_claims:
                shutil.rmtree(entry, ignore_errors=True)


def _settled(folder: Path, suffixes: tuple[str, ...], before: float) -> list[Path]:
    found = []
    for entry in os.scandir(folder):
        name = entry.name
        if name.startswith((".", "~")) or not name.lower().endswith(suffixes):
            continue
        try:
            st = entry.stat(follow_symlinks=False)
        except FileNotFoundError:
            continue
        if entry.is_file(follow_symlinks=False) and st.st_mtime <= before:
            found.append((st.st_mtime, name))
    return [folder / name for _, name in sorted(found)]


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        return tomllib.loads(path.read_text(encoding="utf-8-sig"))
    except (UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise DropFolderError(
            "dropfolder.bad_description",
            f"{path.name} không phải TOML UTF-8 hợp lệ: {exc}",
            f"{path.name} is not valid UTF-8 TOML: {exc}",
        ) from exc


def _kind_of(package: Path) -> tuple[str | None, str | None]:
    """Kind and DocumentId of a dropped .edxml, if it reads (the gateway judges it anyway)."""
    try:
        p = edxml.parse(package)
    except EdxmlError:
        return None, None
    if isinstance(p, DocumentPackage):
        return "edoc", p.document_id
    return "status", p.response_for.document_id


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def _package_path(work: Path, name: str) -> Path:
    """What is submitted: the built package, or the dropped .edxml itself."""
    built = work / "package.edxml"
    return built if built.exists() else work / "source" / name


def _replace(row: OutRow, **fields: Any) -> OutRow:
    from dataclasses import replace

    return replace(row, **fields)
