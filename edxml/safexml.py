"""The one hardened entry point that turns untrusted bytes into an lxml tree.

Every package a hub receives passes through :func:`parse_xml`, so it is both the security
boundary and on the hot path. The threat model, in the order the checks run:

* **DOCTYPE of any kind is refused before libxml2 sees the input.** A bounded scan of the
  prolog (XML 1.0 §2.8: a DOCTYPE can only follow the XML declaration, comments and PIs)
  finds it, and classifies what it tried so each attack gets its own code: external DTD,
  external entity (XXE, parameter entities too), nested entities ("billion laughs"), one large
  entity referenced many times (quadratic blowup), anything else. libxml2 never parses the
  internal subset; the parser is *also* configured to resolve nothing and fetch nothing, and
  a DOCTYPE that slipped past the scan is still rejected after the parse.
* **Encodings in which ASCII markup could hide are refused** (UTF-7: ``+ADw-!DOCTYPE``),
  because libxml2 (through iconv) would decode markup the byte scan never saw.
* **Size, depth, attribute length and node count are bounded** so that the memory libxml2
  allocates stays proportional to a limit, not to what the sender chose to amplify.
* Processing instructions and XInclude elements stay inert nodes: nothing here applies a
  stylesheet or calls ``xinclude()``.

Every failure is an :class:`~edxml.errors.XmlError` with a stable code; no lxml exception type
ever escapes (:func:`_run` is the one place they are translated).
"""

from __future__ import annotations

import codecs
import os
import re
from dataclasses import dataclass
from functools import lru_cache
from typing import IO, Any, BinaryIO, Final, cast

from lxml import etree

from edxml.errors import XmlError, define

__all__ = [
    "ATTRIBUTE_TOO_LARGE",
    "DOCTYPE_FORBIDDEN",
    "EMPTY",
    "ENCODING_UNSUPPORTED",
    "ENTITY_BLOWUP",
    "ENTITY_EXPANSION",
    "EXTERNAL_DTD",
    "EXTERNAL_ENTITY",
    "NOT_WELL_FORMED",
    "TOO_DEEP",
    "TOO_LARGE",
    "TOO_MANY_ELEMENTS",
    "Limits",
    "parse_xml",
]

EMPTY = define(
    "edxml.empty",
    "Dữ liệu XML rỗng: không có nội dung nào để phân tích.",
    "The XML input is empty.",
)
TOO_LARGE = define(
    "edxml.too_large",
    "Dữ liệu XML vượt quá giới hạn kích thước {limit} byte.",
    "The XML input exceeds the size limit of {limit} bytes.",
)
TOO_DEEP = define(
    "edxml.too_deep",
    "Các phần tử XML lồng nhau sâu hơn giới hạn {limit} cấp.",
    "XML elements are nested deeper than the limit of {limit} levels.",
)
ATTRIBUTE_TOO_LARGE = define(
    "edxml.attribute_too_large",
    "Giá trị của một thuộc tính XML dài hơn giới hạn {limit} byte.",
    "An XML attribute value is longer than the limit of {limit} bytes.",
)
TOO_MANY_ELEMENTS = define(
    "edxml.too_many_elements",
    "Tài liệu XML có nhiều hơn {limit} nút (phần tử, thuộc tính, chú thích, chỉ thị xử lý).",
    "The XML document has more than {limit} nodes (elements, attributes, comments, PIs).",
)
NOT_WELL_FORMED = define(
    "edxml.not_well_formed",
    "XML không đúng cú pháp: {detail}",
    "The XML is not well-formed: {detail}",
)
ENCODING_UNSUPPORTED = define(
    "edxml.encoding_unsupported",
    "Bảng mã ký tự “{detail}” không được chấp nhận; hãy dùng UTF-8.",
    "The character encoding “{detail}” is not accepted; use UTF-8.",
)
DOCTYPE_FORBIDDEN = define(
    "edxml.doctype_forbidden",
    "Gói tin không được chứa khai báo DOCTYPE.",
    "A DOCTYPE declaration is not allowed.",
)
EXTERNAL_DTD = define(
    "edxml.external_dtd",
    "Gói tin tham chiếu tới một DTD bên ngoài; điều này không được phép.",
    "The document references an external DTD, which is not allowed.",
)
EXTERNAL_ENTITY = define(
    "edxml.external_entity",
    "Gói tin khai báo thực thể bên ngoài (tấn công XXE); điều này không được phép.",
    "The document declares an external entity (an XXE attack), which is not allowed.",
)
ENTITY_EXPANSION = define(
    "edxml.entity_expansion",
    "Gói tin khai báo các thực thể lồng nhau (tấn công “billion laughs”); "
    "điều này không được phép.",
    "The document declares nested entities (a “billion laughs” attack), which is not allowed.",
)
ENTITY_BLOWUP = define(
    "edxml.entity_blowup",
    "Gói tin khai báo một thực thể lớn được tham chiếu nhiều lần "
    "(tấn công bùng nổ bậc hai); điều này không được phép.",
    "The document declares a large entity referenced many times (a quadratic blowup "
    "attack), which is not allowed.",
)


@dataclass(frozen=True, slots=True)
class Limits:
    """What one package may cost; every field is a policy a hub can tune.

    ``max_elements`` bounds every markup node libxml2 allocates: elements, but also
    attributes, comments and processing instructions, since ``<a b="" c=""/>`` amplifies
    memory as well as ``<a/><a/>`` does (each is ~100 bytes of tree for ~5 bytes of input).
    ``max_attribute_bytes`` is measured in UTF-8, as the tree stores it. ``max_depth`` above
    2048 has no effect: libxml2 stops there itself.
    """

    max_bytes: int = 64 * 1024 * 1024
    max_depth: int = 64  # edXML is ~9 deep
    max_attribute_bytes: int = 64 * 1024
    max_elements: int = 200_000  # hundreds of recipients x ~10 children fits easily

    def __post_init__(self) -> None:
        for name in ("max_bytes", "max_depth", "max_attribute_bytes", "max_elements"):
            value = getattr(self, name)
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"Limits.{name} must be a positive int, not {value!r}")


# Files are read in large chunks: lxml keeps what read() returned beyond the 4000 bytes it
# asked for, so one Python call per MiB instead of one per 4 KB (6 ms less on 20 MiB).
_CHUNK: Final = 1024 * 1024
# libxml2's own nesting limit with XML_PARSE_HUGE ("Excessive depth in document: 2048").
_LIBXML2_MAX_DEPTH: Final = 2048
# The smallest markup node is 4 bytes (``<a/>``, `` a=""`` minus its space is 4 too), so an
# input shorter than 4 * limit cannot exceed the node limit and is not counted at all.
_MIN_NODE_BYTES: Final = 4
# How much of a DOCTYPE is read to classify it, and how large an entity's total expansion
# must be (replacement text x references seen) to call it a blowup rather than a DOCTYPE.
_DOCTYPE_WINDOW: Final = 1024 * 1024
_BLOWUP_BYTES: Final = 64 * 1024
# How much of a UTF-16/32 input is transcoded at first to look at its prolog.
_TRANSCODE_WINDOW: Final = 64 * 1024

# libxml2 xmlParserErrors values (stable ABI); lxml-stubs do not declare ErrorTypes.
_ERR_UNKNOWN_ENCODING: Final = 31
_ERR_UNSUPPORTED_ENCODING: Final = 32

_UTF8_BOM: Final = b"\xef\xbb\xbf"
# XML 1.0 Appendix F: the encoding family is told by the first four bytes. Where ASCII markup
# is not ASCII bytes, the prolog is transcoded before it is scanned. Longest signatures first.
_SIGNATURES: Final = (
    (b"\x00\x00\xfe\xff", "utf-32-be"),
    (b"\xff\xfe\x00\x00", "utf-32-le"),
    (b"\x00\x00\x00<", "utf-32-be"),
    (b"<\x00\x00\x00", "utf-32-le"),
    (b"\xfe\xff", "utf-16-be"),
    (b"\xff\xfe", "utf-16-le"),
    (b"\x00<\x00?", "utf-16-be"),
    (b"<\x00?\x00", "utf-16-le"),
)
_SIGNATURE_STARTS: Final = frozenset({0x00, 0xFE, 0xFF, 0x3C})
_EBCDIC: Final = b"\x4c\x6f\xa7\x94"  # "<?xm" in EBCDIC
# Every printable ASCII byte but the backslash (an "escape" codec would warn on it): a codec
# that decodes these to themselves cannot turn other bytes into markup the scan missed.
_ASCII_PROBE: Final = bytes(range(0x20, 0x7F)).replace(b"\\", b"") + b"\t\n\r"
# Legacy Vietnamese encodings libxml2 knows through iconv but Python does not; both keep
# printable ASCII where it is (they reuse C0 control codes for letters).
_VIETNAMESE_LEGACY: Final = frozenset(
    {"viscii", "viscii1.1-1", "csviscii", "tcvn", "tcvn-5712", "tcvn5712-1"}
)

# The prolog before a DOCTYPE or the root (XML 1.0 §2.8), matched in C so that a million
# comments before the root cost tens of milliseconds, not a Python loop; possessive
# quantifiers keep it linear (a lazy ".*?-->" is 3-5x slower over a 20 MB comment).
_PROLOG: Final = re.compile(
    rb"""(?:\xef\xbb\xbf)?                                   # UTF-8 byte order mark
    (?P<declaration><\?xml[ \t\r\n](?:[^?]++|\?(?!>))*+\?>)?  # XML declaration
    (?:[ \t\r\n]++                                         # Misc: whitespace,
      |<!--(?:[^-]++|-(?!->))*+-->                           # comments,
      |<\?(?:[^?]++|\?(?!>))*+\?>                            # processing instructions
    )*+
    """,
    re.VERBOSE,
)
_ENCODING: Final = re.compile(rb"""encoding[ \t\r\n]*=[ \t\r\n]*["']([A-Za-z][A-Za-z0-9._-]*)""")
_DOCTYPE: Final = b"<!DOCTYPE"
_EXTERNAL_ID: Final = re.compile(rb"<!DOCTYPE\s+[^\s\[>]+\s+(?:SYSTEM|PUBLIC)\b", re.IGNORECASE)
# An entity declaration: parameter flag, name, and either an external id or a literal value
# (whose closing quote may lie beyond the window: an unterminated value is still a value).
_ENTITY_DECL: Final = re.compile(
    rb"""<!ENTITY\s+(%\s+)?([^\s%"'>]+)\s+(SYSTEM\b|PUBLIC\b|"[^"]*"?|'[^']*'?)""",
    re.IGNORECASE,
)
# A reference to another entity inside an entity value; character references (&#..;) are not.
_ENTITY_REF: Final = re.compile(rb"[&%][A-Za-z_:][^\s;&%]*;")
# lxml appends ", line L, column C" to libxml2's message; the position is kept separately.
_DETAIL_CHARS: Final = 300
_POSITION_SUFFIX: Final = re.compile(r", line \d+, column \d+$")

# The size check for attributes runs in XPath with a cheap character-count prefilter: a value
# over N UTF-8 bytes has more than N/4 characters. Compiled once; lxml serialises calls of one
# XPath object with its own lock, so sharing it between threads is safe.
_LONG_ATTRIBUTES: Final = etree.XPath("//*/@*[string-length(.) > $chars]")


def parse_xml(
    source: bytes | str | os.PathLike[str] | BinaryIO,
    limits: Limits = Limits(),
) -> etree._ElementTree:
    """Parse untrusted XML into a tree, or raise :class:`~edxml.errors.XmlError`.

    ``source`` is the document itself (``bytes``), a file path (``str`` or path-like), or a
    binary file object read from its current position. Files over a MiB are streamed in
    chunks, so their bytes and their tree are never in memory together. A path that cannot
    be opened raises its ``OSError``: that is the caller's mistake, not the sender's.
    """
    if isinstance(source, bytes):
        return _parse_bytes(source, limits)
    if isinstance(source, str | os.PathLike):
        with open(source, "rb") as file:
            return _parse_file(file, os.fstat(file.fileno()).st_size, limits)
    if not source.seekable():
        # A pipe or socket cannot be rewound for the exact node count, so it is read whole.
        return _parse_bytes(_read_capped(source, _CHUNK, limits), limits)
    start = source.tell()
    size = source.seek(0, os.SEEK_END) - start
    source.seek(start)
    return _parse_file(source, size, limits)


# --- the three sources ------------------------------------------------------------------


def _parse_bytes(data: bytes, limits: Limits) -> etree._ElementTree:
    if len(data) > limits.max_bytes:
        raise XmlError(TOO_LARGE, limit=limits.max_bytes)
    expansion = _check_prolog(data, final=True)
    if len(data) >= _MIN_NODE_BYTES * (limits.max_elements + 1) and (
        _count_byte(data, b"<") + _count_byte(data, b"=") > limits.max_elements
    ):
        # The byte count is only an upper bound (a "<" in a comment or CDATA counts too):
        # count exactly, without building a tree, before building one.
        _count_nodes(data, limits)
    root = cast(etree._Element, _run(data, _parser(), limits))
    tree = root.getroottree()
    _check_tree(tree, limits, len(data) * expansion)
    return tree


def _parse_file(file: BinaryIO, size: int, limits: Limits) -> etree._ElementTree:
    if size > limits.max_bytes:
        raise XmlError(TOO_LARGE, limit=limits.max_bytes)
    if size <= _CHUNK:
        # libxml2 parses memory faster than through a read() callback (~180 vs ~250 µs on
        # the 367 KB sample), and holding a MiB twice is no memory concern.
        return _parse_bytes(_read_capped(file, size + 1, limits), limits)
    start = file.tell()
    count = size >= _MIN_NODE_BYTES * (limits.max_elements + 1)
    try:
        return _parse_reader(_Reader(file, limits, count=count), size, limits)
    except _Crowded:
        pass
    # Too many "<" and "=" for the limit: count exactly in a second pass, then parse.
    file.seek(start)
    reader = _Reader(file, limits, count=False)
    reader.prime()
    _count_nodes(reader, limits)
    file.seek(start)
    return _parse_reader(_Reader(file, limits, count=False), size, limits)


def _parse_reader(reader: _Reader, size: int, limits: Limits) -> etree._ElementTree:
    expansion = reader.prime()
    tree = cast(etree._ElementTree, _run(reader, _parser(), limits))
    _check_tree(tree, limits, size * expansion)
    return tree


def _read_capped(stream: BinaryIO, first: int, limits: Limits) -> bytes:
    """The whole stream, read ``first`` bytes then a chunk at a time, up to ``max_bytes``."""
    parts: list[bytes] = []
    total = 0
    while chunk := stream.read(first if not parts else _CHUNK):
        total += len(chunk)
        if total > limits.max_bytes:
            raise XmlError(TOO_LARGE, limit=limits.max_bytes)
        parts.append(chunk)
    return parts[0] if len(parts) == 1 else b"".join(parts)


class _Crowded(Exception):
    """The cheap node bound exceeded the limit; an exact count must decide."""


class _Incomplete(Exception):
    """The input read so far ends inside the prolog; only raised when more may follow."""


class _Reader:
    """The file object lxml reads: enforces ``max_bytes`` and bounds the node count in passing."""

    __slots__ = ("_count", "_file", "_head", "_limits", "_nodes", "_total")

    def __init__(self, file: BinaryIO, limits: Limits, *, count: bool) -> None:
        self._file = file
        self._limits = limits
        self._count = count
        self._head = b""
        self._nodes = 0
        self._total = 0

    def prime(self) -> int:
        """Read until the prolog is known to be safe; return the UTF-8 expansion factor."""
        chunk = self._next()
        head: bytes | bytearray = chunk
        while True:
            try:
                expansion = _check_prolog(head, final=not chunk)
            except _Incomplete:
                # Rare: a prolog longer than a chunk. It is scanned again from the start,
                # so the head doubles each time to keep the total work linear.
                if isinstance(head, bytes):
                    head = bytearray(head)
                wanted = 2 * len(head)
                chunk = self._next()
                head += chunk
                while chunk and len(head) < wanted:
                    chunk = self._next()
                    head += chunk
            else:
                self._head = bytes(head)  # no copy when it is already bytes
                return expansion

    def read(self, size: int = -1) -> bytes:
        # lxml asks for 4000 bytes and keeps any surplus, so whole chunks are returned.
        if self._head:
            head, self._head = self._head, b""
            return head
        return self._next()

    def _next(self) -> bytes:
        chunk = self._file.read(_CHUNK)
        self._total += len(chunk)
        if self._total > self._limits.max_bytes:  # the file grew, or its size was unknown
            raise XmlError(TOO_LARGE, limit=self._limits.max_bytes)
        if self._count:
            self._nodes += _count_byte(chunk, b"<") + _count_byte(chunk, b"=")
            if self._nodes > self._limits.max_elements:
                raise _Crowded
        return chunk


def _count_byte(data: bytes, byte: bytes) -> int:
    """How often ``byte`` occurs; memchr-fast when it is rare (the base64 payload case).

    ``bytes.count`` runs at ~3 GB/s, a third of a 20 MiB parse; ``find`` uses memchr and
    costs ~0.35 ms there. Markup-dense inputs fall back to ``count`` after a few probes.
    """
    position = 0
    for seen in range(256):
        position = data.find(byte, position) + 1
        if not position:
            return seen
    return 256 + data.count(byte, position)


# --- the prolog: encoding and DOCTYPE ------------------------------------------------------


def _check_prolog(buf: bytes | bytearray, *, final: bool) -> int:
    """Raise for a DOCTYPE, an unsafe encoding or an empty input, else return how many bytes
    of UTF-8 one input byte may become (1 for UTF-8, 3 otherwise).

    Raises :class:`_Incomplete` if ``buf`` ends inside the prolog and is not ``final``.
    """
    if len(buf) < 4 and not final:
        raise _Incomplete
    if buf.startswith(_EBCDIC):
        raise XmlError(ENCODING_UNSUPPORTED, detail="EBCDIC")
    # Fast path: every signature starts with 00, FE, FF or "<" followed by 00.
    if not buf or buf[0] not in _SIGNATURE_STARTS or (buf[0] == 0x3C and buf[1:2] != b"\x00"):
        return _scan_prolog(buf, final=final, expansion=1)
    codec = next((codec for signature, codec in _SIGNATURES if buf.startswith(signature)), None)
    if codec is None:
        return _scan_prolog(buf, final=final, expansion=1)
    window = _TRANSCODE_WINDOW
    while True:
        whole = window >= len(buf)
        view = bytes(buf[:window]).decode(codec, "replace").encode()
        try:
            # A UTF-16 character is at most 3 bytes of UTF-8 for its 2 bytes.
            return _scan_prolog(view, final=final and whole, expansion=3)
        except _Incomplete:
            if whole:
                raise
        window *= 4


def _scan_prolog(view: bytes | bytearray, *, final: bool, expansion: int) -> int:
    """The prolog scan proper, over bytes in which ASCII markup is ASCII."""
    # Every part of the pattern is optional, so it always matches.
    prolog = cast("re.Match[bytes]", _PROLOG.match(view))
    if declaration := prolog["declaration"]:
        declared = _ENCODING.search(declaration)
        if declared:
            expansion = max(expansion, _encoding_expansion(declared[1].decode("ascii")))
    position = prolog.end()
    rest = view[position : position + len(_DOCTYPE)]
    if not final and (len(rest) < len(_DOCTYPE) or rest.startswith((b"<?", b"<!--"))):
        raise _Incomplete  # the prolog may continue past what has been read so far
    if rest.upper() == _DOCTYPE:
        raise _doctype_error(view, position)
    if not rest and not view[:position].removeprefix(_UTF8_BOM).strip():
        raise XmlError(EMPTY)  # nothing but a byte order mark and whitespace
    # Anything else (the root, an unterminated comment, garbage) is libxml2's to judge.
    return expansion


def _encoding_expansion(encoding: str) -> int:
    """UTF-8 bytes per input byte for a declared encoding, or raise if markup could hide."""
    if encoding.upper() == "UTF-8":  # the edXML case, without a codec lookup
        return 1
    try:
        name = codecs.lookup(encoding).name
    except LookupError:
        if encoding.lower() in _VIETNAMESE_LEGACY:
            return 3
        raise XmlError(ENCODING_UNSUPPORTED, detail=encoding[:40]) from None
    if name in ("utf-8", "ascii"):
        return 1
    if name.startswith(("utf-16", "utf-32")):
        return 3
    try:
        transparent = _ASCII_PROBE.decode(name) == _ASCII_PROBE.decode("ascii")
    except (UnicodeDecodeError, LookupError):  # not a text encoding ("hex", "rot13", ...)
        transparent = False
    if not transparent:
        raise XmlError(ENCODING_UNSUPPORTED, detail=encoding[:40])
    return 3


def _doctype_error(view: bytes | bytearray, position: int) -> XmlError:
    """Name the attack a DOCTYPE attempts, most dangerous first; libxml2 never sees it."""
    window = bytes(view[position : position + _DOCTYPE_WINDOW])
    entities = _ENTITY_DECL.findall(window)
    if any(value[:1] not in (b'"', b"'") for _, _, value in entities):
        code = EXTERNAL_ENTITY
    elif _EXTERNAL_ID.match(window):
        code = EXTERNAL_DTD
    elif any(_ENTITY_REF.search(value) for _, _, value in entities):
        code = ENTITY_EXPANSION
    elif any(
        not percent and (len(value) - 2) * max(1, window.count(b"&" + name + b";")) >= _BLOWUP_BYTES
        for percent, name, value in entities
    ):
        code = ENTITY_BLOWUP
    else:
        code = DOCTYPE_FORBIDDEN
    line = view.count(b"\n", 0, position) + 1
    column = position - view.rfind(b"\n", 0, position)
    return XmlError(code, line=line, column=column)


# --- lxml ----------------------------------------------------------------------------------


def _parser(target: object | None = None) -> etree.XMLParser:
    """A fresh hardened parser.

    Not shared: an lxml parser holds a lock for the length of a parse (lxml releases the GIL
    while libxml2 parses, so one shared parser would serialise a thread pool), and creating
    one costs ~0.6 µs. ``huge_tree`` lifts libxml2's 10 MB cap on a text node (a 20 MiB
    package is one base64 node); the limits above bound what that would otherwise open up.
    """
    return etree.XMLParser(
        resolve_entities=False,
        load_dtd=False,
        no_network=True,
        dtd_validation=False,
        huge_tree=True,
        # lxml calls only the methods a target has; its stub wants all five.
        target=cast("etree.ParserTarget", target),
    )


def _run(source: bytes | _Reader, parser: etree.XMLParser, limits: Limits) -> Any:
    """Run lxml: the one place where its exceptions become :class:`XmlError`."""
    try:
        if isinstance(source, bytes):
            return etree.fromstring(source, parser)
        return etree.parse(cast(IO[bytes], source), parser)  # lxml only calls read()
    except etree.XMLSyntaxError as exc:
        raise _syntax_error(exc, limits) from None
    except etree.LxmlError as exc:
        raise XmlError(NOT_WELL_FORMED, detail=str(exc)[:_DETAIL_CHARS]) from None


def _syntax_error(exc: etree.XMLSyntaxError, limits: Limits) -> XmlError:
    # Names in libxml2's messages are the sender's; a few hundred characters are plenty.
    message = _POSITION_SUFFIX.sub("", str(exc.msg))[:_DETAIL_CHARS]
    line, column = exc.position
    where: dict[str, Any] = {"line": line or None, "column": column or None}
    code = getattr(exc, "code", 0)
    # Matched on the message: libxml2 < 2.12 filed this under XML_ERR_INTERNAL_ERROR.
    if message.startswith("Excessive depth"):
        return XmlError(TOO_DEEP, **where, limit=min(limits.max_depth, _LIBXML2_MAX_DEPTH))
    if code in (_ERR_UNKNOWN_ENCODING, _ERR_UNSUPPORTED_ENCODING):
        return XmlError(ENCODING_UNSUPPORTED, **where, detail=message)
    # Everything else is a well-formedness error: an undeclared entity (&foo; with no DTD,
    # which is all we allow), an undeclared namespace prefix, and "Document is empty", which
    # libxml2 also says of a lone NUL byte (a truly empty input never gets this far).
    return XmlError(NOT_WELL_FORMED, **where, detail=message)


class _NodeCounter:
    """Parser target that counts nodes without building a tree, and stops past the limit."""

    __slots__ = ("_limit", "nodes")

    def __init__(self, limit: int) -> None:
        self._limit = limit
        self.nodes = 0

    def start(self, tag: str, attrib: dict[str, str], nsmap: dict[str, str]) -> None:
        self._add(1 + len(attrib) + len(nsmap))

    def comment(self, text: str) -> None:
        self._add(1)

    def pi(self, target: str, data: str | None = None) -> None:
        self._add(1)

    def close(self) -> int:
        return self.nodes

    def _add(self, nodes: int) -> None:
        self.nodes += nodes
        if self.nodes > self._limit:
            raise XmlError(TOO_MANY_ELEMENTS, limit=self._limit)


def _count_nodes(source: bytes | _Reader, limits: Limits) -> None:
    _run(source, _parser(_NodeCounter(limits.max_elements)), limits)


@lru_cache(maxsize=8)
def _depth_probe(max_depth: int) -> etree.XPath:
    """The first element nested deeper than ``max_depth``, as a compiled XPath.

    ``/*/*/...`` walks each level once and stops at the first empty one, so an edXML tree
    costs a few µs. Cached per limit because compiling costs as much as evaluating; the
    objects are shared between threads like ``_LONG_ATTRIBUTES`` (lxml locks each call).
    """
    return etree.XPath("(" + "/*" * (max_depth + 1) + ")[1]")


def _check_tree(tree: etree._ElementTree, limits: Limits, attribute_bound: int) -> None:
    """The limits libxml2 cannot enforce while parsing; ``attribute_bound`` is the most UTF-8
    an attribute of this input could hold."""
    if tree.docinfo.internalDTD is not None:  # a DOCTYPE the prolog scan missed
        raise XmlError(DOCTYPE_FORBIDDEN)
    deep = cast(list[etree._Element], _depth_probe(limits.max_depth)(tree))
    if deep:
        raise XmlError(
            TOO_DEEP, tree.getpath(deep[0]), line=deep[0].sourceline, limit=limits.max_depth
        )
    if attribute_bound <= limits.max_attribute_bytes:
        return
    limit = limits.max_attribute_bytes
    found = cast(list[Any], _LONG_ATTRIBUTES(tree, chars=limit // 4))
    for value in found:
        if len(value.encode()) > limit:
            element = value.getparent()
            raise XmlError(
                ATTRIBUTE_TOO_LARGE,
                f"{tree.getpath(element)}/@{value.attrname}",
                line=element.sourceline,
                limit=limit,
            )
