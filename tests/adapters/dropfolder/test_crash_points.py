"""The crash windows a random kill rarely hits, hit on purpose: the daemon dies (a
BaseException nothing catches, as SIGKILL) at one exact point, and a fresh daemon recovers."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from adapters.dropfolder import sink as sink_module
from adapters.dropfolder.journal import Journal
from adapters.sdk import compose
from tests.adapters.dropfolder.conftest import Tree
from tests.adapters.dropfolder.test_daemon import _delivered, once
from tests.adapters.sdk.fixtures import HUYEN, XA, Served, key_pair

pytestmark = pytest.mark.rabbitmq


class Killed(BaseException):
    """The process died here."""


def _die_once(monkeypatch: pytest.MonkeyPatch, owner: Any, name: str) -> list[int]:
    calls: list[int] = []
    original = getattr(owner, name)

    def dying(*args: Any, **kwargs: Any) -> Any:
        calls.append(1)
        if len(calls) == 1:
            raise Killed(name)
        return original(*args, **kwargs)

    monkeypatch.setattr(owner, name, dying)
    return calls


async def _send_one(root: Path, cfg: Path, number: int) -> None:
    out = compose.document(
        sender=XA, recipients=[HUYEN], subject=f"Văn bản {number}", code=f"{number}/UBND",
        signer="A", key=key_pair(XA).load(),
    )  # fmt: skip
    (root / "outbox" / f"vb{number}.edxml").write_bytes(out.data)


async def test_killed_between_the_gateways_answer_and_the_journal(
    served: Served, tree: Tree, monkeypatch: pytest.MonkeyPatch
) -> None:
    cfg = tree("xa", organs=[XA], receive=False)
    root = cfg.parent / "xa"
    await once(cfg)
    await _send_one(root, cfg, 1)
    _die_once(monkeypatch, Journal, "submitted")
    with pytest.raises(Killed):
        await once(cfg)
    assert list((root / "sent").iterdir()) == []  # accepted, but we do not know it yet
    await once(cfg)  # restarted: the same bytes again, recognised by the gateway
    answer = json.loads((root / "sent" / "vb1.edxml.receipt.json").read_text())
    assert answer["duplicate"] is True
    [item] = await _delivered(served, "huyen", 1)
    assert item["doc_id"] == answer["doc_id"]


async def test_killed_after_the_moves_before_the_journal(
    served: Served, tree: Tree, monkeypatch: pytest.MonkeyPatch
) -> None:
    cfg = tree("xa", organs=[XA], receive=False)
    root = cfg.parent / "xa"
    await once(cfg)
    await _send_one(root, cfg, 2)
    _die_once(monkeypatch, Journal, "finish_outgoing")
    with pytest.raises(Killed):
        await once(cfg)
    await once(cfg)
    assert sorted(p.name for p in (root / "sent").iterdir()) == [
        "vb2.edxml",
        "vb2.edxml.receipt.json",
    ]
    assert list((root / ".edxgw" / "work").iterdir()) == []


@pytest.mark.parametrize("taken_away", [False, True], ids=["left", "taken-away"])
async def test_killed_after_the_rename_into_inbox(
    served: Served, tree: Tree, monkeypatch: pytest.MonkeyPatch, taken_away: bool
) -> None:
    a_cfg, b_cfg = tree("xa", organs=[XA], receive=False), tree("huyen")
    a, b = a_cfg.parent / "xa", b_cfg.parent / "huyen"
    await once(a_cfg)
    await _send_one(a, a_cfg, 3)
    await once(a_cfg)
    await _delivered(served, "huyen", 1)
    calls = _die_once(monkeypatch, Journal, "placed")
    with pytest.raises(Killed):
        await once(b_cfg)
    [folder] = (b / "inbox").iterdir()  # renamed: visible, whole
    if taken_away:  # the legacy system took it before the daemon came back
        for f in sorted(folder.rglob("*"), reverse=True):
            f.rmdir() if f.is_dir() else f.unlink()
        folder.rmdir()
    await once(b_cfg)
    assert len(calls) >= 2
    assert len(list((b / "inbox").iterdir())) == (0 if taken_away else 1)  # never twice
    [item] = await served.gateway.inbox("huyen")
    assert item["state"] == "done"
    tracking = await served.gateway.get("xa", f"/api/v1/documents/{item['doc_id']}")
    assert [s["code"] for s in tracking["statuses"]] == ["01"]


async def test_killed_before_the_rename_into_inbox(
    served: Served, tree: Tree, monkeypatch: pytest.MonkeyPatch
) -> None:
    a_cfg, b_cfg = tree("xa", organs=[XA], receive=False), tree("huyen")
    a, b = a_cfg.parent / "xa", b_cfg.parent / "huyen"
    await once(a_cfg)
    await _send_one(a, a_cfg, 4)
    await once(a_cfg)
    await _delivered(served, "huyen", 1)
    _die_once(monkeypatch, sink_module, "move")
    with pytest.raises(Killed):
        await once(b_cfg)
    assert list((b / "inbox").iterdir()) == []
    assert len(list((b / ".edxgw" / "tmp").iterdir())) == 1  # the half-done folder, hidden
    await once(b_cfg)
    [folder] = (b / "inbox").iterdir()
    assert (folder / "document.json").exists()
    assert list((b / ".edxgw" / "tmp").iterdir()) == []
    assert list((b / ".edxgw" / "work").iterdir()) == []  # the first 01 was never sent
    [item] = await served.gateway.inbox("huyen")
    assert item["state"] == "done"
    tracking = await served.gateway.get("xa", f"/api/v1/documents/{item['doc_id']}")
    assert [s["code"] for s in tracking["statuses"]] == ["01"]
