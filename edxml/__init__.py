"""edxml: read, write, validate and sign edXML packages (QCVN 102:2016/BTTTT).

A pure, synchronous library with no knowledge of any gateway::

    import edxml

    package = edxml.parse(open("edoc_new.edxml", "rb").read())   # tolerant reader
    parsed, report = edxml.check(data, mode=edxml.Mode.STRICT)    # raises ValidationError
    data = edxml.build(package)                                   # canonical writer

Errors all derive from :class:`edxml.EdxmlError` and carry a stable ``edxml.<reason>`` code.
"""

from edxml.build import build, build_tree, serialize
from edxml.errors import (
    EdxmlError,
    FormatError,
    Issue,
    Severity,
    SignatureError,
    ValidationError,
    XmlError,
)
from edxml.model import (
    VN_TZ,
    Attachment,
    BusinessDocType,
    Bussiness,
    BussinessDocumentInfo,
    Code,
    DocumentPackage,
    DocumentType,
    Extension,
    Organization,
    OtherInfo,
    Package,
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
from edxml.parse import NS, Parsed, parse, read, read_tree
from edxml.validate import Mode, Policy, Report, check, validate

__all__ = [
    "NS",
    "VN_TZ",
    "Attachment",
    "BusinessDocType",
    "Bussiness",
    "BussinessDocumentInfo",
    "Code",
    "DocumentPackage",
    "DocumentType",
    "EdxmlError",
    "Extension",
    "FormatError",
    "Issue",
    "Mode",
    "Organization",
    "OtherInfo",
    "Package",
    "Parsed",
    "Policy",
    "PromulgationInfo",
    "Receiver",
    "Reference",
    "ReplacementInfo",
    "Report",
    "ResponseFor",
    "Severity",
    "SignatureError",
    "SignerInfo",
    "StaffInfo",
    "StatusCode",
    "StatusPackage",
    "TraceHeader",
    "ValidationError",
    "XmlError",
    "build",
    "build_tree",
    "check",
    "parse",
    "read",
    "read_tree",
    "serialize",
    "validate",
]

__version__ = "0.1.0"
