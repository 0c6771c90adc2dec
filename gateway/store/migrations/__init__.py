"""The ordered list of schema migrations, each written once per dialect (SQLite, PostgreSQL).

Migrations are Python modules rather than ``.sql`` files so that they ship in every install
without package-data rules. A migration is history: never edit one that has been released,
add the next number. ``Store.migrate()`` applies the missing ones in one transaction and
records each version in ``schema_migrations``.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["MIGRATIONS", "Migration"]


@dataclass(frozen=True, slots=True)
class Migration:
    version: int
    name: str
    # Statements, run one by one: sqlite3's executescript() would commit the transaction.
    sqlite: tuple[str, ...]
    postgres: tuple[str, ...]


def _load() -> tuple[Migration, ...]:
    # Imported here: the version modules import Migration from this module.
    from gateway.store.migrations import v0001_initial

    found = (v0001_initial.MIGRATION,)
    versions = [m.version for m in found]
    if versions != list(range(1, len(found) + 1)):
        raise RuntimeError(f"migration versions must be 1..n without gaps: {versions}")
    return found


MIGRATIONS: tuple[Migration, ...] = _load()
