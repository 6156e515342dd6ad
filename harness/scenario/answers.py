"""The one answer check: every variant's answer against the reference variant's.

The reference variant is checked first. A variant that raises `Skip` is skipped, one that raises
anything else failed (unless the server itself is gone: then `ServerGone` ends the scenario), one
whose answer differs from the reference's is WRONG, and none is checked when the reference
failed or was skipped. Every runner and the pytest plugin ask this one place.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from harness.errors import describe_error
from harness.scenario.digest import StreamDigest
from harness.scenario.spec import Skip

if TYPE_CHECKING:
    from harness.scenario.spec import Scenario, Variant
    from harness.server.target import ServerTarget

Status = Literal["ok", "wrong", "failed", "skipped"]
Difference = Callable[[Any, Any], "str | None"]


@dataclass(frozen=True)
class Checked:
    """What the check found for one variant: its status, why, and its canonical answer (when it
    gave one) or the error it raised (when it failed by raising)."""

    status: Status
    detail: str = ""
    answer: Any = None
    error: BaseException | None = None

    @property
    def ok(self) -> bool:
        return self.status == "ok"


@dataclass
class AnswerCheck:
    """Checks the variants of one grid point in turn, the reference first (`order`).

    `server` tells a failing variant from a server that stopped answering; `difference` finds
    where two canonical answers first differ (None when they agree)."""

    scenario: Scenario
    server: ServerTarget | None = None
    difference: Difference = field(default=lambda got, expected: first_difference(got, expected))
    _expected: Any = None
    _reference: Checked | None = None

    def order(self, variants: Iterable[Variant]) -> list[Variant]:
        """The variants with the reference first, the others in their order."""
        return sorted(variants, key=lambda v: v.name != self.scenario.reference)

    @property
    def reference_problem(self) -> str | None:
        """Why nothing can be checked against the reference (None while it answered, or before
        it was checked)."""
        if self._reference is None or self._reference.ok:
            return None
        why = "was skipped" if self._reference.status == "skipped" else "failed"
        return f"the reference variant {self.scenario.reference} {why}; nothing to check against"

    def check(self, variant: str, answer: Callable[[], Any], doing: str = "") -> Checked:
        """Calls `answer()` for the variant's canonical answer and judges it; `doing` says, in
        a failure's detail, what the answer was asked with."""
        try:
            canonical = answer()
        except Skip as exc:
            return self._judged(variant, Checked("skipped", str(exc)))
        except Exception as exc:
            if self.server is not None:
                self.server.raise_if_gone(exc)
            detail = f"{doing}: {describe_error(exc)}" if doing else describe_error(exc)
            return self._judged(variant, Checked("failed", detail, error=exc))
        if variant == self.scenario.reference and self._reference is None:
            self._expected = canonical
            return self._judged(variant, Checked("ok", answer=canonical))
        if (problem := self.reference_problem) is not None or self._reference is None:
            return Checked("failed", problem or "the reference variant was not checked first")
        difference = self.difference(canonical, self._expected)
        if difference is not None:
            return Checked("wrong", difference, answer=canonical)
        return Checked("ok", answer=canonical)

    def recheck(self, result: Any) -> str | None:
        """Where a later answer of a variant (a result, not yet normalised) differs from the
        reference's answer; None when they agree. Only for scenarios without `verify`, whose
        read-back holds for the database's state after the one operation it followed."""
        if self._reference is None or not self._reference.ok:
            return self.reference_problem or "the reference variant was not checked first"
        return self.difference(self.scenario.canonical(result), self._expected)

    def failed_before(self, variant: str, status: Status, detail: str) -> Checked:
        """A variant that could not be asked (its app did not start, its plan skipped the
        point): recorded, so that a reference in that state stops the others' checks."""
        return self._judged(variant, Checked(status, detail))

    def _judged(self, variant: str, checked: Checked) -> Checked:
        if variant == self.scenario.reference and self._reference is None:
            self._reference = checked
        return checked


@dataclass(frozen=True)
class Rechecked:
    """What re-checking a variant's timed answers found: how many were compared, and the first
    that differed from the reference's (its 1-based place and where it differed), if any."""

    count: int = 0
    wrong_at: int = 0
    difference: str = ""


def recheck_answers(differences: Iterable[str | None]) -> Rechecked:
    """Counts re-checked answers until the first that differs (each item: where a timed answer
    differs from the reference's, None when they agree)."""
    count = 0
    for count, difference in enumerate(differences, 1):
        if difference is not None:
            return Rechecked(count, count, difference)
    return Rechecked(count)


def first_difference(got: Any, expected: Any, path: str = "result") -> str | None:
    """None when equal; otherwise a short description of the first place they differ (a
    streamed answer, `StreamDigest`, against the digest of the expected rows)."""
    if isinstance(got, StreamDigest):
        found = got.difference(expected)
        return f"{path}: {found}" if found else None
    if type(got) is not type(expected) and not (
        isinstance(got, int | float) and isinstance(expected, int | float)
    ):
        return f"{path}: got {type(got).__name__}, expected {type(expected).__name__}"
    if isinstance(expected, dict):
        missing = [k for k in expected if k not in got]
        if missing:
            return f"{path}: missing key {missing[0]!r}"
        extra = [k for k in got if k not in expected]
        if extra:
            return f"{path}: unexpected key {extra[0]!r}"
        for key in expected:
            found = first_difference(got[key], expected[key], f"{path}.{key}")
            if found:
                return found
        return None
    if isinstance(expected, list | tuple):
        for index, (g, e) in enumerate(zip(got, expected, strict=False)):
            found = first_difference(g, e, f"{path}[{index}]")
            if found:
                return found
        if len(got) != len(expected):
            return f"{path}: {len(got)} items, expected {len(expected)}"
        return None
    if got != expected:
        return f"{path}: got {_short(got)}, expected {_short(expected)}"
    return None


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."
