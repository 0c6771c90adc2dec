"""The ordered list of schema migrations, each written once per dialect (SQLite, PostgreSQL).

Migrations are Python modules rather than ``.sql`` files so that they ship in every install
without package-data rules. A migration is history: never edit one that has been released,
add the next number. ``Store.migrate()`` applies the missing ones in one transaction and
records each version in ``schema_migrations``.
"""

from __future__ import annotations

import re
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
    """Every ``vNNNN_<name>`` module of this package, in version order.

    Versions must be unique and increasing; a gap is allowed (a number reserved by a branch
    that has not landed yet) because only the recorded versions decide what still runs.
    """
    import importlib
    import pkgutil

    names = sorted(
        m.name for m in pkgutil.iter_modules(__path__) if re.fullmatch(r"v\d{4}_\w+", m.name)
    )
    found = tuple(importlib.import_module(f"{__name__}.{n}").MIGRATION for n in names)
    for name, migration in zip(names, found, strict=True):
        if int(name[1:5]) != migration.version:
            raise RuntimeError(f"{name} declares version {migration.version}")
    return found


MIGRATIONS: tuple[Migration, ...] = _load()
