"""gateway/loop.py: the event loop ``edxgw serve`` runs on (the real serve test checks the
banner names uvloop)."""

from __future__ import annotations

import asyncio
import logging
import sys

import pytest
import uvloop

from gateway.loop import loop_kind, new_event_loop


def _run(loop: asyncio.AbstractEventLoop) -> int:
    async def work() -> int:
        # What the gateway asks of its loop besides sockets: a thread hop and a timer.
        value = await asyncio.to_thread(lambda: 41)
        await asyncio.sleep(0)
        return value + 1

    try:
        return loop.run_until_complete(work())
    finally:
        loop.close()


def test_uvloop_is_the_default_and_runs_the_gateways_kind_of_work() -> None:
    loop = new_event_loop()
    assert isinstance(loop, uvloop.Loop) and loop_kind(loop) == "uvloop"
    assert _run(loop) == 42


def test_asyncio_on_request() -> None:
    loop = new_event_loop("asyncio")
    assert not isinstance(loop, uvloop.Loop) and loop_kind(loop) == "asyncio"
    assert _run(loop) == 42


def test_without_uvloop_installed_it_falls_back_and_says_so(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setitem(sys.modules, "uvloop", None)  # import uvloop -> ImportError
    with caplog.at_level(logging.WARNING, logger="gateway.loop"):
        loop = new_event_loop("uvloop")
    assert loop_kind(loop) == "asyncio"
    assert _run(loop) == 42
    assert "uvloop package is not installed" in caplog.text


def test_unknown_kind_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown event loop"):
        new_event_loop("trio")


class _Cycle:
    def __init__(self) -> None:
        self.me = self


def test_freeze_heap_takes_live_objects_out_of_the_walks_and_rejudges_them_next_time() -> None:
    import gc
    import weakref

    from gateway.loop import freeze_heap

    try:
        kept = _Cycle()
        dropped = _Cycle()
        gone = weakref.ref(dropped)
        frozen = freeze_heap()
        assert frozen == gc.get_freeze_count() > 0
        assert all(o is not kept for o in gc.get_objects())  # not walked any more
        del dropped
        gc.collect()
        assert gone() is not None  # frozen garbage survives a collection...
        freeze_heap()
        assert gone() is None  # ...until the next freeze judges it again
        assert kept.me is kept
    finally:
        gc.unfreeze()
