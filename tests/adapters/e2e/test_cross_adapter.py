"""THE cross-adapter test: four agencies, each on another adapter, exchange documents and
statuses with each other through one gateway on the real RabbitMQ (issue 6, "done when").

    agency                          adapter       receives by              answers by
    UBND tỉnh       000.00.00.H53   SDK           pulling the REST inbox   SDK (REST)
    UBND xã         000.21.31.H53   drop folder   inbox/ folders           automatic 01, status/
    UBND huyện      000.00.31.H53   webhook       HTTPS-less push (HMAC)   SDK (REST)
    Văn phòng UBND  000.00.01.H53   AMQP          its own queue and user   SDK (REST)

Each sends one document to the three others; each recipient acknowledges it and answers 01
and 06; every status reaches the document's sender through the sender's own adapter.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from adapters.amqp import user_name
from adapters.amqp.admin import Rabbitmqctl
from adapters.amqp.source import AgencyQueue
from adapters.dropfolder import Daemon, DropFolderConfig
from adapters.sdk import AsyncClient, ClientConfig
from adapters.webhook.receiver import Push, receiver
from edxml import parse
from edxml.model import DocumentPackage, StatusPackage
from tests.adapters.dropfolder.conftest import write_config
from tests.adapters.sdk.fixtures import CERTS, Served
from tests.gateway.e2e.conftest import Gateway, GatewayFactory, wait_for

from ..hubs import aadmin, node_sees_mode, secret_from, serve

pytestmark = [pytest.mark.rabbitmq, pytest.mark.slow]

TINH = "000.00.00.H53"  # SDK
XA = "000.21.31.H53"  # drop folder
HUYEN = "000.00.31.H53"  # webhook
VP = "000.00.01.H53"  # AMQP
AGENCIES = (TINH, XA, HUYEN, VP)
SYSTEM_OF = {TINH: "tinh", XA: "xa", HUYEN: "huyen", VP: "vp"}
ANSWERS = ("01", "06")


class Agency:
    """What one agency saw: documents received (DocId -> package), statuses received."""

    def __init__(self, organ: str, client: AsyncClient) -> None:
        self.organ = organ
        self.client = client  # its system's REST client: acknowledgements and statuses
        self.documents: dict[str, bytes] = {}
        self.statuses: list[tuple[str, str, str]] = []  # (from, code, about DocumentId)
        self.answered: set[str] = set()

    async def take(self, delivery_id: str, doc_id: str, data: bytes) -> None:
        """Acknowledge a delivery; answer a document with 01 and 06 (once)."""
        package = parse(data)
        await self.client.ack(delivery_id)
        if isinstance(package, StatusPackage):
            about = package.response_for.document_id or ""
            entry = (package.from_.organ_id, package.status_code, about)
            if entry not in self.statuses:
                self.statuses.append(entry)
            return
        self.documents[doc_id] = data
        if doc_id not in self.answered:
            for code in ANSWERS:
                await self.client.send_status(data, code=code, sender=self.organ)
            self.answered.add(doc_id)


def _config(served: Served, system: str) -> ClientConfig:
    keys = served.config("xa").signing_keys if system == "xa" else ()
    return ClientConfig(
        url=served.url,
        token=served.token(system),
        hub_certificate=CERTS / "gateway.crt",
        signing_keys=keys,
        retries=2,
        backoff=0.05,
    )


@contextlib.asynccontextmanager
async def clients(served: Served) -> AsyncIterator[dict[str, AsyncClient]]:
    async with contextlib.AsyncExitStack() as stack:
        yield {
            organ: await stack.enter_async_context(AsyncClient(_config(served, system)))
            for organ, system in SYSTEM_OF.items()
        }


async def test_sdk_dropfolder_webhook_and_amqp_agencies_exchange_documents_and_statuses(
    make_gateway: GatewayFactory, tmp_path: Path
) -> None:
    gw = await make_gateway({system: (organ,) for organ, system in SYSTEM_OF.items()})
    try:
        await _exchange(gw, tmp_path)
    finally:
        ctl = Rabbitmqctl()
        if user_name(gw.prefix, "vp") in await ctl.users():
            await ctl.delete_user(user_name(gw.prefix, "vp"))


async def _exchange(gw: Gateway, tmp_path: Path) -> None:
    served = Served(gw)
    pushes: asyncio.Queue[Push] = asyncio.Queue()
    hook_secret = {"value": ""}

    async def on_push(push: Push) -> None:
        await pushes.put(push)

    async def hook(request: web.Request) -> web.StreamResponse:
        return await receiver(hook_secret["value"], on_push)(request)

    app = web.Application(client_max_size=80 * 1024 * 1024)
    app.router.add_post("/edxgw", hook)

    async with serve(app) as hook_url, clients(served) as rest:
        # -- the administrator connects the webhook and the AMQP agencies -------------------
        code, out = await aadmin(gw, "webhook", "set", HUYEN, "--url", f"{hook_url}/edxgw")
        assert code == 0, out
        hook_secret["value"] = secret_from(out)
        code, out = await aadmin(gw, "systems", "amqp-grant", "vp")
        assert code == 0, out
        amqp_url = next(line for line in out.splitlines() if line.startswith("url")).split()[-1]
        queue = next(line for line in out.splitlines() if line.startswith("queue:")).split()[-1]
        await node_sees_mode(gw, HUYEN, "push")
        await node_sees_mode(gw, VP, "amqp")

        agencies = {organ: Agency(organ, rest[organ]) for organ in AGENCIES}
        folder_config = write_config(served, "xa", tmp_path / "xa", organs=[XA])
        (tmp_path / "xa").mkdir(exist_ok=True)
        folder = tmp_path / "xa"

        def folder_pass() -> None:
            daemon = Daemon(DropFolderConfig.from_file(folder_config, {}))
            try:
                daemon.run(once=True)
            finally:
                daemon.close()

        await asyncio.to_thread(folder_pass)  # creates outbox/, inbox/, ...

        # -- each agency sends one document to the three others ------------------------------
        others = {organ: [o for o in AGENCIES if o != organ] for organ in AGENCIES}
        sent: dict[str, str] = {}  # sender -> DocId
        for organ in (TINH, HUYEN, VP):
            submitted = await rest[organ].send_document(
                sender=organ,
                recipients=others[organ],
                subject=f"V/v liên thông giữa các bộ kết nối (từ {organ})",
                code=f"{AGENCIES.index(organ) + 1}/KN-VP",
                signer="Nguyễn Văn A",
            )
            sent[organ] = submitted.doc_id
        to = ", ".join(f'"{o}"' for o in others[XA])
        (folder / "outbox" / "cv-xa.pdf").write_bytes(b"%PDF-1.4 cong van cua xa")
        (folder / "outbox" / "cv-xa.toml").write_text(
            f'from = "{XA}"\nto = [{to}]\nsubject = "V/v liên thông (từ thư mục trao đổi)"\n'
            'code = "2/KN-VP"\nsigner = { full_name = "Trần Thị B" }\nfiles = ["cv-xa.pdf"]\n',
            encoding="utf-8",
        )

        # -- every adapter takes what arrives and answers, until everything is answered ------
        async def sdk_round() -> None:  # UBND tỉnh: pull
            async for item in rest[TINH].iter_inbox(organ=TINH, state="delivered"):
                received = await rest[TINH].fetch(item)
                await agencies[TINH].take(item.delivery_id, item.doc_id, received.data)

        async def webhook_round() -> None:  # UBND huyện: pushes
            while not pushes.empty():
                push = pushes.get_nowait()
                await agencies[HUYEN].take(push.delivery_id, push.doc_id, push.body)

        async def amqp_round(queue_items: AgencyQueue) -> None:  # Văn phòng: its own queue
            while True:
                try:
                    item = await queue_items.next(timeout=0.05)
                except TimeoutError:
                    return
                assert item.package is not None
                await agencies[VP].take(item.delivery_id, item.doc_id, item.package)
                await item.ack()

        answered_by_folder: set[str] = set()

        async def folder_round() -> None:  # UBND xã: files
            await asyncio.to_thread(folder_pass)
            for entry in (folder / "inbox").iterdir():
                if (entry / "document.json").exists() and entry.name not in answered_by_folder:
                    # 01 went automatically; the clerk files 06 through status/.
                    (folder / "status" / f"{entry.name}-06.toml").write_text(
                        f'doc_id = "{entry.name}"\ncode = "06"\ncomment = "Hoàn thành"\n',
                        encoding="utf-8",
                    )
                    answered_by_folder.add(entry.name)

        def folder_statuses() -> list[dict[str, Any]]:
            return [
                json.loads((entry / "status.json").read_text(encoding="utf-8"))
                for entry in (folder / "inbox").iterdir()
                if (entry / "status.json").exists()
            ]

        async def complete() -> bool:
            if len(sent) < 4:
                receipt = folder / "sent" / "cv-xa.toml.receipt.json"
                if receipt.exists():
                    sent[XA] = json.loads(receipt.read_text(encoding="utf-8"))["doc_id"]
            if len(sent) < 4:
                return False
            for organ, doc_id in sent.items():
                tracking = await rest[organ].track(doc_id)
                for r in tracking.recipients:
                    if r.state != "done" or r.progress is None or r.progress.level != "06":
                        return False
            # Every status reached its document's sender through the sender's adapter.
            want = len(ANSWERS) * 3
            return (
                all(len(agencies[o].statuses) >= want for o in (TINH, HUYEN, VP))
                and len(folder_statuses()) >= want
            )

        async with AgencyQueue(amqp_url, queue) as vp_queue:

            async def one_round() -> bool:
                await sdk_round()
                await folder_round()
                await webhook_round()
                await amqp_round(vp_queue)
                return await complete()

            await wait_for(one_round, 180, "every document answered through every adapter")

    # -- what each agency holds --------------------------------------------------------------
    for organ in (TINH, HUYEN, VP):
        received = agencies[organ].documents
        assert set(received) == {d for o, d in sent.items() if o != organ}
        for data in received.values():
            package = parse(data)
            assert isinstance(package, DocumentPackage)
            assert organ in {t.organ_id for t in package.to}
        about_own = {(frm, code) for frm, code, _ in agencies[organ].statuses}
        assert about_own == {(o, c) for o in others[organ] for c in ANSWERS}
    folder_docs = {p.name for p in (folder / "inbox").iterdir() if (p / "document.json").exists()}
    assert folder_docs == {d for o, d in sent.items() if o != XA}
    assert {(s["from"]["organ_id"], s["code"]) for s in folder_statuses()} == {
        (o, c) for o in others[XA] for c in ANSWERS
    }
    for organ, doc_id in sent.items():
        tracking = await gw.get(SYSTEM_OF[organ], f"/api/v1/documents/{doc_id}")
        routes = {
            r["recipient"]: (r["state"], r["progress"]["level"]) for r in tracking["recipients"]
        }
        assert routes == {o: ("done", "06") for o in others[organ]}
    # The pushed and the queued deliveries went by their adapters, not by pulling.
    trace = [r for d in sent.values() for r in await gw.store.trace_for(d) if r.stage == "deliver"]
    assert {r.outcome for r in trace} == {"delivered"}
