"""The drop-folder daemon: one process per folder tree, a loop of scan, send, receive.

Start-up: create the folders, refuse a second daemon on the same tree (an exclusive lock on
``.edxgw/lock``, released by the kernel even after a kill -9), open the journal, load the
signing keys (a bad key stops the start, not the tenth document), resolve what a crash left
half-done (``sink.recover``) and remove leftovers no journal row owns (``sweep``). Then every
``poll_seconds``: claim settled files, advance every claim (build, submit, finish), take the
inbox, and send the automatic statuses it queued. SIGTERM and SIGINT stop it between two steps.
"""

from __future__ import annotations

import fcntl
import logging
import os
import signal
import threading
from types import FrameType
from typing import IO

from adapters.dropfolder.config import DropFolderConfig, check_folders
from adapters.dropfolder.journal import Journal
from adapters.dropfolder.sink import Sink
from adapters.dropfolder.source import Source
from adapters.sdk import Client, EdxgwError

__all__ = ["AlreadyRunning", "Daemon", "install_signal_handlers"]

log = logging.getLogger("edxgw.dropfolder")


class AlreadyRunning(Exception):
    """Another daemon holds the lock of this folder tree."""


class Daemon:
    def __init__(
        self,
        config: DropFolderConfig,
        client: Client | None = None,
        *,
        stop: threading.Event | None = None,
    ) -> None:
        self.config = config
        # Given by the caller when signals must be caught before the lock is taken (main).
        self._stop = stop if stop is not None else threading.Event()
        check_folders(config)
        self._lock = _lock(config)
        try:
            self.client = client or Client(config.client)
            self.client.config.signing_key_map()  # fail at start on an unreadable key
            self.journal = Journal(config.state_dir / "journal.db")
        except BaseException:
            self._lock.close()
            raise
        self.source = Source(config, self.journal, self.client)
        self.sink = Sink(config, self.journal, self.client)

    def close(self) -> None:
        self.journal.close()
        self.client.close()
        self._lock.close()

    def stop(self, *_: object) -> None:
        self._stop.set()

    def recover(self) -> None:
        if self.config.receive:
            try:
                self.sink.recover()
            except EdxgwError as exc:  # acknowledgements wait for the gateway
                log.warning("trục chưa sẵn sàng / gateway unavailable: %s", exc)
        self.source.sweep(keep=self.sink.keep())
        self.sink.sweep()

    def step(self) -> None:
        """One pass: claim, send, receive, send what receiving queued (statuses 01)."""
        self.source.scan()
        self.source.process()
        if self.config.receive:
            try:
                self.sink.poll()
            except EdxgwError as exc:
                log.warning("không đọc được hộp thư / cannot read the inbox: %s", exc)
            self.source.process()

    def run(self, *, once: bool = False) -> None:
        self.recover()
        while not self._stop.is_set():
            try:
                self.step()
            except Exception:  # never die on one pass: the journal makes retrying safe
                log.exception("lỗi / error; thử lại / retrying")
            if once:
                return
            self._stop.wait(self.config.poll_seconds)


def install_signal_handlers(stop: threading.Event) -> None:
    """SIGTERM and SIGINT set ``stop``: the daemon finishes its step and exits cleanly.

    Installed before the daemon takes its lock, so a supervisor that sees the lock (the
    daemon's pid in it) and stops it at once still gets a clean stop, not a default death.
    """

    def handler(signum: int, frame: FrameType | None) -> None:
        log.info("dừng / stopping (signal %d)", signum)
        stop.set()

    signal.signal(signal.SIGTERM, handler)
    signal.signal(signal.SIGINT, handler)


def _lock(config: DropFolderConfig) -> IO[str]:
    f = open(config.state_dir / "lock", "a+")  # noqa: SIM115 - held for the daemon's life
    try:
        fcntl.flock(f.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        f.close()
        raise AlreadyRunning(str(config.root)) from None
    f.seek(0)
    f.truncate()
    f.write(f"{os.getpid()}\n")
    f.flush()
    return f
