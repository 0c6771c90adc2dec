"""The directory as administrators change it: browse, search, add, alias, lock, unlock, merge.

One implementation for the console, the ``/api/admin/v1`` JSON API and ``edxgw directory``:
each change is one store transaction with its ``admin.*`` trace event (who, why), and lock,
unlock and merge must be *confirmed* by repeating the organ id, as a console user types it
into the confirmation dialog (the CLI passes it for its user, who named it on the command
line). Running nodes pick a change up within ``directory_refresh_seconds``: their directory
watcher binds or unbinds inbox queues before the router uses the new snapshot (app.py), which
is why this module does not swap a hub's directory itself.

Rules beyond the store's: a merged agency cannot be locked (its mail goes to the successor);
unlocking a merged agency reactivates it (undoing a wrong merge); a merge must not close a
cycle of successors, which the router would refuse for every package (``route.merge_loop``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from edxml.errors import FormatError
from edxml.organ import parse_organ_id
from gateway.core.directory import canonical_id
from gateway.service.admin.errors import (
    IS_MERGED,
    MERGE_CYCLE,
    NOT_CONFIRMED,
    UNKNOWN_AGENCY,
    UNKNOWN_SUCCESSOR,
    conflict,
    invalid,
    not_found,
)
from gateway.store.base import Agency, AgencyNode, AgencyState, Host, Store, System, TraceEvent
from gateway.store.lifecycle import DeliveryState
from gateway.store.search import fold

__all__ = ["AgencyView", "DirectoryAdmin", "agency_json"]

_ACTIONS: dict[AgencyState, str] = {
    "locked": "lock / khóa",
    "active": "unlock / mở khóa",
    "merged": "merge / sáp nhập",
}
#: Who did it, as the console's ``admin_event`` names them (``admin``, ``address``, ``via``).
Audit = Mapping[str, Any] | None
_WAITING = (DeliveryState.PENDING, DeliveryState.QUEUED, DeliveryState.RETRYING)
_MAX_CHAIN = 16


@dataclass(frozen=True, slots=True)
class AgencyView:
    """One agency as its directory page shows it."""

    agency: Agency
    aliases: tuple[str, ...]
    path: tuple[Agency, ...]  # from the top of the tree down to the parent
    children: tuple[AgencyNode, ...]
    merged_in: tuple[Agency, ...]  # agencies merged into this one
    successor: Agency | None
    systems: tuple[System, ...]  # the agency systems registered for it
    waiting: int  # copies to it not delivered yet (pending, queued, retrying)

    def as_json(self) -> dict[str, Any]:
        return {
            **agency_json(self.agency),
            "aliases": list(self.aliases),
            "path": [a.organ_id for a in self.path],
            "children": [{**agency_json(n.agency), "children": n.children} for n in self.children],
            "merged_in": [a.organ_id for a in self.merged_in],
            "systems": [
                {"system_id": s.system_id, "name": s.name, "revoked": s.revoked}
                for s in self.systems
            ],
            "waiting": self.waiting,
        }


def agency_json(a: Agency) -> dict[str, Any]:
    return {
        "organ_id": a.organ_id,
        "name": a.name,
        "level": a.level,
        "parent_id": a.parent_id,
        "host": a.host,
        "peer": a.peer,
        "state": a.state,
        "successor_id": a.successor_id,
        "delivery_mode": a.delivery_mode,
        "updated_at": a.updated_at.isoformat() if a.updated_at else None,
    }


class DirectoryAdmin:
    """Directory use cases over one store; ``node`` names this process in the trace."""

    def __init__(self, store: Store, *, node: str) -> None:
        self.store = store
        self.node = node

    # -- reading ---------------------------------------------------------------------------
    async def children(self, parent: str | None = None) -> list[AgencyNode]:
        """One level of the tree (central → province → district → commune)."""
        return await self.store.agency_children(parent)

    async def view(self, organ_id: str) -> AgencyView:
        agency = await self._agency(organ_id)
        path: list[Agency] = []
        parent_id, seen = agency.parent_id, {agency.organ_id}
        while parent_id and parent_id not in seen and len(path) < _MAX_CHAIN:
            seen.add(parent_id)
            parent = await self.store.resolve(parent_id)
            if parent is None:
                break
            path.insert(0, parent)
            parent_id = parent.parent_id
        merged = await self.store.list_agencies(state="merged", limit=10_000)
        systems = [
            s
            for s in await self.store.list_systems()
            if agency.organ_id in {canonical_id(a) for a in s.agencies}
        ]
        waiting = 0
        for state in _WAITING:  # bounded: the page says "1000+" past that
            page = await self.store.admin_deliveries([state], recipient=agency.organ_id, limit=1000)
            waiting += len(page.items)
        successor = await self.store.resolve(agency.successor_id) if agency.successor_id else None
        return AgencyView(
            agency=agency,
            aliases=tuple(await self.store.list_aliases(agency.organ_id)),
            path=tuple(path),
            children=tuple(await self.store.agency_children(agency.organ_id)),
            merged_in=tuple(a for a in merged if a.successor_id == agency.organ_id),
            successor=successor,
            systems=tuple(systems),
            waiting=waiting,
        )

    async def search(self, text: str, *, limit: int = 50) -> list[Agency]:
        """Agencies whose id, alias or name contains ``text`` (Vietnamese with or without
        diacritics: "xa long thuan" finds "Xã Long Thuận")."""
        wanted = fold(text)
        raw = text.strip().upper()
        if not wanted and not raw:
            return []
        aliases: dict[str, list[str]] = {}
        for alias, organ_id in (await self.store.alias_map()).items():
            aliases.setdefault(organ_id, []).append(alias.upper())
        found: list[Agency] = []
        after: str | None = None
        while len(found) < limit:
            page = await self.store.list_agencies(after=after, limit=5000)
            for a in page:
                ids = [a.organ_id.upper(), *aliases.get(a.organ_id, [])]
                if (raw and any(raw in i for i in ids)) or (wanted and wanted in fold(a.name)):
                    found.append(a)
                    if len(found) >= limit:
                        break
            if len(page) < 5000:
                break
            after = page[-1].organ_id
        return found

    async def systems(self) -> list[System]:
        return await self.store.list_systems()

    # -- changes ---------------------------------------------------------------------------
    async def add(
        self,
        organ_id: str,
        name: str,
        *,
        host: Host = "local",
        peer: str | None = None,
        delivery_mode: str | None = None,
        audit: Audit = None,
    ) -> Agency:
        """Add (or replace) an agency; level and parent come from the organ id itself."""
        organ = parse_organ_id(organ_id)
        agency = Agency(
            organ_id=organ.canonical,
            name=name,
            level=organ.level,
            parent_id=organ.parent.canonical if organ.parent else None,
            host=host,
            peer=peer,
            delivery_mode=delivery_mode,
        )
        detail = {"organ_id": agency.organ_id, "host": agency.host}
        return await self.store.upsert_agency(
            agency, trace=[self._event("admin.agency_upsert", detail, audit)]
        )

    async def alias(self, alias: str, organ_id: str, *, audit: Audit = None) -> None:
        await self.store.add_alias(
            alias,
            organ_id,
            trace=[
                self._event("admin.agency_alias", {"alias": alias, "organ_id": organ_id}, audit)
            ],
        )

    async def lock(
        self, organ_id: str, *, confirm: str, reason: str | None = None, audit: Audit = None
    ) -> Agency:
        """Refuse new documents to this agency (``route.recipient_locked``) until unlocked."""
        agency = await self._confirmed(organ_id, confirm, "locked")
        if agency.state == "merged":
            raise conflict(IS_MERGED, organ_id=agency.organ_id, successor=agency.successor_id)
        return await self._set(agency, "locked", None, reason, audit)

    async def unlock(
        self, organ_id: str, *, confirm: str, reason: str | None = None, audit: Audit = None
    ) -> Agency:
        """Make the agency active again (also undoes a merge)."""
        agency = await self._confirmed(organ_id, confirm, "active")
        return await self._set(agency, "active", None, reason, audit)

    async def merge(
        self,
        organ_id: str,
        successor: str,
        *,
        confirm: str,
        reason: str | None = None,
        audit: Audit = None,
    ) -> Agency:
        """From now on, documents to ``organ_id`` go to ``successor`` (the 2025 mergers)."""
        agency = await self._confirmed(organ_id, confirm, "merged")
        target = await self.store.resolve(successor)
        if target is None:
            raise not_found(UNKNOWN_SUCCESSOR, successor=successor)
        # Follow the successor's own mergers: reaching this agency again closes a cycle.
        chain, current = [agency.organ_id], target
        while True:
            chain.append(current.organ_id)
            if current.organ_id == agency.organ_id or len(chain) > _MAX_CHAIN:
                raise conflict(
                    MERGE_CYCLE,
                    organ_id=agency.organ_id,
                    successor=target.organ_id,
                    chain=" → ".join(chain),
                )
            nxt = None
            if current.state == "merged" and current.successor_id:
                nxt = await self.store.resolve(current.successor_id)
            if nxt is None:
                break
            current = nxt
        return await self._set(agency, "merged", target.organ_id, reason, audit)

    async def _confirmed(self, organ_id: str, confirm: str, state: AgencyState) -> Agency:
        agency = await self._agency(organ_id)
        typed = (confirm or "").strip()
        if not typed or canonical_id(typed) not in (agency.organ_id, canonical_id(organ_id)):
            raise invalid(NOT_CONFIRMED, organ_id=agency.organ_id, action=_ACTIONS[state])
        return agency

    async def _set(
        self,
        agency: Agency,
        state: AgencyState,
        successor: str | None,
        reason: str | None,
        audit: Mapping[str, Any] | None,
    ) -> Agency:
        detail = {
            "organ_id": agency.organ_id,
            "successor_id": successor,
            "reason": reason,
            "previous_state": agency.state,
        }
        return await self.store.set_agency_state(
            agency.organ_id,
            state,
            successor_id=successor,
            trace=[self._event(f"admin.agency_{state}", detail, audit)],
        )

    async def _agency(self, organ_id: str) -> Agency:
        agency = await self.store.resolve(organ_id.strip())
        if agency is None:
            try:
                agency = await self.store.resolve(parse_organ_id(organ_id).canonical)
            except FormatError:
                agency = None
        if agency is None:
            raise not_found(UNKNOWN_AGENCY, organ_id=organ_id)
        return agency

    def _event(
        self, stage: str, detail: dict[str, Any], audit: Mapping[str, Any] | None
    ) -> TraceEvent:
        """Admin actions are trace events without a document (architecture.md §3.7); the
        audit names who (``admin``, ``address``, ``via``)."""
        full = {**(audit or {}), **{k: v for k, v in detail.items() if v is not None}}
        return TraceEvent(node=self.node, stage=stage, outcome="ok", detail=full)
