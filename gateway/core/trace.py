"""The trace-event catalogue, and the helpers that build every core TraceEvent the same way.

Every step appends a trace event (architecture.md §2, §3.7). ``detail`` holds identifiers,
counts, codes and hashes only, never package content (subject, body, attachments, messages
that echo input values), so the trace can be shown to any administrator. The catalogue:

=============  ============  ===========================================================
stage          outcome       detail (keys)
=============  ============  ===========================================================
receive        ok            system_id, kind, sender, size, sha256 (of the bytes received)
validate       ok            mode, warnings (count), codes (distinct warning codes)
verify         ok            policy, signatures [{index, kind, role, valid, signer}],
                             findings (codes)
seal           ok            hub, size, sha256 (of the sealed bytes), blob_key
route          rerouted      recipient (the merged agency), successor (where the copy
                             goes), addressed (the To as written), reason="merged"
route          ok            recipients, routes {recipient: route}, skipped
                             [{recipient, route}] (not sent back where it came from)
*any above*    rejected      code, http_status, issues (codes, at most 20), count, and
                             identifiers the error names (sender, recipient, signer, hub);
                             receive adds system_id, size, sha256
publish        ok            delivery_id, exchange, routing_key (the broker confirmed it;
                             appended by the relay, at the commit time)
deliver        delivered     delivery_id, recipient, route, attempt
deliver        retry         delivery_id, recipient, route, attempt, delay_seconds, error
deliver        dead_letter   delivery_id, recipient, route, attempts, reason; for a
                             malformed message only delivery_id, reason (, field)
acknowledge    done, failed  delivery_id, recipient, system_id, reason (failed only)
acknowledge    rejected      code, http_status, delivery_id, system_id
=============  ============  ===========================================================

Events of one package carry the gateway's ``doc_id`` (a rejection too: the id the sender can
quote, which never becomes a message row) and ``at`` = the ``now`` the shell passed in, so the
core reads no clock.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any, Final

from edxml.errors import EdxmlError
from gateway.core.errors import GatewayError, from_edxml
from gateway.store.base import TraceEvent

__all__ = [
    "ACKNOWLEDGE",
    "DEAD_LETTER",
    "DELIVER",
    "DELIVERED",
    "DONE",
    "FAILED",
    "OK",
    "RECEIVE",
    "REJECTED",
    "REROUTED",
    "RETRY",
    "ROUTE",
    "SEAL",
    "STAGES",
    "VALIDATE",
    "VERIFY",
    "Trail",
    "event",
    "rejection_detail",
]

# -- stages, in the order of architecture.md §2 -------------------------------------------------
RECEIVE: Final = "receive"
VALIDATE: Final = "validate"
VERIFY: Final = "verify"
SEAL: Final = "seal"
ROUTE: Final = "route"
DELIVER: Final = "deliver"
ACKNOWLEDGE: Final = "acknowledge"
STAGES: Final = (RECEIVE, VALIDATE, VERIFY, SEAL, ROUTE, DELIVER, ACKNOWLEDGE)

# -- outcomes ---------------------------------------------------------------------------------
OK: Final = "ok"
REJECTED: Final = "rejected"
REROUTED: Final = "rerouted"
DELIVERED: Final = "delivered"
RETRY: Final = "retry"
DEAD_LETTER: Final = "dead_letter"
DONE: Final = "done"
FAILED: Final = "failed"

_MAX_ISSUE_CODES = 20


def event(
    node: str, stage: str, outcome: str, doc_id: str | None, at: datetime, **detail: Any
) -> TraceEvent:
    """One trace event; ``None`` values are left out of ``detail``.

    Its detail is serialised here, where it is made (a worker process, for a package's
    stages), not on the store's one writer (TraceEvent.serialised).
    """
    clean = {k: v for k, v in detail.items() if v is not None}
    return TraceEvent(
        node=node, stage=stage, outcome=outcome, doc_id=doc_id, detail=clean, at=at
    ).serialised()


def rejection_detail(error: GatewayError) -> dict[str, Any]:
    """What a rejection leaves in the trace: its code and identifiers, never content."""
    codes = [issue.code for issue in error.issues[:_MAX_ISSUE_CODES]]
    detail: dict[str, Any] = {"code": error.code, "http_status": error.http_status}
    if error.issues:
        detail.update(issues=codes, count=len(error.issues))
    detail.update(error.trace_detail)
    return detail


class Trail:
    """The trace events of one ``process()`` call, collected as the stages run.

    It is the one mutable object in the core and lives for one call only. :meth:`stage` is
    where a failing stage is traced as ``rejected`` and where edxml errors are translated
    (through :func:`gateway.core.errors.from_edxml`, the only caller).
    """

    __slots__ = ("_events", "_timings", "at", "doc_id", "node")

    def __init__(self, node: str, doc_id: str, at: datetime) -> None:
        self.node = node
        self.doc_id = doc_id
        self.at = at
        self._events: list[TraceEvent] = []
        self._timings: list[tuple[str, float]] = []

    @property
    def events(self) -> tuple[TraceEvent, ...]:
        return tuple(self._events)

    @property
    def timings(self) -> tuple[tuple[str, float], ...]:
        """(stage, seconds) of every stage run so far, for the node's latency metrics."""
        return tuple(self._timings)

    def record(self, stage: str, outcome: str, **detail: Any) -> None:
        self._events.append(event(self.node, stage, outcome, self.doc_id, self.at, **detail))

    @contextmanager
    def stage(self, name: str, **context: Any) -> Iterator[None]:
        """Run one stage: a GatewayError (or a translated EdxmlError) is traced and re-raised.

        ``context`` (identifiers, sizes, hashes) goes into the rejection event. The stage's
        duration is kept in :attr:`timings` (a monotonic counter, for metrics only: it never
        enters an event or a decision, so the trace stays a function of ``ctx.now``).
        """
        started = time.perf_counter()
        try:
            yield
        except EdxmlError as exc:
            error = from_edxml(exc)
            self.record(name, REJECTED, **{**context, **rejection_detail(error)})
            raise error from exc
        except GatewayError as error:
            self.record(name, REJECTED, **{**context, **rejection_detail(error)})
            raise
        finally:
            self._timings.append((name, time.perf_counter() - started))
