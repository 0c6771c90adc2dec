"""Keep package bytes under their claim-check key, durably and atomically.

A small sealed package (``inline_package_bytes`` or fewer) is kept in the store, in the
transaction that accepts it (``Store.accept(sealed=...)``); the others are files of a
:class:`BlobStore`. :class:`Packages` reads either by key, and is what every reader uses.

A message row holds only ``Message.blob_key`` (invariant §3.5: big payloads travel by
reference); a file's bytes live here, one file per key under ``blob_dir``
(``sha256/ab/cd/<hex>``, so no directory grows past a few thousand entries). A blob is written
to a temporary file in the same directory, flushed with ``fsync`` and renamed into place, and
the directory is synced too (and, the first time, the parent of each fan-out folder it had to
create): a crash leaves either the whole blob or none, and a blob is on disk before the store
commit that points at it (invariant §3.1). Keys are content addresses, so writing an existing
key is a no-op. Several nodes of one hub share the folder (a shared volume).

:class:`BlobStore`'s methods are synchronous: the gateway calls them in its process-pool
workers or through ``asyncio.to_thread``, never on the event loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import secrets
from pathlib import Path
from typing import BinaryIO, Protocol

__all__ = ["BlobError", "BlobStore", "Packages"]

_KEY = re.compile(r"^[a-z0-9]+/[0-9a-f]{16,128}$")


class BlobError(Exception):
    """``blob.invalid_key`` (never a path from outside) or ``blob.missing``."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


class BlobStore:
    """A folder of immutable blobs addressed by ``<scheme>/<hex digest>`` keys."""

    def __init__(self, root: str | Path, *, fsync: bool = True) -> None:
        self.root = Path(root)
        self.fsync = fsync  # off only in throwaway tests; production keeps it on

    def path(self, key: str) -> Path:
        """Where ``key`` lives; refuses anything that is not a claim-check key."""
        if not _KEY.match(key):
            raise BlobError("blob.invalid_key", f"not a blob key: {key!r}")
        scheme, digest = key.split("/", 1)
        return self.root / scheme / digest[:2] / digest[2:4] / digest

    def exists(self, key: str) -> bool:
        return self.path(key).is_file()

    def put(self, key: str, data: bytes) -> Path:
        """Store ``data`` under ``key`` durably (temporary file, fsync, rename, dir fsync)."""
        target = self.path(key)
        if target.is_file():
            return target
        self._parents(target.parent)
        tmp = target.with_name(f".{target.name}.{secrets.token_hex(4)}.tmp")
        try:
            with open(tmp, "wb") as fh:
                fh.write(data)
                if self.fsync:
                    fh.flush()
                    os.fsync(fh.fileno())
            os.replace(tmp, target)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        if self.fsync:
            _sync_dir(target.parent)
        return target

    def _parents(self, folder: Path) -> None:
        """Create ``folder`` and what is missing above it; sync the entry of each new one.

        A new fan-out folder is itself an entry in its parent: without syncing that parent,
        a crash could lose the folder, and the blob in it that the store already points at.
        """
        missing = []
        while not folder.is_dir() and folder != folder.parent:
            missing.append(folder)
            folder = folder.parent
        for new in reversed(missing):
            # Another worker or node may make it meanwhile: sync all the same, since our blob
            # must not depend on that one's sync having happened yet.
            with contextlib.suppress(FileExistsError):
                new.mkdir()
            if self.fsync:
                _sync_dir(new.parent)

    def open(self, key: str) -> BinaryIO:
        try:
            return open(self.path(key), "rb")
        except FileNotFoundError:
            raise BlobError("blob.missing", f"blob {key} is missing from {self.root}") from None

    def read(self, key: str) -> bytes:
        with self.open(key) as fh:
            return fh.read()

    def size(self, key: str) -> int:
        try:
            return self.path(key).stat().st_size
        except FileNotFoundError:
            raise BlobError("blob.missing", f"blob {key} is missing from {self.root}") from None

    def delete(self, key: str) -> bool:
        """Remove a blob nothing references any more (a duplicate's seal); True if it existed."""
        try:
            self.path(key).unlink()
        except FileNotFoundError:
            return False
        return True


class _InlineBlobs(Protocol):
    async def get_blob(self, blob_key: str) -> bytes | None: ...


class Packages:
    """Sealed packages by key, wherever they are kept: in the store (small ones) or as files.

    The store is asked first (most packages are small); a key it does not hold is a file of
    ``files``. Reads of a file's bytes run in a thread; :meth:`body` hands a file back as its
    path, so that a big package is streamed, never held (invariant §3.5).
    """

    def __init__(self, store: _InlineBlobs, files: BlobStore) -> None:
        self.store = store
        self.files = files

    async def body(self, key: str) -> bytes | Path:
        """The bytes if the store keeps them, else the path of the existing file.

        Raises :class:`BlobError` ``blob.missing`` if neither has them (a purged package),
        ``blob.invalid_key`` for anything that is not a key.
        """
        path = self.files.path(key)
        data = await self.store.get_blob(key)
        if data is not None:
            return data
        if not path.is_file():
            raise BlobError("blob.missing", f"blob {key} is missing from {self.files.root}")
        return path

    async def read(self, key: str) -> bytes:
        body = await self.body(key)
        if isinstance(body, bytes):
            return body
        return await asyncio.to_thread(self.files.read, key)

    async def size(self, key: str) -> int:
        body = await self.body(key)
        return len(body) if isinstance(body, bytes) else body.stat().st_size

    async def exists(self, key: str) -> bool:
        try:
            await self.body(key)
        except BlobError as exc:
            if exc.code == "blob.missing":
                return False
            raise
        return True


def _sync_dir(path: Path) -> None:
    # The rename is durable only once the directory entry is (POSIX; ext4 with data=ordered
    # usually survives without it, other file systems do not).
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
