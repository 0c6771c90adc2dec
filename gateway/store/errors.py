"""The one exception tree of the store, with stable codes, HTTP statuses and retry flags.

Every error the store raises is a :class:`StoreError`; driver exceptions (sqlite3,
asyncpg, OSError) never leak. Each backend translates them in exactly one function
(``sqlite._translate``, ``postgres._translate``), most specific first::

    StoreError              store.internal        500  an unexpected database error (a bug)
    ├── StoreUnavailable    store.unavailable     503  retryable: cannot reach or open the
    │                                                  database, connection lost, store closed
    ├── StoreBusy           store.busy            503  retryable: lock wait timed out,
    │                                                  serialisation failure, deadlock
    ├── StoreConflict       store.conflict        409  a unique key already holds another row
    │                                                  (not the dedup key: that one is
    │                                                  idempotency, see ``Store.accept``)
    ├── StoreInvalid        store.invalid         500  the gateway passed a value the schema
    │                                                  refuses (check, type, foreign key)
    ├── StoreNotFound       store.not_found       404  the row the call is about does not exist
    ├── BadTransition       store.bad_transition  409  the delivery lifecycle forbids the change
    └── BadCursor           store.bad_cursor      400  a pagination cursor we did not issue

Only ``BadCursor`` is an error the *client* made (it comes from an API caller); everything else
is either the environment (retryable) or the gateway itself.
"""

from __future__ import annotations

from typing import ClassVar

__all__ = [
    "BadCursor",
    "BadTransition",
    "SchemaTooNew",
    "StoreBusy",
    "StoreConflict",
    "StoreError",
    "StoreInvalid",
    "StoreNotFound",
    "StoreUnavailable",
]


class StoreError(Exception):
    """Base of every store error; ``code`` is stable, ``message`` is for humans (English)."""

    code: ClassVar[str] = "store.internal"
    http_status: ClassVar[int] = 500
    retryable: ClassVar[bool] = False

    def __init__(self, message: str) -> None:
        self.message = message
        super().__init__(f"{self.code}: {message}")


class StoreUnavailable(StoreError):
    """The database cannot be reached, opened or written; try again later."""

    code = "store.unavailable"
    http_status = 503
    retryable = True


class StoreBusy(StoreError):
    """The database was too busy (locks, serialisation); the same call may succeed again."""

    code = "store.busy"
    http_status = 503
    retryable = True


class StoreConflict(StoreError):
    """A unique key is already taken by a different row (e.g. a reused delivery_id)."""

    code = "store.conflict"
    http_status = 409


class StoreInvalid(StoreError):
    """A value the schema refuses: the calling code has a bug, retrying will not help."""

    code = "store.invalid"


class StoreNotFound(StoreError):
    """The message, delivery, agency or system the call names does not exist."""

    code = "store.not_found"
    http_status = 404


class BadTransition(StoreError):
    """The delivery lifecycle (``lifecycle.TRANSITIONS``) has no edge for this change."""

    code = "store.bad_transition"
    http_status = 409


class SchemaTooNew(StoreError):
    """The database was migrated by a newer release than this one (a node left behind in a
    rolling upgrade, or a restore into an older install): refusing protects the data."""

    code = "store.schema_too_new"
    http_status = 503


class BadCursor(StoreError):
    """A pagination cursor that is malformed or was not issued by this store."""

    code = "store.bad_cursor"
    http_status = 400
