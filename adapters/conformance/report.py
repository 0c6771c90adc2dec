"""A conformance run's report: one line per step, pass or fail, with the reason in both languages.

The text form is for the vendor's terminal and certification file; the JSON form
(``--json``) for their CI. A run passes when no step failed; skipped steps (with their reason)
do not fail it.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

from adapters.conformance.errors import Reason

__all__ = ["Report", "Step"]

_MARK = {True: "PASS", False: "FAIL", None: "SKIP"}


@dataclass(frozen=True, slots=True)
class Step:
    """One checked expectation."""

    name: str
    passed: bool | None  # None: skipped
    seconds: float = 0.0
    detail_en: str = ""
    detail_vi: str = ""
    code: str | None = None  # conformance.* (or the refusal's own code) when it failed

    @classmethod
    def ok(cls, name: str, seconds: float, en: str, vi: str) -> Step:
        return cls(name, True, round(seconds, 2), en, vi)

    @classmethod
    def fail(cls, step: str, elapsed: float, why: Reason, /, **params: object) -> Step:
        """A failed step: ``why``'s code and its messages filled with ``params``."""
        return cls(
            step,
            False,
            round(elapsed, 2),
            why.en.format(**params),
            why.vi.format(**params),
            why.code,
        )

    @classmethod
    def skip(cls, name: str, en: str, vi: str) -> Step:
        return cls(name, None, 0.0, en, vi)


@dataclass
class Report:
    """The steps of one run, in the order they were decided."""

    title: str
    target: dict[str, Any]
    steps: list[Step] = field(default_factory=list)
    #: Called with each step as it is decided (the CLI prints progress).
    on_step: Callable[[Step], None] | None = field(default=None, repr=False, compare=False)

    def add(self, step: Step) -> Step:
        self.steps.append(step)
        if self.on_step is not None:
            self.on_step(step)
        return step

    @property
    def passed(self) -> bool:
        return bool(self.steps) and all(s.passed is not False for s in self.steps)

    @property
    def failed(self) -> list[Step]:
        return [s for s in self.steps if s.passed is False]

    def step(self, name: str) -> Step | None:
        return next((s for s in self.steps if s.name == name), None)

    def text(self) -> str:
        lines = [self.title, *(f"  {k}: {v}" for k, v in self.target.items()), ""]
        lines += [line(s) for s in self.steps]
        return "\n".join([*lines, "", self.verdict()]) + "\n"

    def verdict(self) -> str:
        """``PASSED / ĐẠT: 20 passed, 0 failed, 1 skipped / ...``"""
        total = len(self.steps)
        bad = len(self.failed)
        skipped = sum(1 for s in self.steps if s.passed is None)
        ok = total - bad - skipped
        word = "PASSED / ĐẠT" if self.passed else "FAILED / KHÔNG ĐẠT"
        return (
            f"{word}: {ok} passed, {bad} failed, {skipped} skipped"
            f" / {ok} đạt, {bad} không đạt, {skipped} bỏ qua"
        )

    def json(self) -> str:
        body = {
            "title": self.title,
            "target": self.target,
            "passed": self.passed,
            "steps": [asdict(s) for s in self.steps],
        }
        return json.dumps(body, ensure_ascii=False, indent=2) + "\n"


def line(step: Step) -> str:
    """``[PASS] name  1.2s  English / Tiếng Việt`` (and the code of a failure)."""
    code = f" [{step.code}]" if step.code else ""
    return (
        f"[{_MARK[step.passed]}] {step.name:<34} {step.seconds:>7.2f}s{code}  "
        f"{step.detail_en} / {step.detail_vi}"
    )
