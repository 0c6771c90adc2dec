"""The axis scenario: check a VDXP endpoint (the national axis, an LGSP, this gateway's door).

The kit plays two agency systems connected the way the national axis SDK connects (systemId +
secret, HMAC-signed headers, vdxp-wire.md), ``--from`` sending to ``--to``, and checks every
call a DMS depends on, each bounded by ``timeout`` where something has to travel::

    getAgenciesList        answers, and lists both agencies
    bad HMAC refused       a call signed with a wrong secret is refused (never served)
    sendEdoc raw           the official sample edoc_new, re-addressed, as SDK 2.0.1 sends it
                           (raw body + CRLF, lossy hash-file): a DocId
    sendEdoc multipart     a generated document in the older SDKs' multipart form: a DocId
    getReceivedEdocList    the receiving system lists both; getEdoc gives each back with the same
                           DocumentId and byte-identical attachments
    updateStatus done      both; they leave the receiving list
    sendEdoc status        the receiver answers 01 (messagetype=status)
    status received        the sender lists it, reads it (01 about its document), acknowledges it
    getSentEdocList        the sender sees its document with the recipient

The receiving side uses ``--to-system-id``/``--to-secret`` when given (two systems), else the
sender's own credentials (a system registered for both agencies, like the demo hub's).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import secrets
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

from adapters.conformance import packages as P
from adapters.conformance.errors import (
    AXIS_ACCEPTS_BAD_HMAC,
    AXIS_MISMATCH,
    AXIS_MISSING,
    AXIS_REFUSED,
    SAMPLES_MISSING,
)
from adapters.conformance.report import Report, Step
from adapters.vdxp.client import MessageType, ReceivedItem, UpdateStatus, VdxpClient, VdxpError
from edxml import parse
from edxml.compose import new_status
from edxml.model import DocumentPackage, StatusPackage
from edxml.organ import parse_organ_id

__all__ = ["AxisRun", "run_axis"]

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class AxisRun:
    endpoint: str
    system_id: str
    secret: str = field(repr=False)
    sender: str
    recipient: str
    to_system_id: str | None = None
    to_secret: str | None = field(default=None, repr=False)
    timeout: float = 60.0
    samples: Path | None = None
    poll: float = 0.5


def _canonical(organ: str) -> str:
    try:
        return parse_organ_id(organ).canonical
    except Exception:
        return organ.strip()


def _fingerprint(package: DocumentPackage) -> list[tuple[str | None, str]]:
    return sorted((a.name, hashlib.sha256(a.data).hexdigest()) for a in package.attachments)


class _Axis:
    def __init__(self, run: AxisRun, report: Report, clock: Callable[[], float]) -> None:
        self.run = run
        self.report = report
        self.clock = clock
        self.sender = VdxpClient(run.endpoint, run.system_id, run.secret)
        self.receiver = (
            VdxpClient(run.endpoint, run.to_system_id, run.to_secret or "")
            if run.to_system_id
            else self.sender
        )

    async def close(self) -> None:
        await self.sender.close()
        if self.receiver is not self.sender:
            await self.receiver.close()

    async def call(self, name: str, what: Awaitable[T]) -> T | None:
        """Run one call; a refusal becomes a failed step named ``name``."""
        t0 = self.clock()
        try:
            return await what
        except VdxpError as exc:
            reason = f"ErrorCode {exc.error_code}: {exc}"
            self.report.add(
                Step.fail(name, self.clock() - t0, AXIS_REFUSED, call=name, reason=reason)
            )
            return None

    async def until(
        self, probe: Callable[[], Awaitable[T | None]], interval: float | None = None
    ) -> T | None:
        deadline = self.clock() + self.run.timeout
        while True:
            try:
                value = await probe()
            except VdxpError:
                value = None
            if value is not None or self.clock() > deadline:
                return value
            await asyncio.sleep(interval or self.run.poll)

    async def find(
        self, client: VdxpClient, kind: MessageType, want: Callable[[bytes], bool]
    ) -> dict[str, bytes]:
        """Items of ``kind`` from the other side whose package ``want`` accepts, by doc id."""
        found: dict[str, bytes] = {}
        for item in await client.get_received_edoc_list(kind):
            if not self._from_other_side(item):
                continue
            data = await client.get_edoc(item.doc_id)
            if want(data):
                found[item.doc_id] = data
        return found

    def _from_other_side(self, item: ReceivedItem) -> bool:
        organs = {_canonical(self.run.sender), _canonical(self.run.recipient)}
        return not item.sender or _canonical(item.sender) in organs


def _document_id(data: bytes) -> str | None:
    try:
        package = parse(data)
    except Exception:
        return None
    if isinstance(package, DocumentPackage):
        return package.document_id
    return package.response_for.document_id


async def run_axis(
    run: AxisRun,
    *,
    on_step: Callable[[Step], None] | None = None,
    clock: Callable[[], float] = time.monotonic,
) -> Report:
    """Run the axis scenario (module doc) and return its report."""
    report = Report(
        "edxgw conformance axis — kiểm thử trục liên thông (VDXP)",
        {
            "endpoint": run.endpoint,
            "sender / bên gửi": f"{run.sender} (system {run.system_id})",
            "recipient / bên nhận": f"{run.recipient} (system {run.to_system_id or run.system_id})",
            "timeout / thời hạn": f"{run.timeout:g} s",
        },
        on_step=on_step,
    )
    folder = run.samples or P.default_samples()
    missing = P.missing_samples(folder) if folder is not None else ["the folder"]
    if folder is None or missing:
        report.add(
            Step.fail("samples", 0.0, SAMPLES_MISSING, path=folder, missing=", ".join(missing))
        )
        return report
    axis = _Axis(run, report, clock)
    try:
        await _scenario(axis, folder)
    finally:
        await axis.close()
    return report


async def _scenario(axis: _Axis, folder: Path) -> None:
    run, report, clock = axis.run, axis.report, axis.clock

    # getAgenciesList
    t0 = clock()
    agencies = await axis.call("getAgenciesList", axis.sender.get_agencies_list())
    if agencies is not None:
        codes = {_canonical(a.code) for a in agencies}
        absent = [o for o in (run.sender, run.recipient) if _canonical(o) not in codes]
        report.add(
            Step.ok(
                "getAgenciesList",
                clock() - t0,
                f"{len(agencies)} agencies"
                + (f"; not listed: {', '.join(absent)}" if absent else ""),
                f"{len(agencies)} cơ quan" + (f"; không có: {', '.join(absent)}" if absent else ""),
            )
        )

    # A wrong secret must be refused.
    t0 = clock()
    forged = VdxpClient(run.endpoint, run.system_id, run.secret + "-wrong")
    try:
        await forged.get_received_edoc_list(MessageType.EDOC)
    except VdxpError as exc:
        report.add(
            Step.ok(
                "bad HMAC refused",
                clock() - t0,
                f"refused (ErrorCode {exc.error_code})",
                f"bị từ chối (ErrorCode {exc.error_code})",
            )
        )
    else:
        report.add(
            Step.fail(
                "bad HMAC refused", clock() - t0, AXIS_ACCEPTS_BAD_HMAC, call="getReceivedEdocList"
            )
        )
    finally:
        await forged.close()

    # Two documents, the two ways SDKs send them.
    now = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=1)
    tag = "A" + secrets.token_hex(3).upper()[:5]
    sample = P.read_sample(folder, P.NEW_SAMPLE)
    assert isinstance(sample, DocumentPackage)
    new = P.readdress_document(
        sample, sender=run.sender, recipient=run.recipient, number=f"{tag}1", now=now
    )
    [(_, generated), *_] = P.generated(
        sender=run.sender, recipient=run.recipient, run=tag, now=now, first=2
    )
    sent: dict[str, DocumentPackage] = {}
    doc_ids: dict[str, str] = {}
    for name, package, multipart in (
        ("sendEdoc raw", new, False),
        ("sendEdoc multipart", generated, True),
    ):
        t0 = clock()
        doc_id = await axis.call(
            name,
            axis.sender.send_edoc(
                P.serialize_package(package, None),
                sender=run.sender,
                multipart=multipart,
                sdk_crlf=not multipart,
            ),
        )
        if doc_id is not None:
            sent[package.document_id] = package
            doc_ids[name] = doc_id
            report.add(Step.ok(name, clock() - t0, f"DocId {doc_id}", f"DocId {doc_id}"))
    if not sent:
        return

    # The receiving side lists and serves them.
    t0 = clock()

    async def both_arrived() -> dict[str, bytes] | None:
        found = await axis.find(
            axis.receiver, MessageType.EDOC, lambda data: _document_id(data) in sent
        )
        return found if {_document_id(d) for d in found.values()} >= sent.keys() else None

    arrived = await axis.until(both_arrived)
    if arrived is None:
        report.add(
            Step.fail(
                "getReceivedEdocList",
                clock() - t0,
                AXIS_MISSING,
                what=f"{len(sent)} documents",
                seconds=int(run.timeout),
            )
        )
        return
    report.add(
        Step.ok(
            "getReceivedEdocList",
            clock() - t0,
            f"both documents listed for {run.recipient}",
            f"cả hai văn bản có trong danh sách của {run.recipient}",
        )
    )
    mismatches = []
    for data in arrived.values():
        got = parse(data)
        assert isinstance(got, DocumentPackage)
        original = sent[got.document_id]
        if _fingerprint(got) != _fingerprint(original) or got.subject != original.subject:
            mismatches.append(got.document_id)
    report.add(
        Step.ok(
            "getEdoc",
            0.0,
            "same DocumentId, subject and attachment bytes",
            "cùng DocumentId, trích yếu và tệp đính kèm",
        )
        if not mismatches
        else Step.fail(
            "getEdoc",
            0.0,
            AXIS_MISMATCH,
            what="getEdoc",
            detail=", ".join(mismatches),
        )
    )

    t0 = clock()
    for doc_id in arrived:  # a refusal is reported as a failed step by call()
        await axis.call("updateStatus", axis.receiver.update_status(doc_id, UpdateStatus.DONE))

    async def gone() -> bool | None:
        listed = {i.doc_id for i in await axis.receiver.get_received_edoc_list(MessageType.EDOC)}
        return True if not (listed & arrived.keys()) else None

    if await axis.until(gone):
        report.add(
            Step.ok(
                "updateStatus done",
                clock() - t0,
                "acknowledged; no longer listed",
                "đã xác nhận; không còn trong danh sách",
            )
        )
    else:
        report.add(
            Step.fail(
                "updateStatus done",
                clock() - t0,
                AXIS_MISMATCH,
                what="updateStatus done",
                detail="still listed after acknowledgement",
            )
        )

    # The receiver answers 01; the sender receives it.
    status = new_status(new, sender=run.recipient, code="01", now=now)
    t0 = clock()
    status_id = await axis.call(
        "sendEdoc status",
        axis.receiver.send_status(P.serialize_package(status, None), sender=run.recipient),
    )
    if status_id is not None:
        report.add(
            Step.ok("sendEdoc status", clock() - t0, f"DocId {status_id}", f"DocId {status_id}")
        )

        def is_ours(data: bytes) -> bool:
            try:
                package = parse(data)
            except Exception:
                return False
            return (
                isinstance(package, StatusPackage)
                and package.status_code == "01"
                and package.response_for.document_id == new.document_id
            )

        t0 = clock()

        async def status_arrived() -> dict[str, bytes] | None:
            return await axis.find(axis.sender, MessageType.STATUS, is_ours) or None

        statuses = await axis.until(status_arrived)
        if statuses is None:
            report.add(
                Step.fail(
                    "status received",
                    clock() - t0,
                    AXIS_MISSING,
                    what="status 01",
                    seconds=int(run.timeout),
                )
            )
        else:
            for doc_id in statuses:
                await axis.call(
                    "updateStatus", axis.sender.update_status(doc_id, UpdateStatus.DONE)
                )
            report.add(
                Step.ok(
                    "status received",
                    clock() - t0,
                    f"01 about {new.document_id} read and acknowledged",
                    f"đã đọc và xác nhận trạng thái 01 về {new.document_id}",
                )
            )

    # The sender follows its document.
    first = doc_ids.get("sendEdoc raw")
    if first is not None:
        t0 = clock()
        items = await axis.call("getSentEdocList", axis.sender.get_sent_edoc_list(first))
        if items is not None:
            recipients = {_canonical(i.to_code) for i in items}
            if _canonical(run.recipient) in recipients:
                report.add(
                    Step.ok(
                        "getSentEdocList",
                        clock() - t0,
                        f"{run.recipient}: {items[0].receive_status or items[0].send_status}",
                        f"{run.recipient}: {items[0].receive_status_desc or items[0].send_status}",
                    )
                )
            else:
                report.add(
                    Step.fail(
                        "getSentEdocList",
                        clock() - t0,
                        AXIS_MISMATCH,
                        what="getSentEdocList",
                        detail=f"recipients {sorted(recipients)}",
                    )
                )
