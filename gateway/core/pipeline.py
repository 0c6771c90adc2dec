"""The path of one package through the core, in the order of architecture.md §2.

::

    receive → validate → verify → sign → route  ──►  Accepted (one store transaction)
        └──────────── any refusal ──────────────────►  Rejected (error + trace)

:func:`process` is synchronous and CPU-bound (parse, XSD, signatures): the shell may run it in
a process pool, since everything it takes and returns pickles.
"""

from __future__ import annotations

from gateway.core import receive, route, sign, validate, verify
from gateway.core.errors import GatewayError
from gateway.core.trace import Trail
from gateway.core.values import Accepted, Context, Rejected, Submission

__all__ = ["process"]


def process(submission: Submission, ctx: Context) -> Accepted | Rejected:
    """Turn one submitted package into what the shell must commit, or into a refusal.

    Only GatewayErrors are refusals; any other exception is a bug and propagates (the shell
    answers 500 and logs it).
    """
    trail = Trail(ctx.node, ctx.ids(), ctx.now)
    try:
        received = receive.receive(submission, ctx, trail)
        report = validate.validate(received, submission, trail)
        signatures = verify.verify(received, submission, ctx, trail)
        sealed = sign.seal(received, ctx, trail)
        routing = route.route(received, sealed, submission, ctx, trail)
    except GatewayError as error:
        return Rejected(
            error=error.problem(), trace=trail.events, doc_id=trail.doc_id, timings=trail.timings
        )
    return Accepted(
        message=receive.message(
            received,
            doc_id=trail.doc_id,
            blob_key=sealed.blob_key,
            submission=submission,
            ctx=ctx,
            signature=verify.verdict(signatures),
        ),
        sealed=sealed.data,
        deliveries=routing.deliveries,
        outbox=routing.outbox,
        trace=trail.events,
        status=receive.status_event(received, doc_id=trail.doc_id, ctx=ctx),
        original=receive.original(received, ctx),
        warnings=report.warnings + signatures.findings,
        timings=trail.timings,
    )
