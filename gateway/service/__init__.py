"""The hub's use cases (submit, inbox, fetch, acknowledge, track), shared by every door.

:class:`Hub` runs the sans-io core in a process pool (``worker``) and executes its commands
against the store; the HTTP doors (``gateway/web``) only translate requests and answers.
"""

from gateway.service.hub import (
    Hub,
    Receipt,
    Refused,
    Tracking,
    issue_json,
    load_directory,
    token_hash,
)

__all__ = ["Hub", "Receipt", "Refused", "Tracking", "issue_json", "load_directory", "token_hash"]
