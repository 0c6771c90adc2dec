"""``edxgw webhook``: configure where the gateway pushes a local agency's deliveries.

::

    edxgw webhook set ORGAN --url https://qlvb.example/edxgw [--tls-client] [--ca CA.crt]
                      [--timeout 30] [--concurrency 4] [--allow-http] [--secret S]
    edxgw webhook list
    edxgw webhook rotate-secret ORGAN
    edxgw webhook remove ORGAN

``set`` stores the endpoint (migration 8), THEN switches the agency's ``delivery_mode`` to
``push`` (a running node never finds push mode without an endpoint), and prints the generated
HMAC secret once; changing an existing endpoint keeps its secret unless ``--secret`` is given.
``remove`` does the reverse in the reverse order: ``pull`` first, then the endpoint. Every
change is a trace event (``admin.webhook_*``; never the secret). Exit codes as ``edxgw``'s:
0 done, 1 refused (unknown or non-local agency, unusable configuration).
"""

from __future__ import annotations

import argparse
import dataclasses
import secrets
from typing import Any, TextIO

from adapters.webhook.config import (
    DEFAULT_CONCURRENCY,
    DEFAULT_TIMEOUT,
    DELIVERY_MODE,
    check_endpoint,
)
from adapters.webhook.errors import WebhookError
from gateway.settings import Settings
from gateway.store.base import Agency, Store, TraceEvent, WebhookEndpoint

__all__ = ["add_parser", "cmd_list", "cmd_remove", "cmd_rotate", "cmd_set"]


def _event(settings: Settings, stage: str, detail: dict[str, Any]) -> TraceEvent:
    return TraceEvent(node=settings.node, stage=stage, outcome="ok", detail=detail)


async def _local_agency(store: Store, organ: str, out: TextIO) -> Agency | None:
    agency = await store.resolve(organ)
    if agency is None:
        out.write(f"unknown agency {organ} / không có cơ quan {organ} trong danh bạ\n")
        return None
    if agency.host != "local":
        out.write(
            f"{agency.organ_id} is not hosted by this hub ({agency.host}); only local agencies "
            f"receive pushes / {agency.organ_id} không thuộc trục này\n"
        )
        return None
    return agency


async def _set_mode(
    store: Store, settings: Settings, agency: Agency, mode: str, reason: str
) -> None:
    if agency.delivery_mode == mode:
        return
    await store.upsert_agency(
        dataclasses.replace(agency, delivery_mode=mode),
        [
            _event(
                settings,
                "admin.agency_upsert",
                {"organ_id": agency.organ_id, "delivery_mode": mode, "reason": reason},
            )
        ],
    )


def _line(e: WebhookEndpoint, agency: Agency | None) -> str:
    mode = agency.delivery_mode if agency is not None else "?"
    tls = "mtls" if e.tls_client else "-"
    return (
        f"{e.organ_id:<16} mode={mode or 'pull':<5} {e.url}  tls_client={tls} "
        f"ca={e.ca_file or '-'} timeout={e.timeout_seconds}s concurrency={e.concurrency}"
    )


async def cmd_set(args: argparse.Namespace, s: Settings, store: Store, out: TextIO) -> int:
    agency = await _local_agency(store, args.organ_id, out)
    if agency is None:
        return 1
    try:
        check_endpoint(
            args.url,
            tls_client=args.tls_client,
            ca_file=args.ca,
            timeout_seconds=args.timeout,
            concurrency=args.concurrency,
            production=s.production,
            allow_http=args.allow_http,
        )
    except WebhookError as exc:
        out.write(f"{exc.code}: {exc.message_en}\n{exc.code}: {exc.message_vi}\n")
        return 1
    old = await store.get_webhook(agency.organ_id)
    generated = args.secret is None and old is None
    secret = args.secret or (old.secret if old is not None else secrets.token_urlsafe(32))
    endpoint = WebhookEndpoint(
        organ_id=agency.organ_id,
        url=args.url,
        secret=secret,
        tls_client=args.tls_client,
        ca_file=args.ca,
        timeout_seconds=args.timeout,
        concurrency=args.concurrency,
    )
    detail = {
        "organ_id": agency.organ_id,
        "url": args.url,
        "tls_client": args.tls_client,
        "ca_file": args.ca,
        "secret_changed": args.secret is not None or old is None,
    }
    stored = await store.upsert_webhook(endpoint, [_event(s, "admin.webhook_set", detail)])
    await _set_mode(store, s, agency, DELIVERY_MODE, "webhook set")
    out.write(_line(stored, dataclasses.replace(agency, delivery_mode=DELIVERY_MODE)) + "\n")
    if generated:
        out.write(f"webhook secret (shown once / chỉ hiện một lần): {secret}\n")
    if args.url.startswith("http:"):
        out.write(
            "warning: plain http:// - documents travel unencrypted / cảnh báo: văn bản được "
            "đẩy qua http:// không mã hóa\n"
        )
    return 0


async def cmd_list(args: argparse.Namespace, s: Settings, store: Store, out: TextIO) -> int:
    for endpoint in await store.list_webhooks():
        out.write(_line(endpoint, await store.resolve(endpoint.organ_id)) + "\n")
    return 0


async def cmd_rotate(args: argparse.Namespace, s: Settings, store: Store, out: TextIO) -> int:
    agency = await store.resolve(args.organ_id)
    endpoint = await store.get_webhook(agency.organ_id) if agency is not None else None
    if endpoint is None:
        out.write(f"no webhook for {args.organ_id} / {args.organ_id} chưa có webhook\n")
        return 1
    secret = secrets.token_urlsafe(32)
    detail = {"organ_id": endpoint.organ_id, "rotated": "secret"}
    await store.upsert_webhook(
        dataclasses.replace(endpoint, secret=secret), [_event(s, "admin.webhook_rotate", detail)]
    )
    out.write(f"new webhook secret (shown once / chỉ hiện một lần): {secret}\n")
    out.write(
        "pushes are signed with it from now on; until the receiver has it they fail and are "
        "retried / từ giờ trục ký bằng khóa mới; bên nhận cần cập nhật khóa\n"
    )
    return 0


async def cmd_remove(args: argparse.Namespace, s: Settings, store: Store, out: TextIO) -> int:
    agency = await store.resolve(args.organ_id)
    if agency is None or await store.get_webhook(agency.organ_id) is None:
        out.write(f"no webhook for {args.organ_id} / {args.organ_id} chưa có webhook\n")
        return 1
    if agency.delivery_mode == DELIVERY_MODE:
        await _set_mode(store, s, agency, args.mode, "webhook removed")
    await store.delete_webhook(
        agency.organ_id,
        [_event(s, "admin.webhook_remove", {"organ_id": agency.organ_id, "reason": args.reason})],
    )
    out.write(f"webhook of {agency.organ_id} removed; delivery mode {args.mode} / đã gỡ webhook\n")
    return 0


def add_parser(sub: Any) -> None:
    """Register ``edxgw webhook ...`` on the ``edxgw`` sub-parsers."""
    w = sub.add_parser("webhook", help="push deliveries to agency URLs (adapters/webhook)")
    wsub = w.add_subparsers(dest="action", required=True)
    st = wsub.add_parser("set", help="push this agency's deliveries to a URL; prints the secret")
    st.add_argument("organ_id")
    st.add_argument("--url", required=True)
    st.add_argument("--tls-client", action="store_true", help="present the hub certificate (mTLS)")
    st.add_argument("--ca", help="CA file the receiver's server certificate must chain to")
    st.add_argument("--timeout", type=int, default=DEFAULT_TIMEOUT, help="seconds per push")
    st.add_argument("--concurrency", type=int, default=DEFAULT_CONCURRENCY)
    st.add_argument("--allow-http", action="store_true", help="plain http:// in production")
    st.add_argument("--secret", help="use this HMAC secret instead of a generated one")
    st.set_defaults(func=cmd_set)
    wsub.add_parser("list").set_defaults(func=cmd_list)
    rt = wsub.add_parser("rotate-secret", help="new HMAC secret, printed once")
    rt.add_argument("organ_id")
    rt.set_defaults(func=cmd_rotate)
    rm = wsub.add_parser("remove", help="stop pushing; the agency pulls again")
    rm.add_argument("organ_id")
    rm.add_argument("--mode", default="pull", help="delivery mode afterwards (default pull)")
    rm.add_argument("--reason")
    rm.set_defaults(func=cmd_remove)
