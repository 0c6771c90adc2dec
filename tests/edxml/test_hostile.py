"""edxml.safexml against hostile and broken input: one test per attack, each under a time budget.

The budget guards against hangs and blow-ups, not performance: it is generous for CI noise.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import os
import pathlib
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from typing import BinaryIO, cast

import pytest
from lxml import etree

from edxml import safexml
from edxml.errors import Code, XmlError
from edxml.safexml import Limits, parse_xml

DATA = pathlib.Path(__file__).parent.parent / "data" / "vpcp-official"
EDXML_NS = "http://www.mic.gov.vn/TBT/QCVN_102_2016"
BUDGET = 1.0  # seconds; every hostile input must be refused well within this

Source = bytes | str | os.PathLike[str] | BinaryIO


def rejected(source: Source, code: Code, limits: Limits | None = None) -> XmlError:
    """Parse ``source``, expect ``code``, within the budget; return the error."""
    started = time.perf_counter()
    with pytest.raises(XmlError) as info:
        parse_xml(source, limits or Limits())
    elapsed = time.perf_counter() - started
    assert info.value.code == code.code, str(info.value)
    assert elapsed < BUDGET, f"{code.code} took {elapsed:.2f} s"
    return info.value


def accepted(source: Source, limits: Limits | None = None) -> etree._ElementTree:
    tree = parse_xml(source, limits or Limits())
    assert isinstance(tree, etree._ElementTree)
    return tree


@pytest.fixture
def listener() -> Iterator[socket.socket]:
    """A TCP port on 127.0.0.1 that records whether anything tried to connect."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(8)
        sock.setblocking(False)
        yield sock


def assert_no_connection(sock: socket.socket) -> None:
    # The listening socket is non-blocking: accept() fails unless someone connected.
    with pytest.raises(BlockingIOError):
        sock.accept()


def url(sock: socket.socket, path: str) -> bytes:
    return f"http://127.0.0.1:{sock.getsockname()[1]}/{path}".encode()


# --- DOCTYPE attacks -----------------------------------------------------------------------


def test_xxe_file_read_is_refused_and_the_secret_never_appears(tmp_path: pathlib.Path) -> None:
    secret = "SECRET-" + os.urandom(8).hex()
    target = tmp_path / "secret.txt"
    target.write_text(secret)
    xml = (
        b'<?xml version="1.0" encoding="UTF-8"?>\n'
        b'<!DOCTYPE r [<!ENTITY x SYSTEM "' + target.as_uri().encode() + b'">]>\n'
        b"<r>&x;</r>"
    )
    error = rejected(xml, safexml.EXTERNAL_ENTITY)
    assert (error.line, error.column) == (2, 1)
    seen = [str(error), repr(error), error.message_vi, error.message_en, repr(error.issues)]
    assert not any(secret in text for text in seen)
    assert error.__cause__ is None


def test_parameter_entity_xxe_is_refused_without_fetching(listener: socket.socket) -> None:
    xml = (
        b'<!DOCTYPE r [<!ENTITY % remote SYSTEM "' + url(listener, "evil.dtd") + b'">%remote;]><r/>'
    )
    rejected(xml, safexml.EXTERNAL_ENTITY)
    assert_no_connection(listener)


def test_external_dtd_is_refused_without_fetching(listener: socket.socket) -> None:
    rejected(b'<!DOCTYPE r SYSTEM "' + url(listener, "x.dtd") + b'"><r/>', safexml.EXTERNAL_DTD)
    public = b'<!DOCTYPE r PUBLIC "-//X//Y//EN" "' + url(listener, "y.dtd") + b'"><r/>'
    rejected(public, safexml.EXTERNAL_DTD)
    assert_no_connection(listener)


def test_billion_laughs_is_refused() -> None:
    levels = [b'<!ENTITY lol0 "lol">']
    levels += [b'<!ENTITY lol%d "%s">' % (i, b"&lol%d;" % (i - 1) * 10) for i in range(1, 10)]
    xml = b"<?xml version='1.0'?><!DOCTYPE lolz [" + b"".join(levels) + b"]><lolz>&lol9;</lolz>"
    rejected(xml, safexml.ENTITY_EXPANSION)


def test_quadratic_blowup_is_refused() -> None:
    entity = b"A" * 50_000
    xml = b'<!DOCTYPE r [<!ENTITY a "' + entity + b'">]><r>' + b"&a;" * 50_000 + b"</r>"
    rejected(xml, safexml.ENTITY_BLOWUP)


@pytest.mark.parametrize(
    "xml",
    [
        b"<!DOCTYPE r><r/>",
        b"<!DOCTYPE r [<!ELEMENT r ANY>]><r/>",
        b'<!DOCTYPE r [<!ENTITY c "(c)">]><r>&c;</r>',
        b"<!-- a comment first -->\n<?pi first?>\n<!doctype r><r/>",
    ],
)
def test_any_other_doctype_is_refused(xml: bytes) -> None:
    rejected(xml, safexml.DOCTYPE_FORBIDDEN)


def test_a_doctype_hidden_in_utf7_is_refused() -> None:
    # "+ADw-!DOCTYPE" is "<!DOCTYPE" in UTF-7: a byte scan alone would miss it, libxml2 not.
    xml = (
        b'<?xml version="1.0" encoding="UTF-7"?>'
        b"+ADw-!DOCTYPE a +AFs-+ADw-!ENTITY x SYSTEM +ACI-file:///etc/passwd+ACI-+AD4-+AF0-+AD4-"
        b"+ADw-a+AD4-+ACY-x+ADs-+ADw-/a+AD4-"
    )
    error = rejected(xml, safexml.ENCODING_UNSUPPORTED)
    assert "UTF-7" in error.message_en


def test_a_doctype_in_utf16_is_still_classified() -> None:
    text = '<?xml version="1.0" encoding="UTF-16"?><!DOCTYPE a [<!ENTITY x SYSTEM "file:///etc/passwd">]><a>&x;</a>'
    rejected(text.encode("utf-16"), safexml.EXTERNAL_ENTITY)


def test_ebcdic_and_unknown_encodings_are_refused() -> None:
    ebcdic = '<?xml version="1.0" encoding="IBM037"?><a/>'.encode("cp037")
    rejected(ebcdic, safexml.ENCODING_UNSUPPORTED)
    rejected(b'<?xml version="1.0" encoding="x-bogus"?><a/>', safexml.ENCODING_UNSUPPORTED)


def test_a_doctype_after_a_long_prolog_in_a_large_file(tmp_path: pathlib.Path) -> None:
    # Over a MiB, files are streamed: the prolog scan must read on until it is complete.
    path = tmp_path / "late-doctype.xml"
    path.write_bytes(
        b"<!--" + b"x" * (3 * 1024 * 1024) + b'-->\n<!DOCTYPE r SYSTEM "http://127.0.0.1:9/"><r/>'
    )
    error = rejected(path, safexml.EXTERNAL_DTD)
    assert error.line == 2


# --- size, depth, attributes, node count ---------------------------------------------------


def test_oversized_attribute_is_refused() -> None:
    xml = b"<r><a x='" + b"x" * 10_000_000 + b"'/></r>"
    error = rejected(xml, safexml.ATTRIBUTE_TOO_LARGE)
    assert error.path == "/r/a/@x"
    assert error.line == 1


def test_attribute_limit_is_exact_and_in_utf8_bytes() -> None:
    limits = Limits(max_attribute_bytes=30)
    accepted("<r a='{}'/>".format("ệ" * 10).encode(), limits)  # 30 bytes of UTF-8
    rejected("<r a='{}'/>".format("ệ" * 11).encode(), safexml.ATTRIBUTE_TOO_LARGE, limits)
    latin1 = '<?xml version="1.0" encoding="ISO-8859-1"?><r a="{}"/>'.format("é" * 16)
    rejected(latin1.encode("latin-1"), safexml.ATTRIBUTE_TOO_LARGE, limits)  # 16 bytes, 32 in UTF-8


def test_5000_deep_nesting_fails_fast() -> None:
    error = rejected(b"<a>" * 5000 + b"</a>" * 5000, safexml.TOO_DEEP)
    assert error.line == 1
    assert error.column is not None


def test_depth_limit_is_exact() -> None:
    accepted(b"<a>" * 64 + b"</a>" * 64)
    error = rejected(b"<a>" * 65 + b"</a>" * 65, safexml.TOO_DEEP)
    assert error.path == "/a" * 65
    rejected(b"<a>\n" * 9 + b"</a>" * 9, safexml.TOO_DEEP, Limits(max_depth=8))


def test_too_many_elements_is_refused() -> None:
    rejected(b"<r>" + b"<a/>" * 200_001 + b"</r>", safexml.TOO_MANY_ELEMENTS)


def test_node_limit_is_exact_and_counts_attributes() -> None:
    limits = Limits(max_elements=10)
    accepted(b"<r>" + b"<a/>" * 9 + b"</r>", limits)
    rejected(b"<r>" + b"<a/>" * 10 + b"</r>", safexml.TOO_MANY_ELEMENTS, limits)
    # Attributes amplify memory as much as elements do.
    rejected(
        b'<r a="" b="" c="" d="" e="" f="" g="" h="" i="" j=""/>', safexml.TOO_MANY_ELEMENTS, limits
    )


def test_markup_in_comments_does_not_count_as_elements() -> None:
    # The cheap byte count over-estimates; the exact count decides.
    accepted(b"<r><!--" + b"<x=" * 1000 + b"--><a/></r>", Limits(max_elements=10))


def test_too_many_elements_in_a_large_file(tmp_path: pathlib.Path) -> None:
    limits = Limits(max_elements=1000)
    crowded = tmp_path / "crowded.xml"
    crowded.write_bytes(b"<r>" + b"<a/>" * 1001 + b"<b>" + b"x" * (2 * 1024 * 1024) + b"</b></r>")
    rejected(crowded, safexml.TOO_MANY_ELEMENTS, limits)
    commented = tmp_path / "commented.xml"
    commented.write_bytes(b"<r><!--" + b"<" * (2 * 1024 * 1024) + b"--><a/></r>")
    assert accepted(commented, limits).getroot().find("a") is not None


def test_too_large_is_refused_before_parsing(tmp_path: pathlib.Path) -> None:
    limits = Limits(max_bytes=1000)
    xml = b"<r>" + b" " * 1000 + b"</r>"
    error = rejected(xml, safexml.TOO_LARGE, limits)
    assert "1000" in error.message_en
    path = tmp_path / "large.xml"
    path.write_bytes(xml)
    rejected(path, safexml.TOO_LARGE, limits)
    rejected(unseekable(xml), safexml.TOO_LARGE, limits)
    accepted(xml[: 1000 - 4] + b"</r>", limits)


def test_a_stream_over_the_limit_is_not_read_to_its_end() -> None:
    stream = Unseekable(b"<r>" + b" " * (16 * 1024 * 1024))
    rejected(cast(BinaryIO, stream), safexml.TOO_LARGE, Limits(max_bytes=2 * 1024 * 1024))
    assert stream.consumed <= 4 * 1024 * 1024


@pytest.mark.parametrize("xml", [b"", b"   \r\n\t", b"\xef\xbb\xbf", b"\xef\xbb\xbf\n "])
def test_empty_input_is_refused(xml: bytes, tmp_path: pathlib.Path) -> None:
    rejected(xml, safexml.EMPTY)
    path = tmp_path / "empty.xml"
    path.write_bytes(xml)
    rejected(path, safexml.EMPTY)


# --- well-formedness -----------------------------------------------------------------------


def test_malformed_input_names_line_and_column() -> None:
    error = rejected(b"<a>\n  <b>\n</a>", safexml.NOT_WELL_FORMED)
    assert (error.line, error.column) == (3, 5)
    assert "mismatch" in error.message_en
    assert "(line 3, column 5)" in str(error)


def test_the_official_broken_sample_is_refused_with_line_and_column() -> None:
    # edoc.edxml leaves a nested <From> open and uses an undeclared xlink: prefix.
    error = rejected(DATA / "edoc.edxml", safexml.NOT_WELL_FORMED)
    assert (error.line, error.column) == (74, 29)
    assert "From line 7 and MessageHeader" in error.message_en


def test_undeclared_entity_is_not_well_formed() -> None:
    error = rejected(b"<r>\n  &foo;</r>", safexml.NOT_WELL_FORMED)
    assert (error.line, error.column) == (2, 8)
    assert "foo" in error.message_en


@pytest.mark.parametrize(
    "xml",
    [
        b"hello",
        b"<",
        b"\x00",
        b"\xfe",
        b"<!-- only a comment -->",
        b"<?xml version='1.0'?>",
        b"<?xml version='1.0'",
        b"<a>",
        b"<a></b>",
        b"<a/><b/>",
        b"<a x='1' x='2'/>",
        b"<x:a/>",
        b"<a>\x00</a>",
        b"<a>\xff\xfe</a>",
        b"<a><![CDATA[</a>",
        b"<a/><!DOCTYPE a>",
        b"<a>&#0;</a>",
        b"<!-- unterminated",
    ],
)
def test_lxml_exceptions_never_leak(xml: bytes) -> None:
    error = rejected(xml, safexml.NOT_WELL_FORMED)
    assert error.__cause__ is None
    assert error.__suppress_context__


# --- what must be accepted -----------------------------------------------------------------


def test_bom_without_declaration_is_accepted() -> None:
    xml = f"\ufeff<edXML xmlns='{EDXML_NS}'><Subject>Việt Nam</Subject></edXML>"
    tree = accepted(xml.encode("utf-8"))
    assert tree.getroot()[0].text == "Việt Nam"


@pytest.mark.parametrize(
    ("codec", "declared"),
    [
        ("utf-16", "UTF-16"),
        ("utf-16-le", "UTF-16LE"),
        ("utf-16-be", "UTF-16BE"),
        ("iso-8859-1", "ISO-8859-1"),
        ("windows-1258", "windows-1258"),
    ],
)
def test_declared_encodings_are_accepted(codec: str, declared: str) -> None:
    xml = f'<?xml version="1.0" encoding="{declared}"?><r a="Thư">Công văn</r>'
    if codec == "iso-8859-1":
        xml = xml.replace("Thư", "Thé").replace("Công văn", "Côté")
    tree = accepted(xml.encode(codec))
    expected = ("Côté", "Thé") if codec == "iso-8859-1" else ("Công văn", "Thư")
    assert (tree.getroot().text, tree.getroot().get("a")) == expected


def test_20_mb_single_text_node_is_accepted(tmp_path: pathlib.Path) -> None:
    payload = base64.b64encode(os.urandom(15 * 1024 * 1024))
    assert len(payload) > 20_000_000  # beyond libxml2's 10 MB text node cap without huge mode
    xml = (
        b'<?xml version="1.0"?>\n<edXML xmlns="'
        + EDXML_NS.encode()
        + b'"><A>'
        + payload
        + b"</A></edXML>"
    )
    path = tmp_path / "big.edxml"
    path.write_bytes(xml)
    for source in (xml, path, io.BytesIO(xml)):
        started = time.perf_counter()
        tree = accepted(source)
        assert time.perf_counter() - started < BUDGET
        text = tree.getroot()[0].text
        assert text is not None
        assert len(text) == len(payload)


def test_a_20_mib_file_is_parsed_and_hashed_within_4x_its_size(tmp_path: pathlib.Path) -> None:
    path = tmp_path / "big.edxml"
    payload = base64.b64encode(os.urandom(15 * 1024 * 1024))
    path.write_bytes(b"<edXML><AttachmentEncoded>" + payload + b"</AttachmentEncoded></edXML>")
    script = """
import hashlib, json, resource, sys
from edxml.safexml import parse_xml
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
tree = parse_xml(sys.argv[1])
digest = hashlib.sha256(tree.getroot()[0].text.encode()).hexdigest()
after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({"kib": after - before, "digest": digest}))
"""
    root = pathlib.Path(__file__).parent.parent.parent
    out = subprocess.run(
        [sys.executable, "-c", script, str(path)],
        capture_output=True,
        check=True,
        cwd=root,
        env={**os.environ, "PYTHONPATH": str(root)},
        timeout=60,
    )
    result = json.loads(out.stdout)
    assert result["digest"] == hashlib.sha256(payload).hexdigest()
    assert result["kib"] * 1024 < 4 * path.stat().st_size


@pytest.mark.parametrize(
    "name",
    sorted(p.name for p in DATA.glob("*.edxml") if p.name != "edoc.edxml"),
)
def test_the_official_samples_are_accepted(name: str) -> None:
    for source in (DATA / name, str(DATA / name), (DATA / name).read_bytes()):
        assert accepted(source).getroot().tag == f"{{{EDXML_NS}}}edXML"


def test_file_objects_are_read_from_their_position() -> None:
    stream = io.BytesIO(b"junk<r>ok</r>")
    stream.seek(4)
    assert accepted(stream).getroot().text == "ok"
    assert accepted(unseekable(b"<r>ok</r>")).getroot().text == "ok"


def test_a_long_prolog_in_a_large_file_is_accepted(tmp_path: pathlib.Path) -> None:
    path = tmp_path / "long-prolog.xml"
    path.write_bytes(b"<?xml version='1.0'?>\n<!--" + b"-x" * (2 * 1024 * 1024) + b"--><r>ok</r>")
    assert accepted(path).getroot().text == "ok"


def test_xinclude_and_processing_instructions_stay_inert(
    tmp_path: pathlib.Path, listener: socket.socket
) -> None:
    secret = "SECRET-" + os.urandom(8).hex()
    target = tmp_path / "secret.txt"
    target.write_text(secret)
    xml = (
        b'<?xml-stylesheet type="text/xsl" href="' + url(listener, "x.xsl") + b'"?>'
        b'<r xmlns:xi="http://www.w3.org/2001/XInclude">'
        b'<xi:include href="' + target.as_uri().encode() + b'" parse="text"/></r>'
    )
    tree = accepted(xml)
    assert secret.encode() not in etree.tostring(tree)
    assert tree.getroot()[0].tag == "{http://www.w3.org/2001/XInclude}include"
    assert_no_connection(listener)


# --- the API -------------------------------------------------------------------------------


@pytest.mark.parametrize("field", ["max_bytes", "max_depth", "max_attribute_bytes", "max_elements"])
def test_limits_must_be_positive(field: str) -> None:
    with pytest.raises(ValueError, match=field):
        Limits(**{field: 0})


def test_codes_are_stable_distinct_and_bilingual() -> None:
    codes = [getattr(safexml, name) for name in safexml.__all__ if name.isupper()]
    assert len({c.code for c in codes}) == len(codes) == 12
    for code in codes:
        assert code.code.startswith("edxml.")
        assert any(ord(ch) > 127 for ch in code.vi), code.code  # real Vietnamese
        assert code.vi != code.en


def test_a_missing_path_is_the_callers_error(tmp_path: pathlib.Path) -> None:
    with pytest.raises(FileNotFoundError):
        parse_xml(tmp_path / "missing.xml")


class Unseekable(io.RawIOBase):
    """A pipe-like binary stream: readable, not seekable; counts what was read."""

    def __init__(self, data: bytes) -> None:
        self._data = memoryview(data)
        self.consumed = 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return False

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        n = min(len(buffer), len(self._data) - self.consumed, 64 * 1024)
        buffer[:n] = self._data[self.consumed : self.consumed + n]
        self.consumed += n
        return n


def unseekable(data: bytes) -> BinaryIO:
    return cast(BinaryIO, Unseekable(data))
