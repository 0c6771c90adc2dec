"""The admin console's queries: administrators, sessions, failed logins, message search, and
the trace check of one document."""

# S608: queries are assembled only from this package's column lists and fixed fragments;
# values always travel as $n parameters (validated integers are inlined, see _search_filters).
# ruff: noqa: S608

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import cast

from gateway.store import _codec, chain
from gateway.store._engine import Row, SqlBase, Tx, _trace_row
from gateway.store._exchange import _DLV_COLS, _MSG_COLS, _cols, _delivery, _message, _Where
from gateway.store.admins import Admin, AdminSession, Role
from gateway.store.base import ProgressRow, TraceEvent, TraceRow, VerifyResult
from gateway.store.errors import BadCursor, StoreInvalid, StoreNotFound
from gateway.store.search import STATUS_CODES, SearchHit, SearchPage, SearchQuery, fold_code, terms

__all__ = ["CONSOLE_READS", "CONSOLE_WRITES", "ConsoleQueries"]

#: The methods below that only read, and those that write (the SQLite backend runs them on
#: its reader and writer threads respectively).
CONSOLE_READS = frozenset(
    {"get_admin", "list_admins", "get_admin_session", "admin_login_failures", "search_messages",
     "verify_document_trace"}
)  # fmt: skip
CONSOLE_WRITES = frozenset(
    {"add_admin", "update_admin", "remove_admin", "open_admin_session", "touch_admin_session",
     "close_admin_session", "purge_admin_sessions", "record_admin_login_failure"}
)  # fmt: skip

_ADMIN_COLS = (
    "username", "display_name", "role", "password_hash", "created_at", "updated_at",
    "password_changed_at",
)  # fmt: skip
_ADMIN_SQL = ", ".join(_ADMIN_COLS)
_SESSION_COLS = (
    "session_hash", "username", "csrf_token", "created_at", "last_seen_at", "idle_until",
    "expires_at", "address",
)  # fmt: skip
_MAX_SEARCH_PAGE = 200


class ConsoleQueries(SqlBase):
    """Administrators and their sessions (``admins.py``), and message search (``search.py``)."""

    #: How many of the newest messages a filtered search reads before it asks an index
    #: (:meth:`_search_rows`, step 1). Tests shrink it to exercise step 2 on little data.
    search_window: int = 8000

    # -- administrators --------------------------------------------------------------------
    async def add_admin(self, admin: Admin, trace: Sequence[TraceEvent] = ()) -> Admin:
        now = self._now()
        async with self._db.write() as tx:
            row = await tx.fetchrow(
                f"INSERT INTO admins ({_ADMIN_SQL}) VALUES ($1, $2, $3, $4, $5, $5, $5)"
                f" RETURNING {_ADMIN_SQL}",
                admin.username,
                admin.display_name,
                admin.role,
                admin.password_hash,
                now,
            )
            await self._append(tx, trace)
        assert row is not None
        return _admin(row)

    async def get_admin(self, username: str) -> Admin | None:
        async with self._db.read() as tx:
            row = await tx.fetchrow(
                f"SELECT {_ADMIN_SQL} FROM admins WHERE username = $1", username
            )
        return None if row is None else _admin(row)

    async def list_admins(self) -> list[Admin]:
        async with self._db.read() as tx:
            rows = await tx.fetch(f"SELECT {_ADMIN_SQL} FROM admins ORDER BY username")
        return [_admin(r) for r in rows]

    async def update_admin(
        self,
        username: str,
        *,
        role: Role | None = None,
        display_name: str | None = None,
        password_hash: str | None = None,
        trace: Sequence[TraceEvent] = (),
    ) -> Admin:
        now = self._now()
        async with self._db.write() as tx:
            row = await tx.fetchrow(
                "UPDATE admins SET role = coalesce($2, role),"
                " display_name = coalesce($3, display_name),"
                " password_hash = coalesce($4, password_hash), updated_at = $5,"
                " password_changed_at = CASE WHEN $4 IS NULL THEN password_changed_at"
                f" ELSE $5 END WHERE username = $1 RETURNING {_ADMIN_SQL}",
                username,
                role,
                display_name,
                password_hash,
                now,
            )
            if row is None:
                raise StoreNotFound(f"no admin {username!r}")
            if password_hash is not None or role is not None:
                # A new password or role takes effect at once: every open session ends.
                await tx.execute("DELETE FROM admin_sessions WHERE username = $1", username)
            await self._append(tx, trace)
        return _admin(row)

    async def remove_admin(self, username: str, trace: Sequence[TraceEvent] = ()) -> bool:
        async with self._db.write() as tx:
            await tx.execute("DELETE FROM admin_sessions WHERE username = $1", username)
            if not await tx.execute("DELETE FROM admins WHERE username = $1", username):
                return False
            await self._append(tx, trace)
        return True

    # -- sessions --------------------------------------------------------------------------
    async def open_admin_session(
        self, session: AdminSession, trace: Sequence[TraceEvent] = ()
    ) -> None:
        s = session
        async with self._db.write() as tx:
            await tx.execute(
                f"INSERT INTO admin_sessions ({', '.join(_SESSION_COLS)})"
                " VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
                s.session_hash, s.username, s.csrf_token, s.created_at, s.last_seen_at,
                s.idle_until, s.expires_at, s.address,
            )  # fmt: skip
            # A successful login starts the failure count over.
            await tx.execute("DELETE FROM admin_login_failures WHERE username = $1", s.username)
            await self._append(tx, trace)

    async def get_admin_session(self, session_hash: str) -> tuple[Admin, AdminSession] | None:
        now = self._now()
        async with self._db.read() as tx:
            row = await tx.fetchrow(
                f"SELECT {_cols(_SESSION_COLS, 's', 's_')}, {_cols(_ADMIN_COLS, 'a')}"
                " FROM admin_sessions s JOIN admins a ON a.username = s.username"
                " WHERE s.session_hash = $1 AND s.idle_until > $2 AND s.expires_at > $2",
                session_hash,
                now,
            )
        if row is None:
            return None
        return _admin(row), _session(row, "s_")

    async def touch_admin_session(self, session_hash: str, idle_until: datetime) -> None:
        async with self._db.write() as tx:
            await tx.execute(
                "UPDATE admin_sessions SET last_seen_at = $2, idle_until = $3"
                " WHERE session_hash = $1",
                session_hash,
                self._now(),
                _codec.utc(idle_until),
            )

    async def close_admin_session(
        self, session_hash: str, trace: Sequence[TraceEvent] = ()
    ) -> bool:
        async with self._db.write() as tx:
            if not await tx.execute(
                "DELETE FROM admin_sessions WHERE session_hash = $1", session_hash
            ):
                return False
            await self._append(tx, trace)
        return True

    async def purge_admin_sessions(self, failures_before: datetime) -> int:
        now = self._now()
        async with self._db.write() as tx:
            n = await tx.execute(
                "DELETE FROM admin_sessions WHERE idle_until <= $1 OR expires_at <= $1", now
            )
            await tx.execute(
                "DELETE FROM admin_login_failures WHERE at < $1", _codec.utc(failures_before)
            )
        return n

    # -- failed logins ---------------------------------------------------------------------
    async def record_admin_login_failure(
        self, username: str, address: str | None, trace: Sequence[TraceEvent] = ()
    ) -> None:
        async with self._db.write() as tx:
            await tx.execute(
                "INSERT INTO admin_login_failures (username, at, address) VALUES ($1, $2, $3)",
                username,
                self._now(),
                address,
            )
            await self._append(tx, trace)

    async def admin_login_failures(self, username: str, since: datetime) -> int:
        async with self._db.read() as tx:
            row = await tx.fetchrow(
                "SELECT count(*) AS n FROM admin_login_failures WHERE username = $1 AND at >= $2",
                username,
                _codec.utc(since),
            )
        return int(row["n"]) if row else 0

    # -- search ----------------------------------------------------------------------------
    async def search_messages(self, query: SearchQuery) -> SearchPage:
        """Newest first, keyset-paginated, in at most two steps (see :meth:`_search_rows`)."""
        limit = max(1, min(int(query.limit), _MAX_SEARCH_PAGE))
        async with self._db.read() as tx:
            rows = await self._search_rows(tx, query, limit + 1)
            messages = [_message(r) for r in rows[:limit]]
            ids = [m.doc_id for m in messages]
            if not ids:
                return SearchPage(hits=[], next_cursor=None)
            deliveries = await tx.fetch(
                f"SELECT {_cols(_DLV_COLS)} FROM deliveries WHERE doc_id {self._d.in_list('$1')}"
                " ORDER BY recipient",
                ids,
            )
            progress = await tx.fetch(
                f"SELECT * FROM progress WHERE doc_id {self._d.in_list('$1')} ORDER BY recipient",
                ids,
            )
        by_doc: dict[str, SearchHit] = {m.doc_id: SearchHit(message=m) for m in messages}
        for d in deliveries:
            by_doc[d["doc_id"]].deliveries.append(_delivery(d))
        for p in progress:
            by_doc[p["doc_id"]].progress.append(_progress(p))
        next_cursor = None
        if len(rows) > limit:
            last = messages[-1]
            next_cursor = _codec.pack_cursor(_codec.to_text(last.received_at), last.doc_id)
        return SearchPage(hits=list(by_doc.values()), next_cursor=next_cursor)

    async def _search_rows(self, tx: Tx, q: SearchQuery, want: int) -> list[Row]:
        """The first ``want`` matching message rows, newest first.

        A filter that is not an identifier (words, sender, recipient, state, status, business
        type) may match anything from a handful of messages to half of them, and PostgreSQL's
        estimate of it can be off by four orders of magnitude: several subject words are
        correlated, prefixes have no statistics. Planned on that estimate, a common word is
        fetched in full and sorted (18,000 rows: 150-600 ms over a million messages). So the
        search never trusts it:

        1. it first filters the newest ``search_window`` messages of the period, walked down
           the ``(received_at, doc_id)`` index (a ``LIMIT`` subquery the planner cannot see
           through): enough for any filter matching one message in ``search_window / want``;
        2. only if that window did not fill the page does the plain query, bounded to what
           lies below the window, run with the planner's choice of index. What it then
           reads is by construction rare in the recent past, which is what the indexes
           (GIN words, sender, recipient, state, progress) answer fast.

        An identifier filter (DocId, DocumentId, code) goes straight to its index.
        """
        order = " ORDER BY m.received_at DESC, m.doc_id DESC"
        filters = _Where()
        _search_filters(filters, q, self._d.name)
        if not filters.parts or q.doc_id or q.document_id or q.code:
            w = _Where()
            _search_period(w, q)
            _search_filters(w, q, self._d.name)
            sql = f"SELECT {_cols(_MSG_COLS, 'm')} FROM messages m{w.sql()}{order}"
            return await tx.fetch(f"{sql} LIMIT {w.param(want)}", *w.args)
        # Step 1: the window. Its period and cursor go inside, the filters outside.
        inner = _Where()
        _search_period(inner, q)
        outer = _Where()
        outer.args = inner.args  # one numbering of $n for the whole statement
        _search_filters(outer, q, self._d.name)
        window = (
            f"SELECT * FROM messages m{inner.sql()}{order} LIMIT {inner.param(self.search_window)}"
        )
        rows = await tx.fetch(
            f"SELECT {_cols(_MSG_COLS, 'm')} FROM ({window}) m{outer.sql()}{order}"
            f" LIMIT {outer.param(want)}",
            *outer.args,
        )
        if len(rows) >= want:
            return rows
        w = _Where()
        _search_period(w, q)
        edge = await tx.fetchrow(
            f"SELECT m.received_at, m.doc_id FROM messages m{w.sql()}{order}"
            f" LIMIT 1 OFFSET {w.param(self.search_window - 1)}",
            *w.args,
        )
        if edge is None:  # the window held the whole period: nothing lies below it
            return rows
        # Step 2: below the window, the planner's way.
        w = _Where()
        _search_period(w, q)
        _search_filters(w, q, self._d.name)
        w.add(_BELOW, _codec.utc(edge["received_at"]), edge["doc_id"])
        more = await tx.fetch(
            f"SELECT {_cols(_MSG_COLS, 'm')} FROM messages m{w.sql()}{order}"
            f" LIMIT {w.param(want - len(rows))}",
            *w.args,
        )
        return rows + more

    # -- the trace of one document -----------------------------------------------------------
    async def verify_document_trace(self, doc_id: str) -> VerifyResult:
        """Check a document's trace events without walking the whole chain.

        Each event's hash is recomputed, and each is checked against its neighbours: its
        ``prev_hash`` must be the hash stored on entry ``seq - 1`` (whose own hash must
        recompute), and entry ``seq + 1``, when it exists, must point back at it. An event
        that was altered, deleted or re-hashed is found, as ``edxgw trace verify`` would find
        it, at the cost of a few rows.
        """
        async with self._db.read() as tx:
            rows = [
                _trace_row(r)
                for r in await tx.fetch(
                    "SELECT * FROM trace_events WHERE doc_id = $1 ORDER BY seq", doc_id
                )
            ]
            if not rows:
                return VerifyResult(ok=True, checked=0)
            seqs = {r.seq for r in rows}
            wanted = sorted({s - 1 for s in seqs} | {s + 1 for s in seqs} - seqs - {0})
            neighbours = {
                row.seq: row
                for row in (
                    _trace_row(r)
                    for r in await tx.fetch(
                        f"SELECT * FROM trace_events WHERE seq {self._d.in_list('$1')}", wanted
                    )
                )
            }
            head = await tx.fetchrow("SELECT seq FROM trace_head WHERE id = 1")
            # Retention (migration 3) deletes archived entries of finished documents; a
            # document still in flight keeps its own, so its neighbours up to archived_seq
            # may be gone for good reason: the signed archive holds those links.
            archived = await tx.fetchrow(
                "SELECT archived_seq, archived_hash FROM retention_head WHERE id = 1"
            )
        head_seq = int(head["seq"]) if head else 0
        archived_seq = int(archived["archived_seq"]) if archived else 0
        archived_hash = str(archived["archived_hash"]) if archived else chain.GENESIS
        every = {**neighbours, **{r.seq: r for r in rows}}
        for row in rows:
            for entry in (every.get(row.seq - 1), row):
                if entry is not None and _recompute(entry) != entry.hash:
                    return _broken(len(rows), entry.seq, "hash mismatch: the entry was altered")
            before = every.get(row.seq - 1)
            expected_prev: str | None
            if before is not None:
                expected_prev = before.hash
            elif row.seq == 1:
                expected_prev = chain.GENESIS
            elif row.seq - 1 == archived_seq:
                expected_prev = archived_hash  # the last archived entry's hash
            elif row.seq - 1 < archived_seq:
                expected_prev = None  # archived and deleted: checked against the archive
            else:
                return _broken(len(rows), row.seq - 1, "entry is missing (deleted?)")
            if expected_prev is not None and row.prev_hash != expected_prev:
                return _broken(len(rows), row.seq, "prev_hash does not match the entry before")
            after = every.get(row.seq + 1)
            if after is None and archived_seq < row.seq + 1 <= head_seq:
                return _broken(len(rows), row.seq + 1, "entry is missing (deleted?)")
            if after is not None and after.prev_hash != row.hash:
                return _broken(len(rows), row.seq + 1, "prev_hash does not match the entry before")
        return VerifyResult(ok=True, checked=len(rows))


# Strictly below a (received_at, doc_id) key, newest first. A row comparison, which both
# databases turn into a range of the (received_at, doc_id) index; the equivalent
# "a < x OR (a = x AND b < y)" is no range, and PostgreSQL walked 700,000 index entries for
# it on a deep page.
_BELOW = "m.received_at <= {0} AND (m.received_at, m.doc_id) < ({0}, {1})"


def _search_period(w: _Where, q: SearchQuery) -> None:
    """The period and the keyset cursor: ranges of the ``(received_at, doc_id)`` index."""
    if q.received_from is not None:
        w.add("m.received_at >= {}", _codec.utc(q.received_from))
    if q.received_to is not None:
        w.add("m.received_at < {}", _codec.utc(q.received_to))
    if q.cursor:
        at_text, after_id = _codec.unpack_cursor(q.cursor, 2)
        try:
            after_at = _codec.from_text(at_text)
        except ValueError as exc:
            raise BadCursor("the cursor is not one this store issued") from exc
        w.add(_BELOW, after_at, after_id)


def _search_filters(w: _Where, q: SearchQuery, dialect: str) -> None:
    """Every other field of the query (AND)."""
    if q.doc_id:
        w.add("m.doc_id = {}", q.doc_id.strip())
    if q.document_id:
        w.add("m.document_id = {}", q.document_id.strip())
    if q.code:
        code = fold_code(q.code)
        if "/" in code:
            w.add("m.code_folded = {}", code)
        elif code:
            w.add("(m.notation_folded = {0} OR m.code_folded = {0})", code)
    if q.sender:
        w.add("m.sender = {}", q.sender.strip())
    if q.recipient:
        w.add(
            "EXISTS (SELECT 1 FROM deliveries r WHERE r.doc_id = m.doc_id AND r.recipient = {})",
            q.recipient.strip(),
        )
    wanted = terms(q.text)
    if wanted:
        if dialect == "postgres":
            w.add(
                "m.subject_words @@ to_tsquery('simple', {})",
                " & ".join(f"{t}:*" if prefix else t for t, prefix in wanted),
            )
        else:
            for term, prefix in wanted:
                if prefix:
                    w.add("(' ' || m.subject_folded) LIKE {}", f"% {term}%")
                else:
                    w.add("(' ' || m.subject_folded || ' ') LIKE {}", f"% {term} %")
    if q.kind:
        w.add("m.kind = {}", q.kind)
    if q.business_type is not None:
        if q.business_type not in (0, 1, 2, 3):
            raise StoreInvalid(f"business type {q.business_type!r} is not 0-3")
        # Inlined, not a parameter: only then can a generic plan use the partial index.
        w.add(f"m.business_type = {int(q.business_type)}")
    if q.state is not None:
        w.add(
            "EXISTS (SELECT 1 FROM deliveries s WHERE s.doc_id = m.doc_id AND s.state = {})",
            q.state.value,
        )
    if q.status:
        if q.status not in STATUS_CODES:
            raise StoreInvalid(f"status {q.status!r} is not one of {', '.join(STATUS_CODES)}")
        column = "change_state" if q.status in ("13", "15", "16") else "level"
        w.add(
            f"EXISTS (SELECT 1 FROM progress p WHERE p.doc_id = m.doc_id AND p.{column} = {{}})",
            q.status,
        )


def _recompute(r: TraceRow) -> str:
    return chain.entry_hash(
        r.seq, r.doc_id, r.node, r.stage, r.outcome, r.detail, r.at, r.prev_hash
    )


def _broken(checked: int, seq: int, reason: str) -> VerifyResult:
    return VerifyResult(ok=False, checked=checked, first_broken_seq=seq, reason=reason)


def _admin(r: Row) -> Admin:
    return Admin(
        username=r["username"],
        display_name=r["display_name"],
        role=cast(Role, r["role"]),
        password_hash=r["password_hash"],
        created_at=_codec.utc(r["created_at"]),
        updated_at=_codec.utc(r["updated_at"]),
        password_changed_at=_codec.utc(r["password_changed_at"]),
    )


def _session(r: Row, p: str = "") -> AdminSession:
    return AdminSession(
        session_hash=r[p + "session_hash"],
        username=r[p + "username"],
        csrf_token=r[p + "csrf_token"],
        created_at=_codec.utc(r[p + "created_at"]),
        last_seen_at=_codec.utc(r[p + "last_seen_at"]),
        idle_until=_codec.utc(r[p + "idle_until"]),
        expires_at=_codec.utc(r[p + "expires_at"]),
        address=r[p + "address"],
    )


def _progress(r: Row) -> ProgressRow:
    return ProgressRow(
        doc_id=r["doc_id"],
        recipient=r["recipient"],
        level=r["level"],
        level_at=None if r["level_at"] is None else _codec.utc(r["level_at"]),
        change_state=r["change_state"],
        change_at=None if r["change_at"] is None else _codec.utc(r["change_at"]),
        last_code=r["last_code"],
        events=int(r["events"]),
        updated_at=_codec.utc(r["updated_at"]),
    )
