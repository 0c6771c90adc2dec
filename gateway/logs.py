"""Structured logs: one JSON (or console) line per event, with the package's context, no secrets.

``edxgw serve`` calls :func:`configure` once. Every line goes through structlog's processors,
whether it was written with structlog or with the stdlib ``logging`` calls the rest of the
gateway uses (``ProcessorFormatter`` renders stdlib records too), so a line looks like::

    {"event": "directory reloaded: 212 agencies", "level": "info", "logger": "gateway.app",
     "timestamp": "2025-07-01T01:02:03.456Z", "hub": "00.53.W00", "node": "node-1"}
    {"event": "message m-1 on edxgw.inbox.H53.31.21: ...; requeued", "level": "warning",
     "doc_id": "0b6f…", "delivery_id": "5c1e…", "queue": "edxgw.inbox.H53.31.21", ...}

Context is bound with :func:`bind` (contextvars) at the boundaries where it becomes known:
the HTTP middleware binds ``request_id`` (``gateway/web/metrics.py``), the hub binds
``doc_id``/``document_id`` once the worker has read the package and ``delivery_id`` on an
acknowledgement, the consumer binds ``doc_id``/``delivery_id``/``queue`` per broker message.
Each request and each message runs in its own task, so bindings never leak between them.

What never reaches a log: package content (the gateway logs identifiers, codes and counts,
as the trace does), and credentials. :func:`redact` replaces the value of every field whose
name says token, secret, password, authorization, cookie or key, and scrubs passwords out of
URLs (``amqp://user:…@host``) and bearer tokens out of any text, tracebacks included.
Tracebacks are rendered as text without local variables.
"""

from __future__ import annotations

import contextlib
import logging
import re
import sys
from collections.abc import Iterator, MutableMapping
from typing import Any, TextIO

import structlog
from structlog.contextvars import bind_contextvars, bound_contextvars, clear_contextvars
from structlog.typing import EventDict, Processor, WrappedLogger

__all__ = ["FORMATS", "bind", "bound", "clear", "configure", "context", "redact", "scrub"]

FORMATS = ("json", "console")
REDACTED = "[redacted]"

_SENSITIVE = re.compile(
    r"token|secret|passw|authorization|cookie|api_?key|private_?key|credential", re.IGNORECASE
)
# user:password@ in any URL-like text (amqp://, postgresql://, https://).
_URL_PASSWORD = re.compile(r"(?P<head>[a-z][a-z0-9+.\-]*://[^:/@\s]*:)[^@\s/]+@", re.IGNORECASE)
_BEARER = re.compile(r"(?P<head>\bbearer\s+)[A-Za-z0-9._~+/=\-]+", re.IGNORECASE)
# Fields whose names match _SENSITIVE but carry no secret (hashes, counts, codes).
_SAFE = frozenset({"token_sha256", "level", "logger", "event"})
_HANDLER_MARK = "_edxgw_handler"


def scrub(text: str) -> str:
    """``text`` with URL passwords and bearer tokens replaced."""
    if "://" in text:
        text = _URL_PASSWORD.sub(rf"\g<head>{REDACTED}@", text)
    if "earer" in text:
        text = _BEARER.sub(rf"\g<head>{REDACTED}", text)
    return text


def redact(_logger: WrappedLogger, _method: str, event: EventDict) -> EventDict:
    """The structlog processor that keeps credentials out of every line (module doc)."""
    for key, value in event.items():
        if value is None:
            continue
        if key not in _SAFE and _SENSITIVE.search(key):
            event[key] = REDACTED
        elif isinstance(value, str):
            event[key] = scrub(value)
    return event


def _static(fields: dict[str, str]) -> Processor:
    def add(_logger: WrappedLogger, _method: str, event: EventDict) -> EventDict:
        for key, value in fields.items():
            event.setdefault(key, value)
        return event

    return add


def configure(
    level: str = "INFO",
    fmt: str = "json",
    *,
    stream: TextIO | None = None,
    static: dict[str, str] | None = None,
) -> logging.Handler:
    """Route structlog and stdlib logging to one handler on ``stream`` (stderr); idempotent.

    ``static`` fields (hub, node) go on every line. Returns the handler (tests remove it).
    """
    if fmt not in FORMATS:
        raise ValueError(f"log format must be one of {FORMATS}, not {fmt!r}")
    numeric = logging.getLevelName(level.upper())
    if not isinstance(numeric, int):
        raise ValueError(f"unknown log level {level!r}")
    stream = stream or sys.stderr
    shared: list[Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        _static(dict(static or {})),
    ]
    structlog.configure(
        processors=[
            *shared,
            structlog.stdlib.PositionalArgumentsFormatter(),
            structlog.processors.StackInfoRenderer(),
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
    renderer: Processor
    if fmt == "json":
        renderer = structlog.processors.JSONRenderer(ensure_ascii=False)
    else:
        renderer = structlog.dev.ConsoleRenderer(
            colors=stream.isatty(), exception_formatter=structlog.dev.plain_traceback
        )
    formatter = structlog.stdlib.ProcessorFormatter(
        # Stdlib records: their ``extra={...}`` fields become fields of the line too.
        foreign_pre_chain=[*shared, structlog.stdlib.ExtraAdder()],
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            # Tracebacks as text, never with local variables (they could hold a package).
            structlog.processors.format_exc_info,
            redact,
            renderer,
        ],
    )
    handler = logging.StreamHandler(stream)
    handler.setFormatter(formatter)
    setattr(handler, _HANDLER_MARK, True)
    root = logging.getLogger()
    for old in [h for h in root.handlers if getattr(h, _HANDLER_MARK, False)]:
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(numeric)
    return handler


def bind(**values: Any) -> None:
    """Add fields to every later line of this task (``None`` values are left out)."""
    bind_contextvars(**{k: v for k, v in values.items() if v is not None})


@contextlib.contextmanager
def bound(**values: Any) -> Iterator[None]:
    """Fields for the lines inside the block only."""
    with bound_contextvars(**{k: v for k, v in values.items() if v is not None}):
        yield


def clear() -> None:
    """Forget every field bound in this context (a request or message starts clean)."""
    clear_contextvars()


def context() -> MutableMapping[str, Any]:
    """The fields bound right now (the access log line reads the DocId the hub bound)."""
    return structlog.contextvars.get_contextvars()
