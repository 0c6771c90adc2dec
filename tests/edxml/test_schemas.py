"""The project's edXML XSDs (edxml/schemas/*.xsd) compile, accept the canonical form and refuse
what is not canonical, in both lxml (hot path) and xmlschema (rich error reports)."""

from __future__ import annotations

import base64
import os
import re
from collections.abc import Callable
from pathlib import Path

import pytest
import xmlschema
from lxml import etree

ROOT = Path(__file__).resolve().parents[2]
SCHEMAS = ROOT / "edxml" / "schemas"
SAMPLES = ROOT / "tests" / "data" / "vpcp-official"

NS = "http://www.mic.gov.vn/TBT/QCVN_102_2016"
DSIG = "http://www.w3.org/2000/09/xmldsig#"
XS_STRING = "{http://www.w3.org/2001/XMLSchema}string"
NSMAP = {"e": NS}

XSD_FILES = ("edxml-common.xsd", "edxml-document.xsd", "edxml-status.xsd")

#: Expected outcome of every official sample against its own schema (strict, canonical form).
#: All of them are canonical as shipped. edoc.edxml is excluded: it is not well-formed XML
#: (nested <From> left open, undeclared xlink prefix) and is the parser's business, not ours.
SAMPLE_EXPECTATIONS: dict[str, tuple[str, bool]] = {
    "edoc_new.edxml": ("document", True),
    "edoc_revocation.edxml": ("document", True),
    "edoc_update.edxml": ("document", True),
    "edoc_replacement.edxml": ("document", True),
    # status.edxml writes the 8 Organization children in SDK order; the others put OrganName
    # before OrganizationInCharge and Mobile before Email (xs:all in the schema).
    "status.edxml": ("status", True),
    "status_inbox_01.edxml": ("status", True),
    "status_rejection_02.edxml": ("status", True),
    "status_acceptance_03.edxml": ("status", True),
    "status_assignment_04.edxml": ("status", True),
    "status_processing_05.edxml": ("status", True),
    "status_finish_06.edxml": ("status", True),
    "status_cancellation_13.edxml": ("status", True),
    "status_change-acceptance_15.edxml": ("status", True),
    "status_change-rejection_16.edxml": ("status", True),
}
NOT_WELL_FORMED = {"edoc.edxml"}


# --------------------------------------------------------------------------------------------
# fixtures and helpers
# --------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def lxml_schemas() -> dict[str, etree.XMLSchema]:
    return {
        kind: etree.XMLSchema(etree.parse(str(SCHEMAS / f"edxml-{kind}.xsd")))
        for kind in ("document", "status")
    }


@pytest.fixture(scope="module")
def xmlschema_schemas() -> dict[str, xmlschema.XMLSchema]:
    return {
        kind: xmlschema.XMLSchema(str(SCHEMAS / f"edxml-{kind}.xsd"))
        for kind in ("document", "status")
    }


def load(name: str) -> etree._ElementTree:
    return etree.parse(str(SAMPLES / name))


def q(local: str, ns: str = NS) -> str:
    return f"{{{ns}}}{local}"


def one(tree: etree._ElementTree, path: str) -> etree._Element:
    found = tree.xpath(path, namespaces=NSMAP)
    assert isinstance(found, list)
    assert len(found) == 1, f"{path}: {len(found)} matches"
    element = found[0]
    assert isinstance(element, etree._Element)
    return element


def lxml_errors(schema: etree.XMLSchema, tree: etree._ElementTree) -> list[str]:
    """lxml's messages, empty when the tree is valid."""
    if schema.validate(tree):
        return []
    messages = [entry.message for entry in schema.error_log]
    assert messages, "invalid but no message"
    return messages


def xmlschema_errors(schema: xmlschema.XMLSchema, tree: etree._ElementTree) -> list[str]:
    """xmlschema's errors as 'path: reason', empty when the tree is valid."""
    return [f"{error.path}: {error.reason}" for error in schema.iter_errors(tree)]


def assert_valid_in_both(
    kind: str,
    tree: etree._ElementTree,
    lxml_schemas: dict[str, etree.XMLSchema],
    xmlschema_schemas: dict[str, xmlschema.XMLSchema],
) -> None:
    assert lxml_errors(lxml_schemas[kind], tree) == []
    assert xmlschema_errors(xmlschema_schemas[kind], tree) == []


# --------------------------------------------------------------------------------------------
# the schemas compile
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", XSD_FILES)
def test_schema_compiles_in_lxml(name: str) -> None:
    schema = etree.XMLSchema(etree.parse(str(SCHEMAS / name)))
    assert isinstance(schema, etree.XMLSchema)  # a compile error raises XMLSchemaParseError


@pytest.mark.parametrize("name", XSD_FILES)
def test_schema_compiles_in_xmlschema_as_xsd_1_0(name: str) -> None:
    schema = xmlschema.XMLSchema10(str(SCHEMAS / name))
    assert schema.XSD_VERSION == "1.0"
    assert schema.target_namespace == NS
    assert schema.element_form_default == "qualified"
    assert schema.attribute_form_default == "unqualified"


def test_each_package_schema_has_one_root_and_common_has_none() -> None:
    assert list(xmlschema.XMLSchema(str(SCHEMAS / "edxml-document.xsd")).elements) == ["edXML"]
    assert list(xmlschema.XMLSchema(str(SCHEMAS / "edxml-status.xsd")).elements) == ["edXML"]
    assert list(xmlschema.XMLSchema(str(SCHEMAS / "edxml-common.xsd")).elements) == []


# --------------------------------------------------------------------------------------------
# official samples
# --------------------------------------------------------------------------------------------


def test_every_official_sample_has_a_stated_expectation() -> None:
    on_disk = {path.name for path in SAMPLES.glob("*.edxml")}
    assert on_disk == set(SAMPLE_EXPECTATIONS) | NOT_WELL_FORMED


@pytest.mark.parametrize(("name", "expectation"), sorted(SAMPLE_EXPECTATIONS.items()))
def test_official_sample_against_its_schema(
    name: str,
    expectation: tuple[str, bool],
    lxml_schemas: dict[str, etree.XMLSchema],
    xmlschema_schemas: dict[str, xmlschema.XMLSchema],
) -> None:
    kind, valid = expectation
    tree = load(name)
    lxml_messages = lxml_errors(lxml_schemas[kind], tree)
    xmlschema_messages = xmlschema_errors(xmlschema_schemas[kind], tree)
    if valid:
        assert lxml_messages == []
        assert xmlschema_messages == []
    else:
        assert lxml_messages
        assert xmlschema_messages


@pytest.mark.parametrize(("name", "expectation"), sorted(SAMPLE_EXPECTATIONS.items()))
def test_official_sample_against_the_other_schema_fails(
    name: str,
    expectation: tuple[str, bool],
    lxml_schemas: dict[str, etree.XMLSchema],
    xmlschema_schemas: dict[str, xmlschema.XMLSchema],
) -> None:
    other = "status" if expectation[0] == "document" else "document"
    tree = load(name)
    assert lxml_errors(lxml_schemas[other], tree)
    assert xmlschema_errors(xmlschema_schemas[other], tree)


def test_samples_use_the_edxml_namespace_placeholder_signature() -> None:
    """The samples' <Signature> is in the edXML namespace (edxml.md §1.5): what the schema's
    edXML:Signature declaration exists for."""
    tree = load("edoc_new.edxml")
    signature = one(tree, "/e:edXML/e:edXMLEnvelope/e:edXMLHeader/e:Signature")
    assert signature[0].tag == q("SignedInfo")


# --------------------------------------------------------------------------------------------
# non-canonical packages are refused, with a message naming the culprit
# --------------------------------------------------------------------------------------------

Mutation = Callable[[etree._ElementTree], None]


def set_text(path: str, text: str) -> Mutation:
    def mutate(tree: etree._ElementTree) -> None:
        one(tree, path).text = text

    return mutate


def remove(path: str) -> Mutation:
    def mutate(tree: etree._ElementTree) -> None:
        element = one(tree, path)
        parent = element.getparent()
        assert parent is not None
        parent.remove(element)

    return mutate


def add_after(path: str, new_tag: str) -> Mutation:
    def mutate(tree: etree._ElementTree) -> None:
        one(tree, path).addnext(etree.Element(new_tag))

    return mutate


def move_to_end(path: str) -> Mutation:
    def mutate(tree: etree._ElementTree) -> None:
        element = one(tree, path)
        parent = element.getparent()
        assert parent is not None
        parent.append(element)

    return mutate


def remove_all(path: str) -> Mutation:
    def mutate(tree: etree._ElementTree) -> None:
        found = tree.xpath(path, namespaces=NSMAP)
        assert isinstance(found, list)
        assert found
        for element in found:
            assert isinstance(element, etree._Element)
            parent = element.getparent()
            assert parent is not None
            parent.remove(element)

    return mutate


MH = "/e:edXML/e:edXMLEnvelope/e:edXMLHeader/e:MessageHeader"
BUSINESS = "/e:edXML/e:edXMLEnvelope/e:edXMLHeader/e:TraceHeaderList/e:Bussiness"

#: (sample, kind, mutation, text both validators' messages must contain)
NEGATIVE_CASES: dict[str, tuple[str, str, Mutation, str]] = {
    "status code 07": (
        "status_finish_06.edxml",
        "status",
        set_text(f"{MH}/e:StatusCode", "07"),
        "StatusCode",
    ),
    "status code 1 (not two digits)": (
        "status_inbox_01.edxml",
        "status",
        set_text(f"{MH}/e:StatusCode", "1"),
        "StatusCode",
    ),
    "BussinessDocType 5": (
        "edoc_new.edxml",
        "document",
        set_text(f"{BUSINESS}/e:BussinessDocType", "5"),
        "BussinessDocType",
    ),
    "missing Subject": ("edoc_new.edxml", "document", remove(f"{MH}/e:Subject"), "Subject"),
    "dd/MM/yyyy PromulgationDate (Tây Ninh)": (
        "edoc_new.edxml",
        "document",
        set_text(f"{MH}/e:PromulgationInfo/e:PromulgationDate", "30/10/2020"),
        "PromulgationDate",
    ),
    "ISO DueDate": (
        "edoc_new.edxml",
        "document",
        set_text(f"{MH}/e:DueDate", "2018-09-28"),
        "DueDate",
    ),
    "empty DueDate": ("edoc_new.edxml", "document", set_text(f"{MH}/e:DueDate", ""), "DueDate"),
    "dd/MM/yyyy status Timestamp": (
        "status_processing_05.edxml",
        "status",
        set_text(f"{MH}/e:Timestamp", "20/09/2015 11:08:36"),
        "Timestamp",
    ),
    "dd/MM/yyyy status ResponseFor date": (
        "status_processing_05.edxml",
        "status",
        set_text(f"{MH}/e:ResponseFor/e:PromulgationDate", "30/09/2015"),
        "PromulgationDate",
    ),
    "unknown edXML element in MessageHeader": (
        "edoc_new.edxml",
        "document",
        add_after(f"{MH}/e:SteeringType", q("ReplyFors")),
        "ReplyFors",
    ),
    "To missing": ("edoc_new.edxml", "document", remove_all(f"{MH}/e:To"), "To"),
    ".NET order: DocumentId last": (
        "edoc_new.edxml",
        "document",
        move_to_end(f"{MH}/e:DocumentId"),
        "DocumentId",
    ),
    "Priority 5": (
        "edoc_new.edxml",
        "document",
        set_text(f"{MH}/e:OtherInfo/e:Priority", "5"),
        "Priority",
    ),
    "Paper 2": ("edoc_new.edxml", "document", set_text(f"{BUSINESS}/e:Paper", "2"), "Paper"),
    "Direction 1 (not true/false)": (
        "edoc_new.edxml",
        "document",
        set_text(f"{MH}/e:OtherInfo/e:Direction", "1"),
        "Direction",
    ),
    "DocumentType/Type not an int": (
        "edoc_new.edxml",
        "document",
        set_text(f"{MH}/e:DocumentType/e:Type", "CV"),
        "Type",
    ),
    "status without Timestamp": (
        "status.edxml",
        "status",
        remove(f"{MH}/e:Timestamp"),
        "Timestamp",
    ),
    "To in a status": (
        "status.edxml",
        "status",
        add_after(f"{MH}/e:From", q("To")),
        "To",
    ),
    "document without TraceHeaderList": (
        "edoc_new.edxml",
        "document",
        remove("/e:edXML/e:edXMLEnvelope/e:edXMLHeader/e:TraceHeaderList"),
        "TraceHeaderList",
    ),
    "Attachment without ContentTransferEncoded": (
        "edoc_new.edxml",
        "document",
        remove("/e:edXML/e:AttachmentEncoded/e:Attachment/e:ContentTransferEncoded"),
        "ContentTransferEncoded",
    ),
}


@pytest.mark.parametrize("case", sorted(NEGATIVE_CASES))
def test_non_canonical_package_fails_in_both_validators(
    case: str,
    lxml_schemas: dict[str, etree.XMLSchema],
    xmlschema_schemas: dict[str, xmlschema.XMLSchema],
) -> None:
    sample, kind, mutate, culprit = NEGATIVE_CASES[case]
    tree = load(sample)
    # the unmutated sample is valid: the single mutation is what breaks it
    assert_valid_in_both(kind, tree, lxml_schemas, xmlschema_schemas)
    mutate(tree)

    lxml_messages = lxml_errors(lxml_schemas[kind], tree)
    xmlschema_messages = xmlschema_errors(xmlschema_schemas[kind], tree)
    assert lxml_messages, "lxml accepted it"
    assert xmlschema_messages, "xmlschema accepted it"
    # lxml names elements as {ns}Local; xmlschema gives a path and a reason
    named_by_lxml = re.compile(rf"\}}{culprit}\b")
    named_by_xmlschema = re.compile(rf"[/:]{culprit}\b")
    assert any(named_by_lxml.search(m) for m in lxml_messages), lxml_messages
    assert any(named_by_xmlschema.search(m) for m in xmlschema_messages), xmlschema_messages


def test_lxml_message_quotes_the_bad_value(lxml_schemas: dict[str, etree.XMLSchema]) -> None:
    tree = load("status_finish_06.edxml")
    set_text(f"{MH}/e:StatusCode", "07")(tree)
    (message,) = lxml_errors(lxml_schemas["status"], tree)
    assert "'07'" in message
    assert "enumeration" in message


# --------------------------------------------------------------------------------------------
# §1.8 length limits (maxLength where §1.8 is clear; none on OrganId)
# --------------------------------------------------------------------------------------------

LENGTH_LIMITS: dict[str, tuple[str, str, int]] = {
    "Subject": ("edoc_new.edxml", f"{MH}/e:Subject", 500),
    "Content": ("edoc_new.edxml", f"{MH}/e:Content", 500),
    "DocumentId": ("edoc_new.edxml", f"{MH}/e:DocumentId", 200),
    "From/OrganName": ("edoc_new.edxml", f"{MH}/e:From/e:OrganName", 200),
    "SignerInfo/FullName": ("edoc_new.edxml", f"{MH}/e:SignerInfo/e:FullName", 50),
    "PromulgationInfo/Place": ("edoc_new.edxml", f"{MH}/e:PromulgationInfo/e:Place", 50),
    "TyperNotation": ("edoc_new.edxml", f"{MH}/e:OtherInfo/e:TyperNotation", 10),
    "ToPlaces/Place": ("edoc_new.edxml", f"({MH}/e:ToPlaces/e:Place)[1]", 150),
    "Attachment/AttachmentName": (
        "edoc_new.edxml",
        "/e:edXML/e:AttachmentEncoded/e:Attachment/e:AttachmentName",
        500,
    ),
    "StaffInfo/Department": ("status.edxml", f"{MH}/e:StaffInfo/e:Department", 250),
    "ResponseFor/DocumentId": ("status.edxml", f"{MH}/e:ResponseFor/e:DocumentId", 200),
}


@pytest.mark.parametrize("field", sorted(LENGTH_LIMITS))
def test_length_limit(
    field: str,
    lxml_schemas: dict[str, etree.XMLSchema],
    xmlschema_schemas: dict[str, xmlschema.XMLSchema],
) -> None:
    sample, path, limit = LENGTH_LIMITS[field]
    kind = SAMPLE_EXPECTATIONS[sample][0]
    tree = load(sample)
    # Vietnamese text: maxLength counts characters, not UTF-8 bytes
    set_text(path, "ệ" * limit)(tree)
    assert_valid_in_both(kind, tree, lxml_schemas, xmlschema_schemas)
    set_text(path, "ệ" * (limit + 1))(tree)
    assert any("maxLength" in m for m in lxml_errors(lxml_schemas[kind], tree))
    assert xmlschema_errors(xmlschema_schemas[kind], tree)


def test_organ_id_has_no_facets(
    lxml_schemas: dict[str, etree.XMLSchema],
    xmlschema_schemas: dict[str, xmlschema.XMLSchema],
) -> None:
    """OrganId forms are checked in code (edxml.md §3); the schema takes any string."""
    tree = load("edoc_new.edxml")
    set_text(f"{MH}/e:From/e:OrganId", "vxp.saas.02")(tree)
    set_text(f"({MH}/e:To/e:OrganId)[1]", "X" * 300)(tree)
    assert_valid_in_both("document", tree, lxml_schemas, xmlschema_schemas)


# --------------------------------------------------------------------------------------------
# canonical variants the schema must accept
# --------------------------------------------------------------------------------------------


def add_ids(tree: etree._ElementTree, value: str | None = None) -> None:
    """Id on every element a signature may reference (same value everywhere if given)."""
    header = "/e:edXML/e:edXMLEnvelope/e:edXMLHeader"
    for index, path in enumerate(
        (
            f"{header}/e:MessageHeader",
            f"{header}/e:TraceHeaderList",
            f"{header}/e:TraceHeaderList/e:TraceHeader",
            f"{header}/e:TraceHeaderList/e:Bussiness",
            "/e:edXML/e:edXMLEnvelope/e:edXMLBody",
            "/e:edXML/e:AttachmentEncoded",
            "/e:edXML/e:AttachmentEncoded/e:Attachment",
        )
    ):
        one(tree, path).set("Id", value or f"id-{index}")


def replace_signatures(tree: etree._ElementTree, *new: etree._Element) -> None:
    remove_all("/e:edXML/e:edXMLEnvelope/e:edXMLHeader/e:Signature")(tree)
    header = one(tree, "/e:edXML/e:edXMLEnvelope/e:edXMLHeader")
    for element in new:
        header.append(element)


def xmldsig_signature() -> etree._Element:
    signature = etree.fromstring(f'<Signature xmlns="{DSIG}"/>')
    signed_info = etree.SubElement(signature, q("SignedInfo", DSIG))
    reference = etree.SubElement(signed_info, q("Reference", DSIG), URI="#id-0")
    etree.SubElement(reference, q("DigestValue", DSIG)).text = "AAAA"
    etree.SubElement(signature, q("SignatureValue", DSIG)).text = "AAAA"
    return signature


def canonical_variant(variant: str) -> etree._ElementTree:
    tree = load("edoc_new.edxml")
    if variant == "Id on every referencable element":
        add_ids(tree)
    elif variant == "duplicate Id values (uniqueness is checked in code)":
        add_ids(tree, "same")
    elif variant == "TraceHeaderList .NET attributes":
        trace_list = one(tree, "/e:edXML/e:edXMLEnvelope/e:edXMLHeader/e:TraceHeaderList")
        trace_list.set("id", "TraceHeaderList")
        trace_list.set("version", "1.0")
        trace_list.set("mustUnderstand", "1")
        trace_list.set("actor", "http://schemas.xmlsoap.org/soap/actor/next")
    elif variant == "two XMLDSig signatures":
        replace_signatures(tree, xmldsig_signature(), xmldsig_signature())
    elif variant == "no signature":
        replace_signatures(tree)
    elif variant == ".NET empty DigitalSignature":
        replace_signatures(tree, etree.Element(q("DigitalSignature")))
    elif variant == "ResponseForTask, ApplicationType and a foreign extension":
        steering = one(tree, f"{MH}/e:SteeringType")
        task = etree.Element(q("ResponseForTask"))
        etree.SubElement(task, q("TaskCode")).text = "NV-1"
        application = etree.Element(q("ApplicationType"))
        application.text = "1"
        extension = etree.Element("{urn:example:ext}Extra", nsmap={"x": "urn:example:ext"})
        extension.text = "kept verbatim"
        steering.addnext(task)
        task.addnext(application)
        application.addnext(extension)
    elif variant == "minimal: optional elements absent":
        for path in (
            f"{MH}/e:Content",
            f"{MH}/e:DueDate",
            f"{MH}/e:OtherInfo",
            f"{MH}/e:SteeringType",
            f"{MH}/e:ToPlaces",
            f"{MH}/e:PromulgationInfo/e:Place",
            f"{MH}/e:DocumentType/e:TypeDetail",
            f"{MH}/e:SignerInfo/e:Competence",
            f"{MH}/e:SignerInfo/e:Position",
            "/e:edXML/e:AttachmentEncoded",
            "/e:edXML/e:edXMLEnvelope/e:edXMLHeader/e:Signature",
        ):
            remove(path)(tree)
        for child in list(one(tree, f"{MH}/e:From")):
            if child.tag != q("OrganId"):
                one(tree, f"{MH}/e:From").remove(child)
    elif variant == ".NET Attachment child order":
        attachment = one(tree, "/e:edXML/e:AttachmentEncoded/e:Attachment")
        order = (
            "ContentType",
            "ContentId",
            "Description",
            "ContentTransferEncoded",
            "AttachmentName",
        )
        children = {etree.QName(child).localname: child for child in attachment}
        for name in order:
            attachment.append(children[name])
    elif variant == "several ResponseFor":
        revocation = load("edoc_revocation.edxml")
        response_for = one(revocation, f"{MH}/e:ResponseFor")
        steering = one(tree, f"{MH}/e:SteeringType")
        steering.addprevious(response_for)
        steering.addprevious(etree.fromstring(etree.tostring(response_for)))
    else:  # pragma: no cover
        raise AssertionError(variant)
    return tree


CANONICAL_VARIANTS = (
    "Id on every referencable element",
    "duplicate Id values (uniqueness is checked in code)",
    "TraceHeaderList .NET attributes",
    "two XMLDSig signatures",
    "no signature",
    ".NET empty DigitalSignature",
    "ResponseForTask, ApplicationType and a foreign extension",
    "minimal: optional elements absent",
    ".NET Attachment child order",
    "several ResponseFor",
)


@pytest.mark.parametrize("variant", CANONICAL_VARIANTS)
def test_canonical_variant_is_valid(
    variant: str,
    lxml_schemas: dict[str, etree.XMLSchema],
    xmlschema_schemas: dict[str, xmlschema.XMLSchema],
) -> None:
    assert_valid_in_both("document", canonical_variant(variant), lxml_schemas, xmlschema_schemas)


def test_status_accepts_id_and_xmldsig_signature(
    lxml_schemas: dict[str, etree.XMLSchema],
    xmlschema_schemas: dict[str, xmlschema.XMLSchema],
) -> None:
    tree = load("status.edxml")
    one(tree, MH).set("Id", "status")
    one(tree, "/e:edXML/e:edXMLEnvelope/e:edXMLHeader").append(xmldsig_signature())
    assert_valid_in_both("status", tree, lxml_schemas, xmlschema_schemas)


def test_id_attribute_is_unqualified(
    lxml_schemas: dict[str, etree.XMLSchema],
    xmlschema_schemas: dict[str, xmlschema.XMLSchema],
) -> None:
    tree = load("edoc_new.edxml")
    one(tree, MH).set(q("Id"), "qualified")
    assert lxml_errors(lxml_schemas["document"], tree)
    assert xmlschema_errors(xmlschema_schemas["document"], tree)


# --------------------------------------------------------------------------------------------
# the attachment payload is xs:string (performance.md: base64Binary is ~75x slower)
# --------------------------------------------------------------------------------------------


def test_content_transfer_encoded_is_declared_xs_string() -> None:
    schema = xmlschema.XMLSchema(str(SCHEMAS / "edxml-document.xsd"))
    declarations = [
        element
        for element in schema.iter_components(xmlschema.XsdElement)
        if isinstance(element, xmlschema.XsdElement) and element.name == q("ContentTransferEncoded")
    ]
    assert len(declarations) == 1
    assert declarations[0].type.name == XS_STRING


def test_payload_is_not_base64_checked_by_the_schema(
    lxml_schemas: dict[str, etree.XMLSchema],
    xmlschema_schemas: dict[str, xmlschema.XMLSchema],
) -> None:
    """The code decodes and checks base64 itself; the schema must not (it would if the type
    were xs:base64Binary)."""
    tree = load("edoc_new.edxml")
    set_text("/e:edXML/e:AttachmentEncoded/e:Attachment/e:ContentTransferEncoded", "not base64!")(
        tree
    )
    assert_valid_in_both("document", tree, lxml_schemas, xmlschema_schemas)


def test_two_megabyte_payload_validates_with_lxml(
    lxml_schemas: dict[str, etree.XMLSchema],
) -> None:
    tree = load("edoc_new.edxml")
    payload = base64.encodebytes(os.urandom(2 * 1024 * 1024)).decode("ascii")  # with newlines
    set_text("/e:edXML/e:AttachmentEncoded/e:Attachment/e:ContentTransferEncoded", payload)(tree)
    reparsed = etree.fromstring(etree.tostring(tree), parser=etree.XMLParser(huge_tree=True))
    assert lxml_errors(lxml_schemas["document"], etree.ElementTree(reparsed)) == []
