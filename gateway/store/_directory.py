"""The directory queries: agencies and their aliases, and the agency systems allowed to connect."""

# S608: queries are assembled only from this package's column lists and Dialect fragments;
# values always travel as $n parameters.
# ruff: noqa: S608

from __future__ import annotations

from collections.abc import Sequence
from typing import cast

from gateway.store import _codec
from gateway.store._engine import Row, SqlBase, Tx
from gateway.store.base import Agency, AgencyState, Host, System, TraceEvent
from gateway.store.errors import StoreInvalid, StoreNotFound

__all__ = ["DirectoryQueries"]

_AGENCY_COLS = (
    "organ_id", "name", "level", "parent_id", "host", "peer", "state", "successor_id",
    "delivery_mode", "updated_at",
)  # fmt: skip
_AGENCY_SQL = ", ".join(_AGENCY_COLS)
_AGENCY_A = ", ".join(f"a.{c}" for c in _AGENCY_COLS)
_SYSTEM_COLS = (
    "system_id", "name", "token_sha256", "cert_sha256", "secret", "signature_policy",
    "validation_mode", "revoked", "created_at", "cert_expires_at",
)  # fmt: skip
_SYSTEM_SQL = ", ".join(_SYSTEM_COLS)


class DirectoryQueries(SqlBase):
    """Agencies, aliases and systems (architecture §4, §5)."""

    # -- agencies --------------------------------------------------------------------------
    async def upsert_agency(self, agency: Agency, trace: Sequence[TraceEvent] = ()) -> Agency:
        a = agency
        now = self._now()
        async with self._db.write() as tx:
            row = await tx.fetchrow(
                f"INSERT INTO agencies ({_AGENCY_SQL})"
                " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)"
                " ON CONFLICT (organ_id) DO UPDATE SET name = excluded.name,"
                " level = excluded.level, parent_id = excluded.parent_id, host = excluded.host,"
                " peer = excluded.peer, state = excluded.state,"
                " successor_id = excluded.successor_id, delivery_mode = excluded.delivery_mode,"
                f" updated_at = excluded.updated_at RETURNING {_AGENCY_SQL}",
                a.organ_id, a.name, a.level, a.parent_id, a.host, a.peer, a.state,
                a.successor_id, a.delivery_mode, now,
            )  # fmt: skip
            await self._append(tx, trace)
        assert row is not None  # an upsert always returns its row
        return _agency(row)

    async def add_alias(self, alias: str, organ_id: str, trace: Sequence[TraceEvent] = ()) -> None:
        async with self._db.write() as tx:
            await self._require(tx, "agencies", "organ_id", organ_id)
            if await tx.fetchrow("SELECT 1 AS x FROM agencies WHERE organ_id = $1", alias):
                # resolve() tries canonical ids first, so such an alias could never be used.
                raise StoreInvalid(f"{alias!r} is itself a canonical organ id")
            # Re-mapping is allowed: the uplink's directory sync moves aliases after mergers.
            await tx.execute(
                "INSERT INTO agency_aliases (alias, organ_id) VALUES ($1, $2)"
                " ON CONFLICT (alias) DO UPDATE SET organ_id = excluded.organ_id",
                alias,
                organ_id,
            )
            await self._append(tx, trace)

    async def list_aliases(self, organ_id: str) -> list[str]:
        async with self._db.read() as tx:
            rows = await tx.fetch(
                "SELECT alias FROM agency_aliases WHERE organ_id = $1 ORDER BY alias", organ_id
            )
        return [str(r["alias"]) for r in rows]

    async def alias_map(self) -> dict[str, str]:
        async with self._db.read() as tx:
            rows = await tx.fetch("SELECT alias, organ_id FROM agency_aliases ORDER BY alias")
        return {str(r["alias"]): str(r["organ_id"]) for r in rows}

    async def resolve(self, organ_id_or_alias: str) -> Agency | None:
        async with self._db.read() as tx:
            row = await tx.fetchrow(
                f"SELECT {_AGENCY_SQL} FROM agencies WHERE organ_id = $1", organ_id_or_alias
            )
            if row is None:
                row = await tx.fetchrow(
                    f"SELECT {_AGENCY_A} FROM agency_aliases x"
                    " JOIN agencies a ON a.organ_id = x.organ_id WHERE x.alias = $1",
                    organ_id_or_alias,
                )
        return None if row is None else _agency(row)

    async def list_agencies(
        self,
        *,
        parent: str | None = None,
        host: Host | None = None,
        state: AgencyState | None = None,
        after: str | None = None,
        limit: int = 1000,
    ) -> list[Agency]:
        parts: list[str] = []
        args: list[object] = []
        for column, op, value in (
            ("parent_id", "=", parent),
            ("host", "=", host),
            ("state", "=", state),
            ("organ_id", ">", after),
        ):
            if value is not None:
                args.append(value)
                parts.append(f"{column} {op} ${len(args)}")
        where = " WHERE " + " AND ".join(parts) if parts else ""
        args.append(max(1, min(int(limit), 10_000)))
        async with self._db.read() as tx:
            rows = await tx.fetch(
                f"SELECT {_AGENCY_SQL} FROM agencies{where} ORDER BY organ_id LIMIT ${len(args)}",
                *args,
            )
        return [_agency(r) for r in rows]

    async def set_agency_state(
        self,
        organ_id: str,
        state: AgencyState,
        *,
        successor_id: str | None = None,
        trace: Sequence[TraceEvent] = (),
    ) -> Agency:
        if (state == "merged") != (successor_id is not None):
            raise StoreInvalid("successor_id is required for merged, and only for merged")
        if successor_id == organ_id:
            raise StoreInvalid(f"{organ_id!r} cannot be merged into itself")
        async with self._db.write() as tx:
            if successor_id is not None:
                await self._require(tx, "agencies", "organ_id", successor_id)
            row = await tx.fetchrow(
                "UPDATE agencies SET state = $2, successor_id = $3, updated_at = $4"
                f" WHERE organ_id = $1 RETURNING {_AGENCY_SQL}",
                organ_id,
                state,
                successor_id,
                self._now(),
            )
            if row is None:
                raise StoreNotFound(f"no agency {organ_id!r}")
            await self._append(tx, trace)
        return _agency(row)

    # -- systems ---------------------------------------------------------------------------
    async def upsert_system(self, system: System, trace: Sequence[TraceEvent] = ()) -> System:
        s = system
        async with self._db.write() as tx:
            # created_at is not in the UPDATE list: it stays the first registration's.
            await tx.execute(
                f"INSERT INTO systems ({_SYSTEM_SQL})"
                " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)"
                " ON CONFLICT (system_id) DO UPDATE SET name = excluded.name,"
                " token_sha256 = excluded.token_sha256, cert_sha256 = excluded.cert_sha256,"
                " secret = excluded.secret, signature_policy = excluded.signature_policy,"
                " validation_mode = excluded.validation_mode, revoked = excluded.revoked,"
                " cert_expires_at = excluded.cert_expires_at",
                s.system_id, s.name, s.token_sha256, s.cert_sha256, s.secret,
                s.signature_policy, s.validation_mode, s.revoked, self._now(),
                None if s.cert_expires_at is None else _codec.utc(s.cert_expires_at),
            )  # fmt: skip
            await self._replace_agencies(tx, s.system_id, s.agencies)
            await self._append(tx, trace)
            found = await self._systems(tx, "systems.system_id = $1", s.system_id)
        return found[0]

    async def get_system(self, system_id: str) -> System | None:
        return await self._one_system("systems.system_id = $1", system_id)

    async def find_system_by_token_hash(self, token_sha256: str) -> System | None:
        return await self._one_system("systems.token_sha256 = $1", token_sha256)

    async def find_system_by_cert(self, cert_sha256: str) -> System | None:
        return await self._one_system("systems.cert_sha256 = $1", cert_sha256)

    async def list_systems(self) -> list[System]:
        async with self._db.read() as tx:
            return await self._systems(tx, None)

    async def set_system_agencies(
        self, system_id: str, organ_ids: Sequence[str], trace: Sequence[TraceEvent] = ()
    ) -> None:
        async with self._db.write() as tx:
            await self._require(tx, "systems", "system_id", system_id)
            await self._replace_agencies(tx, system_id, organ_ids)
            await self._append(tx, trace)

    async def _replace_agencies(self, tx: Tx, system_id: str, organ_ids: Sequence[str]) -> None:
        await tx.execute("DELETE FROM system_agencies WHERE system_id = $1", system_id)
        await tx.executemany(
            "INSERT INTO system_agencies (system_id, organ_id) VALUES ($1, $2)",
            [(system_id, o) for o in sorted(set(organ_ids))],
        )

    async def _one_system(self, where: str, value: str) -> System | None:
        async with self._db.read() as tx:
            found = await self._systems(tx, where, value)
        return found[0] if found else None

    async def _systems(self, tx: Tx, where: str | None, *args: object) -> list[System]:
        """Systems matching a fixed ``where`` fragment, each with its agencies."""
        clause = f" WHERE {where}" if where else ""
        rows = await tx.fetch(
            f"SELECT {_SYSTEM_SQL} FROM systems{clause} ORDER BY system_id", *args
        )
        if not rows:
            return []
        links = await tx.fetch(
            "SELECT l.system_id, l.organ_id FROM system_agencies l"
            f" JOIN systems ON systems.system_id = l.system_id{clause}"
            " ORDER BY l.system_id, l.organ_id",
            *args,
        )
        agencies: dict[str, list[str]] = {}
        for link in links:
            agencies.setdefault(link["system_id"], []).append(link["organ_id"])
        return [_system(r, tuple(agencies.get(r["system_id"], ()))) for r in rows]

    async def _require(self, tx: Tx, table: str, column: str, value: str) -> None:
        # table and column are literals from this module, never caller input.
        sql = f"SELECT 1 AS x FROM {table} WHERE {column} = $1"
        if await tx.fetchrow(sql, value) is None:
            raise StoreNotFound(f"no {column.removesuffix('_id')} {value!r}")


def _agency(r: Row) -> Agency:
    return Agency(
        organ_id=r["organ_id"],
        name=r["name"],
        level=r["level"],
        parent_id=r["parent_id"],
        host=cast(Host, r["host"]),
        peer=r["peer"],
        state=cast(AgencyState, r["state"]),
        successor_id=r["successor_id"],
        delivery_mode=r["delivery_mode"],
        updated_at=_codec.utc(r["updated_at"]),
    )


def _system(r: Row, agencies: tuple[str, ...]) -> System:
    return System(
        system_id=r["system_id"],
        name=r["name"],
        token_sha256=r["token_sha256"],
        cert_sha256=r["cert_sha256"],
        secret=r["secret"],
        signature_policy=r["signature_policy"],
        validation_mode=r["validation_mode"],
        revoked=bool(r["revoked"]),
        agencies=agencies,
        created_at=_codec.utc(r["created_at"]),
        cert_expires_at=None if r["cert_expires_at"] is None else _codec.utc(r["cert_expires_at"]),
    )
