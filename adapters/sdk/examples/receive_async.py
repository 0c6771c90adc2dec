"""Receive everything waiting in the inbox (asyncio): save each document's files, acknowledge,
answer status 01 ("Đã đến").

    EDXGW_URL=... EDXGW_TOKEN=... EDXGW_SIGNING_KEY=... EDXGW_SIGNING_CERT=... \
    python adapters/sdk/examples/receive_async.py received/

Each document lands in ``received/<doc_id>/`` (its sealed package and decoded attachments)
*before* it is acknowledged: if this script dies half-way, the item is simply still in the
inbox next time. Statuses about documents we sent are printed.
"""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

from adapters.sdk import AsyncClient, ClientConfig


async def receive(folder: Path) -> int:
    count = 0
    async with AsyncClient(ClientConfig.from_env(os.environ)) as gw:
        async for item in gw.iter_inbox(state="delivered"):
            received = await gw.fetch(item)
            if received.kind == "status":
                st = received.status
                print(
                    f"status {st.status_code} from {st.from_.organ_id} about "
                    f"{st.response_for.document_id}: {st.description}"
                )
                await gw.ack(item)
                continue
            doc = received.document
            target = folder / received.doc_id
            target.mkdir(parents=True, exist_ok=True)
            (target / "package.edxml").write_bytes(received.data)
            for att in doc.attachments:
                # The sender names the files: keep only the last path component.
                name = Path(att.name or f"attachment-{att.content_id}").name
                (target / name).write_bytes(att.data)
            await gw.ack(item)  # done: the files are saved
            await gw.send_status(received, code="01")
            print(f"document {received.doc_id} {doc.code} from {received.sender}: {doc.subject}")
            count += 1
    return count


def main() -> int:
    folder = Path(sys.argv[1] if len(sys.argv) > 1 else "received")
    count = asyncio.run(receive(folder))
    print(f"{count} document(s) received")
    return 0


if __name__ == "__main__":
    sys.exit(main())
