"""Message search: the folded search columns, the query value and the page of hits.

Vietnamese is searched with and without diacritics alike: "triển khai", "trien khai" and
"TRIỂN KHAI" are one query. Folding happens in Python, once, when a message is accepted
(:func:`search_columns`, written by ``Store.accept``), and again on the query; the database
only compares plain ASCII words, so both backends answer the same and PostgreSQL needs no
extension (``unaccent`` and ``pg_trgm`` would have to be installed per schema):

- ``subject_folded``: the subject as lower-case ASCII words separated by one space
  (``"V/v triển khai Đề án 06"`` → ``"v v trien khai de an 06"``). Every query word must
  match a whole subject word, except the last, which may also begin one (``"trien kha"``
  finds ``"trien khai"``: :func:`terms`). PostgreSQL indexes the words (a generated
  ``tsvector``, GIN); SQLite scans.
- ``code_folded`` / ``notation_folded``: số và ký hiệu without case, diacritics and
  separators (``"12/QĐ-UBND"`` → ``"12/qdubnd"``, notation ``"qdubnd"``): a query with a
  ``/`` matches the whole code, one without matches the notation or the whole code.

Migration 2 fills these columns for messages accepted before it with :func:`sql_fold` and
:func:`sqlite_fold`, the same mapping written as SQL (Vietnamese letters of both cases, đ,
combining marks).
"""

# S608: the statements of sqlite_fold are built from this module's literals (migration 2).
# ruff: noqa: S608

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Literal

from gateway.store.lifecycle import DeliveryState

if TYPE_CHECKING:  # base.py imports this module for the Store protocol
    from gateway.store.base import Delivery, Message, ProgressRow

__all__ = [
    "SEARCH_COLUMNS",
    "STATUS_CODES",
    "SearchHit",
    "SearchPage",
    "SearchQuery",
    "fold",
    "fold_code",
    "search_columns",
    "sql_fold",
    "sqlite_fold",
    "terms",
    "words",
]

#: The columns :func:`search_columns` fills, in its order.
SEARCH_COLUMNS = ("subject_folded", "code_folded", "notation_folded")
#: Status codes a search can ask for: a progress level, or a recall's state (13/15/16).
STATUS_CODES = ("01", "02", "03", "04", "05", "06", "13", "15", "16")
_MAX_WORDS = 12
_PREFIX_FROM = 3

_WORD = re.compile(r"[a-z0-9]+")
_CODE_DROP = re.compile(r"[^a-z0-9/]+")
# đ/Đ are letters of their own, not d plus a mark, so NFD leaves them; Ð (U+00D0, Icelandic
# eth) is what some fonts and OCR put for Đ.
_D = str.maketrans({"đ": "d", "Đ": "d", "Ð": "d", "ð": "d"})


def _strip(text: str) -> str:
    decomposed = unicodedata.normalize("NFD", text.translate(_D)).lower()
    return "".join(c for c in decomposed if not unicodedata.combining(c))


def fold(text: str | None) -> str:
    """Lower-case ASCII words of ``text`` without diacritics, joined by single spaces."""
    if not text:
        return ""
    return " ".join(_WORD.findall(_strip(text)))


def words(text: str | None) -> list[str]:
    """The query words of a free-text search box (at most 12, duplicates dropped)."""
    out: list[str] = []
    for word in fold(text).split():
        if word not in out:
            out.append(word)
    return out[:_MAX_WORDS]


def terms(text: str | None) -> list[tuple[str, bool]]:
    """The query words, each with whether it matches as a prefix: only the last one does,
    from three letters on (it may still be being typed); the others match whole words.

    Every word a prefix would be friendlier and is not affordable: each short prefix
    ("an", "de") stands for dozens of distinct words whose occurrences the index must merge
    (measured: 106 ms instead of 7 ms for seven words over a million subjects)."""
    found = words(text)
    return [(w, i == len(found) - 1 and len(w) >= _PREFIX_FROM) for i, w in enumerate(found)]


def fold_code(text: str | None) -> str:
    """Số và ký hiệu as compared: no case, diacritics, spaces or dashes; ``/`` kept."""
    if not text:
        return ""
    return _CODE_DROP.sub("", _strip(text))


def search_columns(message: Message) -> tuple[str | None, str | None, str | None]:
    """The values of :data:`SEARCH_COLUMNS` for a message (what ``accept`` writes)."""
    subject = fold(message.subject) or None
    code = fold_code(message.code_notation) or None
    notation = code.split("/", 1)[1] if code and "/" in code else code
    return subject, code, notation or None


# -- the same folding in SQL, for rows written before migration 2 -----------------------------

_MARKS = "\u0300\u0301\u0302\u0303\u0306\u0309\u031b\u0323"  # NFD-typed Vietnamese marks
_VOWELS = "aăâeêioôơuưy"
_TONES = "\u0300\u0301\u0303\u0309\u0323"  # huyền, sắc, ngã, hỏi, nặng


def _vietnamese_letters() -> dict[str, str]:
    """Every precomposed Vietnamese letter (both cases) → its ASCII base letter."""
    table: dict[str, str] = {}
    for vowel in _VOWELS:
        for form in [vowel] + [unicodedata.normalize("NFC", vowel + t) for t in _TONES]:
            for letter in (form, form.upper()):
                base = _strip(letter)
                if not letter.isascii():
                    table[letter] = base
    table.update({"đ": "d", "Đ": "d", "Ð": "d"})
    return table


def sql_fold(column: str, *, code: bool = False) -> str:
    """A PostgreSQL expression folding ``column`` as :func:`fold` (or :func:`fold_code`) does
    for Vietnamese text."""
    letters = _vietnamese_letters()
    source = "".join(letters) + _MARKS
    target = "".join(letters.values())  # translate() drops the marks: they have no counterpart
    folded = f"translate(lower({column}), '{source}', '{target}')"
    if code:
        return f"regexp_replace({folded}, '[^a-z0-9/]+', '', 'g')"
    return f"trim(regexp_replace({folded}, '[^a-z0-9]+', ' ', 'g'))"


def sqlite_fold(table: str, source: str, target: str, *, code: bool = False) -> tuple[str, ...]:
    """UPDATE statements setting ``target`` to ``source`` folded, for Vietnamese text.

    SQLite has neither ``translate`` nor ``regexp_replace``: nested ``replace`` calls do it,
    twenty per statement (deeper nesting overflows SQLite's parser stack). Runs of separators
    may leave several spaces, which the word predicate (``' ' || col LIKE '% word%'``) does
    not mind.
    """
    pairs = [(k, v) for k, v in _vietnamese_letters().items()] + [(m, "") for m in _MARKS]
    separators = "/-.,;:()[]\"'!?_\u2013\u2014\t\n"
    pairs += [(c, "" if code else " ") for c in separators if not (code and c == "/")]
    if code:
        pairs.append((" ", ""))
    statements = [f"UPDATE {table} SET {target} = lower({source}) WHERE {source} IS NOT NULL"]
    for start in range(0, len(pairs), 20):
        expr = target
        for old, new in pairs[start : start + 20]:
            expr = f"replace({expr}, '{_sql_quote(old)}', '{new}')"
        statements.append(f"UPDATE {table} SET {target} = {expr} WHERE {target} IS NOT NULL")
    return tuple(statements)


def _sql_quote(text: str) -> str:
    return text.replace("'", "''")


# -- the query and its answer -------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class SearchQuery:
    """What an administrator searches for; every given field must hold (AND).

    ``text`` is free text matched word by word against the folded subject; ``state`` is a
    delivery state any recipient is in; ``status`` a status code any recipient reached
    (progress level ``01``…``06``/``02``, or recall state ``13``/``15``/``16``). The period
    is ``received_from <= received_at < received_to``. Hits come newest first.
    """

    doc_id: str | None = None
    document_id: str | None = None
    code: str | None = None
    sender: str | None = None
    recipient: str | None = None
    text: str | None = None
    kind: Literal["edoc", "status"] | None = None
    business_type: int | None = None
    state: DeliveryState | None = None
    status: str | None = None
    received_from: datetime | None = None
    received_to: datetime | None = None
    limit: int = 50
    cursor: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class SearchHit:
    message: Message
    deliveries: list[Delivery] = field(default_factory=list)
    progress: list[ProgressRow] = field(default_factory=list)


@dataclass(frozen=True, slots=True, kw_only=True)
class SearchPage:
    hits: list[SearchHit]
    next_cursor: str | None  # None at the end
