"""The README keeps its promises: the quick start matches .ci/run, every error code is listed."""

from __future__ import annotations

import re
from pathlib import Path

import adapters.amqp.errors
import adapters.conformance.errors
import adapters.vdxp.errors
import adapters.webhook.errors  # noqa: F401
import gateway.backup
import gateway.service.admin.errors
import gateway.service.hub
import gateway.web.api
import gateway.web.auth
import gateway.web.console.errors  # noqa: F401 - their refusals join the catalogue
from edxml.errors import catalogue as edxml_catalogue
from gateway.core.errors import catalogue as gateway_catalogue

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text(encoding="utf-8")


def test_quick_start_test_command_is_what_ci_runs() -> None:
    quick = README.split("## Quick start", 1)[1].split("\n## ", 1)[0]
    commands = re.findall(r"^(python3 -m venv .+)$", quick, flags=re.M)
    assert len(commands) == 2, commands
    serve, test = commands
    assert serve.endswith("edxgw serve")
    ci = (ROOT / ".ci" / "run").read_text()
    assert test in ci


def test_every_gateway_error_code_is_in_the_readme() -> None:
    missing = [r.code for r in gateway_catalogue() if f"`{r.code}`" not in README]
    assert missing == []


def test_every_edxml_error_code_is_in_the_readme() -> None:
    missing = [c.code for c in edxml_catalogue() if f"`{c.code}`" not in README]
    assert missing == []
