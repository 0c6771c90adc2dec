"""The one exception tree of the edxml library, and its catalogue of stable error codes.

Every failure has a stable code ``edxml.<reason>``, a message in Vietnamese and in English,
and where known the element path and the line/column in the input::

    EdxmlError                      base; never raised itself
    ├── XmlError                    the bytes are not acceptable XML (malformed or hostile)
    ├── FormatError                 well-formed XML, but not an edXML package we can read
    ├── ValidationError             the package breaks the schema or a semantic rule;
    │                               carries every Issue found, not just the first
    └── SignatureError              a signature is missing, invalid or untrusted

All of them are errors the *sender* made (the gateway maps them to 4xx and to a rejection,
never retries them). Errors of this library itself are ordinary Python bugs and are not
translated. Codes are defined next to the code that raises them with :func:`define`, so the
catalogue (:func:`catalogue`) is complete once the defining modules are imported.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "Code",
    "EdxmlError",
    "FormatError",
    "Issue",
    "Severity",
    "SignatureError",
    "Text",
    "ValidationError",
    "XmlError",
    "catalogue",
    "define",
]


@dataclass(frozen=True, slots=True)
class Code:
    """A stable error code with its bilingual message templates (``str.format`` fields)."""

    code: str
    vi: str
    en: str

    def render(self, **params: object) -> tuple[str, str]:
        """Both messages with ``params`` filled in; unknown fields are left visible."""
        return _fill(self.vi, params, "vi"), _fill(self.en, params, "en")


@dataclass(frozen=True, slots=True)
class Text:
    """A message parameter that itself needs translating (``detail=Text(vi, en)``)."""

    vi: str
    en: str


class _Keep(dict[str, object]):
    def __missing__(self, key: str) -> str:
        return "{" + key + "}"


def _fill(template: str, params: dict[str, object], lang: str) -> str:
    local = {k: (getattr(v, lang) if isinstance(v, Text) else v) for k, v in params.items()}
    return template.format_map(_Keep(local))


_CATALOGUE: dict[str, Code] = {}


def define(code: str, vi: str, en: str) -> Code:
    """Register a code once; defining the same code twice with other text is a bug."""
    if not code.startswith("edxml."):
        raise ValueError(f"edxml error codes start with 'edxml.': {code!r}")
    new = Code(code, vi, en)
    old = _CATALOGUE.setdefault(code, new)
    if old != new:
        raise ValueError(f"error code {code!r} defined twice with different messages")
    return old


def catalogue() -> list[Code]:
    """Every code of the library, sorted; imports the modules that define codes."""
    # Imported here, not at module level: those modules import this one.
    from edxml import (  # noqa: F401
        attachments,
        build,
        compose,
        organ,
        parse,
        safexml,
        signature,
        trust,
        validate,
    )

    return sorted(_CATALOGUE.values(), key=lambda c: c.code)


class Severity(enum.Enum):
    ERROR = "error"
    WARNING = "warning"


@dataclass(frozen=True, slots=True)
class Issue:
    """One finding about a package: what (code), where (path, line, column), and why."""

    code: str
    message_vi: str
    message_en: str
    path: str = ""
    severity: Severity = Severity.ERROR
    line: int | None = None
    column: int | None = None

    @classmethod
    def of(
        cls,
        code: Code,
        path: str = "",
        *,
        severity: Severity = Severity.ERROR,
        line: int | None = None,
        column: int | None = None,
        **params: Any,
    ) -> Issue:
        vi, en = code.render(**params)
        return cls(code.code, vi, en, path, severity, line, column)

    def where(self) -> str:
        """``path (line L, column C)`` with whatever is known."""
        parts = [self.path] if self.path else []
        if self.line is not None:
            pos = f"line {self.line}"
            if self.column is not None:
                pos += f", column {self.column}"
            parts.append(f"({pos})")
        return " ".join(parts)

    def __str__(self) -> str:
        where = self.where()
        return (
            f"{self.code}{' at ' + where if where else ''}: {self.message_en} / {self.message_vi}"
        )


@dataclass(eq=False)
class EdxmlError(Exception):
    """Base of every error the library raises about its input."""

    issue: Issue
    issues: tuple[Issue, ...] = field(default=())

    def __init__(
        self,
        code: Code | Issue,
        path: str = "",
        *,
        line: int | None = None,
        column: int | None = None,
        issues: tuple[Issue, ...] = (),
        **params: Any,
    ) -> None:
        if isinstance(code, Issue):
            issue = code
        else:
            issue = Issue.of(code, path, line=line, column=column, **params)
        self.issue = issue
        self.issues = issues or (issue,)
        super().__init__(str(issue))

    @property
    def code(self) -> str:
        return self.issue.code

    @property
    def message_vi(self) -> str:
        return self.issue.message_vi

    @property
    def message_en(self) -> str:
        return self.issue.message_en

    @property
    def path(self) -> str:
        return self.issue.path

    @property
    def line(self) -> int | None:
        return self.issue.line

    @property
    def column(self) -> int | None:
        return self.issue.column

    def __str__(self) -> str:
        return str(self.issue)


class XmlError(EdxmlError):
    """The input is not acceptable XML: malformed, too large, too deep, or hostile."""


class FormatError(EdxmlError):
    """Well-formed XML that is not an edXML package this library can read."""


class ValidationError(EdxmlError):
    """The package breaks the schema or a semantic rule; ``issues`` lists every error."""


class SignatureError(EdxmlError):
    """A signature is missing, malformed, invalid, or made with an untrusted certificate."""
