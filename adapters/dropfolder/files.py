"""Crash-safe file operations: atomic writes, fsync'ed renames, safe names from remote input.

POSIX rename is atomic within one file system; it is *durable* only once the directories on
both sides are fsync'ed (ext4/XFS: a rename is journaled with the directory's metadata). Every
move here therefore fsyncs the file (when it was written) and the directories it left and
entered, so after a power cut or a kill -9 a file is wholly in one place, never in two or none.
"""

from __future__ import annotations

import os
import re
import unicodedata
from pathlib import Path

__all__ = [
    "fsync_dir",
    "move",
    "safe_name",
    "unique_name",
    "write_atomic",
    "write_durable",
]


def fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_durable(path: Path, data: bytes) -> None:
    """Write ``path`` (a new file in a directory nobody else reads yet) and fsync it."""
    with open(path, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())


def write_atomic(path: Path, data: bytes) -> None:
    """Replace ``path`` with ``data`` all at once: a hidden temporary file, fsync, rename."""
    tmp = path.with_name(f".{path.name}.tmp")
    write_durable(tmp, data)
    os.replace(tmp, path)
    fsync_dir(path.parent)


def move(source: Path, target: Path) -> None:
    """Rename ``source`` to ``target`` (same file system) and make the rename durable."""
    target.parent.mkdir(parents=True, exist_ok=True)
    os.rename(source, target)
    fsync_dir(target.parent)
    if source.parent != target.parent:
        fsync_dir(source.parent)


_UNSAFE = re.compile(r'[\x00-\x1f\x7f<>:"/\\|?*]')
_RESERVED = {"con", "prn", "aux", "nul", *(f"com{i}" for i in range(10))}
_RESERVED |= {f"lpt{i}" for i in range(10)}


def safe_name(name: str | None, fallback: str) -> str:
    """A file name from a remote package's claim, safe on POSIX and on Windows shares: only
    the last path component, no control or reserved characters, not hidden, not empty."""
    text = unicodedata.normalize("NFC", (name or "").replace("\\", "/")).split("/")[-1]
    text = _UNSAFE.sub("_", text).strip(" .")
    if not text or text.split(".")[0].lower() in _RESERVED:
        text = fallback
    if len(text.encode()) > 200:  # ext4 allows 255 bytes; keep room for " (2)"
        stem, dot, ext = text.rpartition(".")
        ext = ext if dot and len(ext) <= 10 else ""
        base = stem if dot else text
        while len(f"{base}.{ext}".encode()) > 200:
            base = base[:-1]
        text = f"{base}.{ext}" if ext else base
    return text


def unique_name(name: str, taken: set[str]) -> str:
    """``name``, or ``stem (2).ext``, ``stem (3).ext``... the first not in ``taken``."""
    if name not in taken:
        return name
    stem, dot, ext = name.rpartition(".")
    if not dot or not stem:
        stem, ext = name, ""
    n = 2
    while True:
        candidate = f"{stem} ({n}).{ext}" if ext else f"{stem} ({n})"
        if candidate not in taken:
            return candidate
        n += 1
