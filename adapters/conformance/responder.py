"""The reference agency: an auto-responder on the SDK that does what a conforming DMS does.

``edxgw conformance responder`` runs it for one or more agencies of a gateway (the demo hub's
agencies, a test agency of a provincial hub); the conformance kit passes against it, and it is
the shortest complete example of an integration built on :mod:`adapters.sdk`. For each item in
its agencies' inbox (pull: polling ``GET /api/v1/inbox?state=delivered``)::

    new document (business type 0)    fetch, acknowledge done, send 01, 03, 06
    update, replacement, revocation   fetch, acknowledge done
    status 13 (recall request)        acknowledge done, answer 15 (accepted) about the original
    any other status                  acknowledge done

A *behaviour* other than ``correct`` makes it deliberately broken, to see what the kit reports
(and to test the kit): ``no-ack`` never acknowledges, ``no-finish`` never sends 06,
``ignore-recall`` never answers 13, ``wrong-reference`` names another DocumentId in its
statuses, ``refuse`` answers every document with 02 and acknowledges it as failed.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import datetime as dt
import enum
import logging
from collections.abc import Sequence

from adapters.sdk import AsyncClient, EdxgwError, InboxItem, Received
from adapters.sdk import compose as sdk_compose
from edxml.model import Organization, ResponseFor, StatusPackage

__all__ = ["Behaviour", "Responder"]

log = logging.getLogger(__name__)


class Behaviour(enum.StrEnum):
    CORRECT = "correct"
    NO_ACK = "no-ack"
    NO_FINISH = "no-finish"
    IGNORE_RECALL = "ignore-recall"
    WRONG_REFERENCE = "wrong-reference"
    REFUSE = "refuse"


class Responder:
    """Answers its agencies' inbox as a conforming document-management system (module doc)."""

    def __init__(
        self,
        client: AsyncClient,
        organs: Sequence[str] = (),
        *,
        behaviour: Behaviour = Behaviour.CORRECT,
        statuses: Sequence[str] = ("01", "03", "06"),
    ) -> None:
        self.client = client
        self.organs = tuple(organs)  # empty: every agency of the system
        self.behaviour = behaviour
        self.statuses = tuple(statuses)
        self.handled = 0
        self._seen: set[str] = set()  # with no-ack the items stay in the inbox

    async def run(self, stop: asyncio.Event, interval: float = 0.5) -> None:
        """Answer until ``stop`` is set; a failure of one round is logged and retried."""
        while not stop.is_set():
            try:
                await self.once()
            except EdxgwError as exc:
                log.warning("responder round failed: %s", exc)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), interval)

    async def once(self) -> int:
        """One pass over the inbox; returns how many items were answered."""
        answered = 0
        async for item in self.client.iter_inbox(organ=self.organs, state="delivered"):
            if item.delivery_id in self._seen:
                continue
            received = await self.client.fetch(item)
            await self._answer(item, received)
            self._seen.add(item.delivery_id)
            answered += 1
        self.handled += answered
        return answered

    async def _answer(self, item: InboxItem, received: Received) -> None:
        package = received.package
        if isinstance(package, StatusPackage):
            await self._ack(item, True)
            if package.status_code == "13" and self.behaviour is not Behaviour.IGNORE_RECALL:
                await self._recall_answer(package, received.recipient)
            return
        if self.behaviour is Behaviour.REFUSE:
            await self._ack(item, False, "từ chối tiếp nhận (thử nghiệm) / refused (test)")
            await self._status(received, "02")
            return
        await self._ack(item, True)
        business = package.business.doc_type if package.business is not None else 0
        if business != 0:
            return  # revisions are taken in; their statuses are the original's
        for code in self.statuses:
            if code == "06" and self.behaviour is Behaviour.NO_FINISH:
                continue
            await self._status(received, code)

    async def _ack(self, item: InboxItem, ok: bool, reason: str | None = None) -> None:
        if self.behaviour is not Behaviour.NO_ACK:
            await self.client.ack(item, ok=ok, reason=reason)

    async def _status(self, received: Received, code: str) -> None:
        original = received.document
        if self.behaviour is Behaviour.WRONG_REFERENCE:
            original = dataclasses.replace(original, document_id=original.document_id + "-X")
        await self.client.send_status(original, code=code, sender=received.recipient)

    async def _recall_answer(self, recall: StatusPackage, me: str) -> None:
        """15 about the document the recall names, to the agency that asked (its sender)."""
        asked = recall.response_for
        answer = StatusPackage(
            from_=Organization(organ_id=me),
            response_for=ResponseFor(
                organ_id=recall.from_.organ_id,
                code=asked.code,
                promulgation_date=asked.promulgation_date,
                document_id=asked.document_id,
            ),
            status_code="15",
            timestamp=dt.datetime.now(dt.UTC) - dt.timedelta(seconds=5),
            description="Đồng ý lấy lại",
        )
        await self.client.submit(sdk_compose.sign_package(answer, self.client.signing_key(me)))
