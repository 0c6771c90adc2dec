"""The drop folder's pure parts: safe names, atomic writes, configuration, reasons."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from adapters.dropfolder.config import DropFolderConfig, check_folders
from adapters.dropfolder.errors import DropFolderError, from_exception
from adapters.dropfolder.files import move, safe_name, unique_name, write_atomic
from adapters.sdk import Forbidden, ReceiptError, UsageError
from edxml import EdxmlError, parse
from tests.adapters.dropfolder.test_kill9 import _complete


@pytest.mark.parametrize(
    ("claimed", "expected"),
    [
        ("cv12.pdf", "cv12.pdf"),
        ("../../etc/passwd", "passwd"),
        ("C:\\Windows\\system32\\evil.dll", "evil.dll"),
        (".bashrc", "bashrc"),
        ("bad<>:|?*.doc", "bad______.doc"),
        ("CON", "fallback"),
        ("nul.txt", "fallback"),
        ("", "fallback"),
        (None, "fallback"),
        ("   ", "fallback"),
        ("Quyết định số 12.pdf", "Quyết định số 12.pdf"),
        ("a\x00b\nc.pdf", "a_b_c.pdf"),
    ],
)
def test_names_from_remote_packages_are_made_safe(claimed: str | None, expected: str) -> None:
    assert safe_name(claimed, "fallback") == expected


def test_long_names_keep_their_extension() -> None:
    name = safe_name("ư" * 300 + ".pdf", "x")
    assert name.endswith(".pdf") and len(name.encode()) <= 200


def test_unique_names() -> None:
    assert unique_name("a.pdf", set()) == "a.pdf"
    assert unique_name("a.pdf", {"a.pdf", "a (2).pdf"}) == "a (3).pdf"
    assert unique_name("README", {"README"}) == "README (2)"


def test_atomic_write_and_durable_move(tmp_path: Path) -> None:
    target = tmp_path / "x.json"
    write_atomic(target, b"one")
    write_atomic(target, b"two")
    assert target.read_bytes() == b"two"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["x.json"]  # no temporary left
    move(target, tmp_path / "sub" / "y.json")
    assert (tmp_path / "sub" / "y.json").read_bytes() == b"two" and not target.exists()


def test_configuration(tmp_path: Path) -> None:
    path = tmp_path / "dropfolder.toml"
    path.write_text(
        'root = "tree"\norgans = ["000.21.31.H53"]\nsettle_seconds = 0\n'
        '[gateway]\nurl = "https://gw.example"\ntoken_file = "token.txt"\n'
    )
    (tmp_path / "token.txt").write_text("t0k\n")
    config = DropFolderConfig.from_file(path, {})
    assert config.root == tmp_path / "tree" and config.client.token == "t0k"
    assert (config.organs, config.settle_seconds, config.send_received_status) == (
        ("000.21.31.H53",),
        0.0,
        True,
    )
    check_folders(config)
    assert sorted(p.name for p in (tmp_path / "tree").iterdir()) == [
        ".edxgw",
        "failed",
        "inbox",
        "outbox",
        "sent",
        "status",
    ]
    # Without [gateway], the EDXGW_* environment.
    path.write_text('root = "tree"\n')
    env = {"EDXGW_URL": "http://gw:8080", "EDXGW_TOKEN": "e"}
    assert DropFolderConfig.from_file(path, env).client.url == "http://gw:8080"
    for bad, message in [
        ('root = "t"\nreceive = "yes"\n', "bad drop-folder setting"),
        ('organs = "x"\nroot = "t"\n', "organs must be a list"),
        ("poll = 1\n", "unknown drop-folder settings: poll"),
        ("[gateway]\n", "root is required"),
        ("root = [\n", "not valid TOML"),
    ]:
        path.write_text(bad)
        with pytest.raises(UsageError, match=message):
            DropFolderConfig.from_file(path, env)


def test_reasons_keep_the_gateways_problem() -> None:
    refused = Forbidden(
        403,
        {
            "code": "receive.sender_not_registered",
            "message_vi": "Không được gửi",
            "message_en": "May not send",
            "doc_id": "d-1",
            "issues": [{"code": "x"}],
        },
    )
    reason = json.loads(from_exception(refused).to_json())
    assert reason == {
        "code": "receive.sender_not_registered",
        "message_vi": "Không được gửi",
        "message_en": "May not send",
        "retryable": False,
        "doc_id": "d-1",
        "issues": [{"code": "x"}],
    }
    local = from_exception(DropFolderError("dropfolder.bad_status", "vi", "en"))
    assert (local.code, local.message_vi) == ("dropfolder.bad_status", "vi")
    with pytest.raises(EdxmlError) as caught:
        parse(b"<x/>")
    assert from_exception(caught.value).code.startswith("edxml.")
    receipt = from_exception(ReceiptError("bad", "hỏng", None))
    assert receipt.code == "sdk.receipt_invalid" and "safe" in receipt.message_en
    with pytest.raises(TypeError):
        from_exception(RuntimeError("a bug"))


def test_the_watcher_of_the_kill_test_sees_partial_folders(tmp_path: Path) -> None:
    folder = tmp_path / "d"
    folder.mkdir()
    assert _complete(folder) == f"missing {folder / 'document.json'}"
    meta = {"attachments": [{"file": "files/a.pdf", "size": 3}]}
    (folder / "document.json").write_text(json.dumps(meta))
    assert _complete(folder) == "no package.edxml"
    (folder / "package.edxml").write_bytes(b"<x/>")
    (folder / "files").mkdir()
    (folder / "files" / "a.pdf").write_bytes(b"ab")
    assert _complete(folder) == "files/a.pdf has the wrong size"
    (folder / "files" / "a.pdf").write_bytes(b"abc")
    assert _complete(folder) is None
