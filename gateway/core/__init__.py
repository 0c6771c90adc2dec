"""The sans-io core of the gateway: synchronous stages over frozen values, no I/O at all.

Named by verb (architecture.md §6, style.md §1-3): ``receive → validate → verify → sign →
route`` make one package into an :class:`Accepted` (what to commit) or a :class:`Rejected`
(:func:`process`); ``deliver`` decides what a consumer does with a broker message;
``acknowledge`` turns a system's done/fail into a store command; ``trace`` is the catalogue
of trace events; ``errors`` the exception tree. Shells (web, broker, store) execute the
commands the core returns; the core never awaits, opens a socket or writes SQL.
"""

from gateway.core.directory import Directory
from gateway.core.errors import GatewayError, LocalError, Problem, SenderError
from gateway.core.keys import Keys
from gateway.core.pipeline import process
from gateway.core.values import (
    Accepted,
    Context,
    CountingIds,
    OriginalRef,
    Rejected,
    Submission,
    new_id,
)

__all__ = [
    "Accepted",
    "Context",
    "CountingIds",
    "Directory",
    "GatewayError",
    "Keys",
    "LocalError",
    "OriginalRef",
    "Problem",
    "Rejected",
    "SenderError",
    "Submission",
    "new_id",
    "process",
]
