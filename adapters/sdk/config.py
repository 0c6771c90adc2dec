"""How an agency system reaches its gateway: URL, credentials, keys; read once, frozen.

Build a :class:`ClientConfig` in code, from a mapping (a TOML table: :meth:`from_mapping`) or
from the environment (:meth:`from_env`, given ``os.environ`` explicitly)::

    EDXGW_URL               https://gateway.tayninh.gov.vn   (required)
    EDXGW_TOKEN             the API token `edxgw systems add` printed, or
    EDXGW_TOKEN_FILE        a file holding it (kept out of the process environment)
    EDXGW_CLIENT_CERT       mTLS instead of a token: the system's certificate (PEM) ...
    EDXGW_CLIENT_KEY        ... and its key
    EDXGW_CA_FILE           CA bundle for the gateway's TLS certificate (default: the system's)
    EDXGW_HUB_CERTIFICATE   the hub certificate that signs receipts (pins it; default: fetched
                            from GET /api/v1/certificate over the authenticated connection)
    EDXGW_SIGNING_KEY       the sending agency's private key (PEM) ...
    EDXGW_SIGNING_CERT      ... and certificate; packages from that agency are signed with it
    EDXGW_TIMEOUT           seconds per request (30)
    EDXGW_RETRIES           attempts after the first on a retryable failure (3)

A system registered for several agencies has one key per agency: give ``signing_keys`` several
:class:`KeyPair` values; each is used for the organ id its certificate names (serialNumber).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from adapters.sdk.errors import UsageError
from edxml.trust import SigningKey

__all__ = ["ClientConfig", "KeyPair"]


@dataclass(frozen=True, slots=True)
class KeyPair:
    """A PEM private key and its certificate (extra certificates after it form the chain)."""

    key_file: Path
    cert_file: Path

    def load(self) -> SigningKey:
        try:
            return SigningKey.from_pem_files(self.key_file, self.cert_file)
        except (OSError, ValueError) as exc:
            raise UsageError(
                f"cannot load the signing key {self.key_file} / {self.cert_file}: {exc}",
                f"không đọc được khóa ký {self.key_file} / {self.cert_file}: {exc}",
            ) from exc


@dataclass(frozen=True, slots=True, kw_only=True)
class ClientConfig:
    """Everything a :class:`~adapters.sdk.Client` needs; see the module doc for each field."""

    url: str
    token: str | None = field(default=None, repr=False)
    client_cert: Path | None = None
    client_key: Path | None = None
    ca_file: Path | None = None
    hub_certificate: Path | None = None
    signing_keys: tuple[KeyPair, ...] = ()
    #: Check every receipt's signature and that it states the SHA-256 of the bytes sent.
    verify_receipts: bool = True
    timeout: float = 30.0
    #: Further attempts on a retryable failure (transport error, 5xx, 429). Every call of the
    #: API is safe to repeat: reads and acknowledgements trivially, and a submission because
    #: the gateway answers a re-sent package with its original DocId (invariant §3.3).
    retries: int = 3
    #: Delay before the first retry in seconds; doubled each time, capped at 30 s.
    backoff: float = 0.5
    user_agent: str = "edxgw-sdk/0.1"

    def __post_init__(self) -> None:
        if not self.url.startswith(("http://", "https://")):
            raise UsageError(
                f"url must start with http:// or https://, not {self.url!r}",
                f"url phải bắt đầu bằng http:// hoặc https://, không phải {self.url!r}",
            )
        if (self.client_cert is None) != (self.client_key is None):
            raise UsageError(
                "client_cert and client_key go together (mTLS)",
                "client_cert và client_key phải đi cùng nhau (mTLS)",
            )
        if self.retries < 0 or self.timeout <= 0 or self.backoff < 0:
            raise UsageError(
                "retries and backoff must be >= 0 and timeout > 0",
                "retries và backoff phải >= 0, timeout phải > 0",
            )

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any], *, base: Path | None = None) -> ClientConfig:
        """From a TOML-style table (keys as the fields; ``signing_keys`` a list of tables
        ``{key_file, cert_file}``; or one ``signing_key``/``signing_cert``). Relative paths
        are taken from ``base``."""
        known = {f for f in cls.__dataclass_fields__} | {
            "signing_key",
            "signing_cert",
            "token_file",
        }
        unknown = sorted(set(values) - known)
        if unknown:
            raise UsageError(
                f"unknown client settings: {', '.join(unknown)}",
                f"thiết lập không hợp lệ: {', '.join(unknown)}",
            )
        if "url" not in values:
            raise UsageError("url is required", "thiếu url của trục")

        def path(key: str) -> Path | None:
            value = values.get(key)
            if value in (None, ""):
                return None
            p = Path(str(value)).expanduser()
            return p if p.is_absolute() or base is None else base / p

        token = values.get("token") or None
        token_file = path("token_file")
        if token is None and token_file is not None:
            try:
                token = token_file.read_text(encoding="utf-8").strip()
            except OSError as exc:
                raise UsageError(
                    f"cannot read token_file {token_file}: {exc}",
                    f"không đọc được token_file {token_file}: {exc}",
                ) from exc
        pairs: list[KeyPair] = []
        for entry in values.get("signing_keys") or ():
            if not isinstance(entry, Mapping) or not {"key_file", "cert_file"} <= set(entry):
                raise UsageError(
                    "each signing_keys entry needs key_file and cert_file",
                    "mỗi mục signing_keys cần key_file và cert_file",
                )
            pairs.append(KeyPair(_rel(entry["key_file"], base), _rel(entry["cert_file"], base)))
        key, cert = path("signing_key"), path("signing_cert")
        if (key is None) != (cert is None):
            raise UsageError(
                "signing_key and signing_cert go together",
                "signing_key và signing_cert phải đi cùng nhau",
            )
        if key is not None and cert is not None:
            pairs.append(KeyPair(key, cert))
        try:
            return cls(
                url=str(values["url"]).rstrip("/"),
                token=str(token) if token else None,
                client_cert=path("client_cert"),
                client_key=path("client_key"),
                ca_file=path("ca_file"),
                hub_certificate=path("hub_certificate"),
                signing_keys=tuple(pairs),
                verify_receipts=_bool(values.get("verify_receipts", True)),
                timeout=float(values.get("timeout", 30.0)),
                retries=int(values.get("retries", 3)),
                backoff=float(values.get("backoff", 0.5)),
                user_agent=str(values.get("user_agent", "edxgw-sdk/0.1")),
            )
        except (TypeError, ValueError) as exc:
            if isinstance(exc, UsageError):
                raise
            raise UsageError(
                f"bad client setting: {exc}", f"thiết lập không hợp lệ: {exc}"
            ) from exc

    @classmethod
    def from_env(cls, env: Mapping[str, str], prefix: str = "EDXGW_") -> ClientConfig:
        """From ``EDXGW_*`` variables (module doc); pass ``os.environ`` or a dict."""
        names = {
            "url": "URL",
            "token": "TOKEN",
            "token_file": "TOKEN_FILE",
            "client_cert": "CLIENT_CERT",
            "client_key": "CLIENT_KEY",
            "ca_file": "CA_FILE",
            "hub_certificate": "HUB_CERTIFICATE",
            "signing_key": "SIGNING_KEY",
            "signing_cert": "SIGNING_CERT",
            "timeout": "TIMEOUT",
            "retries": "RETRIES",
            "verify_receipts": "VERIFY_RECEIPTS",
        }
        values = {key: env[prefix + name] for key, name in names.items() if env.get(prefix + name)}
        if "url" not in values:
            raise UsageError(
                f"set {prefix}URL to the gateway's address",
                f"hãy đặt {prefix}URL là địa chỉ của trục",
            )
        return cls.from_mapping(values)

    def signing_key_map(self) -> dict[str, SigningKey]:
        """The signing keys by the organ id their certificate names."""
        keys: dict[str, SigningKey] = {}
        for pair in self.signing_keys:
            key = pair.load()
            organ = key.organ_id
            if not organ:
                raise UsageError(
                    f"the certificate {pair.cert_file} names no organ id (serialNumber)",
                    f"chứng thư {pair.cert_file} không ghi mã định danh đơn vị (serialNumber)",
                )
            keys[organ] = key
        return keys


def _rel(value: Any, base: Path | None) -> Path:
    p = Path(str(value)).expanduser()
    return p if p.is_absolute() or base is None else base / p


def _bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("1", "true", "yes", "on"):
        return True
    if text in ("0", "false", "no", "off"):
        return False
    raise UsageError(f"not a boolean: {value!r}", f"không phải giá trị đúng/sai: {value!r}")
