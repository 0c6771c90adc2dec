"""The drop folder against a real gateway on the real RabbitMQ: documents and statuses both
ways, refusals into failed/, a gateway that is down, one daemon per tree, the command.

The daemon runs in a thread (one pass at a time, ``run(once=True)``): its client is
synchronous and the gateway under test shares this event loop.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
from pathlib import Path
from typing import Any

import pytest

from adapters.dropfolder import AlreadyRunning, Daemon, DropFolderConfig
from adapters.sdk import compose
from tests.adapters.dropfolder.conftest import Tree
from tests.adapters.sdk.fixtures import CERTS, HUYEN, TINH, XA, Served, key_pair, wait_for

pytestmark = pytest.mark.rabbitmq


def _config(path: Path) -> DropFolderConfig:
    return DropFolderConfig.from_file(path, {})


async def once(path: Path) -> None:
    """One pass of a daemon on the tree of ``path`` (a fresh process each time, as after a
    restart: nothing is carried in memory)."""

    def run() -> None:
        daemon = Daemon(_config(path))
        try:
            daemon.run(once=True)
        finally:
            daemon.close()

    await asyncio.to_thread(run)


def _json(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


async def _delivered(served: Served, system: str, count: int, **params: Any) -> list[Any]:
    async def probe() -> list[Any] | None:
        items = await served.gateway.inbox(system, **params)
        return items if len(items) >= count else None

    result: list[Any] = await wait_for(probe, 20, f"{count} item(s) for {system}")
    return result


async def test_documents_and_statuses_both_ways(served: Served, tree: Tree) -> None:
    a_cfg, b_cfg = tree("xa", organs=[XA]), tree("huyen")
    a, b = a_cfg.parent / "xa", b_cfg.parent / "huyen"
    await once(a_cfg)  # creates the folders
    assert sorted(p.name for p in a.iterdir()) == [
        ".edxgw", "failed", "inbox", "outbox", "sent", "status",
    ]  # fmt: skip

    # A TOML description with an attachment, and a ready-made signed package.
    (a / "outbox" / "cv12.pdf").write_bytes(b"%PDF-1.4 cong van 12")
    (a / "outbox" / "cv12.toml").write_text(
        f'from = "{XA}"\nto = ["{HUYEN}"]\nsubject = "V/v triển khai liên thông"\n'
        'code = "12/UBND-VP"\nsigner = { full_name = "Nguyễn Văn A", position = "Chủ tịch" }\n'
        'files = ["cv12.pdf"]\n',
        encoding="utf-8",
    )
    ready = compose.document(
        sender=XA, recipients=[HUYEN], subject="Gói soạn sẵn", code="13/UBND-VP", signer="B",
        key=key_pair(XA).load(),
    )  # fmt: skip
    (a / "outbox" / "goi-13.edxml").write_bytes(ready.data)
    (a / "outbox" / ".dang-ghi.edxml").write_bytes(b"partial")  # hidden: ignored
    await once(a_cfg)

    sent = sorted(p.name for p in (a / "sent").iterdir())
    assert sent == [
        "cv12.toml", "cv12.toml.edxml", "cv12.toml.files", "cv12.toml.receipt.json",
        "goi-13.edxml", "goi-13.edxml.receipt.json",
    ]  # fmt: skip
    assert sorted(p.name for p in (a / "outbox").iterdir()) == [".dang-ghi.edxml"]
    assert (a / "sent" / "cv12.toml.files" / "cv12.pdf").read_bytes() == b"%PDF-1.4 cong van 12"
    answer = _json(a / "sent" / "cv12.toml.receipt.json")
    assert answer["receipt"]["receipt"]["doc_id"] == answer["doc_id"]
    doc_id = answer["doc_id"]
    assert (a / "sent" / "goi-13.edxml").read_bytes() == ready.data
    assert list((a / ".edxgw" / "work").iterdir()) == []

    # The district's drop folder takes both into inbox/, acknowledges, answers 01.
    await _delivered(served, "huyen", 2)
    await once(b_cfg)
    folder = b / "inbox" / doc_id
    meta = _json(folder / "document.json")
    assert (meta["subject"], meta["code"], meta["from"]["organ_id"]) == (
        "V/v triển khai liên thông",
        "12/UBND-VP",
        XA,
    )
    assert meta["signer"]["position"] == "Chủ tịch"
    [att] = meta["attachments"]
    assert att["file"] == "files/cv12.pdf" and att["real_type"] == "application/pdf"
    assert (folder / "files" / "cv12.pdf").read_bytes() == b"%PDF-1.4 cong van 12"
    assert (folder / "package.edxml").exists()
    assert len(list((b / "inbox").iterdir())) == 2
    assert {i["state"] for i in await served.gateway.inbox("huyen")} == {"done"}
    tracking = await served.gateway.get("xa", f"/api/v1/documents/{doc_id}")
    assert [s["code"] for s in tracking["statuses"]] == ["01"]

    # The district reports 03 through status/; the commune receives it in its inbox/.
    (b / "status" / "tiep-nhan.toml").write_text(
        f'doc_id = "{doc_id}"\ncode = "03"\ncomment = "Đã tiếp nhận"\nstaff = "Trần Thị B"\n',
        encoding="utf-8",
    )
    await once(b_cfg)
    assert (b / "sent" / "tiep-nhan.toml.receipt.json").exists()
    assert (b / "sent" / "tiep-nhan.toml.edxml").exists()
    await _delivered(served, "xa", 3, kind="status")  # 01 for each document, and the 03
    await once(a_cfg)
    statuses = [_json(p / "status.json") for p in (a / "inbox").iterdir()]
    about = sorted((s["code"], s["original_doc_id"] == doc_id) for s in statuses)
    assert ("03", True) in about and ("01", True) in about
    three = next(s for s in statuses if s["code"] == "03")
    assert (three["from"]["organ_id"], three["description"]) == (HUYEN, "Đã tiếp nhận")
    assert three["staff"] == {"staff": "Trần Thị B"}

    # The commune recalls it (13; to the only recipient); the district sees the request in
    # its inbox/, with the DocId to answer, and agrees (15).
    (a / "status" / "thu-hoi.toml").write_text(
        f'doc_id = "{doc_id}"\ncode = "13"\ncomment = "Sai sót"\n', encoding="utf-8"
    )
    await once(a_cfg)
    assert (a / "sent" / "thu-hoi.toml.receipt.json").exists(), list((a / "failed").iterdir())
    await _delivered(served, "huyen", 1, kind="status")
    await once(b_cfg)
    [recall] = [
        _json(p / "status.json") for p in (b / "inbox").iterdir() if (p / "status.json").exists()
    ]
    assert (recall["code"], recall["from"]["organ_id"], recall["original_doc_id"]) == (
        "13",
        XA,
        doc_id,
    )
    (b / "status" / "dong-y.toml").write_text(
        f'doc_id = "{recall["original_doc_id"]}"\ncode = "15"\n', encoding="utf-8"
    )
    await once(b_cfg)
    assert (b / "sent" / "dong-y.toml.receipt.json").exists(), list((b / "failed").iterdir())
    tracking = await served.gateway.get("xa", f"/api/v1/documents/{doc_id}")
    progress = tracking["recipients"][0]["progress"]
    assert (progress["level"], progress["change_state"]) == ("03", "15")


async def test_refusals_go_to_failed_with_a_reason(served: Served, tree: Tree) -> None:
    cfg = tree("xa", organs=[XA])
    root = cfg.parent / "xa"
    await once(cfg)
    outbox = root / "outbox"
    (outbox / "hong.toml").write_text("subject = [unclosed\n", encoding="utf-8")
    (outbox / "thieu-tep.toml").write_text(
        f'from = "{XA}"\nto = ["{HUYEN}"]\nsubject = "s"\ncode = "1/UBND"\nsigner = "A"\n'
        'files = ["khong-co.pdf"]\n',
        encoding="utf-8",
    )
    (outbox / "ra-ngoai.toml").write_text(
        f'from = "{XA}"\nto = ["{HUYEN}"]\nsubject = "s"\ncode = "1/UBND"\nsigner = "A"\n'
        'files = ["../../etc/passwd"]\n',
        encoding="utf-8",
    )
    not_ours = compose.document(
        sender=TINH, recipients=[HUYEN], subject="s", code="2/UBND", signer="A"
    )
    (outbox / "khong-phai-cua-minh.edxml").write_bytes(not_ours.data)
    (outbox / "rac.edxml").write_bytes(b"this is no XML")
    (root / "status" / "la.toml").write_text('doc_id = "khong-co"\ncode = "03"\n')
    (root / "status" / "ma-sai.toml").write_text('doc_id = "x"\ncode = "07"\n')
    await once(cfg)

    codes = {
        p.name.removesuffix(".reason.json"): _json(p)["code"]
        for p in (root / "failed").glob("*.reason.json")
    }
    assert codes == {
        "hong.toml": "dropfolder.bad_description",
        "thieu-tep.toml": "dropfolder.attachment_missing",
        "ra-ngoai.toml": "dropfolder.attachment_missing",
        "khong-phai-cua-minh.edxml": "receive.sender_not_registered",
        "rac.edxml": codes.get("rac.edxml", "edxml.?"),
        "la.toml": "dropfolder.unknown_document",
        "ma-sai.toml": "dropfolder.bad_status",
    }
    assert codes["rac.edxml"].startswith("edxml.")
    refused = _json(root / "failed" / "khong-phai-cua-minh.edxml.reason.json")
    assert refused["doc_id"] and refused["message_vi"] and refused["message_en"]
    for name in codes:
        assert (root / "failed" / name).is_file()  # the file itself is next to its reason
    assert list((root / "sent").iterdir()) == []
    assert sorted(p.name for p in (root / "outbox").iterdir()) == []
    assert await served.gateway.inbox("huyen") == []

    # The same name again: the second one does not overwrite the first.
    (outbox / "hong.toml").write_text("still = [broken\n", encoding="utf-8")
    await once(cfg)
    assert (root / "failed" / "hong (2).toml").read_text() == "still = [broken\n"
    assert (root / "failed" / "hong (2).toml.reason.json").exists()


async def test_a_gateway_that_is_down_delays_and_nothing_fails(
    served: Served, tree: Tree, tmp_path: Path
) -> None:
    cfg = tree("xa", organs=[XA], receive=False)
    root = cfg.parent / "xa"
    good = cfg.read_text()
    cfg.write_text(good.replace(served.url, "http://127.0.0.1:9"))  # nothing listens there
    await once(cfg)
    doc = compose.document(
        sender=XA, recipients=[HUYEN], subject="Chờ trục", code="5/UBND", signer="A",
        key=key_pair(XA).load(),
    )  # fmt: skip
    (root / "outbox" / "cho.edxml").write_bytes(doc.data)
    await once(cfg)
    await once(cfg)
    assert list((root / "failed").iterdir()) == [] and list((root / "sent").iterdir()) == []
    [work] = (root / ".edxgw" / "work").iterdir()  # claimed, waiting
    assert (work / "source" / "cho.edxml").exists()

    cfg.write_text(good)  # the gateway is back (and the daemon restarted)
    await asyncio.sleep(0.3)  # past the retry delay (retry_max_seconds = 0.2)
    await once(cfg)
    assert sorted(p.name for p in (root / "sent").iterdir()) == [
        "cho.edxml",
        "cho.edxml.receipt.json",
    ]
    [item] = await _delivered(served, "huyen", 1)
    assert item["subject"] == "Chờ trục"


async def test_one_daemon_per_tree_and_the_command(served: Served, tree: Tree) -> None:
    cfg = tree("huyen")
    first = Daemon(_config(cfg))
    try:
        with pytest.raises(AlreadyRunning):
            Daemon(_config(cfg))
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "adapters.dropfolder", "--config", str(cfg), "--once",
            stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
        _, err = await proc.communicate()
        assert proc.returncode == 3 and "Another drop-folder daemon" in err.decode()
    finally:
        first.close()

    bad = cfg.parent / "bad.toml"
    bad.write_text('root = "x"\ncolour = "red"\n[gateway]\nurl = "http://x"\n')
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "adapters.dropfolder", "--config", str(bad), "--init",
        stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    _, err = await proc.communicate()
    assert proc.returncode == 2 and "unknown drop-folder settings: colour" in err.decode()

    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "adapters.dropfolder", "--config", str(cfg), "--init",
        stdout=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, _ = await proc.communicate()
    assert proc.returncode == 0
    assert [Path(p).name for p in out.decode().split()] == [
        "outbox", "sent", "failed", "inbox", "status",
    ]  # fmt: skip
    assert os.access(cfg.parent / "huyen" / "inbox", os.W_OK)
    assert CERTS.exists()
