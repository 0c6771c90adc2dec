"""Hypothesis strategies that generate edXML packages the way real agencies fill them in."""

from __future__ import annotations

import datetime as dt

from hypothesis import strategies as st
from lxml import etree

from edxml.model import (
    VN_TZ,
    Attachment,
    Bussiness,
    BussinessDocumentInfo,
    Code,
    DocumentPackage,
    DocumentType,
    Extension,
    Organization,
    OtherInfo,
    PromulgationInfo,
    Receiver,
    Reference,
    ReplacementInfo,
    ResponseFor,
    SignerInfo,
    StaffInfo,
    StatusCode,
    StatusPackage,
    TraceHeader,
)

VI_LETTERS = (
    "aăâbcdđeêghiklmnoôơpqrstuưvxy"
    "áàảãạấầẩẫậắằẳẵặéèẻẽẹếềểễệíìỉĩịóòỏõọốồổỗộớờởỡợúùủũụứừửữựýỳỷỹỵ"
    "AĂÂBCDĐEÊGHIKLMNOÔƠPQRSTUƯVXY"
    "ÁÀẢÃẠẤẦẨẪẬẮẰẲẴẶÉÈẺẼẸẾỀỂỄỆÍÌỈĨỊÓÒỎÕỌỐỒỔỖỘỚỜỞỠỢÚÙỦŨỤỨỪỬỮỰÝỲỶỸỴ"
)
ALPHABET = VI_LETTERS + "0123456789 .,;:/-()&<>\"'%#\t\n"

# Text as a clerk types it: Vietnamese, markup characters, inner line breaks; the reader
# strips surrounding whitespace, so generated values carry none.
text = st.text(alphabet=ALPHABET, min_size=1, max_size=60).map(str.strip).filter(bool)
opt_text = st.none() | text
dates = st.dates(min_value=dt.date(1990, 1, 1), max_value=dt.date(2035, 12, 31))
timestamps = st.datetimes(
    min_value=dt.datetime(1990, 1, 1), max_value=dt.datetime(2035, 12, 31)
).map(lambda d: d.replace(microsecond=0, tzinfo=VN_TZ))


@st.composite
def qcvn_organ_id(draw: st.DrawFn) -> str:
    level1 = draw(st.sampled_from("ABGHK")) + f"{draw(st.integers(1, 63)):02d}"
    y = draw(st.integers(0, 99))
    z = draw(st.integers(0, 99)) if y else 0
    v = draw(st.integers(0, 999)) if z else 0
    return f"{v:03d}.{z:02d}.{y:02d}.{level1}"


organ_ids = qcvn_organ_id() | st.sampled_from(["00.53.W00", "28.22.H17", "H37.02.02"])


@st.composite
def extensions(draw: st.DrawFn, max_size: int = 2) -> tuple[Extension, ...]:
    """Vendor elements in a foreign namespace, serialized the way the reader keeps them."""
    out = []
    for i in range(draw(st.integers(0, max_size))):
        el = etree.Element(f"{{urn:example:vendor}}Ext{i}", nsmap={"v": "urn:example:vendor"})
        el.text = draw(text)
        if draw(st.booleans()):
            el.set("kind", draw(st.sampled_from(["a", "b&c", "<x>"])))
        out.append(Extension(etree.tostring(el, encoding="unicode")))
    return tuple(out)


@st.composite
def organizations(draw: st.DrawFn) -> Organization:
    return Organization(
        organ_id=draw(organ_ids),
        organization_in_charge=draw(opt_text),
        organ_name=draw(opt_text),
        organ_add=draw(opt_text),
        email=draw(st.none() | st.emails().map(str.strip)),
        telephone=draw(st.none() | st.from_regex(r"\(0\d{2}\) \d{7}", fullmatch=True)),
        fax=draw(opt_text),
        website=draw(opt_text),
        extensions=draw(extensions(1)),
    )


@st.composite
def recipients(draw: st.DrawFn) -> tuple[Organization, ...]:
    """A few fully described recipients, sometimes followed by hundreds of bare ones."""
    rich = draw(st.lists(organizations(), min_size=1, max_size=4))
    bulk = draw(st.sampled_from([0, 0, 0, 40, 300]))
    return tuple(rich) + tuple(
        Organization(
            organ_id=f"000.{20 + i // 100:02d}.{31 + i % 50:02d}.H53", organ_name=f"UBND xã số {i}"
        )
        for i in range(bulk)
    )


staff = st.builds(
    StaffInfo,
    department=opt_text,
    department_id=opt_text,
    staff=opt_text,
    staff_id=opt_text,
    email=opt_text,
    mobile=opt_text,
)
response_fors = st.builds(
    ResponseFor,
    organ_id=st.none() | organ_ids,
    code=opt_text,
    promulgation_date=st.none() | dates,
    document_id=opt_text,
)


@st.composite
def businesses(draw: st.DrawFn) -> Bussiness:
    doc_type = draw(st.integers(0, 3))
    info = None
    if doc_type == 2 or draw(st.booleans()):
        info = BussinessDocumentInfo(
            document_info=draw(st.none() | st.sampled_from(["0", "1"])),
            document_receiver=draw(st.none() | st.sampled_from(["0", "1"])),
            receivers=tuple(
                draw(
                    st.lists(
                        st.builds(Receiver, organ_id=organ_ids, receiver_type=st.integers(0, 1)),
                        max_size=5,
                    )
                )
            ),
        )
    replacements: tuple[ReplacementInfo, ...] = ()
    if doc_type == 3 or draw(st.booleans()):
        replacements = tuple(
            draw(
                st.lists(
                    st.builds(
                        ReplacementInfo,
                        document_id=text,
                        organ_ids=st.lists(organ_ids, min_size=1, max_size=4).map(tuple),
                    ),
                    min_size=1,
                    max_size=3,
                )
            )
        )
    return Bussiness(
        doc_type=doc_type,
        reason=draw(opt_text),
        document_id=draw(opt_text),
        paper=draw(st.none() | st.integers(0, 1)),
        document_info=info,
        replacements=replacements,
        staff=draw(st.none() | staff),
        extensions=draw(extensions(1)),
    )


@st.composite
def attachments(draw: st.DrawFn) -> tuple[tuple[Reference, ...], tuple[Attachment, ...]]:
    n = draw(st.integers(0, 4))
    cids = draw(
        st.lists(
            st.from_regex(r"[a-z0-9]{1,12}", fullmatch=True), min_size=n, max_size=n, unique=True
        )
    )
    refs, atts = [], []
    for cid in cids:
        name = draw(opt_text)
        ctype = draw(
            st.none()
            | st.sampled_from(
                ["application/pdf", "application/zip", "application/doc", "text/plain"]
            )
        )
        refs.append(Reference(cid, ctype, draw(opt_text), name))
        atts.append(
            Attachment(
                content_id=cid,
                name=name,
                content_type=ctype,
                data=draw(st.binary(min_size=0, max_size=3000)),
                description=draw(opt_text),
                extensions=draw(extensions(1)),
            )
        )
    return tuple(refs), tuple(atts)


@st.composite
def document_packages(draw: st.DrawFn) -> DocumentPackage:
    refs, atts = draw(attachments())
    return DocumentPackage(
        from_=draw(organizations()),
        to=draw(recipients()),
        document_id=draw(text),
        code=Code(draw(text), draw(text)),
        promulgation=PromulgationInfo(draw(opt_text), draw(st.none() | dates)),
        document_type=DocumentType(
            draw(st.none() | st.integers(0, 99)),
            draw(st.none() | st.integers(0, 9)),
            draw(opt_text),
        ),
        subject=draw(text),
        signer=SignerInfo(draw(opt_text), draw(opt_text), draw(opt_text)),
        content=draw(opt_text),
        due_date=draw(st.none() | dates),
        to_places=tuple(draw(st.lists(text, max_size=4))),
        other_info=draw(
            st.none()
            | st.builds(
                OtherInfo,
                priority=st.none() | st.integers(0, 4),
                sphere_of_promulgation=opt_text,
                typer_notation=opt_text,
                promulgation_amount=st.none() | st.integers(0, 500),
                page_amount=st.none() | st.integers(0, 999),
                direction=st.none() | st.booleans(),
                appendixes=st.lists(text, max_size=3).map(tuple),
                extensions=extensions(1),
            )
        ),
        response_for=tuple(draw(st.lists(response_fors, max_size=3))),
        steering_type=draw(st.none() | st.integers(0, 10)),
        trace_headers=tuple(
            draw(
                st.lists(
                    st.builds(
                        TraceHeader,
                        organ_id=st.none() | organ_ids,
                        timestamp=st.none() | timestamps,
                    ),
                    max_size=4,
                )
            )
        ),
        business=draw(st.none() | businesses()),
        references=refs,
        attachments=atts,
        extensions=draw(extensions()),
    )


@st.composite
def status_packages(draw: st.DrawFn) -> StatusPackage:
    return StatusPackage(
        from_=draw(organizations()),
        response_for=draw(response_fors),
        status_code=draw(st.sampled_from([c.value for c in StatusCode])),
        timestamp=draw(st.none() | timestamps),
        staff=draw(st.none() | staff),
        description=draw(opt_text),
        extensions=draw(extensions()),
    )
