"""The one answer check: every variant's answer against the reference variant's.

The reference variant is checked first. A variant that raises `Skip` is skipped, one that raises
anything else failed (unless the server itself is gone: then `ServerGone` ends the scenario), one
whose answer differs from the reference's is WRONG, and none is checked when the reference
failed or was skipped. Every runner and the pytest plugin ask this one place.

Answers are compared under the `Rule` the scenario's `normalise` declares (the helpers of
`harness.scenario.normalise`: `unordered` collections as multisets, `approx` numbers within a
tolerance), and a WRONG answer's detail names that normaliser.
"""

from __future__ import annotations

import inspect
from collections import defaultdict, deque
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any, Literal

from harness.errors import describe_error
from harness.scenario.digest import StreamDigest
from harness.scenario.normalise import (
    EXACT,
    Rule,
    Unordered,
    frozen,
    is_nan,
    name_of,
    order_key,
    rule_of,
)
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
    where two canonical answers first differ (None when they agree): by default
    `first_difference` under the rule the scenario's `normalise` declares (`compare`)."""

    scenario: Scenario
    server: ServerTarget | None = None
    difference: Difference = field(default_factory=lambda: first_difference)
    _expected: Any = None
    _reference: Checked | None = None

    def __post_init__(self) -> None:
        if self.difference is first_difference:
            self.difference = self.compare

    @property
    def rule(self) -> Rule:
        """How answers are compared: the rule the scenario's `normalise` declares."""
        return rule_of(self.scenario.normalise)

    @property
    def compared_with(self) -> str | None:
        """The normaliser a WRONG answer's detail names (None for none, or a plain function)."""
        return name_of(self.scenario.normalise)

    def compare(self, got: Any, expected: Any) -> str | None:
        """Where two canonical answers first differ under the scenario's rule; None if they agree."""
        return first_difference(got, expected, rule=self.rule)

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
        if isinstance(canonical, StreamDigest) and not self.rule.digestible:
            detail = f"{variant} streamed its answer: {streamed_problem(self.rule)}"
            return self._judged(variant, Checked("failed", self._named(detail)))
        if variant == self.scenario.reference and self._reference is None:
            self._expected = canonical
            return self._judged(variant, Checked("ok", answer=canonical))
        if (problem := self.reference_problem) is not None or self._reference is None:
            return Checked("failed", problem or "the reference variant was not checked first")
        difference = self.difference(canonical, self._expected)
        if difference is not None:
            return Checked("wrong", self._named(difference), answer=canonical)
        return Checked("ok", answer=canonical)

    def recheck(self, result: Any) -> str | None:
        """Where a later answer of a variant (a result, not yet normalised) differs from the
        reference's answer; None when they agree. Only for scenarios without `verify`, whose
        read-back holds for the database's state after the one operation it followed."""
        if self._reference is None or not self._reference.ok:
            return self.reference_problem or "the reference variant was not checked first"
        canonical = self.scenario.canonical(result)
        if type(canonical) is type(self._expected) and canonical == self._expected:
            # Python's equality, in C: the variant's first answer already passed the full
            # comparison, and an answer equal to the reference's is that answer again
            return None
        difference = self.difference(canonical, self._expected)
        return None if difference is None else self._named(difference)

    def _named(self, detail: str) -> str:
        """A difference, saying what the answers were compared with (a normalise helper)."""
        name = self.compared_with
        return f"{detail} (compared with {name})" if name else detail

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


def first_difference(
    got: Any, expected: Any, path: str = "result", rule: Rule = EXACT
) -> str | None:
    """None when equal under `rule`; otherwise a short description of the first place they
    differ (a streamed answer, `StreamDigest`, against the digest of the expected rows).

    Numbers are compared by value (1 == 1.0 == Decimal(1); a Decimal against a float as a
    float), within the rule's tolerance when it has one; `Unordered` collections as multisets,
    the difference pointing at the first of the variant's items that matches none expected."""
    if got is expected:  # also the one NaN of `nan_equal`
        return None
    if isinstance(got, StreamDigest):
        if not rule.digestible:
            return f"{path}: {streamed_problem(rule)}"
        found = got.difference(expected)
        return f"{path}: {found}" if found else None
    if _is_number(got) and _is_number(expected):
        if _same_number(got, expected, rule):
            return None
        return f"{path}: got {_short(got)}, expected {_short(expected)}"
    if type(got) is not type(expected):
        return f"{path}: got {type(got).__name__}, expected {type(expected).__name__}"
    if isinstance(expected, Unordered):
        return _unordered_difference(got, expected, path, rule)
    if isinstance(expected, dict):
        missing = [k for k in expected if k not in got]
        if missing:
            return f"{path}: missing key {missing[0]!r}"
        extra = [k for k in got if k not in expected]
        if extra:
            return f"{path}: unexpected key {extra[0]!r}"
        for key in expected:
            found = first_difference(got[key], expected[key], f"{path}.{key}", rule)
            if found:
                return found
        return None
    if isinstance(expected, list | tuple):
        for index, (g, e) in enumerate(zip(got, expected, strict=False)):
            found = first_difference(g, e, f"{path}[{index}]", rule)
            if found:
                return found
        if len(got) != len(expected):
            return f"{path}: {len(got)} items, expected {len(expected)}"
        return None
    if got != expected:
        return f"{path}: got {_short(got)}, expected {_short(expected)}"
    return None


def streamed_problem(rule: Rule) -> str:
    """Why a StreamDigest cannot be checked under a rule that is not exact and in order."""
    needs = [
        *(["items in any order"] if not rule.ordered else []),
        *(["approximate numbers"] if rule.tolerant else []),
    ]
    return (
        "a StreamDigest (a count and an ordered hash of the rows) can be compared only row for "
        f"row, in order and exactly, not with {' and '.join(needs)}; return the rows instead"
    )


def check_normalise(scenario: Scenario) -> None:
    """Raises ValueError, at definition time, when a variant declared to return a StreamDigest
    (its return annotation) meets a `normalise` whose rule a digest cannot be compared under."""
    rule = rule_of(scenario.normalise)
    if rule.digestible:
        return
    for variant in scenario.variants.values():
        returns = inspect.signature(variant.fn).return_annotation
        if returns is StreamDigest or "StreamDigest" in str(returns):
            raise ValueError(
                f"scenario {scenario.name!r}: variant {variant.name!r} returns a StreamDigest, "
                f"but normalise={name_of(scenario.normalise)} compares "
                f"{streamed_problem(rule).split('not with ', 1)[1]}"
            )


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float | Decimal)


def _same_number(got: Any, expected: Any, rule: Rule) -> bool:
    if isinstance(got, bool) or isinstance(expected, bool):
        return bool(got == expected)
    try:
        if got == expected:
            return True
    except InvalidOperation:  # a signalling Decimal NaN
        return False
    if is_nan(got) or is_nan(expected):
        return False
    if not rule.tolerant and not (isinstance(got, float) or isinstance(expected, float)):
        return False  # ints and Decimals: exactly
    try:
        as_floats = float(got), float(expected)
    except OverflowError:
        return False
    return rule.close(*as_floats) if rule.tolerant else as_floats[0] == as_floats[1]


# pairs compared one by one, at most, when matching the items of two unordered collections
# that neither their keys nor their sorted order paired up
_MATCH_BUDGET = 200_000


def _unordered_difference(got: Unordered, expected: Unordered, path: str, rule: Rule) -> str | None:
    left_got, left_expected = _unmatched(got.items, expected.items, rule)
    if not left_got and not left_expected:
        return None
    sizes = f"{len(got)} items, expected {len(expected)}"
    if not left_expected:  # every expected item found: the variant has more
        index = left_got[0]
        return f"{path}: {sizes}; {path}[{index}] {_short(got[index])} is not among them"
    if not left_got:
        return f"{path}: {sizes}; missing {_short(expected[left_expected[0]])}"
    index = left_got[0]
    item = got[index]
    differences = [
        first_difference(item, expected[j], f"{path}[{index}]", rule) or ""
        for j in left_expected[:20]
    ]
    # the nearest expected item: the one that agrees with it deepest into its fields
    nearest = max(differences, key=lambda d: len(d.split(": ", 1)[0])) or f"{path}[{index}]"
    counted = "" if len(got) == len(expected) else f"; {sizes}"
    return f"{nearest}; {path}[{index}] matches no expected item, in any order{counted}"


def _unmatched(
    got: Sequence[Any], expected: Sequence[Any], rule: Rule
) -> tuple[list[int], list[int]]:
    """The indices of the items of two collections left unpaired when each item of `got` takes
    an equal item of `expected` (by key, then in sorted order, then one by one)."""
    waiting: defaultdict[Any, deque[int]] = defaultdict(deque)
    for j, item in enumerate(expected):
        waiting[frozen(item)].append(j)
    left_got: list[int] = []
    for i, item in enumerate(got):
        bucket = waiting.get(frozen(item))
        if bucket:
            bucket.popleft()
        else:
            left_got.append(i)
    left_expected = sorted(j for bucket in waiting.values() for j in bucket)
    if not left_got or not left_expected:
        return left_got, left_expected
    # equal under the rule but not by key: Decimal and float, numbers within the tolerance
    paired_got: set[int] = set()
    paired_expected: set[int] = set()
    by_order_got = sorted(left_got, key=lambda i: order_key(got[i]))
    by_order_expected = sorted(left_expected, key=lambda j: order_key(expected[j]))
    for i, j in zip(by_order_got, by_order_expected, strict=False):
        if first_difference(got[i], expected[j], rule=rule) is None:
            paired_got.add(i)
            paired_expected.add(j)
    budget = _MATCH_BUDGET
    for i in left_got:
        if i in paired_got:
            continue
        for j in left_expected:
            if j in paired_expected:
                continue
            budget -= 1
            if budget < 0:
                break
            if first_difference(got[i], expected[j], rule=rule) is None:
                paired_got.add(i)
                paired_expected.add(j)
                break
    return (
        [i for i in left_got if i not in paired_got],
        [j for j in left_expected if j not in paired_expected],
    )


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."
