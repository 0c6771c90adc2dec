"""Send one document with attachments, and keep its signed receipt.

    EDXGW_URL=http://127.0.0.1:8080 EDXGW_TOKEN=... \
    EDXGW_SIGNING_KEY=certs/dev/agency-000.21.31.H53.key \
    EDXGW_SIGNING_CERT=certs/dev/agency-000.21.31.H53.crt \
    python adapters/sdk/examples/send_document.py --from 000.21.31.H53 --to 000.00.31.H53 \
        --code 12/UBND-VP --subject "V/v triển khai liên thông" cv12.pdf

Prints the DocId; the receipt (already checked against the hub certificate) is written next
to the first file as ``<file>.receipt.json``, or to ``--receipt``.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from adapters.sdk import Client, ClientConfig, EdxgwError


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="Gửi một văn bản / send one document")
    ap.add_argument("--from", dest="sender", required=True)
    ap.add_argument("--to", dest="recipients", action="append", required=True)
    ap.add_argument("--code", required=True, help="số/ký hiệu, e.g. 12/UBND-VP")
    ap.add_argument("--subject", required=True)
    ap.add_argument("--signer", default="Nguyễn Văn A")
    ap.add_argument("--receipt", type=Path)
    ap.add_argument("files", nargs="*", type=Path)
    args = ap.parse_args(argv)

    with Client(ClientConfig.from_env(os.environ)) as gw:
        try:
            sent = gw.send_document(
                sender=args.sender,
                recipients=args.recipients,
                subject=args.subject,
                code=args.code,
                signer=args.signer,
                files=args.files,
            )
        except EdxgwError as exc:  # a refusal carries the gateway's code and both messages
            print(f"{exc.code}: {exc.message_vi} / {exc.message_en}", file=sys.stderr)
            return 1
    receipt = args.receipt or Path(f"{(args.files or [Path('document')])[0]}.receipt.json")
    receipt.write_text(sent.receipt.to_json(), encoding="utf-8")
    routes = ", ".join(f"{r.recipient} ({r.route})" for r in sent.recipients)
    print(f"doc_id={sent.doc_id} duplicate={sent.duplicate} recipients={routes}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
