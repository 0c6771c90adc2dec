"""Run the core pipeline for one submission inside a process-pool worker, and store its blob there.

The event loop must not parse, validate, verify or seal (issue 3: "CPU-heavy stages must not
block the event loop"), so :func:`run` is what the shell sends to its ``ProcessPoolExecutor``.
It also does the CPU and disk work that follows directly from an acceptance, so that neither
the sealed bytes nor the work travel back to the event loop:

- writes the sealed package to the blob store (fsync'ed, before the store commit that will
  point at it: invariant §3.1), unless it is small (``inline_limit`` bytes or fewer): then the
  bytes go back to the hub, which commits them in the store's own transaction (no file, no
  fsync here; ``Store.accept(sealed=...)``);
- signs the acceptance receipt with the hub key (:mod:`gateway.core.receipt`): in the
  gateway's pool, the receipts of calls that queued up together with one signature over their
  Merkle tree (:func:`finish`; a call alone gets a plain signature);
- returns the :class:`~gateway.core.values.Accepted`, with ``sealed`` emptied when it went to
  a blob file.

Everything it takes and returns pickles. A submission spooled to a file (``path``) is read by
the worker from disk, so a 50 MB package is never pickled through the pool. In the gateway's
:class:`~gateway.service.pool.WorkerPool` the context's unchanging part (keys, directory)
travels once per worker (``WorkerPool.share``) and each call sends only its clock reading:
:func:`run_shared`.
"""

from __future__ import annotations

import dataclasses
import os
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from edxml.trust import SigningKey
from gateway.blobs import BlobStore
from gateway.core.pipeline import process
from gateway.core.receipt import receipt_payload, sign_receipts
from gateway.core.values import Accepted, Context, Rejected, Submission
from gateway.pickling import fast_pickle
from gateway.service.pool import batched, shared

__all__ = ["CONTEXT", "Outcome", "begin", "finish", "run", "run_shared"]

#: The name the hub shares its context under (gateway.service.pool.WorkerPool.share).
CONTEXT = "context"


@fast_pickle
@dataclass(frozen=True, slots=True)
class Outcome:
    """What came back from the worker: the core's answer, the receipt, and what it cost."""

    result: Accepted | Rejected
    receipt: dict[str, Any] | None
    cpu_seconds: float  # CPU time of the worker for this package (for the benchmark)
    worker_pid: int
    #: (stage, wall seconds): the core's stages, then ``blob`` and ``receipt`` (metrics).
    timings: tuple[tuple[str, float], ...] = ()


@dataclass(slots=True)
class _Begun:
    """One call's work done, its receipt still to sign (never leaves the worker)."""

    result: Accepted | Rejected
    payload: dict[str, Any] | None  # the receipt to sign, for an Accepted
    key: SigningKey
    cpu_seconds: float
    timings: tuple[tuple[str, float], ...]


def begin(
    submission: Submission, ctx: Context, blob_root: str, fsync: bool = True, inline_limit: int = 0
) -> _Begun:
    """Process, store the blob, state the receipt: everything but its signature."""
    started = time.process_time()
    result = process(submission, ctx)
    payload = None
    timings = result.timings
    if isinstance(result, Accepted):
        t0 = time.perf_counter()
        inline = len(result.sealed) <= inline_limit
        if not inline:
            BlobStore(Path(blob_root), fsync=fsync).put(result.message.blob_key, result.sealed)
        timings += (("blob", time.perf_counter() - t0),)
        payload = receipt_payload(
            result.message, hub=ctx.hub_organ_id, node=ctx.node, doc_id=result.doc_id
        )
        if not inline:
            result = dataclasses.replace(result, sealed=b"")
    cpu = time.process_time() - started
    return _Begun(result, payload, ctx.signing_key, cpu, timings)


def finish(begun: list[_Begun]) -> list[Outcome]:
    """Sign the receipts of every begun call with one signature (gateway.core.receipt)."""
    started, t0 = time.process_time(), time.perf_counter()
    # One batch shares one context: a share message ends a batch (pool._run_batch).
    payloads = [b.payload for b in begun if b.payload is not None]
    signed = iter(sign_receipts(payloads, begun[0].key) if payloads else ())
    took = time.perf_counter() - t0
    share = (time.process_time() - started) / len(begun)
    return [
        Outcome(
            b.result,
            next(signed) if b.payload is not None else None,
            b.cpu_seconds + share,
            os.getpid(),
            b.timings + ((("receipt", took),) if b.payload is not None else ()),
        )
        for b in begun
    ]


def run(
    submission: Submission, ctx: Context, blob_root: str, fsync: bool = True, inline_limit: int = 0
) -> Outcome:
    """One call, alone: :func:`begin` then :func:`finish`."""
    return finish([begin(submission, ctx, blob_root, fsync, inline_limit)])[0]


def begin_shared(
    submission: Submission, now: datetime, blob_root: str, fsync: bool = True, inline_limit: int = 0
) -> _Begun:
    """:func:`begin` with the context the hub shared with this worker, at the time ``now``."""
    base: Context = shared(CONTEXT)
    return begin(submission, dataclasses.replace(base, now=now), blob_root, fsync, inline_limit)


@batched(begin_shared, finish)
def run_shared(
    submission: Submission, now: datetime, blob_root: str, fsync: bool = True, inline_limit: int = 0
) -> Outcome:
    """:func:`run` with the context the hub shared with this worker, at the time ``now``.

    In the pool, calls that queue up together are begun one by one and finished together
    (gateway.service.pool.batched): one receipt signature for all of them.
    """
    return finish([begin_shared(submission, now, blob_root, fsync, inline_limit)])[0]
