"""The blob folder: atomic, durable, content-addressed files (gateway/blobs.py)."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from gateway import blobs
from gateway.blobs import BlobError, BlobStore, Packages
from gateway.store import Store
from tests.gateway.store.factories import accept


def _key(data: bytes) -> str:
    return "sha256/" + hashlib.sha256(data).hexdigest()


@pytest.fixture
def synced(monkeypatch: pytest.MonkeyPatch) -> list[Path]:
    """The folders whose entries were fsync'ed, in order (the real fsync still runs)."""
    calls: list[Path] = []
    real = blobs._sync_dir

    def record(path: Path) -> None:
        calls.append(Path(path))
        real(path)

    monkeypatch.setattr(blobs, "_sync_dir", record)
    return calls


def test_put_read_is_idempotent_and_leaves_no_temporary_file(tmp_path: Path) -> None:
    store = BlobStore(tmp_path)
    data = b"<edXML>...</edXML>"
    key = _key(data)
    path = store.put(key, data)
    assert store.read(key) == data and store.exists(key)
    assert store.put(key, b"other bytes") == path  # a content address: never rewritten
    assert store.read(key) == data
    assert [p.name for p in path.parent.iterdir()] == [path.name]


def test_a_new_fan_out_folder_is_synced_into_its_parent(tmp_path: Path, synced: list[Path]) -> None:
    """Each folder the first blob creates is an entry in its parent: all of them are synced,
    so a crash cannot lose the folder of a blob the store already points at."""
    root = tmp_path / "blobs"
    store = BlobStore(root)
    first = _key(b"first")
    path = store.put(first, b"first")
    digest = first.split("/")[1]
    fan = root / "sha256" / digest[:2]
    assert synced == [tmp_path, root, root / "sha256", fan, path.parent]
    # A second blob in the same fan-out folder: only its own folder's entry to sync.
    synced.clear()
    neighbour = "sha256/" + digest[:4] + "0" * 60
    store.put(neighbour, b"neighbour")
    assert synced == [path.parent]


def test_a_failed_write_leaves_neither_blob_nor_temporary_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = BlobStore(tmp_path)
    key = _key(b"x")

    def fail(*_: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr("gateway.blobs.os.replace", fail)
    with pytest.raises(OSError, match="No space"):
        store.put(key, b"x")
    assert not store.exists(key)
    assert list(store.path(key).parent.iterdir()) == []


def test_keys_are_never_paths(tmp_path: Path) -> None:
    with pytest.raises(BlobError) as info:
        BlobStore(tmp_path).put("../../etc/passwd", b"x")
    assert info.value.code == "blob.invalid_key"


# -- Packages: by key, in the store (small packages) or a blob file ------------------------------


async def test_packages_read_the_store_first_then_the_blob_folder(
    sqlite_store: Store, tmp_path: Path
) -> None:
    store = sqlite_store
    files = BlobStore(tmp_path / "blobs")
    packages = Packages(store, files)
    small, big = b"<edXML>small</edXML>", b"<edXML>" + b"x" * 5000 + b"</edXML>"
    await accept(store, 1, blob_key=_key(small), sealed=small)
    await accept(store, 2, blob_key=_key(big))
    files.put(_key(big), big)

    assert await packages.body(_key(small)) == small  # bytes: kept in the store
    assert await packages.body(_key(big)) == files.path(_key(big))  # a path: streamed
    assert [await packages.read(k) for k in (_key(small), _key(big))] == [small, big]
    assert [await packages.size(k) for k in (_key(small), _key(big))] == [len(small), len(big)]
    assert await packages.exists(_key(small)) and await packages.exists(_key(big))


async def test_packages_say_clearly_what_is_missing_or_not_a_key(
    sqlite_store: Store, tmp_path: Path
) -> None:
    packages = Packages(sqlite_store, BlobStore(tmp_path / "blobs"))
    gone = _key(b"purged")
    assert not await packages.exists(gone)
    with pytest.raises(BlobError) as info:
        await packages.read(gone)
    assert info.value.code == "blob.missing"
    with pytest.raises(BlobError) as info:
        await packages.body("../../etc/passwd")
    assert info.value.code == "blob.invalid_key"
