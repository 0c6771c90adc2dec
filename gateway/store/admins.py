"""The rows of the admin console's accounts: administrators, their sessions, their roles.

An administrator signs in to the web console (``gateway/web/console``) or is managed with
``edxgw admins``. The store keeps only a password *hash* (``gateway.web.console.passwords``
makes and checks it) and only the SHA-256 of a session token: a leaked database holds no
password and no usable session. Roles are ordered: an ``operator`` may do everything a
``viewer`` may, and the state-changing actions (replay, merge, downloads) besides.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

__all__ = ["ROLES", "Admin", "AdminSession", "Role", "role_allows"]

Role = Literal["viewer", "operator"]
#: Every role, weakest first; a role allows what every role before it allows.
ROLES: tuple[Role, ...] = ("viewer", "operator")


def role_allows(role: str, needed: str) -> bool:
    """True when ``role`` is ``needed`` or stronger (an unknown role allows nothing)."""
    if role not in ROLES or needed not in ROLES:
        return False
    return ROLES.index(role) >= ROLES.index(needed)


@dataclass(frozen=True, slots=True, kw_only=True)
class Admin:
    """An administrator account; ``username`` is lower case ``[a-z0-9._-]``."""

    username: str
    display_name: str
    role: Role
    password_hash: str = field(repr=False)
    created_at: datetime | None = None  # set by the store
    updated_at: datetime | None = None  # set by the store
    password_changed_at: datetime | None = None  # set by the store


@dataclass(frozen=True, slots=True, kw_only=True)
class AdminSession:
    """A signed-in browser (or script); valid while now < ``idle_until`` and < ``expires_at``.

    ``session_hash`` is the SHA-256 of the cookie's token; ``csrf_token`` is the per-session
    secret every state-changing request must echo (form field or ``X-CSRF-Token``).
    """

    session_hash: str = field(repr=False)
    username: str
    csrf_token: str = field(repr=False)
    created_at: datetime
    last_seen_at: datetime
    idle_until: datetime
    expires_at: datetime
    address: str | None = None
