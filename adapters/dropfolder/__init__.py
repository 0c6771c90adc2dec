"""The drop folder: a legacy system exchanges documents by writing and reading files.

For agency systems that can do nothing but files. A daemon (``edxgw-dropfolder``, see
``__main__.py``) talks to the gateway through the SDK and keeps this tree::

    root/
      outbox/   drop here: a package (.edxml), or a description (.toml, the `edxml new`
                format; `from` may be left out when the system sends for one agency) with
                the attachments it names — write the attachments first, the .toml last
      status/   drop here: a status about a document (.toml: doc_id, code, comment;
                optional sender, recipient (13), staff, department)
      sent/     each sent file, with F.receipt.json (the gateway's answer and signed
                receipt), F.edxml (the package as submitted) and F.files/ (attachments)
      failed/   each refused file, with F.reason.json (code, Vietnamese and English
                message, the gateway's issues) and F.files/
      inbox/    one folder per received document or status (see ``sink.py``); never
                partial: it appears whole, then the delivery is acknowledged
      .edxgw/   the daemon's own: journal.db, work/, tmp/, packages/, lock

Guarantees (tested by killing the daemon with SIGKILL at random moments): each dropped file
ends in sent/ or failed/ exactly once; a document is delivered at most once (the gateway
recognises a re-sent package); no half-written folder is ever visible in inbox/; an inbox item
is acknowledged only after its folder is durably in inbox/. Files whose names start with ``.``
or ``~`` are ignored, and a file is taken only once it has not changed for
``settle_seconds``.

Modules: ``config`` (the TOML), ``source`` (outbox/ and status/ → gateway), ``sink`` (gateway
→ inbox/), ``journal`` (SQLite state), ``files`` (atomic, fsync'ed file operations),
``errors`` (reasons written to failed/), ``daemon`` (the loop).
"""

from adapters.dropfolder.config import DropFolderConfig
from adapters.dropfolder.daemon import AlreadyRunning, Daemon
from adapters.dropfolder.errors import Reason

__all__ = ["AlreadyRunning", "Daemon", "DropFolderConfig", "Reason"]
