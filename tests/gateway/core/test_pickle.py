"""Everything process() takes and returns pickles, so the shell can use a process pool."""

from __future__ import annotations

import multiprocessing
import pickle
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor

from edxml.signature import SignaturePolicy
from edxml.validate import Mode
from gateway.core import Accepted, Context, Keys, Rejected, process
from gateway.core.deliver import Failure, decide
from tests.gateway.core.factories import NOW, submission
from tests.gateway.core.test_deliver import HEADERS, delivery


def roundtrip(value: object) -> object:
    return pickle.loads(pickle.dumps(value))


def test_submission_and_context_pickle(samples: dict[str, bytes], ctx: Context) -> None:
    sub = submission(
        samples["status.edxml"],
        "000.00.00.H41",
        mode=Mode.STRICT,
        signatures=SignaturePolicy.OFF,
    )
    assert roundtrip(sub) == sub
    copy = roundtrip(ctx)
    assert isinstance(copy, Context)
    assert copy.keys == ctx.keys and copy.now == ctx.now
    assert list(copy.directory) == list(ctx.directory)
    assert copy.directory.canonical("28.22.H17") == "000.00.00.H17"


def test_keys_load_once_per_process(keys: Keys) -> None:
    copy = roundtrip(keys)
    assert isinstance(copy, Keys)
    assert copy.signing_key is keys.signing_key  # same bytes → the cached object
    assert copy.trust is keys.trust
    assert "key_pem" not in repr(keys)


def test_results_pickle(samples: dict[str, bytes], ctx: Context) -> None:
    ok = process(submission(samples["status_cancellation_13.edxml"], "000.00.00.G22"), ctx)
    assert isinstance(ok, Accepted) and ok.status is not None
    assert roundtrip(ok) == ok
    refused = process(submission(samples["edoc.edxml"], "000.00.00.G22"), ctx)
    assert isinstance(refused, Rejected)
    assert roundtrip(refused) == refused
    decision = decide(delivery("queued"), HEADERS, node="n", now=NOW, failure=Failure("x.y", True))  # type: ignore[arg-type]
    assert roundtrip(decision) == decision


def test_process_runs_in_a_process_pool(
    samples: dict[str, bytes], make_ctx: Callable[..., Context]
) -> None:
    sub = submission(samples["edoc_replacement.edxml"], "000.00.00.G22")
    local = process(sub, make_ctx())
    spawn = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=1, mp_context=spawn) as pool:
        remote = pool.submit(process, sub, make_ctx()).result(timeout=60)
    assert remote == local


def test_pipe_values_pickle_by_field_tuple_not_dataclass_state(
    samples: dict[str, bytes], ctx: Context
) -> None:
    """gateway/pickling.py: what crosses the worker pipe is rebuilt from a tuple of field
    values (no dataclasses.fields() per object), equal to the original, still frozen."""
    import dataclasses

    import pytest

    from gateway.pickling import _rebuild

    ok = process(submission(samples["status_cancellation_13.edxml"], "000.00.00.G22"), ctx)
    assert isinstance(ok, Accepted)
    objects = [ok, ok.message, *ok.deliveries, *ok.outbox, *ok.trace, ok.status]
    for value in objects:
        reduced = value.__reduce__()
        assert reduced[0] is _rebuild and reduced[1][0] is type(value)
        copy = roundtrip(value)
        assert copy == value and type(copy) is type(value)
        # Frozen still (Python 3.11's slotted frozen dataclasses raise TypeError here).
        with pytest.raises((dataclasses.FrozenInstanceError, TypeError)):
            copy.doc_id = "other"  # type: ignore[union-attr,misc]
    # Fields hold what they held: the nested tuples and mappings come back as they were.
    copy = roundtrip(ok)
    assert isinstance(copy, Accepted)
    assert copy.trace[0].detail == ok.trace[0].detail
    assert copy.deliveries == ok.deliveries
