"""``edxgw bench-search``: time every kind of message search over a million messages (PostgreSQL).

It creates a throwaway database (``edxgw_search_bench_<random>``, dropped at the end unless
``--keep``), migrates it, and COPYs generated traffic into it: ``--messages`` messages (a
quarter of them status packages) from a few thousand agencies over two years, with realistic
Vietnamese subjects and codes, one to three deliveries each and the status progress of most of
them. Secondary indexes are dropped during the COPY and rebuilt after it, then the tables are
analysed, as a hub's would be. Each kind of search then runs ``--rounds`` times with varied
values through ``Store.search_messages`` — the console's own call, including its second and
third query for the deliveries and progress of the page — and the first page and a deep page
(``--deep``, by keyset cursor) are timed::

    edxgw bench-search                                  # 1,000,000 messages, 50 per page
    python -m gateway.bench_search --messages 200000 --dsn postgresql://postgres@127.0.0.1/postgres

``--dsn`` names the server's maintenance database (CREATE/DROP DATABASE run there).
"""

from __future__ import annotations

import argparse
import asyncio
import random
import secrets
import statistics
import sys
import time
from collections.abc import Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any, TextIO
from urllib.parse import urlsplit, urlunsplit

import asyncpg

from gateway.store import open_store
from gateway.store.base import Store
from gateway.store.lifecycle import DeliveryState
from gateway.store.search import SearchQuery, fold, fold_code

__all__ = ["main"]

_PREFIXES = (
    "V/v", "Về việc", "Kế hoạch", "Báo cáo", "Thông báo", "Quyết định", "Giấy mời",
    "Công văn", "Tờ trình", "Chỉ thị", "Hướng dẫn", "Đề nghị",
)  # fmt: skip
_TOPICS = (
    "triển khai Đề án 06", "chuyển đổi số", "phòng chống thiên tai", "cải cách hành chính",
    "liên thông văn bản điện tử", "tổng kết công tác", "phòng cháy chữa cháy",
    "xây dựng nông thôn mới", "giải ngân vốn đầu tư công", "tuyển sinh đầu cấp",
    "tiêm chủng mở rộng", "quản lý đất đai", "bồi thường giải phóng mặt bằng",
    "an toàn giao thông", "phòng chống dịch bệnh", "kiểm tra thuế", "thu ngân sách nhà nước",
    "bảo hiểm xã hội", "tiếp công dân", "giải quyết khiếu nại tố cáo", "sáp nhập đơn vị hành chính",
    "chữ ký số chuyên dùng", "dịch vụ công trực tuyến", "an ninh mạng", "kinh tế - xã hội",
    "bầu cử đại biểu Hội đồng nhân dân", "quốc phòng địa phương", "phát triển du lịch",
    "bảo vệ môi trường", "nước sạch nông thôn", "hỗ trợ hộ nghèo", "đào tạo nghề",
    "thi đua khen thưởng", "tuyển dụng công chức", "quy hoạch sử dụng đất",
    "cấp giấy chứng nhận quyền sử dụng đất", "phòng chống tham nhũng", "lịch họp giao ban",
    "chương trình mục tiêu quốc gia", "dữ liệu dân cư", "thủ tục hành chính",
)  # fmt: skip
_SCOPES = (
    "năm 2025", "năm 2026", "tháng 6", "quý III", "6 tháng đầu năm", "trên địa bàn tỉnh",
    "tại huyện Bến Cầu", "tại thị xã Hòa Thành", "của UBND tỉnh Tây Ninh", "giai đoạn 2021-2025",
    "đợt 2", "khẩn", "", "",
)  # fmt: skip
_NOTATIONS = (
    "UBND-VP", "UBND-KT", "QĐ-UBND", "KH-UBND", "BC-UBND", "TB-UBND", "CV-STTTT", "SNV-TCBC",
    "STC-NS", "SYT-NVY", "SGDĐT-KHTC", "CAT-PV01", "VPCP-TTĐT", "BTTTT-CĐSQG",
)  # fmt: skip
_PER_PAGE = 50


def _agencies(rng: random.Random) -> list[str]:
    """About 3,000 organ ids: a province's departments, districts and communes, and others."""
    out = [f"000.00.{d:02d}.H53" for d in range(0, 40)]
    out += [f"000.{c:02d}.{d:02d}.H53" for d in range(31, 40) for c in range(1, 99)]
    out += [f"000.00.00.{p}" for p in ("G22", "A80", "H14", "H41", "B01", "C06")]
    out += [f"000.00.{d:02d}.H{p}" for p in range(10, 40) for d in range(0, 60)]
    rng.shuffle(out)
    return out


@dataclass(frozen=True, slots=True)
class Corpus:
    """What the generator produced that the queries sample from."""

    count: int
    start: datetime
    span: timedelta
    agencies: list[str]
    busy: list[str]  # the agencies that send and receive most
    doc_ids: list[str]  # a sample
    document_ids: list[str]  # a sample
    codes: list[str]  # a sample


def _doc_id(i: int) -> str:
    return f"{i:08x}-bench-{i % 9973:04x}"


def _rows(
    corpus: Corpus, rng: random.Random
) -> Iterator[tuple[tuple[Any, ...], list[tuple[Any, ...]], list[tuple[Any, ...]]]]:
    """(message row, its delivery rows, its progress rows), oldest first."""
    agencies, busy = corpus.agencies, corpus.busy
    step = corpus.span / corpus.count
    states = [s.value for s in DeliveryState]
    state_weights = [1, 1, 1, 30, 60, 3, 1]  # mostly delivered/done; dead is rare
    for i in range(corpus.count):
        at = corpus.start + step * i + timedelta(milliseconds=rng.randrange(0, 900))
        sender = rng.choice(busy) if rng.random() < 0.6 else rng.choice(agencies)
        doc_id = _doc_id(i)
        status = rng.random() < 0.25
        recipients = rng.sample(busy if rng.random() < 0.5 else agencies, rng.choice((1, 1, 2, 3)))
        message: tuple[Any, ...]
        if status:
            code = rng.choice(("01", "03", "04", "05", "06", "02"))
            message = (
                doc_id, "status", sender, f"{sender},{at:%Y/%m/%d},{i}", None, code,
                None, None, None, None, None, None, at, f"{i:064x}", 3000, f"b/{i}",
                f"bench|{i}",
            )  # fmt: skip
        else:
            subject = " ".join(
                p for p in (rng.choice(_PREFIXES), rng.choice(_TOPICS), rng.choice(_SCOPES)) if p
            )
            notation = rng.choice(_NOTATIONS)
            code_text = f"{rng.randrange(1, 9999)}/{notation}"
            code = fold_code(code_text)
            business = rng.choices((0, 1, 2, 3), weights=(96, 1, 2, 1))[0]
            message = (
                doc_id, "edoc", sender, f"{sender},{at:%Y/%m/%d},{code_text}", business, None,
                subject, code_text, fold(subject), code, code.split("/", 1)[1], "qlvb", at,
                f"{i:064x}", 20000 + rng.randrange(0, 2_000_000), f"b/{i}", f"bench|{i}",
            )  # fmt: skip
        deliveries = []
        progress = []
        for r in recipients:
            state = rng.choices(states, weights=state_weights)[0]
            delivered = (
                at + timedelta(seconds=1) if state in ("delivered", "done", "failed") else None
            )
            acked = at + timedelta(minutes=5) if state in ("done", "failed") else None
            deliveries.append(
                (f"{doc_id}:{r}", doc_id, r, "local", None, state, 0, None, at, at, delivered,
                 acked)
            )  # fmt: skip
            if not status and rng.random() < 0.7:
                level = rng.choices(("01", "03", "04", "05", "06", "02"), (5, 20, 10, 10, 50, 5))[0]
                change = "13" if rng.random() < 0.01 else None
                progress.append(
                    (doc_id, r, level, at + timedelta(hours=2), change, None, level, 2,
                     at + timedelta(hours=2))
                )  # fmt: skip
        yield message, deliveries, progress


_MESSAGE_COLUMNS = (
    "doc_id", "kind", "sender", "document_id", "business_type", "status_code", "subject",
    "code_notation", "subject_folded", "code_folded", "notation_folded", "system_id",
    "received_at", "sha256", "size", "blob_key", "dedup_key",
)  # fmt: skip
_DELIVERY_COLUMNS = (
    "delivery_id", "doc_id", "recipient", "route", "peer", "state", "attempts", "last_error",
    "created_at", "updated_at", "delivered_at", "acked_at",
)  # fmt: skip
_PROGRESS_COLUMNS = (
    "doc_id", "recipient", "level", "level_at", "change_state", "change_at", "last_code",
    "events", "updated_at",
)  # fmt: skip
_TABLES = ("messages", "deliveries", "progress")


async def _load(dsn: str, corpus: Corpus, out: TextIO) -> None:
    conn = await asyncpg.connect(dsn)
    try:
        # Secondary indexes are rebuilt after the load (much faster than row by row).
        indexes = await conn.fetch(
            "SELECT i.indexname, i.indexdef FROM pg_indexes i"
            " WHERE i.schemaname = current_schema() AND i.tablename = ANY($1::text[])"
            " AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conname = i.indexname)",
            list(_TABLES),
        )
        for index in indexes:
            await conn.execute(f'DROP INDEX "{index["indexname"]}"')
        rng = random.Random(20250701)  # noqa: S311 - test data, not secrets
        batch = 50_000
        rows = _rows(corpus, rng)
        loaded = 0
        started = time.perf_counter()
        while loaded < corpus.count:
            messages: list[tuple[Any, ...]] = []
            deliveries: list[tuple[Any, ...]] = []
            progress: list[tuple[Any, ...]] = []
            for message, d, p in (next(rows) for _ in range(min(batch, corpus.count - loaded))):
                messages.append(message)
                deliveries += d
                progress += p
            async with conn.transaction():
                await conn.copy_records_to_table(
                    "messages", records=messages, columns=_MESSAGE_COLUMNS
                )
                await conn.copy_records_to_table(
                    "deliveries", records=deliveries, columns=_DELIVERY_COLUMNS
                )
                await conn.copy_records_to_table(
                    "progress", records=progress, columns=_PROGRESS_COLUMNS
                )
            loaded += len(messages)
            out.write(f"\r  loaded {loaded:,} messages ({time.perf_counter() - started:.0f} s)")
            out.flush()
        out.write("\n  rebuilding indexes and statistics\n")
        await conn.execute("SET maintenance_work_mem = '256MB'")
        for index in indexes:
            await conn.execute(index["indexdef"])
        await conn.execute("VACUUM ANALYZE messages")
        await conn.execute("VACUUM ANALYZE deliveries")
        await conn.execute("VACUUM ANALYZE progress")
    finally:
        await conn.close()


def _corpus(count: int) -> Corpus:
    rng = random.Random(7)  # noqa: S311 - test data
    agencies = _agencies(rng)
    start = datetime(2024, 7, 1, tzinfo=UTC)
    samples = random.Random(11)  # noqa: S311
    picked = sorted(samples.sample(range(count), min(200, count)))
    return Corpus(
        count=count,
        start=start,
        span=timedelta(days=730),
        agencies=agencies,
        busy=agencies[:60],
        doc_ids=[_doc_id(i) for i in picked],
        document_ids=[],
        codes=[],
    )


async def _samples(store: Store, corpus: Corpus) -> Corpus:
    """Real DocumentIds and codes to look up, read back from the loaded data."""
    page = await store.search_messages(SearchQuery(kind="edoc", limit=200))
    deep = await store.search_messages(
        SearchQuery(kind="edoc", limit=200, received_to=corpus.start + corpus.span / 3)
    )
    hits = [h.message for h in page.hits + deep.hits]
    return replace(
        corpus,
        document_ids=[m.document_id for m in hits],
        codes=[m.code_notation for m in hits if m.code_notation],
    )


Query = Callable[[random.Random], SearchQuery]


def _two(text: str) -> str:
    return " ".join(text.split()[:2])


def _queries(corpus: Corpus) -> list[tuple[str, Query]]:
    span = corpus.span
    start = corpus.start

    def day(rng: random.Random) -> datetime:
        return start + timedelta(days=rng.randrange(0, span.days - 1))

    return [
        ("latest (no filter)", lambda r: SearchQuery()),
        ("DocId", lambda r: SearchQuery(doc_id=r.choice(corpus.doc_ids))),
        ("DocumentId", lambda r: SearchQuery(document_id=r.choice(corpus.document_ids))),
        ("code (number/notation)", lambda r: SearchQuery(code=r.choice(corpus.codes))),
        ("notation only (common)", lambda r: SearchQuery(code=r.choice(_NOTATIONS))),
        ("sender (busy agency)", lambda r: SearchQuery(sender=r.choice(corpus.busy))),
        ("sender (quiet agency)", lambda r: SearchQuery(sender=r.choice(corpus.agencies[60:]))),
        ("recipient", lambda r: SearchQuery(recipient=r.choice(corpus.busy))),
        ("subject, 2 words with diacritics", lambda r: SearchQuery(text=_two(r.choice(_TOPICS)))),
        (
            "subject, 2 words without diacritics",
            lambda r: SearchQuery(text=fold(_two(r.choice(_TOPICS)))),
        ),
        ("subject, one word being typed", lambda r: SearchQuery(text=r.choice(_TOPICS)[:4])),
        (
            "subject, rare combination",
            lambda r: SearchQuery(text=f"{r.choice(_TOPICS)} {r.choice(_SCOPES) or 'khẩn'}"),
        ),
        ("status 06 (common)", lambda r: SearchQuery(status="06")),
        ("status 13 (rare)", lambda r: SearchQuery(status="13")),
        ("state dead (rare)", lambda r: SearchQuery(state=DeliveryState.DEAD)),
        ("business type 3 (rare)", lambda r: SearchQuery(business_type=3)),
        (
            "one day",
            lambda r: (lambda d: SearchQuery(received_from=d, received_to=d + timedelta(days=1)))(
                day(r)
            ),
        ),
        (
            "sender + words + month",
            lambda r: (
                lambda d: SearchQuery(
                    sender=r.choice(corpus.busy),
                    text=r.choice(("triển khai", "báo cáo", "kế hoạch")),
                    received_from=d,
                    received_to=d + timedelta(days=30),
                )
            )(day(r)),
        ),
    ]


async def _time(call: Callable[[], Awaitable[Any]]) -> float:
    started = time.perf_counter()
    await call()
    return (time.perf_counter() - started) * 1000


async def _run(store: Store, corpus: Corpus, rounds: int, deep: int, out: TextIO) -> list[str]:
    rng = random.Random(3)  # noqa: S311
    lines = [
        f"| search | hits on page 1 | page 1 p50 / p95 / max ms | page {deep} p50 / max ms |",
        "|---|---:|---|---|",
    ]
    for name, make in _queries(corpus):
        first: list[float] = []
        deeper: list[float] = []
        hits = 0
        for n in range(rounds):
            query = replace(make(rng), limit=_PER_PAGE)
            started = time.perf_counter()
            page = await store.search_messages(query)
            first.append((time.perf_counter() - started) * 1000)
            hits = max(hits, len(page.hits))
            if n < 3 and page.next_cursor:  # deep pages: follow the cursor, time the last one
                cursor: str | None = page.next_cursor
                for _ in range(deep - 2):
                    if cursor is None:
                        break
                    cursor = (
                        await store.search_messages(replace(query, cursor=cursor))
                    ).next_cursor
                if cursor is not None:
                    last = replace(query, cursor=cursor)
                    deeper.append(await _time(lambda q=last: store.search_messages(q)))  # type: ignore[misc]
        first.sort()
        p95 = first[min(len(first) - 1, int(len(first) * 0.95))]
        deep_text = (
            f"{statistics.median(deeper):.1f} / {max(deeper):.1f}" if deeper else "(one page)"
        )
        lines.append(
            f"| {name} | {hits} | {statistics.median(first):.1f} / {p95:.1f} / {max(first):.1f}"
            f" | {deep_text} |"
        )
        out.write(lines[-1] + "\n")
        out.flush()
    return lines


def _database(dsn: str, name: str) -> str:
    parts = urlsplit(dsn)
    return urlunsplit(parts._replace(path=f"/{name}"))


async def bench(args: argparse.Namespace, out: TextIO) -> int:
    reuse = args.database is not None
    name = args.database or f"edxgw_search_bench_{secrets.token_hex(4)}"
    if not reuse:
        admin = await asyncpg.connect(args.dsn)
        try:
            await admin.execute(f'CREATE DATABASE "{name}"')
        finally:
            await admin.close()
    target = _database(args.dsn, name)
    out.write(f"database {name}: {args.messages:,} messages\n")
    try:
        store = await open_store(target)
        try:
            await store.migrate()
            corpus = _corpus(args.messages)
            if not reuse:
                started = time.perf_counter()
                await _load(target, corpus, out)
                out.write(f"  loaded and indexed in {time.perf_counter() - started:.0f} s\n")
            corpus = await _samples(store, corpus)
            version = await _server_version(target)
            out.write(
                f"\n{args.messages:,} messages, {_PER_PAGE} per page, {args.rounds} rounds each,"
                f" {version}\n\n"
            )
            lines = await _run(store, corpus, args.rounds, args.deep, out)
            out.write("\n" + "\n".join(lines) + "\n")
        finally:
            await store.close()
    finally:
        if not args.keep and not reuse:
            admin = await asyncpg.connect(args.dsn)
            try:
                await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            finally:
                await admin.close()
        else:
            out.write(f"kept database {name}\n")
    return 0


async def _server_version(dsn: str) -> str:
    conn = await asyncpg.connect(dsn)
    try:
        return str(await conn.fetchval("SELECT 'PostgreSQL ' || current_setting('server_version')"))
    finally:
        await conn.close()


def main(argv: Sequence[str] | None = None, out: TextIO | None = None) -> int:
    parser = argparse.ArgumentParser(prog="edxgw bench-search", description=__doc__.split("\n")[0])
    parser.add_argument("--dsn", default="postgresql://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--messages", type=int, default=1_000_000)
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--deep", type=int, default=20, help="the deep page to time")
    parser.add_argument("--keep", action="store_true", help="keep the database afterwards")
    parser.add_argument(
        "--database",
        help="time the searches on a database an earlier --keep run loaded (same --messages)",
    )
    args = parser.parse_args(list(sys.argv[1:] if argv is None else argv))
    return asyncio.run(bench(args, out or sys.stdout))


if __name__ == "__main__":
    raise SystemExit(main())
