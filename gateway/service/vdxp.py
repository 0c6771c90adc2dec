"""The national-axis (VDXP) calls as use cases over the one :class:`~gateway.service.hub.Hub`.

One gateway, two doors (issue 4): ``sendEdoc`` is ``Hub.submit`` (the same pipeline, trace,
de-duplication and receipt as ``POST /api/v1/packages``), an inbox item's VDXP ``docId`` is
its delivery id (one per recipient, as on the axis, edxml.md §4.4), ``getEdoc`` is
``Hub.fetch`` and ``updateStatus done`` is ``Hub.acknowledge``. What only this door has:
``processing``/``fail`` reports (:mod:`gateway.core.vdxp_door`), the per-copy view of what a
system sent (``getSentEdocList``), the directory lists, and self-registration of agencies.

Authentication (the HMAC headers) is the web door's; here ``system`` is already verified.
Every refusal is :class:`~gateway.service.hub.Refused`, rendered by ``gateway/web/vdxp.py``.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from edxml.organ import OrganIdForm
from gateway.core import vdxp, vdxp_door
from gateway.core.directory import canonical_id, organ_or_none
from gateway.core.errors import GatewayError, InvalidPackage, NotAuthorized, NotFound, SenderError
from gateway.core.receive import SENDER_NOT_REGISTERED
from gateway.core.trace import RECEIVE, REJECTED, event
from gateway.core.values import Rejected, new_id
from gateway.core.vdxp import Call, MessageType, UpdateStatus
from gateway.service.hub import DOCUMENT_NOT_FOUND, Hub, Receipt, Refused, load_directory
from gateway.store.base import Delivery, Kind, Message, System
from gateway.store.errors import BadTransition
from gateway.store.lifecycle import DeliveryState

__all__ = ["LIST_LIMIT", "Axis"]

#: Items per getReceivedEdocList answer (the store's page size). Items stay listed until
#: ``done``, so a longer backlog comes in the following polls.
LIST_LIMIT = 1000
_CHUNK = 1024 * 1024
_MESSAGE_TYPES = "edoc, status"
_STATUSES = "done, fail, processing"


@dataclass(slots=True)
class Axis:
    """The VDXP use cases of one gateway node."""

    hub: Hub

    # -- sendEdoc -----------------------------------------------------------------------------
    async def send(
        self, system: System, call: Call, *, data: bytes | None, path: Path | None
    ) -> Receipt:
        """Check ``from`` and ``hash-file``, then submit the package like the REST door."""
        kind = message_type(call, default=None)
        sender = _required(call, "from")
        # As the receive stage compares the package's From (through the directory's aliases).
        directory = self.hub.directory
        # A downlink hub also sends for its whole subtree (receive.py checks the same).
        below_peer = directory.downlink_peer(sender) in self.hub.peers_of(system)
        mine = {directory.canonical(a) for a in system.agencies}
        if directory.canonical(sender) not in mine and not below_peer:
            shown = canonical_id(sender)[:64]
            error = NotAuthorized(
                SENDER_NOT_REGISTERED,
                sender=shown,
                system=system.system_id,
                trace={"sender": shown},
            )
            await self._reject(system, error, size=_size(data, path))
        claimed = call.param("hash-file")
        if claimed is not None:
            if data is not None:
                matched = vdxp.match_hash_file(claimed, data)
                ok = matched is not None
                data = matched if matched is not None else data
            else:
                assert path is not None
                ok = await asyncio.to_thread(_match_file, claimed, path)
            if not ok:
                mismatch = InvalidPackage(vdxp.HASH_FILE_MISMATCH)
                await self._reject(system, mismatch, size=_size(data, path))
        return await self.hub.submit(
            self.hub.submission(
                system, data=data, path=str(path) if path else None, declared_kind=kind
            )
        )

    async def _reject(self, system: System, error: GatewayError, *, size: int) -> None:
        """Trace a refusal of the door itself like the pipeline's, under a DocId to quote."""
        doc_id = new_id()
        detail = {
            "code": error.code,
            "http_status": error.http_status,
            "system_id": system.system_id,
            "size": size,
            **error.trace_detail,
        }
        traced = event(self.hub.node, RECEIVE, REJECTED, doc_id, self.hub.clock(), **detail)
        await self.hub.store.append_trace([traced])
        raise Refused.of(error, doc_id)

    # -- the inbox: getReceivedEdocList, countReceive*, getEdoc, updateStatus ----------------
    async def received(self, system: System, kind: Kind) -> list[vdxp.Item]:
        """Items not yet ``done``: new, being processed, or reported failed (oldest first)."""
        page = await self.hub.inbox(
            system, state=DeliveryState.DELIVERED, kind=kind, limit=LIST_LIMIT
        )
        ids = [i.delivery.delivery_id for i in page.items]
        reports = await self.hub.store.delivery_reports(ids)
        items = []
        for item in page.items:
            d, m = item.delivery, item.message
            reported = reports.get(d.delivery_id)
            status, desc = vdxp_door.receive_status(d, reported)
            updated = reported.reported_at if reported is not None else None
            items.append(
                vdxp.received_item(
                    doc_id=d.delivery_id,
                    sender=m.sender,
                    recipient=d.recipient,
                    status=status,
                    status_desc=desc,
                    created=d.delivered_at or d.created_at,
                    updated=updated or d.updated_at,
                    message_type=m.kind,
                )
            )
        return items

    async def count(self, system: System, kind: Kind) -> int:
        """countReceiveEdoc / countReceiveStatus: what :meth:`received` lists (a downlink
        hub's copies included), all of it rather than one page."""
        return await self.hub.inbox_count(system, state=DeliveryState.DELIVERED, kind=kind)

    async def fetch(self, system: System, doc_id: str) -> tuple[Delivery, Message, bytes | Path]:
        """getEdoc / downloadEdoc: an item of this system's inbox (done ones too), with its
        sealed package: bytes, or the path of its file (Hub.fetch)."""
        return await self.hub.fetch(system, doc_id)

    async def update_status(
        self, system: System, doc_id: str, status: str, description: str | None = None
    ) -> None:
        """``done`` acknowledges (final); ``processing``/``fail`` are reports (item stays)."""
        try:
            answer = UpdateStatus(status.strip().lower())
        except ValueError:
            raise Refused.of(vdxp_door.bad_parameter("status", status, _STATUSES)) from None
        if answer is UpdateStatus.DONE:
            await self.hub.acknowledge(system, doc_id, ok=True, reason=description)
            return
        for _ in range(2):  # a second time only if the item was answered meanwhile
            command = vdxp_door.report(
                await self.hub.store.get_delivery(doc_id),
                delivery_id=doc_id,
                system_id=system.system_id,
                agencies=system.agencies,
                status="processing" if answer is UpdateStatus.PROCESSING else "fail",
                description=description,
                node=self.hub.node,
                now=self.hub.clock(),
                peers=self.hub.peers_of(system),
            )
            if isinstance(command, Rejected):
                await self.hub.store.append_trace(command.trace)
                raise Refused(command.error, command.doc_id)
            try:
                await self.hub.store.report_delivery(
                    command.report, recipient=command.recipient, trace=command.trace
                )
                return
            except BadTransition:
                continue  # done meanwhile: the check now says so
        raise RuntimeError(f"delivery {doc_id} keeps changing state")

    # -- getSentEdocList ------------------------------------------------------------------------
    async def sent(self, system: System, doc_id: str) -> list[vdxp.Item]:
        """One entry per recipient of something this system (or its agencies) sent."""
        tracking = await self.hub.track(system, doc_id)
        m = tracking.message
        mine = {canonical_id(a) for a in system.agencies}
        if m.system_id != system.system_id and canonical_id(m.sender) not in mine:
            # A recipient may track a document (REST), but this list is the sender's.
            raise Refused.of(NotFound(DOCUMENT_NOT_FOUND, doc_id=doc_id, system=system.system_id))
        reports = await self.hub.store.delivery_reports(
            [d.delivery_id for d in tracking.deliveries]
        )
        items = []
        for d in tracking.deliveries:
            send_status, send_desc = vdxp_door.send_status(d)
            receive_status, receive_desc = vdxp_door.receive_status(d, reports.get(d.delivery_id))
            items.append(
                vdxp.sent_item(
                    message_type=m.kind,
                    from_code=m.sender,
                    to_code=d.recipient,
                    sender_doc_id=m.doc_id,
                    receiver_doc_id=d.delivery_id,
                    send_status=send_status,
                    send_status_desc=send_desc,
                    receive_status=receive_status,
                    receive_status_desc=receive_desc,
                    sent=m.received_at,
                    received=d.delivered_at,
                    title=m.subject or (f"Trạng thái {m.status_code}" if m.status_code else ""),
                    notation=m.code_notation or "",
                )
            )
        return items

    # -- the directory ---------------------------------------------------------------------------
    async def agencies(self) -> list[vdxp.Item]:
        """getAgenciesList: every agency not merged away; ``oldCode`` a legacy alias."""
        directory = await load_directory(self.hub.store)
        return [
            vdxp.agency_item(
                id=vdxp_door.agency_number(a.organ_id),
                pid=vdxp_door.agency_number(a.parent_id) if a.parent_id else None,
                code=a.organ_id,
                name=a.name,
                mail="",
                old_code=_alias(directory.aliases_of(a.organ_id), OrganIdForm.LEGACY),
            )
            for a in directory
            if a.state != "merged"
        ]

    async def agencies_qd20(self) -> list[vdxp.Item]:
        """getAgenciesListQD20: agencies that have a QĐ 20/2020 code, with their QCVN 102 one."""
        directory = await load_directory(self.hub.store)
        items = []
        for a in directory:
            if a.state == "merged":
                continue
            codes = (a.organ_id, *directory.aliases_of(a.organ_id))
            qd20 = _alias(codes, OrganIdForm.QD20)
            if qd20:
                items.append(
                    vdxp.agency_qd20_item(
                        id=vdxp_door.agency_number(a.organ_id),
                        code=qd20,
                        name=a.name,
                        mail="",
                        code102=_alias(codes, OrganIdForm.QCVN102),
                    )
                )
        return items

    async def units(self) -> list[vdxp.Item]:
        """getSynchronizeUnit: the whole directory, merged agencies as ``deleted``."""
        directory = await load_directory(self.hub.store)
        items = []
        for a in directory:
            center = {"local": self.hub.hub_organ_id, "downlink": a.peer or ""}.get(a.host, "")
            modified = a.updated_at
            items.append(
                vdxp.unit_item(
                    id=vdxp_door.agency_number(a.organ_id),
                    pid=vdxp_door.agency_number(a.parent_id) if a.parent_id else None,
                    code=a.organ_id,
                    name=a.name,
                    mail="",
                    center_code=center,
                    version=int(modified.timestamp() * 1000) if modified else 0,
                    deleted=a.state == "merged",
                    modified=modified,
                    is_agency=not _is_hub(a.organ_id),
                )
            )
        return items

    async def register(self, system: System, body: Mapping[str, Any]) -> None:
        """registerAgency ``{id, pcode, code, name, mail, mobile, fax}`` under ``system``."""
        code = _field(body, "code")
        if not code:
            raise Refused.of(vdxp_door.bad_parameter("code", code, "the agency's code"))
        store = self.hub.store
        known = await store.resolve(code)
        key = known.organ_id if known is not None else canonical_id(code)
        # A downlink hub registers the agencies of its subtree: they stay the peer's.
        below = (await load_directory(store)).downlink_peer(key)
        peer = below if below is not None and below in self.hub.peers_of(system) else None
        holders = [
            s.system_id
            for s in await store.list_systems()
            if not s.revoked and key in {canonical_id(a) for a in s.agencies}
        ]
        try:
            decision = vdxp_door.register(
                system,
                code=code,
                name=_field(body, "name"),
                pcode=_field(body, "pcode"),
                known=known,
                holders=holders,
                node=self.hub.node,
                now=self.hub.clock(),
                peer=peer,
            )
        except SenderError as error:
            raise Refused.of(error) from None
        if not decision.changed:
            return
        if decision.new_agency is not None:
            # Bound to an inbox queue, and routed to, once the node's directory watcher sees
            # it (``directory_refresh_seconds``), like ``edxgw directory add``.
            await store.upsert_agency(decision.new_agency, decision.trace[:1])
        await store.set_system_agencies(system.system_id, decision.agencies, decision.trace[-1:])

    async def unregister(self, system: System, code: str) -> None:
        """deleteAgency: ``code`` is no longer one of the system's agencies."""
        try:
            decision = vdxp_door.unregister(
                system, code=code, node=self.hub.node, now=self.hub.clock()
            )
        except SenderError as error:
            raise Refused.of(error) from None
        await self.hub.store.set_system_agencies(
            system.system_id, decision.agencies, decision.trace
        )


def message_type(call: Call, *, default: Kind | None = "edoc") -> Kind | None:
    """``XroadVnpt-messagetype`` as a package kind, ``default`` when the header is absent."""
    value = call.param("messagetype")
    if value is None:
        return default
    try:
        kind = MessageType(value.strip().lower())
    except ValueError:
        raise Refused.of(vdxp_door.bad_parameter("messagetype", value, _MESSAGE_TYPES)) from None
    return "edoc" if kind is MessageType.EDOC else "status"


def _required(call: Call, name: str) -> str:
    value = call.param(name)
    if value is None or not value.strip():
        raise Refused.of(NotAuthorized(vdxp.MISSING_HEADER, header=vdxp.PREFIX + name))
    return value.strip()


def _field(body: Mapping[str, Any], name: str) -> str:
    value = body.get(name)
    if value is None:
        return ""
    if not isinstance(value, str | int):
        raise Refused.of(vdxp_door.bad_parameter(name, repr(value), "a string"))
    return str(value).strip()


def _alias(codes: tuple[str, ...], form: OrganIdForm) -> str:
    return next((c for c in codes if vdxp_door.is_form(c, form)), "")


def _is_hub(organ_id: str) -> bool:
    organ = organ_or_none(organ_id)
    return organ is not None and organ.is_hub


def _size(data: bytes | None, path: Path | None) -> int:
    if data is not None:
        return len(data)
    return os.stat(path).st_size if path is not None else 0


def _match_file(claimed: str, path: Path) -> bool:
    """:func:`gateway.core.vdxp.match_hash_file` for a spooled body, read once in chunks;
    a matching file minus SDK 2.0.1's trailing CRLF is truncated to the file it describes."""
    size = path.stat().st_size
    whole = hashlib.sha256()
    with path.open("rb") as fh:
        left = max(size - 2, 0)
        while left:
            chunk = fh.read(min(_CHUNK, left))
            if not chunk:
                break
            whole.update(chunk)
            left -= len(chunk)
        tail = fh.read()
    stripped = whole.copy()
    whole.update(tail)
    if vdxp.check_hash_file(claimed, whole.digest()):
        return True
    if tail == b"\r\n" and vdxp.check_hash_file(claimed, stripped.digest()):
        os.truncate(path, size - 2)
        return True
    return False
