"""The SDK works with only edxml and httpx importable, and its README examples run.

Each check runs a fresh interpreter whose import system refuses the gateway and every server
library (a meta-path finder raising ImportError), so an accidental ``import gateway...`` or
``aiohttp`` anywhere on the SDK's paths fails here, not at a vendor's site.
"""

from __future__ import annotations

import asyncio
import os
import re
import sys
from pathlib import Path

import pytest

from tests.adapters.sdk.fixtures import HUYEN, ROOT, XA, Served, wait_for

EXAMPLES = ROOT / "adapters" / "sdk" / "examples"
#: What an SDK user need not have installed.
BLOCKED = ("gateway", "aiohttp", "aio_pika", "aiormq", "asyncpg", "requests", "tests")

_GUARD = f"""
import importlib.abc, runpy, sys
BLOCKED = {BLOCKED!r}
class Block(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in BLOCKED:
            raise ImportError(f"{{name}} is not available to the SDK")
        return None
sys.meta_path.insert(0, Block())
sys.path = [p for p in sys.path if p not in ("", ".")]
script, *args = sys.argv[1:]
sys.argv = [script, *args]
try:
    if script == "-":
        exec(sys.stdin.read())
    else:
        runpy.run_path(script, run_name="__main__")
finally:
    leaked = sorted(m for m in sys.modules if m.split(".")[0] in BLOCKED)
    assert not leaked, leaked
"""


async def _run(
    script: str, *args: str, env: dict[str, str] | None = None, stdin: str = ""
) -> tuple[int, str, str]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        _GUARD,
        script,
        *args,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env={"PATH": os.environ.get("PATH", ""), **(env or {})},
        cwd="/",
    )
    out, err = await asyncio.wait_for(proc.communicate(stdin.encode()), 120)
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


async def test_the_sdk_composes_and_signs_without_the_gateway(tmp_path: Path) -> None:
    code = f"""
from adapters.sdk import Client, ClientConfig, compose, KeyPair
from pathlib import Path
key = KeyPair(Path({str(ROOT / "certs/dev" / f"agency-{XA}.key")!r}),
              Path({str(ROOT / "certs/dev" / f"agency-{XA}.crt")!r})).load()
out = compose.document(sender={XA!r}, recipients=[{HUYEN!r}], subject="s", code="1/UBND",
                       signer="A", key=key)
Client(ClientConfig(url="http://127.0.0.1:9")).close()
print("signed by", out.signed_by)
"""
    rc, out, err = await _run("-", stdin=code)
    assert rc == 0, err
    assert out.strip() == f"signed by {XA}"
    # The guard itself works: importing the gateway under it fails.
    rc, _, err = await _run("-", stdin="import gateway.core\n")
    assert rc != 0 and "not available to the SDK" in err


@pytest.mark.rabbitmq
async def test_the_readme_examples_run_against_a_gateway(served: Served, tmp_path: Path) -> None:
    pdf = tmp_path / "cv77.pdf"
    pdf.write_bytes(b"%PDF-1.4 example")

    # 1. The commune sends a signed document and keeps the receipt.
    rc, out, err = await _run(
        str(EXAMPLES / "send_document.py"),
        *("--from", XA, "--to", HUYEN, "--code", "77/UBND-VP"),
        *("--subject", "V/v ví dụ của SDK", str(pdf)),
        env=served.env("xa"),
    )
    assert rc == 0, err
    match = re.fullmatch(rf"doc_id=(\S+) duplicate=False recipients={HUYEN} \(local\)\n", out)
    assert match, out
    doc_id = match.group(1)
    assert f'"doc_id": "{doc_id}"' in (tmp_path / "cv77.pdf.receipt.json").read_text()

    # 2. The district receives it (asyncio example): files saved, acknowledged, 01 sent.
    items = served.gateway

    async def delivered() -> bool:
        return any(i["doc_id"] == doc_id for i in await items.inbox("huyen"))

    await wait_for(delivered, 20, "the example's delivery")
    folder = tmp_path / "received"
    rc, out, err = await _run(
        str(EXAMPLES / "receive_async.py"), str(folder), env=served.env("huyen")
    )
    assert rc == 0, err
    assert f"document {doc_id} 77/UBND-VP from {XA}: V/v ví dụ của SDK" in out
    assert out.rstrip().endswith("1 document(s) received")
    assert (folder / doc_id / "cv77.pdf").read_bytes() == pdf.read_bytes()
    [item] = await items.inbox("huyen")
    assert item["state"] == "done"

    # 3. The commune tracks it: delivered and acknowledged, progress 01.
    rc, out, err = await _run(str(EXAMPLES / "track.py"), doc_id, env=served.env("xa"))
    assert rc == 0, err
    assert f"{HUYEN}: delivery done, progress 01 (Đã đến)" in out
