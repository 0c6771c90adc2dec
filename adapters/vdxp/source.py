"""Poll the upstream axis for this hub's mail and take it in through the normal pipeline.

Every ``poll_seconds`` (at once again after a round that took something), for documents and
then statuses (edxml.md §4.4 steps 3-5, 7)::

    getReceivedEdocList(messagetype) ─► for each item: getEdoc(docId)
        ─► Hub.submit(origin="uplink")   the same receive → validate → verify → seal → route
        ─► accepted, or a duplicate      updateStatus(done)      trace uplink/received
        ─► refused (the package's fault) updateStatus(fail, code) trace uplink/acknowledged
                                         (not taken again: listed ``fail`` from then on)
        ─► our fault (store, worker)     nothing: the item is listed again next round

The upstream is a peer: a package may come from any agency (receive.py ``_authorise``),
recipients that are not ours are skipped (route.py), a package that already passed through
this hub is refused as a loop. ``done`` is only said after the store committed the package, so
a crash in between makes the next round download it again, and the hub's idempotency
(same sender, DocumentId, business type) answers with the original DocId: nothing is lost or
doubled (invariant §3.3).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from adapters.vdxp.client import MessageType, ReceivedItem, UpdateStatus, VdxpClient, VdxpError
from adapters.vdxp.config import UplinkConfig
from adapters.vdxp.sink import UPLINK
from adapters.vdxp.status import Gate, UpstreamDown
from gateway.service.hub import Hub, Refused
from gateway.store.base import Kind, System, TraceEvent
from gateway.store.errors import StoreError

__all__ = ["UplinkSource"]

log = logging.getLogger(__name__)

#: Packages above this are written to the spool folder and processed from there (§3.5).
SPOOL_AT = 1024 * 1024
_MAX_DESCRIPTION = 200


class UplinkSource:
    """The poller (module doc); :meth:`poll_once` is one round, :meth:`run` the loop."""

    def __init__(
        self,
        *,
        config: UplinkConfig,
        client: VdxpClient,
        gate: Gate,
        hub: Hub,
        spool: Path,
        signature_policy: str,
        validation_mode: str,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.config = config
        self.client = client
        self.gate = gate
        self.hub = hub
        self.spool = spool
        self.clock = clock
        # The upstream as a system of this hub: the policies apply to what it hands down.
        self.system = System(
            system_id=config.peer,
            name=f"Upstream axis {config.endpoint} (systemId {config.system_id})",
            signature_policy=signature_policy,
            validation_mode=validation_mode,
        )
        self._slots = asyncio.Semaphore(config.concurrency)

    async def run(self, stop: asyncio.Event) -> None:
        """Poll until ``stop``; a round that took something is followed by another at once."""
        while not stop.is_set():
            taken = 0
            try:
                taken = await self.poll_once(hold=self.config.poll_seconds)
            except UpstreamDown as exc:
                log.info("uplink: the upstream axis is not reachable (%s)", exc)
            except Exception:
                # Never let the poller die silently: the hub would stop receiving from above.
                log.exception("uplink: polling failed; trying again next round")
            if taken == 0:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), self.config.poll_seconds)

    async def poll_once(self, *, hold: float = 0.0) -> int:
        """One round over both message types; returns the items acknowledged upstream."""
        taken = 0
        for message_type in (MessageType.EDOC, MessageType.STATUS):

            async def listing(mt: MessageType = message_type) -> list[ReceivedItem]:
                return await self.client.get_received_edoc_list(mt)

            items = await self.gate.run(listing, hold=hold)
            self.gate.status.last_poll_at = self.clock()
            # An item answered ``fail`` stays listed for its sender to see (receiveStatus); it
            # was refused here for good, taking it again would only refuse it again.
            items = [i for i in items if i.status.strip().lower() != "fail"]
            results = await asyncio.gather(*(self._guarded(i, message_type) for i in items))
            taken += sum(results)
        return taken

    async def _guarded(self, item: ReceivedItem, message_type: MessageType) -> bool:
        async with self._slots:
            try:
                return await self.take(item, message_type)
            except UpstreamDown:
                return False  # the next round lists it again
            except (StoreError, VdxpError) as exc:
                log.warning("uplink: item %s not taken yet: %s", item.doc_id, exc)
                return False

    async def take(self, item: ReceivedItem, message_type: MessageType) -> bool:
        """Download, submit and acknowledge one item; False when it is left for next round."""

        async def download() -> bytes:
            return await self.client.get_edoc(item.doc_id)

        data = await self.gate.run(download, hold=0.0)
        kind: Kind = "status" if message_type is MessageType.STATUS else "edoc"
        path = self._spool(data) if len(data) > SPOOL_AT else None
        try:
            submission = self.hub.submission(
                self.system,
                data=None if path else data,
                path=str(path) if path else None,
                declared_kind=kind,
                origin="uplink",
                peer=self.config.peer,
            )
            receipt = await self.hub.submit(submission)
        except Refused as refused:
            problem = refused.problem
            if problem.fault != "sender":
                # Ours (a worker crashed, the seal failed): the package is fine; next round.
                log.warning("uplink: item %s not taken: %s", item.doc_id, problem.code)
                self._error(problem.code, problem.message_en)
                return False
            reason = f"{problem.code}: {problem.message_vi}"[:_MAX_DESCRIPTION]
            await self._acknowledge(item, UpdateStatus.FAIL, reason)
            self.gate.status.acknowledged_fail += 1
            await self._trace(
                "acknowledged",
                refused.doc_id,
                upstream_doc_id=item.doc_id,
                result="fail",
                code=problem.code,
            )
            return True
        finally:
            if path is not None:
                path.unlink(missing_ok=True)
        await self._acknowledge(item, UpdateStatus.DONE)
        status = self.gate.status
        status.received += 1
        status.duplicates += receipt.duplicate
        status.last_received_at = self.clock()
        await self._trace(
            "received",
            receipt.doc_id,
            upstream_doc_id=item.doc_id,
            sender=receipt.message.sender,
            kind=receipt.message.kind,
            duplicate=receipt.duplicate,
        )
        return True

    async def _acknowledge(
        self, item: ReceivedItem, status: UpdateStatus, description: str | None = None
    ) -> None:
        async def update() -> None:
            await self.client.update_status(item.doc_id, status, description=description)

        # A short hold: the package is committed here already; if the axis went away just
        # now, the item comes back next round and is answered as a duplicate.
        await self.gate.run(update, hold=self.config.poll_seconds)

    async def _trace(self, outcome: str, doc_id: str | None, **detail: object) -> None:
        await self.hub.store.append_trace(
            [
                TraceEvent(
                    node=self.hub.node,
                    stage=UPLINK,
                    outcome=outcome,
                    doc_id=doc_id,
                    detail={k: v for k, v in detail.items() if v is not None},
                )
            ]
        )

    def _error(self, code: str, text: str) -> None:
        self.gate.status.last_error_code, self.gate.status.last_error = code, text

    def _spool(self, data: bytes) -> Path:
        self.spool.mkdir(parents=True, exist_ok=True)
        path = self.spool / f"uplink-{secrets.token_hex(8)}.edxml"
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        return path
