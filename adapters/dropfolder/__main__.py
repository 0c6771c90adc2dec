"""``edxgw-dropfolder`` (or ``python -m adapters.dropfolder``): run the drop-folder daemon.

::

    edxgw-dropfolder --config /etc/edxgw/dropfolder.toml          # run until SIGTERM
    edxgw-dropfolder --config dropfolder.toml --once              # one pass (cron, tests)
    edxgw-dropfolder --config dropfolder.toml --init              # create the folders, exit

Exit codes: 0 stopped cleanly, 2 bad configuration, 3 another daemon runs on that folder.
The configuration file defaults to ``$EDXGW_DROPFOLDER_CONFIG``, then ``./dropfolder.toml``.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import threading
from pathlib import Path

from adapters.dropfolder.config import FOLDERS, DropFolderConfig, check_folders
from adapters.dropfolder.daemon import AlreadyRunning, Daemon, install_signal_handlers
from adapters.sdk import UsageError


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="edxgw-dropfolder",
        description="Thư mục trao đổi văn bản với trục / drop folder for the edXML gateway",
    )
    parser.add_argument(
        "--config",
        type=Path,
        default=Path(os.environ.get("EDXGW_DROPFOLDER_CONFIG", "dropfolder.toml")),
    )
    parser.add_argument("--once", action="store_true", help="one pass, then exit")
    parser.add_argument("--init", action="store_true", help="create the folders, then exit")
    parser.add_argument("--log-level", default="INFO")
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=args.log_level.upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    try:
        config = DropFolderConfig.from_file(args.config, os.environ)
        if args.init:
            check_folders(config)
            for name in FOLDERS:
                print(config.folder(name))
            return 0
        stop = threading.Event()
        install_signal_handlers(stop)
        daemon = Daemon(config, stop=stop)
    except UsageError as exc:
        message = f"Cấu hình không hợp lệ: {exc.message_vi}\nBad configuration: {exc.message_en}"
        print(message, file=sys.stderr)
        return 2
    except AlreadyRunning as exc:
        print(
            f"Đã có một tiến trình khác phục vụ thư mục {exc}\n"
            f"Another drop-folder daemon is running on {exc}",
            file=sys.stderr,
        )
        return 3
    try:
        daemon.run(once=args.once)
    finally:
        daemon.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
