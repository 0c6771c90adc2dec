"""Keep the directory in step with the upstream axis, both ways (edxml.md §4.4 step 9).

Down: :meth:`DirectorySync.sync` reads ``getSynchronizeUnit`` and writes what changed into
this hub's store, only for agencies the upstream hosts:

- an unknown agency is added with host ``uplink`` (its parent from ``pid``, else its code);
- a known uplink agency is renamed when its name changed, and locked when the axis marks
  it ``deleted`` (mail for it is then refused at once, ``route.recipient_locked``, instead of
  travelling up to be refused there);
- the agencies this hub hosts (local), its downlink hubs' agencies and everything below
  them are never touched: admins own those (``edxgw directory``), and an agency unknown here
  under a downlink peer must keep reaching that peer;
- hub codes (``…W00``) and codes that do not parse are skipped.

Up: :meth:`DirectorySync.register` sends ``registerAgency`` for every active agency this hub
or one of its downlink hubs hosts, so that the axis lets this system send for them ("Don vi
gui X khong dung voi ma da dang ky" otherwise); it runs at start and whenever the directory
changes, and the sender registers one agency on demand when the axis still refuses it.
Registration is idempotent upstream ("register or update"); nothing is ever deleted upstream
automatically (an agency merged away may still receive statuses about its old documents).
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable
from datetime import UTC, datetime

from adapters.vdxp.client import Unit, VdxpClient, VdxpError
from adapters.vdxp.config import UplinkConfig
from adapters.vdxp.sink import UPLINK
from adapters.vdxp.status import Gate
from edxml.organ import parse_organ_id
from gateway.broker.errors import redact
from gateway.core.directory import organ_or_none
from gateway.service.hub import Hub, load_directory
from gateway.store.base import Agency, TraceEvent

__all__ = ["DirectorySync", "SyncResult"]

log = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True, slots=True)
class SyncResult:
    added: int = 0
    renamed: int = 0
    locked: int = 0
    skipped: int = 0  # ours, our peers', hub codes, unparseable

    @property
    def changes(self) -> int:
        return self.added + self.renamed + self.locked


class DirectorySync:
    """Directory synchronisation and agency registration with the upstream (module doc)."""

    def __init__(
        self,
        *,
        config: UplinkConfig,
        client: VdxpClient,
        gate: Gate,
        hub: Hub,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.config = config
        self.client = client
        self.gate = gate
        self.hub = hub
        self.clock = clock
        #: organ id -> name as last registered upstream by this process.
        self.registered: dict[str, str] = {}
        #: organ id -> name the axis refused to register (not asked again until renamed).
        self.refused: dict[str, str] = {}

    # -- down: getSynchronizeUnit -------------------------------------------------------------
    async def sync(self, *, hold: float = 0.0) -> SyncResult:
        """One synchronisation; the store's directory watcher picks the changes up."""
        units = await self.gate.run(self.client.get_synchronize_unit, hold=hold)
        # The store's directory, not the router's snapshot: the app's watcher applies changes
        # to the router (binding new queues first), this only reads.
        directory = await load_directory(self.hub.store)
        by_id = {u.id: u for u in units if u.id}
        added = renamed = locked = skipped = 0
        for unit in units:
            organ = organ_or_none(unit.code)
            if organ is None or organ.is_hub:
                skipped += 1
                continue
            known = directory.resolve(organ.canonical)
            if known is None:
                if unit.deleted or directory.downlink_peer(organ.canonical) is not None:
                    skipped += 1
                    continue
                await self.hub.store.upsert_agency(_agency(unit, by_id))
                added += 1
            elif known.host != "uplink":
                skipped += 1
            elif unit.deleted and known.state == "active":
                await self.hub.store.set_agency_state(known.organ_id, "locked")
                locked += 1
            elif unit.name and unit.name != known.name and not unit.deleted:
                await self.hub.store.upsert_agency(dataclasses.replace(known, name=unit.name))
                renamed += 1
        result = SyncResult(added, renamed, locked, skipped)
        status = self.gate.status
        status.last_directory_sync_at = self.clock()
        status.directory_changes = result.changes
        await self.hub.store.append_trace(
            [
                TraceEvent(
                    node=self.hub.node,
                    stage="admin.directory_sync",
                    outcome="ok",
                    detail={
                        "source": redact(self.config.endpoint),
                        "units": len(units),
                        **dataclasses.asdict(result),
                    },
                )
            ]
        )
        if result.changes:
            log.info("directory synchronised from the upstream axis: %s", result)
        return result

    # -- up: registerAgency -------------------------------------------------------------------
    def hosted(self) -> dict[str, str]:
        """organ id -> name of every active agency this hub or its downlink hubs host."""
        return {
            a.organ_id: a.name
            for a in self.hub.directory
            if a.host in ("local", "downlink")
            and a.state == "active"
            and not parse_organ_id(a.organ_id).is_hub
        }

    async def register(self, *, hold: float = 0.0) -> int:
        """Register what is hosted here and not registered yet (or renamed); returns how many."""
        wanted = self.hosted()
        todo = [
            (o, n)
            for o, n in sorted(wanted.items())
            if self.registered.get(o) != n and self.refused.get(o) != n
        ]
        for organ_id, name in todo:
            try:
                await self._register(organ_id, name, hold=hold)
            except VdxpError as exc:  # refused for this agency (the axis answered): say so
                log.warning("uplink: the axis refuses to register %s: %s", organ_id, exc)
                self.refused[organ_id] = name
        if todo:
            await self.hub.store.append_trace(
                [
                    TraceEvent(
                        node=self.hub.node,
                        stage=UPLINK,
                        outcome="registered",
                        detail={
                            "agencies": len(todo),
                            "refused": sorted(o for o, _ in todo if o in self.refused),
                            "system_id": self.config.system_id,
                        },
                    )
                ]
            )
        return len(todo)

    async def register_one(self, organ_id: str) -> bool:
        """Register one agency we host (the sender asks after a ``-3``); False if not ours.

        An agency below one of our downlink hubs that our directory does not list is ours
        too (the district hub sends for its whole subtree): registered under its code.
        """
        name = self.hosted().get(organ_id)
        if name is None and self.hub.directory.downlink_peer(organ_id) is not None:
            name = organ_id
        if name is None:
            return False
        try:
            await self._register(organ_id, name, hold=self.config.hold_seconds)
        except VdxpError as exc:
            log.warning("uplink: registering %s upstream failed: %s", organ_id, exc)
            return False
        return True

    async def _register(self, organ_id: str, name: str, *, hold: float) -> None:
        async def call() -> None:
            await self.client.register_agency(organ_id, name)

        await self.gate.run(call, hold=hold)
        self.registered[organ_id] = name
        status = self.gate.status
        status.registered = len(self.registered)
        status.last_registration_at = self.clock()


def _agency(unit: Unit, by_id: dict[str, Unit]) -> Agency:
    organ = parse_organ_id(unit.code)
    parent_unit = by_id.get(unit.pid) if unit.pid else None
    parent = organ_or_none(parent_unit.code) if parent_unit is not None else None
    if parent is None or parent.is_hub:
        parent = organ.parent
    return Agency(
        organ_id=organ.canonical,
        name=unit.name or organ.canonical,
        level=organ.level,
        parent_id=parent.canonical if parent is not None else None,
        host="uplink",
    )
