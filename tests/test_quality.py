"""The repository's own quality gates, run by the test suite so CI enforces them."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent


def run(*argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, check=False)


@pytest.mark.parametrize(
    "argv",
    [
        ("ruff", "check", "edxml", "gateway", "adapters", "tests"),
        ("ruff", "format", "--check", "edxml", "gateway", "adapters", "tests"),
        (
            "mypy",
            "--strict",
            "edxml",
            "gateway",
            "adapters",
        ),
        ("lint-imports",),
    ],
    ids=["ruff", "ruff-format", "mypy-strict", "import-contracts"],
)
def test_quality_gate(argv: tuple[str, ...]) -> None:
    tool = BIN / argv[0]
    if not tool.exists():
        pytest.skip(f"{argv[0]} is not installed (pip install -e '.[dev]')")
    proc = run(str(tool), *argv[1:])
    assert proc.returncode == 0, proc.stdout + proc.stderr
