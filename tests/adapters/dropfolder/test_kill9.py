"""kill -9 the drop-folder daemons at random moments, restart them, and lose nothing.

Two daemons run as real processes (``python -m adapters.dropfolder``): the commune's, sending
documents dropped in its outbox/ (signed .edxml packages and TOML descriptions with an
attachment), and the district's, placing them in its inbox/ and answering 01. While files keep
arriving, one or both are killed with SIGKILL at a random moment after start-up, and
restarted. At the end each dropped file is in sent/ exactly once with its receipt, each
document reached the district exactly once (one delivery, one inbox folder, one status 01),
and a watcher that listed the district's inbox/ all along never saw a partial folder.

The seed is in every assertion message: ``EDXGW_KILL9_SEED=<seed>`` replays the same moments.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import signal
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from adapters.sdk import compose
from tests.adapters.dropfolder.conftest import Tree
from tests.adapters.sdk.fixtures import HUYEN, XA, Served, key_pair, wait_for

pytestmark = [pytest.mark.rabbitmq, pytest.mark.slow]

DOCUMENTS = 36
CYCLES = 14


class Daemons:
    """The two daemon processes, started and killed by the test."""

    def __init__(self, configs: dict[str, Path], logs: Path) -> None:
        self.configs = configs
        self.logs = logs
        self.procs: dict[str, asyncio.subprocess.Process] = {}
        self.kills = 0

    async def start(self, side: str) -> None:
        if side in self.procs:
            return
        log = (self.logs / f"{side}.log").open("ab")
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "adapters.dropfolder",
            "--config", str(self.configs[side]), "--log-level", "INFO",
            stdout=log, stderr=log,
        )  # fmt: skip
        log.close()
        self.procs[side] = proc
        lock = self.configs[side].parent / side / ".edxgw" / "lock"

        async def running() -> bool:  # the daemon writes its pid once it holds the lock
            if proc.returncode is not None:
                raise AssertionError(f"{side} exited with {proc.returncode}")
            return lock.exists() and lock.read_text().strip() == str(proc.pid)

        await wait_for(running, 30, f"the {side} daemon to start")

    async def kill(self, side: str) -> None:
        proc = self.procs.pop(side, None)
        if proc is None:
            return
        proc.send_signal(signal.SIGKILL)
        await proc.wait()
        self.kills += 1

    async def stop_all(self) -> list[int | None]:
        codes = []
        for side in list(self.procs):
            proc = self.procs.pop(side)
            proc.send_signal(signal.SIGTERM)
            codes.append(await asyncio.wait_for(proc.wait(), 30))
        return codes


def _drop(outbox: Path, n: int) -> str:
    """Document ``n`` into the outbox, written atomically as a legacy system should."""
    if n % 2:
        (outbox / f".vb{n}.pdf").write_bytes(b"%PDF-1.4 " + bytes([n]) * 3000)
        os.rename(outbox / f".vb{n}.pdf", outbox / f"vb{n}.pdf")
        name = f"vb{n}.toml"
        text = (
            f'from = "{XA}"\nto = ["{HUYEN}"]\nsubject = "Văn bản {n}"\n'
            f'code = "{n}/UBND-VP"\nsigner = "Nguyễn Văn A"\nfiles = ["vb{n}.pdf"]\n'
        )
        data = text.encode()
    else:
        name = f"vb{n}.edxml"
        data = compose.document(
            sender=XA, recipients=[HUYEN], subject=f"Văn bản {n}", code=f"{n}/UBND-VP",
            signer="Nguyễn Văn A", key=key_pair(XA).load(),
        ).data  # fmt: skip
    (outbox / f".{name}").write_bytes(data)
    os.rename(outbox / f".{name}", outbox / name)
    return name


def _complete(folder: Path) -> str | None:
    """Why a folder visible in inbox/ is not whole (None when it is)."""
    try:
        meta = json.loads((folder / "document.json").read_text(encoding="utf-8"))
        if not (folder / "package.edxml").is_file():
            return "no package.edxml"
        for att in meta["attachments"]:
            if (folder / att["file"]).stat().st_size != att["size"]:
                return f"{att['file']} has the wrong size"
    except FileNotFoundError as exc:
        return f"missing {exc.filename}"
    except (ValueError, KeyError) as exc:
        return f"document.json unreadable: {exc!r}"
    return None


async def _watch(inbox: Path, sent: Path, seen: dict[str, str], stop: asyncio.Event) -> None:
    """List the district's inbox/ and the commune's sent/ all along; record any partial view."""
    while not stop.is_set():
        for folder in inbox.iterdir() if inbox.exists() else ():
            if folder.name not in seen:
                problem = _complete(folder)
                seen[folder.name] = problem or "ok"
        for f in sent.iterdir() if sent.exists() else ():
            # A dropped file is moved to sent/ last, after its receipt (the commit point).
            source = f.suffix in (".edxml", ".toml") and not f.name.endswith(".toml.edxml")
            if source and not (sent / f"{f.name}.receipt.json").exists():
                seen[f"sent/{f.name}"] = "in sent/ without its receipt"
        await asyncio.sleep(0.005)


async def test_kill_9_loses_nothing_and_duplicates_nothing(
    served: Served, tree: Tree, tmp_path: Path
) -> None:
    seed = int(os.environ.get("EDXGW_KILL9_SEED") or random.randrange(2**32))
    rng = random.Random(seed)
    why = f"(EDXGW_KILL9_SEED={seed})"
    configs = {"xa": tree("xa", organs=[XA]), "huyen": tree("huyen")}
    a, b = tmp_path / "xa", tmp_path / "huyen"
    daemons = Daemons(configs, tmp_path)
    await daemons.start("xa")
    await daemons.start("huyen")

    seen: dict[str, str] = {}
    stop = asyncio.Event()
    watcher = asyncio.create_task(_watch(b / "inbox", a / "sent", seen, stop))
    dropped: list[str] = []
    batches = [DOCUMENTS // CYCLES + (i < DOCUMENTS % CYCLES) for i in range(CYCLES)]
    try:
        for batch in batches:
            for _ in range(batch):
                dropped.append(_drop(a / "outbox", len(dropped) + 1))
            await daemons.start("xa")
            await daemons.start("huyen")
            await asyncio.sleep(rng.uniform(0.0, 0.6))
            for side in rng.choice([["xa"], ["huyen"], ["xa", "huyen"]]):
                await daemons.kill(side)
        await daemons.start("xa")
        await daemons.start("huyen")

        async def finished() -> bool:
            sources = [p for p in (a / "sent").iterdir() if p.name in dropped]
            folders = list((b / "inbox").iterdir())
            statuses = await served.gateway.inbox("xa", kind="status", limit=1000)
            return (
                len(sources) == DOCUMENTS
                and len(folders) == DOCUMENTS
                and len(statuses) >= DOCUMENTS
                and not any((b / ".edxgw" / "work").iterdir())
            )

        await wait_for(finished, 120, f"every document sent, received and answered {why}")
        assert await daemons.stop_all() == [0, 0], why  # SIGTERM: a clean stop
    finally:
        stop.set()
        await watcher
        for side in list(daemons.procs):
            await daemons.kill(side)

    assert daemons.kills >= CYCLES, why
    # Each dropped file in sent/ exactly once (no "(2)" copies), with its receipt; none failed.
    sent = sorted(p.name for p in (a / "sent").iterdir())
    assert sorted(n for n in sent if n in dropped) == sorted(dropped), why
    assert not [n for n in sent if " (" in n], why
    assert list((a / "failed").iterdir()) == [], why
    assert [p.name for p in (a / "outbox").iterdir() if not p.name.startswith(".")] == [], why
    receipts = {n: json.loads((a / "sent" / f"{n}.receipt.json").read_text()) for n in dropped}
    doc_ids = {r["doc_id"] for r in receipts.values()}
    assert len(doc_ids) == DOCUMENTS, why

    # Each document delivered once to the district, acknowledged, placed once in its inbox/.
    items = await served.gateway.inbox("huyen", kind="edoc", limit=1000)
    assert Counter(i["doc_id"] for i in items) == Counter(doc_ids), why
    assert {i["state"] for i in items} == {"done"}, why
    folders = {
        json.loads((f / "document.json").read_text())["doc_id"]: f.name
        for f in (b / "inbox").iterdir()
    }
    assert len(list((b / "inbox").iterdir())) == DOCUMENTS, why
    assert set(folders) == doc_ids, why
    assert not any((b / ".edxgw" / "tmp").iterdir()), why

    # One status 01 per document, whatever was killed when.
    for doc_id in doc_ids:
        tracking: dict[str, Any] = await served.gateway.get("xa", f"/api/v1/documents/{doc_id}")
        assert [s["code"] for s in tracking["statuses"]] == ["01"], (doc_id, why)

    # Nothing partial was ever visible.
    assert {k: v for k, v in seen.items() if v != "ok"} == {}, why
    assert len([k for k in seen if not k.startswith("sent/")]) == DOCUMENTS, why
