"""Show where a sent document stands: per recipient, its delivery and business progress.

EDXGW_URL=... EDXGW_TOKEN=... python adapters/sdk/examples/track.py DOC_ID
"""

from __future__ import annotations

import os
import sys

from adapters.sdk import STATUS_CODES, Client, ClientConfig


def main(argv: list[str] | None = None) -> int:
    doc_id = (argv or sys.argv[1:])[0]
    with Client(ClientConfig.from_env(os.environ)) as gw:
        tracking = gw.track(doc_id)
    print(f"{tracking.doc_id} {tracking.subject}")
    for r in tracking.recipients:
        level = r.progress.level if r.progress else None
        label = STATUS_CODES.get(level or "", "chưa có trạng thái / no status yet")
        print(f"  {r.recipient}: delivery {r.state}, progress {level} ({label})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
