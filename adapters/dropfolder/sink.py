"""Incoming: the gateway's inbox becomes folders in inbox/, acknowledged once durably there.

Each delivery becomes one folder, ``inbox/<DocId>/`` (``<DocId>.<recipient>`` when two of the
system's agencies received the same document)::

    package.edxml           the sealed package as delivered (sender's signature, hub seals)
    document.json           a document: sender, subject, code, dates, signer, attachments...
    status.json             or a status about a document we sent: code, from, comment,
                            original_doc_id
    files/<name>            the decoded attachments (names made safe: no paths, no hidden)

No partial folder is ever visible: it is written in ``.edxgw/tmp/<delivery>-<random>/``,
every file fsync'ed, and renamed into inbox/ in one step. The order, each crash point
recoverable from the journal (``incoming`` table)::

    1 'placing' (commit; names the tmp folder) → download, decode, write, fsync
    2 'ready' (commit: how to acknowledge, the package kept for statuses, the status 01
      already composed in a work folder)
    3 rename tmp → inbox/<name>, fsync inbox/                         ← the commit point
    4 'placed' (commit; the status 01 joins the outgoing claims)
    5 acknowledge done (or fail, when the package could not be read) → 'acked' (commit)

After a crash: a 'placing' row whose tmp folder still exists was not renamed — the row is
dropped, then the folder, and the delivery placed afresh; one whose tmp folder is gone *was*
renamed, even if the legacy system already took the folder away, so it is not placed twice.
A 'placed' row is acknowledged again (repeating the same answer is harmless).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import secrets
import shutil
from pathlib import Path
from typing import Any

import edxml
from adapters.dropfolder.config import DropFolderConfig
from adapters.dropfolder.files import (
    fsync_dir,
    move,
    safe_name,
    unique_name,
    write_atomic,
    write_durable,
)
from adapters.dropfolder.journal import InRow, Journal
from adapters.dropfolder.source import new_claim
from adapters.sdk import STATUS_CODES, Client, Conflict, EdxgwError, InboxItem, NotFound, compose
from edxml import EdxmlError
from edxml.attachments import sniff
from edxml.model import DocumentPackage, Organization, StatusPackage

__all__ = ["Sink"]

log = logging.getLogger("edxgw.dropfolder")


class Sink:
    """Takes the system's inbox to the inbox/ folder; one instance per daemon."""

    def __init__(self, config: DropFolderConfig, journal: Journal, client: Client) -> None:
        self.config = config
        self.journal = journal
        self.client = client
        self.inbox = config.folder("inbox")
        self.tmp = config.state_dir / "tmp"
        self.work = config.state_dir / "work"
        self.packages = config.state_dir / "packages"

    # -- the loop ---------------------------------------------------------------------------------
    def poll(self) -> int:
        """Place and acknowledge every delivered item; returns how many were placed."""
        self.recover()
        placed = 0
        for item in self.client.iter_inbox(organ=self.config.organs, state="delivered"):
            try:
                row = self.journal.get_incoming(item.delivery_id)
                if row is None:
                    row = self._place(item)
                    placed += row is not None
                if row is not None and row.state in ("placed", "acked"):
                    self._ack(row)
            except EdxgwError:
                raise  # the gateway is unreachable: the whole poll waits
            except Exception:
                # One delivery must not block the others (a bug, a disk error): logged,
                # resolved by recover() and tried again on the next poll.
                log.exception("lỗi khi nhận / failed on %s", item.delivery_id)
        return placed

    def recover(self) -> None:
        """Resolve what a crash left half-done (module doc), then acknowledge what is placed."""
        for row in self.journal.unfinished_incoming():
            if row.state == "placing":
                resolved = self._resolve(row)
                if resolved is None:
                    continue
                row = resolved
            self._ack(row)

    def _resolve(self, row: InRow) -> InRow | None:
        tmp = self.tmp / row.tmp
        if tmp.exists() or not row.ready:
            # Not renamed: forget it first (so a crash now leaves an orphan tmp folder, which
            # sweep() removes, never a 'placing' row without its folder), then delete.
            self.journal.forget_incoming(row.delivery_id)
            shutil.rmtree(tmp, ignore_errors=True)
            return None  # placed afresh by the next poll
        self.journal.placed(row)
        return self.journal.get_incoming(row.delivery_id)

    def keep(self) -> set[str]:
        """Work folders that belong to incoming rows (their status 01), for the sweep."""
        return {r.auto_claim for r in self.journal.placing() if r.auto_claim}

    def sweep(self) -> None:
        """Remove tmp folders no 'placing' row names (left by a crash)."""
        owned = {r.tmp for r in self.journal.placing()}
        for entry in self.tmp.iterdir():
            if entry.name not in owned:
                shutil.rmtree(entry, ignore_errors=True)

    # -- one delivery -----------------------------------------------------------------------------
    def _folder_name(self, item: InboxItem) -> str:
        taken = self.journal.folders_of(item.doc_id)
        name = safe_name(item.doc_id, item.delivery_id)
        if name in taken or (self.inbox / name).exists():
            name = safe_name(f"{item.doc_id}.{item.recipient}", item.delivery_id)
        while name in taken or (self.inbox / name).exists():
            name = safe_name(f"{item.doc_id}.{item.recipient}.{secrets.token_hex(2)}", name)
        return name

    def _place(self, item: InboxItem) -> InRow | None:
        folder = self._folder_name(item)
        tmp_name = f"{safe_name(item.delivery_id, 'delivery')}-{secrets.token_hex(4)}"
        tmp = self.tmp / tmp_name
        self.journal.start_placing(
            item.delivery_id, item.doc_id, item.kind, item.recipient, folder, tmp_name
        )
        try:
            tmp.mkdir()
            fsync_dir(self.tmp)
            self.client.download(item, tmp / "package.edxml")
            ok, reason, package = self._write(item, tmp)
            fsync_dir(tmp)
            kept = auto = None
            if package is not None and isinstance(package, DocumentPackage):
                kept = self._keep(tmp / "package.edxml", item)
                if ok and self.config.send_received_status:
                    auto = self._status_01(package, item)
            self.journal.ready(
                item.delivery_id,
                ok=ok,
                reason=reason,
                document_id=package.document_id if isinstance(package, DocumentPackage) else None,
                package_path=kept,
                auto_claim=auto,
            )
        except (EdxgwError, OSError) as exc:
            # Nothing is in inbox/ yet: forget the attempt, the next poll tries again.
            log.warning("chưa nhận được / could not take %s: %s", item.delivery_id, exc)
            self.journal.forget_incoming(item.delivery_id)
            shutil.rmtree(tmp, ignore_errors=True)
            return None
        move(tmp, self.inbox / folder)  # the commit point: the whole folder appears at once
        fsync_dir(self.tmp)
        row = self.journal.get_incoming(item.delivery_id)
        assert row is not None
        self.journal.placed(row)
        log.info(
            "đã nhận / received %s %s from %s → inbox/%s",
            item.kind,
            item.doc_id,
            item.sender,
            folder,
        )
        return self.journal.get_incoming(item.delivery_id)

    def _write(
        self, item: InboxItem, tmp: Path
    ) -> tuple[bool, str | None, DocumentPackage | StatusPackage | None]:
        """Decode the package into ``tmp``: files and the description (fsync'ed)."""
        try:
            package = edxml.parse(tmp / "package.edxml")
        except EdxmlError as exc:
            # The gateway validated it, so this is rare (a newer format): keep the package,
            # say why, and tell the sender through a failed acknowledgement.
            error = {"code": exc.code, "message_vi": exc.message_vi, "message_en": exc.message_en}
            write_durable(tmp / "error.json", _json({**_item(item), "error": error}))
            return False, f"{exc.code}: {exc.message_en}", None
        if isinstance(package, StatusPackage):
            write_durable(tmp / "status.json", _json(self._status_json(item, package)))
            return True, None, package
        files = tmp / "files"
        described = []
        if package.attachments:
            files.mkdir()
            taken: set[str] = set()
            for att in package.attachments:
                name = unique_name(
                    safe_name(att.name or att.description, f"attachment-{att.content_id}"), taken
                )
                taken.add(name)
                write_durable(files / name, att.data)
                try:
                    real = sniff(att).content_type
                except EdxmlError:
                    real = None
                described.append(
                    {
                        "file": f"files/{name}",
                        "name": att.name,
                        "content_type": att.content_type,
                        "real_type": real,
                        "size": len(att.data),
                        "sha256": hashlib.sha256(att.data).hexdigest(),
                    }
                )
            fsync_dir(files)
        write_durable(tmp / "document.json", _json(_document_json(item, package, described)))
        return True, None, package

    def _keep(self, package: Path, item: InboxItem) -> str:
        kept = self.packages / f"{safe_name(item.doc_id, 'doc')}.{item.recipient}.received.edxml"
        kept.unlink(missing_ok=True)
        os.link(package, kept)
        fsync_dir(self.packages)
        return str(kept)

    def _status_01(self, package: DocumentPackage, item: InboxItem) -> str:
        """Compose "01 Đã đến" now and keep its bytes in a work folder (sent once placed)."""
        out = compose.status(
            package,
            code="01",
            sender=item.recipient,
            key=self.client.signing_key(item.recipient),
        )
        claim = new_claim()
        work = self.work / claim
        work.mkdir()
        fsync_dir(self.work)
        write_atomic(work / "package.edxml", out.data)
        return claim

    def _ack(self, row: InRow) -> None:
        try:
            self.client.ack(row.delivery_id, ok=row.ack_ok, reason=row.ack_reason)
        except Conflict as exc:  # answered before, differently (by hand?): nothing to redo
            log.warning("đã trả lời trước / answered before %s: %s", row.delivery_id, exc)
        except NotFound:
            log.warning("không còn trong hộp thư / no longer in the inbox: %s", row.delivery_id)
        except EdxgwError as exc:
            log.warning("chưa báo nhận được / ack failed for %s: %s", row.delivery_id, exc)
            return  # acknowledged on the next poll
        self.journal.acked(row.delivery_id)

    def _status_json(self, item: InboxItem, st: StatusPackage) -> dict[str, Any]:
        rf = st.response_for
        return {
            **_item(item),
            "code": st.status_code,
            "code_name": STATUS_CODES.get(st.status_code),
            "from": _org(st.from_),
            "description": st.description,
            "timestamp": _iso(st.timestamp),
            "staff": _staff(st.staff),
            "response_for": {
                "organ_id": rf.organ_id,
                "code": rf.code,
                "promulgation_date": _iso(rf.promulgation_date),
                "document_id": rf.document_id,
            },
            # The DocId of the document it is about: one we sent (01-06, 15, 16), or for a
            # recall (13) one we received — the doc_id to answer 15/16 with through status/.
            "original_doc_id": self.journal.doc_id_of(
                rf.document_id or "", "received" if st.status_code == "13" else "sent"
            ),
        }


def _json(value: Any) -> bytes:
    return json.dumps(value, ensure_ascii=False, indent=2).encode() + b"\n"


def _iso(value: Any) -> str | None:
    return value.isoformat() if value is not None else None


def _org(o: Organization) -> dict[str, Any]:
    return {
        k: v
        for k, v in {
            "organ_id": o.organ_id,
            "organ_name": o.organ_name,
            "organization_in_charge": o.organization_in_charge,
            "organ_add": o.organ_add,
            "email": o.email,
            "telephone": o.telephone,
        }.items()
        if v is not None
    }


def _staff(s: Any) -> dict[str, Any] | None:
    if s is None:
        return None
    fields = ("department", "department_id", "staff", "staff_id", "email", "mobile")
    return {f: getattr(s, f) for f in fields if getattr(s, f) is not None}


def _item(item: InboxItem) -> dict[str, Any]:
    return {
        "kind": item.kind,
        "doc_id": item.doc_id,
        "delivery_id": item.delivery_id,
        "sender": item.sender,
        "recipient": item.recipient,
        "received_at": _iso(item.received_at),
        "delivered_at": _iso(item.delivered_at),
    }


def _document_json(
    item: InboxItem, p: DocumentPackage, files: list[dict[str, Any]]
) -> dict[str, Any]:
    b = p.business
    return {
        **_item(item),
        "document_id": p.document_id,
        "from": _org(p.from_),
        "to": [_org(o) for o in p.to],
        "subject": p.subject,
        "code": str(p.code),
        "promulgation": {"place": p.promulgation.place, "date": _iso(p.promulgation.date)},
        "type_name": p.document_type.type_name,
        "signer": {
            "full_name": p.signer.full_name,
            "position": p.signer.position,
            "competence": p.signer.competence,
        },
        "content": p.content,
        "due_date": _iso(p.due_date),
        "priority": p.other_info.priority if p.other_info else None,
        "business_type": p.business_type,
        "business_reason": b.reason if b else None,
        "response_for": [
            {"organ_id": r.organ_id, "code": r.code, "document_id": r.document_id}
            for r in p.response_for
        ],
        "attachments": files,
    }
