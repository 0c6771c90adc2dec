"""Say which agency system is calling: an mTLS client certificate or an API token (architecture §5).

Order: a client certificate presented over TLS wins (it was verified against the hub's CAs by
the TLS handshake; here it is checked again against the CRLs and looked up by its SHA-256
fingerprint); otherwise ``Authorization: Bearer <token>`` is looked up by the token's SHA-256
(the store never holds a token). A revoked system, a revoked or unknown certificate and an
unknown token are refused with distinct codes, so an integrator can tell them apart; none of
them says whether some *other* credential would have worked.
"""

from __future__ import annotations

import hmac
import ssl

from aiohttp import web
from cryptography import x509

from edxml.errors import SignatureError
from edxml.trust import TrustStore, fingerprint
from gateway.core.errors import NotAuthorized, Unauthenticated, define
from gateway.service.hub import Refused, token_hash
from gateway.store.base import Store, System

__all__ = [
    "CERTIFICATE_REJECTED",
    "CERTIFICATE_UNKNOWN",
    "MISSING_CREDENTIALS",
    "SYSTEM_REVOKED",
    "UNKNOWN_TOKEN",
    "authenticate",
    "client_certificate",
]

MISSING_CREDENTIALS = define(
    "auth.missing_credentials",
    "Thiếu thông tin xác thực: dùng chứng thư số máy khách (mTLS) hoặc "
    "tiêu đề Authorization: Bearer <mã truy cập>",
    "No credentials: present a client certificate (mTLS) or an Authorization: Bearer <token>",
)
UNKNOWN_TOKEN = define(
    "auth.unknown_token",
    "Mã truy cập không đúng hoặc đã bị thay",
    "The API token is not known (wrong, or replaced)",
)
CERTIFICATE_REJECTED = define(
    "auth.certificate_rejected",
    "Chứng thư số máy khách bị từ chối ({reason})",
    "The client certificate is refused ({reason})",
)
CERTIFICATE_UNKNOWN = define(
    "auth.certificate_unknown",
    "Chứng thư số máy khách {fingerprint} chưa được đăng ký cho hệ thống nào",
    "The client certificate {fingerprint} is not registered for any system",
)
SYSTEM_REVOKED = define(
    "auth.system_revoked",
    "Hệ thống {system} đã bị thu hồi quyền kết nối",
    "System {system} has been revoked",
)


def client_certificate(request: web.Request) -> x509.Certificate | None:
    """The certificate the client presented in the TLS handshake, if any."""
    transport = request.transport
    obj = transport.get_extra_info("ssl_object") if transport is not None else None
    if not isinstance(obj, ssl.SSLObject):
        return None
    der = obj.getpeercert(binary_form=True)
    return x509.load_der_x509_certificate(der) if der else None


async def authenticate(request: web.Request, store: Store, trust: TrustStore) -> System:
    """The calling system, or :class:`Refused` (401 unknown credentials, 403 revoked)."""
    cert = client_certificate(request)
    if cert is not None:
        try:
            trust.validate([cert])
        except SignatureError as exc:
            # Revoked, expired, wrong CA: the code (edxml.certificate_revoked, ...)
            # is the reason, so the caller sees *why*.
            raise Refused.of(Unauthenticated(CERTIFICATE_REJECTED, reason=exc.code)) from None
        print_ = fingerprint(cert)
        system = await store.find_system_by_cert(print_)
        if system is None:
            raise Refused.of(Unauthenticated(CERTIFICATE_UNKNOWN, fingerprint=print_[:16]))
        return _active(system)
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if not header or not hmac.compare_digest(scheme.lower(), "bearer") or not token.strip():
        raise Refused.of(Unauthenticated(MISSING_CREDENTIALS))
    system = await store.find_system_by_token_hash(token_hash(token.strip()))
    if system is None:
        raise Refused.of(Unauthenticated(UNKNOWN_TOKEN))
    return _active(system)


def _active(system: System) -> System:
    if system.revoked:
        raise Refused.of(NotAuthorized(SYSTEM_REVOKED, system=system.system_id))
    return system
