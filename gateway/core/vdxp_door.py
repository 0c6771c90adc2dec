"""What the VDXP door decides, sans-io: receivers' reports, agency registration, item statuses.

The shells (``gateway/service/vdxp.py``, ``gateway/web/vdxp.py``) read the store, call these
functions and execute what they return; the wire format is :mod:`gateway.core.vdxp`.

- :func:`report` turns ``updateStatus`` ``processing``/``fail`` into a store command. Unlike
  ``done`` (:mod:`gateway.core.acknowledge`) it leaves the item in the inbox, listed until it
  is ``done`` (issue 4; edxml.md §2.4), and shows the sender what the receiver said.
- :func:`register` and :func:`unregister` decide ``registerAgency``/``deleteAgency``: a system
  adds agencies under itself (architecture.md §5: it may then send as them and read their
  inbox), and an agency the directory does not know becomes a local agency of this hub. A
  system cannot take an agency served by another hub, merged away, or held by another system:
  those are the administrator's decisions (``edxgw systems``, ``edxgw directory``).
- :func:`receive_status` and :func:`send_status` are the axis's per-copy statuses
  (``initial``, ``processing``, ``done``, ``fail``) derived from the delivery lifecycle.

Refusals, beside those of :mod:`gateway.core.vdxp` (authentication) and the hub's own::

    vdxp.unknown_system            401  no system has this XroadVnpt-systemid
    vdxp.no_secret                 401  the system has no VDXP secret yet
    vdxp.bad_parameter             400  a header or body value the call cannot take
    vdxp.agency_hosted_elsewhere   403  registerAgency: a downlink or uplink agency
    vdxp.agency_merged             403  registerAgency: merged into a successor
    vdxp.agency_taken              403  registerAgency: registered for another system
    vdxp.agency_not_registered     404  deleteAgency: not registered for this system
"""

from __future__ import annotations

import hashlib
from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime

from edxml.errors import FormatError
from edxml.organ import OrganId, OrganIdForm, parse_organ_id
from gateway.core.acknowledge import ALREADY_ANSWERED, NOT_DELIVERED, owned
from gateway.core.directory import canonical_id
from gateway.core.errors import (
    Conflict,
    GatewayError,
    NotAuthorized,
    NotFound,
    SenderError,
    define,
)
from gateway.core.trace import ACKNOWLEDGE, REJECTED, event, rejection_detail
from gateway.core.values import Rejected
from gateway.store.base import (
    Agency,
    Delivery,
    DeliveryReport,
    ReportStatus,
    System,
    TraceEvent,
)
from gateway.store.lifecycle import DeliveryState

__all__ = [
    "AGENCY_ELSEWHERE",
    "AGENCY_MERGED",
    "AGENCY_NOT_REGISTERED",
    "AGENCY_TAKEN",
    "BAD_PARAMETER",
    "FAIL_REPORTED",
    "NO_SECRET",
    "PROCESSING",
    "UNKNOWN_SYSTEM",
    "Registration",
    "Report",
    "agency_number",
    "bad_parameter",
    "is_form",
    "receive_status",
    "register",
    "report",
    "send_status",
    "unregister",
]

UNKNOWN_SYSTEM = define(
    "vdxp.unknown_system",
    "Hệ thống {system} chưa được đăng ký trên trục (XroadVnpt-systemid)",
    "System {system} is not registered on this hub (XroadVnpt-systemid)",
)
NO_SECRET = define(
    "vdxp.no_secret",
    "Hệ thống {system} chưa có khóa bí mật VDXP; quản trị trục cấp bằng lệnh "
    "edxgw systems rotate-secret {system}",
    "System {system} has no VDXP secret; the hub's administrator issues one with "
    "edxgw systems rotate-secret {system}",
)
BAD_PARAMETER = define(
    "vdxp.bad_parameter",
    "Tham số {name} = {value} không hợp lệ (cho phép: {allowed})",
    "Parameter {name} = {value} is not valid (allowed: {allowed})",
)
AGENCY_ELSEWHERE = define(
    "vdxp.agency_hosted_elsewhere",
    "Đơn vị {organ} do trục khác phục vụ ({host}); không đăng ký được cho hệ thống {system}",
    "Agency {organ} is served by another hub ({host}); it cannot be registered for system {system}",
)
AGENCY_MERGED = define(
    "vdxp.agency_merged",
    "Đơn vị {organ} đã sáp nhập vào {successor}; hãy đăng ký {successor}",
    "Agency {organ} was merged into {successor}; register {successor} instead",
)
AGENCY_TAKEN = define(
    "vdxp.agency_taken",
    "Đơn vị {organ} đã được đăng ký cho hệ thống khác; liên hệ quản trị trục",
    "Agency {organ} is registered for another system; ask the hub's administrator",
)
AGENCY_NOT_REGISTERED = define(
    "vdxp.agency_not_registered",
    "Đơn vị {organ} không được đăng ký cho hệ thống {system}",
    "Agency {organ} is not registered for system {system}",
)

#: Trace outcomes of the acknowledge stage for a report (the item stays in the inbox).
PROCESSING = "processing"
FAIL_REPORTED = "fail_reported"
_MAX_TEXT = 200  # a system's free text, cut for the trace and the store
_SHOWN = 64


def bad_parameter(name: str, value: str, allowed: str) -> SenderError:
    """The error for a value a call cannot take (echoed cut short)."""
    shown = value if len(value) <= _SHOWN else value[:_SHOWN] + "…"
    return SenderError(BAD_PARAMETER, name=name, value=repr(shown), allowed=allowed)


# -- updateStatus processing | fail --------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class Report:
    """The command: ``store.report_delivery(report, recipient=recipient, trace=trace)``."""

    report: DeliveryReport
    recipient: str
    doc_id: str
    trace: tuple[TraceEvent, ...]


def report(
    delivery: Delivery | None,
    *,
    delivery_id: str,
    system_id: str,
    agencies: Collection[str],
    status: ReportStatus,
    description: str | None,
    node: str,
    now: datetime,
    peers: Collection[str] = (),
) -> Report | Rejected:
    """Check that the system may report on this item (as for acknowledge), and how.

    ``peers``: the downlink hubs the system stands for; their copies are theirs to report on.
    """
    try:
        delivery = _check(delivery, delivery_id, agencies, peers)
    except GatewayError as error:
        doc_id = delivery.doc_id if delivery is not None else None
        detail = {**rejection_detail(error), "delivery_id": delivery_id, "system_id": system_id}
        refusal = event(node, ACKNOWLEDGE, REJECTED, doc_id, now, **detail)
        return Rejected(error=error.problem(), trace=(refusal,), doc_id=doc_id)
    text = description.strip()[:_MAX_TEXT] if description and description.strip() else None
    outcome = PROCESSING if status == "processing" else FAIL_REPORTED
    traced = event(
        node,
        ACKNOWLEDGE,
        outcome,
        delivery.doc_id,
        now,
        delivery_id=delivery_id,
        recipient=delivery.recipient,
        system_id=system_id,
        reason=text,
    )
    return Report(
        report=DeliveryReport(
            delivery_id=delivery_id, status=status, system_id=system_id, description=text
        ),
        recipient=delivery.recipient,
        doc_id=delivery.doc_id,
        trace=(traced,),
    )


def _check(
    delivery: Delivery | None,
    delivery_id: str,
    agencies: Collection[str],
    peers: Collection[str] = (),
) -> Delivery:
    delivery = owned(delivery, delivery_id, agencies, peers)
    if delivery.state in (DeliveryState.DONE, DeliveryState.FAILED):
        raise Conflict(ALREADY_ANSWERED, delivery_id=delivery_id, state=delivery.state.value)
    if delivery.state != DeliveryState.DELIVERED:
        raise Conflict(NOT_DELIVERED, delivery_id=delivery_id, state=delivery.state.value)
    return delivery


# -- registerAgency / deleteAgency --------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class Registration:
    """What to write: a new directory entry (or none), the system's agencies afterwards."""

    organ_id: str
    #: A local agency to add to the directory (the code was unknown), else None.
    new_agency: Agency | None
    agencies: tuple[str, ...]
    #: False: nothing to write (already registered for this system).
    changed: bool
    trace: tuple[TraceEvent, ...]


def register(
    system: System,
    *,
    code: str,
    name: str,
    pcode: str,
    known: Agency | None,
    holders: Collection[str],
    node: str,
    now: datetime,
    peer: str | None = None,
) -> Registration:
    """Decide registerAgency; ``known`` is the directory entry of ``code`` (through aliases),
    ``holders`` the other active systems registered for it. Raises a SenderError.

    ``peer`` is set when ``system`` is a downlink hub (``Hub.peers_of``) and the code lies in
    that peer's subtree (``Directory.downlink_peer``): the agency is the peer's, so a new one
    joins the directory with host ``downlink`` (its mail keeps going to the peer's queue) and
    a known one of that peer may be registered (adapters/vdxp registers a hub's agencies).
    """
    organ = _agency_code(code)
    organ_id = known.organ_id if known is not None else organ.canonical
    if known is not None and known.state == "merged":
        raise NotAuthorized(AGENCY_MERGED, organ=organ_id, successor=known.successor_id or "-")
    peers_own = known is not None and peer is not None and known.peer == peer
    if known is not None and known.host != "local" and not peers_own:
        host = f"{known.host} {known.peer}" if known.peer else known.host
        raise NotAuthorized(AGENCY_ELSEWHERE, organ=organ_id, host=host, system=system.system_id)
    if any(h != system.system_id for h in holders):
        raise NotAuthorized(
            AGENCY_TAKEN,
            organ=organ_id,
            trace={"organ_id": organ_id, "holders": ",".join(sorted(holders))},
        )
    mine = [canonical_id(a) for a in system.agencies]
    if organ_id in mine:
        return Registration(
            organ_id=organ_id, new_agency=None, agencies=system.agencies, changed=False, trace=()
        )
    new_agency = None
    events: list[TraceEvent] = []
    if known is None:
        if not name.strip():
            raise bad_parameter("name", name, "the agency's name, for an agency new to the hub")
        new_agency = Agency(
            organ_id=organ_id,
            name=name.strip()[:_MAX_TEXT],
            level=organ.level,
            parent_id=organ.parent.canonical if organ.parent else None,
            host="local" if peer is None else "downlink",
            peer=peer,
            delivery_mode="pull" if peer is None else None,
        )
        events.append(
            event(
                node,
                "admin.agency_upsert",
                "ok",
                None,
                now,
                organ_id=organ_id,
                host=new_agency.host,
                peer=peer,
                system_id=system.system_id,
                via="vdxp.registerAgency",
            )
        )
    events.append(
        event(
            node,
            "admin.system_agency_add",
            "ok",
            None,
            now,
            system_id=system.system_id,
            organ_id=organ_id,
            pcode=pcode[:_SHOWN] or None,
            via="vdxp.registerAgency",
        )
    )
    return Registration(
        organ_id=organ_id,
        new_agency=new_agency,
        agencies=(*system.agencies, organ_id),
        changed=True,
        trace=tuple(events),
    )


def unregister(system: System, *, code: str, node: str, now: datetime) -> Registration:
    """Decide deleteAgency: the system's agencies without ``code``. The directory entry
    stays (its history, and documents already on their way, keep their recipient)."""
    key = canonical_id(code)
    kept = tuple(a for a in system.agencies if canonical_id(a) != key)
    if len(kept) == len(system.agencies):
        raise NotFound(AGENCY_NOT_REGISTERED, organ=key[:_SHOWN], system=system.system_id)
    traced = event(
        node,
        "admin.system_agency_remove",
        "ok",
        None,
        now,
        system_id=system.system_id,
        organ_id=key,
        via="vdxp.deleteAgency",
    )
    return Registration(organ_id=key, new_agency=None, agencies=kept, changed=True, trace=(traced,))


def _agency_code(code: str) -> OrganId:
    allowed = "an agency code (QCVN 102:2016 or QĐ 20/2020), not a hub code"
    try:
        organ = parse_organ_id(code)
    except FormatError:
        raise bad_parameter("code", code, allowed) from None
    if organ.is_hub:
        raise bad_parameter("code", code, allowed)
    return organ


# -- per-copy statuses (getReceivedEdocList status, getSentEdocList send/receiveStatus) ---------

_IN_TRANSIT = (DeliveryState.PENDING, DeliveryState.QUEUED, DeliveryState.RETRYING)


def receive_status(delivery: Delivery, reported: DeliveryReport | None) -> tuple[str, str]:
    """The receiving side's status of a copy and its description (Vietnamese / English)."""
    if delivery.state == DeliveryState.DONE:
        return "done", "Đã nhận / Received"
    if delivery.state == DeliveryState.FAILED:
        return "fail", _with("Nơi nhận từ chối / Refused by the recipient", delivery.last_error)
    if delivery.state == DeliveryState.DELIVERED and reported is not None:
        if reported.status == "processing":
            return "processing", _with("Đang xử lý / Processing", reported.description)
        return "fail", _with("Nơi nhận báo lỗi / Failed at the recipient", reported.description)
    return "initial", "Chưa nhận / Not received yet"


def send_status(delivery: Delivery) -> tuple[str, str]:
    """The hub's side of a copy: on its way, handed over, or given up (dead letter)."""
    if delivery.state in _IN_TRANSIT:
        return "processing", "Đang chuyển / In transit"
    if delivery.state == DeliveryState.DEAD:
        return "fail", _with("Chuyển không thành công / Not delivered", delivery.last_error)
    return "done", "Đã chuyển / Delivered"


def _with(text: str, detail: str | None) -> str:
    return f"{text}: {detail[:_MAX_TEXT]}" if detail else text


def agency_number(organ_id: str) -> int:
    """A stable numeric ``id``/``pid`` for an agency (SDK models may read them as numbers).

    48 bits of SHA-256 of the canonical id: the same on every hub and every call, exact in
    JSON (under 2**53), and with ~10^5 agencies a collision has odds of about 2 in 10^5.
    """
    digest = hashlib.sha256(canonical_id(organ_id).encode()).digest()
    return int.from_bytes(digest[:6], "big")


def is_form(organ_id: str, form: OrganIdForm) -> bool:
    """Whether ``organ_id`` is written in ``form`` (QĐ 20, QCVN 102, legacy...)."""
    try:
        return parse_organ_id(organ_id).form is form
    except FormatError:
        return False
