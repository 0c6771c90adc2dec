"""Route a package: decide for each recipient where it goes, and write the deliveries and outbox.

Who the recipients are (edxml.md §1, §2.1): every ``To`` of a document; ``ResponseFor/OrganId``
of a status (for 13 that is the original receiver, for the others the original sender). Each is
resolved through the directory (aliases), then (architecture.md §4):

1. merged → its ``successor_id``, repeatedly, each hop traced as ``route/rerouted``;
2. locked → the package is refused (``route.recipient_locked``): nothing is half-delivered;
3. ``host == "local"`` → ``local``; ``"downlink"`` → ``downlink`` to its peer hub;
   ``"uplink"`` → ``uplink``;
4. not in the directory → ``downlink`` if an ancestor is hosted by a downlink peer (that is
   what the peer's ``H53.31.#`` binding would do with it anyway), else ``uplink``: a hub
   forwards what it does not host to the national axis.

Recipients that resolve to the same agency collapse into one delivery. A package from a peer
hub is never routed back to that peer (from the uplink: nothing goes uplink again); those
recipients are normal in axis traffic (edxml.md §4.1: "keep only the To's that belong to it")
and are listed as ``skipped``. The AMQP routing key is the recipient's position in the hierarchy
(``edxml.organ`` routing key: ``H53.31.21``), so one topic binding serves a peer's subtree.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from edxml.model import StatusPackage
from edxml.organ import parse_organ_id
from gateway.core.directory import Directory, canonical_id, organ_or_none
from gateway.core.errors import DirectoryInconsistent, Unroutable, define
from gateway.core.receive import Received
from gateway.core.sign import Sealed
from gateway.core.trace import OK, REROUTED, ROUTE, Trail
from gateway.core.values import Context, Submission
from gateway.store.base import Agency, NewDelivery, NewOutbox, Route

__all__ = [
    "MERGE_LOOP",
    "NO_RECIPIENT",
    "RECIPIENT_LOCKED",
    "Destination",
    "Routing",
    "addressees",
    "destination",
    "route",
]

RECIPIENT_LOCKED = define(
    "route.recipient_locked",
    "Đơn vị nhận {recipient} đang bị khóa trên trục, không nhận được văn bản; "
    "gói tin không được gửi tới đơn vị nào",
    "The recipient {recipient} is locked on the hub and cannot receive documents; "
    "the package was sent to no one",
)
NO_RECIPIENT = define(
    "route.no_recipient",
    "Gói tin không có đơn vị nhận nào do trục này chuyển tiếp",
    "The package has no recipient that this hub forwards to",
)
MERGE_LOOP = define(
    "route.merge_loop",
    "Danh bạ của trục lỗi: chuỗi sáp nhập của đơn vị {recipient} không kết thúc ({chain})",
    "The hub's directory is inconsistent: the merger chain of {recipient} does not end ({chain})",
)
_MAX_MERGES = 8  # mergers chain (huyện → tỉnh 2025), but never this deep


@dataclass(frozen=True, slots=True)
class Destination:
    """Where one recipient's copy goes."""

    addressed: str  # as written in the package
    recipient: str  # canonical id the delivery is for (the successor after mergers)
    route: Route
    peer: str | None
    routing_key: str
    merged: tuple[str, ...] = ()  # the merged agencies passed on the way, in order


@dataclass(frozen=True, slots=True)
class Routing:
    destinations: tuple[Destination, ...]
    deliveries: tuple[NewDelivery, ...]
    outbox: tuple[NewOutbox, ...]


def addressees(received: Received) -> tuple[str, ...]:
    """The organ ids the package is addressed to, in document order."""
    package = received.package
    if isinstance(package, StatusPackage):
        return (package.response_for.organ_id or "",)
    return tuple(org.organ_id for org in package.to)


def destination(organ_id: str, directory: Directory, uplink_peer: str | None) -> Destination:
    """The routing decision for one addressee (module doc, steps 1-4); raises when refused."""
    current = directory.canonical(organ_id)
    agency = directory.resolve(current)
    merged: list[str] = []
    while agency is not None and agency.state == "merged":
        merged.append(agency.organ_id)
        successor = agency.successor_id
        if (
            successor is None
            or len(merged) > _MAX_MERGES
            or directory.canonical(successor) in (canonical_id(m) for m in merged)
        ):
            chain = " → ".join([*merged, successor or "?"])
            trace = {"recipient": current, "chain": chain}
            raise DirectoryInconsistent(MERGE_LOOP, recipient=current, chain=chain, trace=trace)
        current = directory.canonical(successor)
        agency = directory.resolve(current)
    if agency is not None and agency.state == "locked":
        raise Unroutable(RECIPIENT_LOCKED, recipient=current, trace={"recipient": current})
    key = parse_organ_id(current).routing_key  # To ids passed validation: they parse
    route, peer = _host(current, agency, directory, uplink_peer)
    return Destination(organ_id, current, route, peer, key, tuple(merged))


def _host(
    organ_id: str, agency: Agency | None, directory: Directory, uplink_peer: str | None
) -> tuple[Route, str | None]:
    if agency is not None:
        if agency.host == "local":
            return "local", None
        if agency.host == "downlink":
            return "downlink", agency.peer
        return "uplink", agency.peer or uplink_peer
    organ = organ_or_none(organ_id)
    for ancestor in organ.ancestors() if organ is not None else ():
        above = directory.resolve(ancestor.canonical)
        if above is not None and above.host == "downlink":
            return "downlink", above.peer
    return "uplink", uplink_peer


def route(
    received: Received, sealed: Sealed, submission: Submission, ctx: Context, trail: Trail
) -> Routing:
    """One delivery and one outbox row per distinct recipient; traces every decision."""
    with trail.stage(ROUTE):
        chosen: dict[str, Destination] = {}
        skipped: list[Destination] = []
        for organ_id in addressees(received):
            dest = destination(organ_id, ctx.directory, ctx.uplink_peer)
            for old in dest.merged:
                trail.record(
                    ROUTE,
                    REROUTED,
                    recipient=old,
                    successor=dest.recipient,
                    addressed=organ_id,
                    reason="merged",
                )
            if _goes_back(dest, submission):
                skipped.append(dest)
            else:
                chosen.setdefault(dest.recipient, dest)
        if not chosen:
            raise Unroutable(NO_RECIPIENT, trace={"skipped": str(len(skipped))})
        destinations = tuple(chosen.values())
        deliveries, outbox = _commands(destinations, received, sealed, ctx, trail.doc_id)
        trail.record(
            ROUTE,
            OK,
            recipients=[d.recipient for d in destinations],
            routes={d.recipient: d.route for d in destinations},
            skipped=[{"recipient": d.recipient, "route": d.route} for d in skipped] or None,
        )
    return Routing(destinations, deliveries, outbox)


def _goes_back(dest: Destination, submission: Submission) -> bool:
    if submission.origin == "uplink":
        return dest.route == "uplink"
    if submission.origin == "downlink":
        return dest.route == "downlink" and dest.peer == submission.peer
    return False


def _commands(
    destinations: tuple[Destination, ...],
    received: Received,
    sealed: Sealed,
    ctx: Context,
    doc_id: str,
) -> tuple[tuple[NewDelivery, ...], tuple[NewOutbox, ...]]:
    deliveries: list[NewDelivery] = []
    outbox: list[NewOutbox] = []
    for dest in destinations:
        delivery_id = ctx.ids()
        deliveries.append(
            NewDelivery(
                delivery_id=delivery_id, recipient=dest.recipient, route=dest.route, peer=dest.peer
            )
        )
        headers = {
            "doc_id": doc_id,
            "delivery_id": delivery_id,
            "kind": received.kind,
            "sender": received.sender,
            "recipient": dest.recipient,
            "route": dest.route,
        }
        if dest.peer is not None:
            headers["peer"] = dest.peer
        # A claim check, never the package (invariant §3.5): the consumer fetches the blob and
        # checks it against sha256 (of the sealed bytes, as stored).
        claim = {
            "doc_id": doc_id,
            "delivery_id": delivery_id,
            "blob_key": sealed.blob_key,
            "sha256": sealed.sha256,
        }
        outbox.append(
            NewOutbox(
                delivery_id=delivery_id,
                exchange=ctx.exchange,
                routing_key=dest.routing_key,
                headers=headers,
                body=json.dumps(claim, sort_keys=True, separators=(",", ":")).encode(),
            )
        )
    return tuple(deliveries), tuple(outbox)
