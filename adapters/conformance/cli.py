"""``edxgw conformance``: certify an agency integration or an axis; run the reference agency.

::

    edxgw conformance agency --url URL --token TOKEN --from KIT_ORGAN --agency ORGAN
                             [--statuses 01,03,06] [--timeout 120] [--no-recall]
                             [--samples DIR] [--json]
    edxgw conformance axis --endpoint URL --system-id ID --secret S --from ORGAN --to ORGAN
                           [--to-system-id ID --to-secret S] [--timeout 60] [--json]
    edxgw conformance responder --url URL --token TOKEN [--organ ORGAN ...]
                                [--behaviour correct|no-ack|no-finish|...]

Other client settings come from the SDK's ``EDXGW_*`` variables (``adapters/sdk/config.py``:
``EDXGW_HUB_CERTIFICATE`` to pin the receipt certificate, ``EDXGW_SIGNING_KEY``/``_CERT`` to sign
as ``--from``, mTLS...); ``--token-file``/``EDXGW_TOKEN_FILE`` keep a token out of the process
list. Each step is printed as it is decided; the exit code is 0 when every step passed, 1 when
one failed, 2 for a usage error. The command needs no gateway store: a vendor runs it anywhere.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import signal
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, TextIO

from adapters.conformance.agency import AgencyRun, run_agency
from adapters.conformance.axis import AxisRun, run_axis
from adapters.conformance.report import Report, Step, line
from adapters.conformance.responder import Behaviour, Responder
from adapters.sdk import AsyncClient, ClientConfig, EdxgwError

__all__ = ["main"]

_CODES = ("01", "02", "03", "04", "05", "06")


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="edxgw conformance", description=__doc__)
    sub = p.add_subparsers(dest="scenario", required=True)

    def client_options(sp: argparse.ArgumentParser) -> None:
        sp.add_argument("--url", help="the gateway (else EDXGW_URL)")
        sp.add_argument("--token", help="the API token (else EDXGW_TOKEN)")
        sp.add_argument("--token-file", help="a file holding the token")

    a = sub.add_parser("agency", help="certify an agency system's integration via a gateway")
    client_options(a)
    a.add_argument("--from", dest="sender", required=True, help="the kit's own agency")
    a.add_argument("--agency", required=True, help="the agency under test")
    a.add_argument("--statuses", default="01,03,06", help="statuses expected for a new document")
    a.add_argument("--timeout", type=float, default=120.0, help="seconds per phase")
    a.add_argument("--no-recall", action="store_true", help="skip the recall (13) step")
    a.add_argument("--samples", type=Path, help="folder of the official VPCP samples")
    a.add_argument("--json", action="store_true")

    x = sub.add_parser("axis", help="check a VDXP endpoint (national axis, LGSP, this gateway)")
    x.add_argument("--endpoint", required=True)
    x.add_argument("--system-id", required=True)
    x.add_argument("--secret", help="the system's secret (else EDXGW_VDXP_SECRET)")
    x.add_argument("--from", dest="sender", required=True)
    x.add_argument("--to", dest="recipient", required=True)
    x.add_argument("--to-system-id", help="the receiving system (default: the same system)")
    x.add_argument("--to-secret")
    x.add_argument("--timeout", type=float, default=60.0)
    x.add_argument("--samples", type=Path)
    x.add_argument("--json", action="store_true")

    r = sub.add_parser("responder", help="run the reference agency (an auto-responder)")
    client_options(r)
    r.add_argument("--organ", action="append", default=[], help="answer for these (repeatable)")
    r.add_argument("--behaviour", choices=[b.value for b in Behaviour], default="correct")
    r.add_argument("--statuses", default="01,03,06")
    r.add_argument("--interval", type=float, default=1.0, help="seconds between inbox polls")
    return p


def _statuses(text: str) -> tuple[str, ...]:
    codes = tuple(c.strip().zfill(2) for c in text.split(",") if c.strip())
    bad = [c for c in codes if c not in _CODES]
    if bad or not codes:
        raise ValueError(f"statuses must be among {', '.join(_CODES)}, not {text!r}")
    return codes


def _client_config(args: argparse.Namespace, environ: Mapping[str, str]) -> ClientConfig:
    env = dict(environ)
    if args.url:
        env["EDXGW_URL"] = args.url
    if args.token:
        env["EDXGW_TOKEN"] = args.token
    if args.token_file:
        env["EDXGW_TOKEN_FILE"] = args.token_file
    return ClientConfig.from_env(env)


def _printer(out: TextIO, quiet: bool) -> Any:
    def show(step: Step) -> None:
        if not quiet:
            out.write(line(step) + "\n")
            out.flush()

    return show


async def _agency(args: argparse.Namespace, environ: Mapping[str, str], out: TextIO) -> Report:
    config = _client_config(args, environ)
    run = AgencyRun(
        sender=args.sender,
        agency=args.agency,
        statuses=_statuses(args.statuses),
        timeout=args.timeout,
        samples=args.samples,
        recall=not args.no_recall,
    )
    if not args.json:
        out.write(f"edxgw conformance agency: {run.sender} -> {run.agency} via {config.url}\n")
    async with AsyncClient(config) as client:
        return await run_agency(client, run, on_step=_printer(out, args.json))


async def _axis(args: argparse.Namespace, environ: Mapping[str, str], out: TextIO) -> Report:
    secret = args.secret or environ.get("EDXGW_VDXP_SECRET")
    if not secret:
        raise ValueError("give --secret or EDXGW_VDXP_SECRET")
    run = AxisRun(
        endpoint=args.endpoint,
        system_id=args.system_id,
        secret=secret,
        sender=args.sender,
        recipient=args.recipient,
        to_system_id=args.to_system_id,
        to_secret=args.to_secret,
        timeout=args.timeout,
        samples=args.samples,
    )
    if not args.json:
        out.write(f"edxgw conformance axis: {run.sender} -> {run.recipient} at {run.endpoint}\n")
    return await run_axis(run, on_step=_printer(out, args.json))


async def _responder(args: argparse.Namespace, environ: Mapping[str, str], out: TextIO) -> int:
    config = _client_config(args, environ)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)
    async with AsyncClient(config) as client:
        me = await client.me()
        organs = args.organ or list(me.agencies)
        out.write(
            f"reference agency ({args.behaviour}) answering for {', '.join(organs)} at "
            f"{config.url}; Ctrl-C to stop / đơn vị mẫu đang trả lời; Ctrl-C để dừng\n"
        )
        out.flush()
        responder = Responder(
            client, organs, behaviour=Behaviour(args.behaviour), statuses=_statuses(args.statuses)
        )
        await responder.run(stop, interval=args.interval)
    out.write(f"answered {responder.handled} items / đã trả lời {responder.handled} mục\n")
    return 0


def main(
    argv: Sequence[str] | None = None,
    out: TextIO | None = None,
    environ: Mapping[str, str] | None = None,
) -> int:
    out = out or sys.stdout
    environ = os.environ if environ is None else environ
    args = _parser().parse_args(list(sys.argv[1:] if argv is None else argv))
    try:
        if args.scenario == "responder":
            return asyncio.run(_responder(args, environ, out))
        scenario = _agency if args.scenario == "agency" else _axis
        report = asyncio.run(scenario(args, environ, out))
    except (ValueError, EdxgwError) as exc:
        message = getattr(exc, "message_en", str(exc))
        out.write(f"edxgw conformance: {message}\n")
        return 2
    out.write(report.json() if args.json else f"\n{report.verdict()}\n")
    return 0 if report.passed else 1
