"""Attachment payloads as they really are: base64 decoding, zip unwrapping, type sniffing.

Senders lie about attachments (edxml.md §1.6, §5.1 quirk 3): the VNPT Java library zips every
format it does not know into a one-entry zip named ``<uuid>.<ext>`` and labels it
``application/zip`` or even ``application/pdf``; MIME types are non-standard
(``application/doc``); base64 carries line breaks; some senders push binaries through a text
decoder, leaving runs of U+FFFD (bytes ``EF BF BD``) in PDFs. Nothing here trusts a label.
"""

from __future__ import annotations

import binascii
import io
import os
import re
import zipfile
from dataclasses import dataclass

from edxml.errors import FormatError, Text, define
from edxml.model import Attachment

__all__ = [
    "BAD_BASE64",
    "ZIP_BOMB",
    "RealFile",
    "decode_base64",
    "encode_base64",
    "looks_text_corrupted",
    "sniff",
    "sniff_type",
]

BAD_BASE64 = define(
    "edxml.attachment_bad_base64",
    "Tệp đính kèm {content_id} không giải mã được base64: {detail}",
    "Attachment {content_id} is not valid base64: {detail}",
)
ZIP_BOMB = define(
    "edxml.attachment_zip_bomb",
    "Tệp nén trong đính kèm {content_id} vượt giới hạn giải nén ({limit} byte)",
    "The zip inside attachment {content_id} expands beyond the limit ({limit} bytes)",
)
BAD_ZIP = define(
    "edxml.attachment_bad_zip",
    "Tệp đính kèm {content_id} có dạng zip nhưng bị hỏng: {detail}",
    "Attachment {content_id} looks like a zip but is corrupt: {detail}",
)

# Anything outside the base64 alphabet and whitespace means the payload is not base64; the
# decoder's lenient mode would silently skip such bytes, so look for them first.
_NOT_BASE64 = re.compile(r"[^A-Za-z0-9+/=\s]")

#: An unwrapped zip may expand at most this much; scanned PDFs are large but not 200 MB.
MAX_UNZIPPED = 256 * 1024 * 1024


def decode_base64(text: str, content_id: str = "") -> bytes:
    """Decode permissively (line breaks, spaces, missing padding); raise on real garbage."""
    bad = _NOT_BASE64.search(text)
    if bad:
        raise FormatError(
            BAD_BASE64,
            content_id=content_id,
            detail=Text(f"ký tự {bad.group()!r}", f"character {bad.group()!r}"),
        )
    try:
        return binascii.a2b_base64(text)
    except binascii.Error:
        # Senders drop the trailing '=' padding; restore it once before giving up.
        stripped = "".join(text.split())
        try:
            return binascii.a2b_base64(stripped + "=" * (-len(stripped) % 4))
        except binascii.Error as exc:
            raise FormatError(BAD_BASE64, content_id=content_id, detail=str(exc)) from None


def encode_base64(data: bytes) -> str:
    """One line, no breaks: what the Java SDK writes and every reader accepts."""
    return binascii.b2a_base64(data, newline=False).decode("ascii")


# Magic numbers, most specific first. OOXML and ODF are zips: told apart by their entries.
_MAGIC: tuple[tuple[bytes, str, str], ...] = (
    (b"%PDF-", "application/pdf", "pdf"),
    (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", "application/msword", "doc"),  # OLE2: doc/xls/ppt
    (b"{\\rtf", "application/rtf", "rtf"),
    (b"\x89PNG\r\n\x1a\n", "image/png", "png"),
    (b"\xff\xd8\xff", "image/jpeg", "jpg"),
    (b"GIF87a", "image/gif", "gif"),
    (b"GIF89a", "image/gif", "gif"),
    (b"II*\x00", "image/tiff", "tif"),
    (b"MM\x00*", "image/tiff", "tif"),
    (b"Rar!\x1a\x07", "application/vnd.rar", "rar"),
    (b"7z\xbc\xaf\x27\x1c", "application/x-7z-compressed", "7z"),
)
_OOXML = (
    ("word/", "application/vnd.openxmlformats-officedocument.wordprocessingml.document", "docx"),
    ("xl/", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", "xlsx"),
    ("ppt/", "application/vnd.openxmlformats-officedocument.presentationml.presentation", "pptx"),
)
_ZIP_MAGIC = b"PK\x03\x04"
_EMPTY_ZIP_MAGIC = b"PK\x05\x06"
_OLE_EXT = {
    "doc": "application/msword",
    "xls": "application/vnd.ms-excel",
    "ppt": "application/vnd.ms-powerpoint",
}


def _zip_kind(names: list[str]) -> tuple[str, str] | None:
    """The office format a zip *is* (docx, xlsx, odt), or None for a plain archive."""
    if "[Content_Types].xml" in names:
        for prefix, mime, ext in _OOXML:
            if any(n.startswith(prefix) for n in names):
                return mime, ext
        return "application/vnd.openxmlformats-officedocument", "docx"
    if "mimetype" in names and any(n == "content.xml" for n in names):
        return "application/vnd.oasis.opendocument.text", "odt"
    return None


def sniff_type(data: bytes, name_hint: str | None = None) -> tuple[str, str]:
    """``(mime type, extension)`` from the bytes themselves; the name only breaks ties."""
    hint_ext = os.path.splitext(name_hint or "")[1].lstrip(".").lower()
    for magic, mime, ext in _MAGIC:
        if data.startswith(magic):
            if ext == "doc" and hint_ext in _OLE_EXT:  # OLE2 is doc, xls or ppt alike
                return _OLE_EXT[hint_ext], hint_ext
            return mime, ext
    if data.startswith((_ZIP_MAGIC, _EMPTY_ZIP_MAGIC)):
        try:
            with zipfile.ZipFile(io.BytesIO(data)) as zf:
                kind = _zip_kind(zf.namelist())
        except (zipfile.BadZipFile, OSError, ValueError):
            kind = None
        return kind or ("application/zip", "zip")
    head = data[:512].lstrip(b"\xef\xbb\xbf \t\r\n")
    if head.startswith(b"<?xml") or head.startswith(b"<"):
        return "application/xml", "xml"
    try:
        data[:4096].decode("utf-8")
    except UnicodeDecodeError:
        return "application/octet-stream", hint_ext or "bin"
    return "text/plain", hint_ext if hint_ext in {"txt", "csv"} else "txt"


@dataclass(frozen=True, slots=True)
class RealFile:
    """What an attachment really contains, after unwrapping a transport zip."""

    name: str
    content_type: str
    data: bytes
    #: True when the payload was a one-entry transport zip that was unwrapped.
    unzipped: bool
    #: The name inside the transport zip (``<uuid>.<ext>`` from the VNPT library), if any.
    entry_name: str | None = None
    claimed_type: str | None = None

    @property
    def size(self) -> int:
        return len(self.data)

    @property
    def type_mismatch(self) -> bool:
        """The sender's label disagrees with the bytes (reported, never fatal)."""
        claimed = (self.claimed_type or "").lower()
        return (
            bool(claimed)
            and claimed != self.content_type
            and not (self.unzipped and claimed == "application/zip")
        )


def _real_name(claimed: str | None, ext: str, content_id: str) -> str:
    """Keep the sender's file name, fixing its extension when the bytes say otherwise."""
    base = claimed or f"attachment-{content_id or 'unnamed'}"
    stem, old = os.path.splitext(base)
    if old.lstrip(".").lower() == ext or (ext == "docx" and old.lower() == ".docx"):
        return base
    return f"{stem or base}.{ext}"


def sniff(attachment: Attachment, *, max_unzipped: int = MAX_UNZIPPED) -> RealFile:
    """The real file behind an attachment: unzip a one-entry transport zip, sniff the type.

    A zip that is itself an office document (docx, xlsx, odt) or holds several entries is a
    real zip/office file and is returned as it is. Raises :class:`FormatError` for a corrupt
    or oversized transport zip.
    """
    data = attachment.data
    cid = attachment.content_id
    if data.startswith(_ZIP_MAGIC):
        try:
            with zipfile.ZipFile(io.BytesIO(data)) as zf:
                infos = [i for i in zf.infolist() if not i.is_dir()]
                if len(infos) == 1 and _zip_kind([i.filename for i in zf.infolist()]) is None:
                    info = infos[0]
                    if info.file_size > max_unzipped:
                        raise FormatError(ZIP_BOMB, content_id=cid, limit=max_unzipped)
                    with zf.open(info) as fh:  # read at most the limit: sizes can lie
                        inner = fh.read(max_unzipped + 1)
                    if len(inner) > max_unzipped:
                        raise FormatError(ZIP_BOMB, content_id=cid, limit=max_unzipped)
                    entry_ext = os.path.splitext(info.filename)[1].lstrip(".").lower()
                    mime, ext = sniff_type(inner, info.filename)
                    if mime in {"application/octet-stream", "text/plain"} and entry_ext:
                        ext = entry_ext
                    return RealFile(
                        name=_real_name(attachment.name, ext, cid),
                        content_type=mime,
                        data=inner,
                        unzipped=True,
                        entry_name=info.filename,
                        claimed_type=attachment.content_type,
                    )
        except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, EOFError, ValueError) as exc:
            raise FormatError(BAD_ZIP, content_id=cid, detail=str(exc)) from None
    mime, ext = sniff_type(data, attachment.name)
    return RealFile(
        name=_real_name(attachment.name, ext, cid)
        if mime != "text/plain"
        else (attachment.name or f"attachment-{cid}.txt"),
        content_type=mime,
        data=data,
        unzipped=False,
        claimed_type=attachment.content_type,
    )


_FFFD = b"\xef\xbf\xbd"


def looks_text_corrupted(data: bytes, content_type: str) -> int:
    """How many U+FFFD sequences a *binary* format carries (0 when it looks intact).

    A PDF pushed through a UTF-8 text decoder keeps its ``%PDF-`` header but every byte
    >= 0x80 becomes ``EF BF BD``; genuine compressed streams contain that sequence about
    once per 16 MB, so a handful of them is a reliable sign (edxml.md §5 "2025" packages).
    """
    if content_type == "application/pdf" or data.startswith(b"%PDF-"):
        count = data.count(_FFFD)
        return count if count >= 4 else 0
    return 0
