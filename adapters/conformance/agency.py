"""The agency scenario: certify an agency system's integration through a running gateway.

The kit acts as a partner agency (``--from``, registered to one of the gateway's systems) and
exchanges with the agency under test (``--agency``) through the gateway, whichever adapter the
agency uses (SDK, drop folder, webhook, AMQP, VDXP SDK). In three phases, every expectation
bounded by ``timeout`` seconds from the phase's start::

    connect           the kit's token works and it may send as --from
    1 new documents   edoc_new (re-addressed official sample) and three generated ones
                      send X         the gateway accepts it; its receipt verifies
                      receipt X      the agency acknowledges the delivery (done)
                      status NN X    the agency sends each of --statuses (01, 03, 06)
    2 the rest        update, replacement, revocation of edoc_new; status samples 01-06
                      send X, receipt X (statuses about documents the kit never sent may be
                      acknowledged done or fail: either is an answer)
    3 recall          13 about generated-pdf: the agency answers 15 or 16
    status packages   every status the agency sent is a readable edXML status from the agency
                      about one of the run's documents (the kit fetches and acknowledges them)

It reads progress from the gateway (``GET /api/v1/documents/{doc_id}``) and drains its own inbox,
so it works against any gateway that serves the REST API.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from adapters.conformance import packages as P
from adapters.conformance.errors import (
    BAD_STATUS,
    NO_RECEIPT,
    NOT_REGISTERED,
    RECALL_UNANSWERED,
    RECEIPT_FAILED,
    SAMPLES_MISSING,
    SEND_REFUSED,
    STATUS_MISSING,
    STATUS_REJECTED,
    UNREACHABLE,
)
from adapters.conformance.report import Report, Step
from adapters.sdk import AsyncClient, EdxgwError
from adapters.sdk.models import RecipientTracking, Tracking
from edxml.model import DocumentPackage, StatusPackage
from edxml.organ import parse_organ_id
from edxml.trust import SigningKey

__all__ = ["AgencyRun", "run_agency"]

RECALL_TARGET = "generated-pdf"
_EARLIER = "earlier run"


@dataclass(frozen=True, slots=True)
class AgencyRun:
    """What to certify, and how patiently."""

    sender: str  # the kit's agency (From of everything it sends)
    agency: str  # the agency under test
    statuses: tuple[str, ...] = ("01", "03", "06")
    timeout: float = 120.0  # seconds per phase for every expectation in it
    samples: Path | None = None  # the official samples (default: the checkout's)
    recall: bool = True
    poll: float = 0.5
    key: SigningKey | None = field(default=None, repr=False)  # signs as --from when given


@dataclass
class _Sent:
    out: P.Outgoing
    doc_id: str
    at: float
    answered: float | None = None  # when the delivery was acknowledged
    state: str = "pending"
    last_error: str | None = None
    codes: dict[str, float] = field(default_factory=dict)  # status code -> first seen


def _canonical(organ: str) -> str:
    try:
        return parse_organ_id(organ).canonical
    except Exception:
        return organ.strip()


class _Scenario:
    def __init__(
        self, client: AsyncClient, run: AgencyRun, report: Report, clock: Callable[[], float]
    ) -> None:
        self.client = client
        self.run = run
        self.report = report
        self.clock = clock
        self.tag = "K" + secrets.token_hex(3).upper()[:5]
        self.number = 0
        self.sent: dict[str, _Sent] = {}
        self.document_ids: set[str] = set()
        self.status_packages = 0
        self.earlier = 0  # status packages about documents of earlier runs
        self.bad: list[Step] = []

    def now(self) -> dt.datetime:
        # A minute back: a hub whose clock runs slightly behind must not see the future.
        return dt.datetime.now(dt.UTC) - dt.timedelta(minutes=1)

    def next_number(self) -> str:
        self.number += 1
        return f"{self.tag}{self.number}"

    # -- steps ----------------------------------------------------------------------------
    async def connect(self) -> bool:
        t0 = self.clock()
        try:
            me = await self.client.me()
        except EdxgwError as exc:
            self.report.add(
                Step.fail(
                    "connect",
                    self.clock() - t0,
                    UNREACHABLE,
                    url=self.client.config.url,
                    reason=f"{exc.code}: {exc.message_en}",
                )
            )
            return False
        mine = {_canonical(a) for a in me.agencies}
        if _canonical(self.run.sender) not in mine:
            self.report.add(
                Step.fail(
                    "connect",
                    self.clock() - t0,
                    NOT_REGISTERED,
                    system=me.system_id,
                    organ=self.run.sender,
                    agencies=", ".join(me.agencies),
                )
            )
            return False
        self.report.add(
            Step.ok(
                "connect",
                self.clock() - t0,
                f"system {me.system_id} sends as {self.run.sender} to {self.run.agency}",
                f"hệ thống {me.system_id} gửi với tư cách {self.run.sender} tới {self.run.agency}",
            )
        )
        return True

    async def send(self, out: P.Outgoing) -> _Sent | None:
        t0 = self.clock()
        try:
            submitted = await self.client.submit(out.data)
        except EdxgwError as exc:
            self.report.add(
                Step.fail(
                    f"send {out.name}",
                    self.clock() - t0,
                    SEND_REFUSED,
                    name=out.name,
                    code=exc.code,
                    reason=exc.message_en,
                )
            )
            return None
        self.report.add(
            Step.ok(
                f"send {out.name}",
                self.clock() - t0,
                f"accepted as {submitted.doc_id}, signed receipt verified",
                f"đã được nhận, mã {submitted.doc_id}, biên nhận có chữ ký hợp lệ",
            )
        )
        sent = _Sent(out, submitted.doc_id, self.clock())
        self.sent[out.name] = sent
        self.document_ids.add(out.document_id)
        return sent

    async def wait(self, batch: list[_Sent], statuses: bool) -> None:
        """Poll until every expectation of ``batch`` is decided or the phase's time is up."""
        deadline = self.clock() + self.run.timeout
        while True:
            await self.drain_inbox()
            pending = False
            for sent in batch:
                await self.observe(sent)
                if sent.answered is None:
                    pending = True
                wanted = set(self.run.statuses) if statuses and sent.out.expects_statuses else set()
                # A 02 (refused) ends the wait for that document: the rest will not come.
                if "02" not in sent.codes and not wanted <= sent.codes.keys():
                    pending = True
            if not pending or self.clock() > deadline:
                break
            await asyncio.sleep(self.run.poll)
        for sent in batch:
            self.judge(sent, statuses)

    async def observe(self, sent: _Sent) -> None:
        try:
            tracking = await self.client.track(sent.doc_id)
        except EdxgwError:
            return  # transient: the next round asks again; the deadline decides
        recipient = self._recipient(tracking)
        if recipient is None:
            return
        sent.state = recipient.state or sent.state
        sent.last_error = recipient.last_error
        if sent.answered is None and recipient.state in ("done", "failed"):
            sent.answered = self.clock()
        agency = _canonical(recipient.recipient)
        for event in tracking.statuses:
            if _canonical(event.from_organ) == agency and event.code not in sent.codes:
                sent.codes[event.code] = self.clock()

    def _recipient(self, tracking: Tracking) -> RecipientTracking | None:
        wanted = _canonical(self.run.agency)
        for r in tracking.recipients:
            if _canonical(r.recipient) == wanted:
                return r
        return tracking.recipients[0] if len(tracking.recipients) == 1 else None

    def judge(self, sent: _Sent, statuses: bool) -> None:
        name, timeout = sent.out.name, int(self.run.timeout)
        is_status = isinstance(sent.out.package, StatusPackage)
        if sent.answered is None:
            self.report.add(
                Step.fail(
                    f"receipt {name}",
                    self.clock() - sent.at,
                    NO_RECEIPT,
                    name=name,
                    seconds=timeout,
                    state=sent.state,
                )
            )
        elif sent.state == "failed" and not is_status:
            self.report.add(
                Step.fail(
                    f"receipt {name}",
                    sent.answered - sent.at,
                    RECEIPT_FAILED,
                    name=name,
                    reason=sent.last_error or "-",
                )
            )
        else:
            self.report.add(
                Step.ok(
                    f"receipt {name}",
                    sent.answered - sent.at,
                    f"acknowledged {sent.state}",
                    f"đơn vị đã xác nhận ({sent.state})",
                )
            )
        if not (statuses and sent.out.expects_statuses):
            return
        if "02" in sent.codes:
            self.report.add(
                Step.fail(
                    f"status 02 {name}", sent.codes["02"] - sent.at, STATUS_REJECTED, name=name
                )
            )
        seen = ", ".join(sorted(sent.codes)) or "-"
        for code in self.run.statuses:
            at = sent.codes.get(code)
            if at is None:
                self.report.add(
                    Step.fail(
                        f"status {code} {name}",
                        self.clock() - sent.at,
                        STATUS_MISSING,
                        code=code,
                        name=name,
                        seconds=timeout,
                        seen=seen,
                    )
                )
            else:
                self.report.add(
                    Step.ok(
                        f"status {code} {name}",
                        at - sent.at,
                        f"received {code}",
                        f"đã nhận trạng thái {code}",
                    )
                )

    async def drain_inbox(self) -> None:
        """Fetch, check and acknowledge what the agency sent the kit (statuses)."""
        try:
            async for item in self.client.iter_inbox(organ=self.run.sender, state="delivered"):
                received = await self.client.fetch(item)
                problem = self._check_status(received.package, item.doc_id)
                if problem is None:
                    self.status_packages += 1
                elif problem is _EARLIER:
                    problem = None
                    self.earlier += 1
                else:
                    self.bad.append(
                        Step.fail(
                            f"status package {item.doc_id}",
                            0.0,
                            BAD_STATUS,
                            doc_id=item.doc_id,
                            reason=problem,
                        )
                    )
                await self.client.ack(item, ok=problem is None, reason=problem)
        except EdxgwError:
            return  # the next round tries again

    def _check_status(self, package: DocumentPackage | StatusPackage, doc_id: str) -> str | None:
        if not isinstance(package, StatusPackage):
            return None  # a document to the kit: not the agency's status; taken as it is
        if _canonical(package.from_.organ_id) != _canonical(self.run.agency):
            return f"From is {package.from_.organ_id}, not the agency {self.run.agency}"
        about = package.response_for.document_id or ""
        if about in self.document_ids:
            return None
        if self.tag not in about:
            # About a document of an earlier run (a late 06, say): taken in, not judged.
            return _EARLIER
        return f"ResponseFor/DocumentId {about!r} is none of the run's documents"

    async def recall(self, target: _Sent) -> None:
        original = target.out.package
        assert isinstance(original, DocumentPackage)
        t0 = self.clock()
        try:
            outgoing = await self.client.status(
                original, code="13", sender=self.run.sender, recipient=self.run.agency
            )
            await self.client.submit(outgoing)
        except EdxgwError as exc:
            self.report.add(
                Step.fail(
                    f"recall {target.out.name}",
                    self.clock() - t0,
                    SEND_REFUSED,
                    name=f"13 {target.out.name}",
                    code=exc.code,
                    reason=exc.message_en,
                )
            )
            return
        deadline = self.clock() + self.run.timeout
        answer: str | None = None
        while self.clock() <= deadline:
            await self.drain_inbox()
            try:
                tracking = await self.client.track(target.doc_id)
            except EdxgwError:
                tracking = None
            recipient = self._recipient(tracking) if tracking is not None else None
            progress = recipient.progress if recipient is not None else None
            if progress is not None and progress.change_state in ("15", "16"):
                answer = progress.change_state
                break
            await asyncio.sleep(self.run.poll)
        if answer is None:
            self.report.add(
                Step.fail(
                    f"recall {target.out.name}",
                    self.clock() - t0,
                    RECALL_UNANSWERED,
                    name=target.out.name,
                    seconds=int(self.run.timeout),
                )
            )
            return
        what = {"15": ("accepted", "đồng ý"), "16": ("refused", "từ chối")}[answer]
        self.report.add(
            Step.ok(
                f"recall {target.out.name}",
                self.clock() - t0,
                f"13 answered {answer} ({what[0]})",
                f"yêu cầu lấy lại được trả lời {answer} ({what[1]})",
            )
        )


async def run_agency(
    client: AsyncClient,
    run: AgencyRun,
    *,
    on_step: Callable[[Step], None] | None = None,
    clock: Callable[[], float] = time.monotonic,
) -> Report:
    """Run the agency scenario (module doc) and return its report."""
    report = Report(
        "edxgw conformance agency — kiểm thử tích hợp hệ thống của đơn vị",
        {
            "gateway": client.config.url,
            "kit agency / đơn vị kiểm thử": run.sender,
            "agency under test / đơn vị được kiểm thử": run.agency,
            "statuses / trạng thái": ", ".join(run.statuses),
            "timeout per phase / thời hạn mỗi giai đoạn": f"{run.timeout:g} s",
        },
        on_step=on_step,
    )
    s = _Scenario(client, run, report, clock)
    folder = run.samples or P.default_samples()
    missing = P.missing_samples(folder) if folder is not None else ["the folder"]
    if not await s.connect():
        return report
    if folder is None or missing:
        report.add(
            Step.fail("samples", 0.0, SAMPLES_MISSING, path=folder, missing=", ".join(missing))
        )
        return report

    def out(name: str, package: DocumentPackage | StatusPackage, statuses: bool) -> P.Outgoing:
        return P.Outgoing(name, P.serialize_package(package, run.key), package, statuses)

    # Phase 1: new documents.
    now = s.now()
    new = P.readdress_document(
        P.read_sample(folder, P.NEW_SAMPLE),  # type: ignore[arg-type]
        sender=run.sender,
        recipient=run.agency,
        number=s.next_number(),
        now=now,
    )
    first = [out("edoc_new", new, True)]
    for name, package in P.generated(
        sender=run.sender, recipient=run.agency, run=s.tag, now=now, first=s.number + 1
    ):
        s.number += 1
        first.append(out(name, package, True))
    batch = [sent for o in first if (sent := await s.send(o)) is not None]
    await s.wait(batch, statuses=True)

    # Phase 2: revisions of edoc_new, and the status samples.
    second: list[P.Outgoing] = []
    if "edoc_new" in s.sent:
        for name in P.REVISION_SAMPLES:
            sample = P.read_sample(folder, name)
            assert isinstance(sample, DocumentPackage)
            package = P.revision(
                sample,
                new,
                sender=run.sender,
                recipient=run.agency,
                number=s.next_number(),
                now=s.now(),
            )
            second.append(out(name.removesuffix(".edxml"), package, False))
    for name in P.STATUS_SAMPLES:
        status_sample = P.read_sample(folder, name)
        assert isinstance(status_sample, StatusPackage)
        status = P.readdress_status(
            status_sample,
            sender=run.sender,
            recipient=run.agency,
            number=s.next_number(),
            now=s.now(),
        )
        second.append(out(name.removesuffix(".edxml"), status, False))
    batch = [sent for o in second if (sent := await s.send(o)) is not None]
    await s.wait(batch, statuses=False)

    # Phase 3: a recall.
    if run.recall:
        target = s.sent.get(RECALL_TARGET)
        if target is None:
            report.add(
                Step.skip(
                    f"recall {RECALL_TARGET}",
                    "its document was not accepted",
                    "văn bản của bước này không được trục nhận",
                )
            )
        else:
            await s.recall(target)

    await s.drain_inbox()
    for bad in s.bad:
        report.add(bad)
    report.add(
        Step.ok(
            "status packages",
            0.0,
            f"{s.status_packages} status packages from the agency read, checked, acknowledged"
            + (f" (and {s.earlier} about earlier runs)" if s.earlier else ""),
            f"đã đọc, kiểm tra và xác nhận {s.status_packages} gói tin trạng thái của đơn vị"
            + (f" (và {s.earlier} của các lần chạy trước)" if s.earlier else ""),
        )
        if not s.bad
        else Step(
            "status packages",
            False,
            0.0,
            f"{len(s.bad)} of the agency's status packages are wrong (above)",
            f"{len(s.bad)} gói tin trạng thái của đơn vị không đúng (xem trên)",
            BAD_STATUS.code,
        )
    )
    return report
