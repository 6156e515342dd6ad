"""Helpers for a scenario's `normalise`: answers compared as a user means them.

    from harness.scenario import approx, compose, unordered

    Scenario(..., normalise=unordered + approx(rel=0.05))        # rows in any order, counts ±5%
    Scenario(..., normalise=compose(_rows, unordered, nan_equal))  # your own function first

Each helper is a `Normaliser`: a map applied to every answer (the reference's and each variant's)
and the `Rule` the mapped answers are compared by. `unordered`, `unordered_rows`,
`tuples_as_lists` and `nan_equal` only map; `approx` maps nothing and declares a tolerance, which
the one answer check (`harness.scenario.answers`) applies to every number in the answer. Steps
apply left to right; `compose` and `+` join them (plain functions too: `_rows + unordered`), and a
WRONG answer's detail names what it was compared with: "(compared with unordered + approx(rel=0.05))".

Numbers are compared by value whatever the normaliser: 1, 1.0 and Decimal("1") are equal, and a
Decimal against a float is compared as a float (all the precision the two have in common).

A streamed answer (`StreamDigest`: a count and an order-sensitive hash) can be compared only in
order and exactly: with `unordered` or `approx` it is refused with a clear error, and a streaming
variant folds its rows mapped as the others' are, e.g. ``digest.add(nan_equal(row))``.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

__all__ = [
    "NAN",
    "Normaliser",
    "Rule",
    "Unordered",
    "approx",
    "compose",
    "nan_equal",
    "tuples_as_lists",
    "unordered",
    "unordered_rows",
]

NAN = float("nan")  # the one NaN `nan_equal` maps every NaN to: equal to itself by identity


@dataclass(frozen=True)
class Rule:
    """How mapped answers are compared: numbers within `rel` (relative) or `abs` (absolute) of
    each other count as equal (both 0: exactly), and `ordered=False` says some collections of the
    answer are `Unordered` (so a streamed answer, compared in order, cannot be checked)."""

    rel: float = 0.0
    abs: float = 0.0
    ordered: bool = True

    @property
    def tolerant(self) -> bool:
        return self.rel > 0 or self.abs > 0

    @property
    def digestible(self) -> bool:
        """Whether a StreamDigest (rows in order, hashed) can be compared under this rule."""
        return self.ordered and not self.tolerant

    def joined(self, other: Rule) -> Rule:
        """Both rules at once: the wider tolerance of each kind, unordered if either is."""
        return Rule(
            max(self.rel, other.rel), max(self.abs, other.abs), self.ordered and other.ordered
        )

    def close(self, got: float, expected: float) -> bool:
        """Two finite or infinite numbers equal under the tolerance (math.isclose)."""
        return math.isclose(got, expected, rel_tol=self.rel, abs_tol=self.abs)


EXACT = Rule()


@dataclass(frozen=True)
class Normaliser:
    """A named normalise step, or several composed: maps an answer (`steps` applied in order)
    and declares the `rule` the mapped answers are compared by. Passed as a Scenario's
    `normalise`; `a + b` is `compose(a, b)`."""

    name: str
    steps: tuple[Callable[[Any], Any], ...] = ()
    rule: Rule = EXACT

    def __call__(self, answer: Any) -> Any:
        for step in self.steps:
            answer = step(answer)
        return answer

    def __add__(self, other: Callable[[Any], Any]) -> Normaliser:
        return compose(self, other)

    def __radd__(self, other: Callable[[Any], Any]) -> Normaliser:
        return compose(other, self)

    def __str__(self) -> str:
        return self.name

    def __repr__(self) -> str:
        return self.name


def compose(*steps: Callable[[Any], Any]) -> Normaliser:
    """The steps applied left to right, as one normaliser: helpers and plain functions (a plain
    function maps and is compared exactly; it is named by its `__name__`)."""
    if not steps:
        raise ValueError("compose() needs at least one normalise step")
    names: list[str] = []
    fns: list[Callable[[Any], Any]] = []
    rule = EXACT
    for step in steps:
        if isinstance(step, Normaliser):
            names.append(step.name)
            fns.extend(step.steps)
            rule = rule.joined(step.rule)
        elif callable(step):
            names.append(getattr(step, "__name__", None) or repr(step))
            fns.append(step)
        else:
            raise TypeError(f"compose(): {step!r} is not a normaliser or a function")
    return Normaliser(" + ".join(names), tuple(fns), rule)


def approx(rel: float | None = None, abs: float | None = None) -> Normaliser:
    """Numbers anywhere in the answer equal within `rel` of the larger (0.05: 5%) or within
    `abs` (math.isclose), e.g. an estimated count against COUNT(*). Ints, floats and Decimals
    alike; booleans stay exact. `approx()` alone allows float round-off (rel=1e-9)."""
    if rel is None and abs is None:
        rel = 1e-9
    rel, abs_ = float(rel or 0.0), float(abs or 0.0)
    if rel < 0 or abs_ < 0 or math.isnan(rel) or math.isnan(abs_):
        raise ValueError(f"approx(rel={rel:g}, abs={abs_:g}): tolerances must be 0 or more")
    if rel == 0 and abs_ == 0:
        raise ValueError("approx(rel=0, abs=0) compares exactly: give rel= or abs= above 0")
    parts = [f"rel={rel:g}"] if rel else []
    parts += [f"abs={abs_:g}"] if abs_ else []
    return Normaliser(f"approx({', '.join(parts)})", (), Rule(rel=rel, abs=abs_))


class Unordered:
    """A collection whose items are compared as a multiset: order ignored, duplicates counted.
    Keeps its items in the order given, so a difference can point at the variant's own row."""

    __slots__ = ("items",)

    def __init__(self, items: Iterable[Any] = ()) -> None:
        self.items: tuple[Any, ...] = tuple(items)

    def __iter__(self) -> Iterator[Any]:
        return iter(self.items)

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, index: int) -> Any:
        return self.items[index]

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Unordered):
            return NotImplemented
        return Counter(map(frozen, self.items)) == Counter(map(frozen, other.items))

    def __hash__(self) -> int:
        return hash(frozen(self))

    def __repr__(self) -> str:
        return f"unordered({list(self.items)!r})"


def _unordered_collection(value: Any) -> Any:
    """At a collection's place (the answer, a row's list field): rows in any order."""
    if isinstance(value, Unordered):
        return Unordered(_unordered_row(v) for v in value)
    if isinstance(value, list | tuple):
        return Unordered(_unordered_row(v) for v in value)
    return _unordered_row(value)


def _unordered_row(value: Any) -> Any:
    """A row keeps its fields in place; a list among them is a collection, a tuple a nested row."""
    if isinstance(value, dict):
        return {k: _unordered_field(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_unordered_field(v) for v in value]
    if isinstance(value, tuple):
        return tuple(_unordered_field(v) for v in value)
    return value


def _unordered_field(value: Any) -> Any:
    if isinstance(value, list | Unordered):
        return _unordered_collection(value)
    return _unordered_row(value)


def _unordered_rows(value: Any) -> Any:
    if isinstance(value, list | tuple):
        return Unordered(value)
    return value


def _walk(value: Any, leaf: Callable[[Any], Any], tuple_as: type = tuple) -> Any:
    """`value` with `leaf` applied to everything that is not a list, tuple, dict or Unordered."""
    if isinstance(value, dict):
        return {k: _walk(v, leaf, tuple_as) for k, v in value.items()}
    if isinstance(value, list):
        return [_walk(v, leaf, tuple_as) for v in value]
    if isinstance(value, tuple):
        return tuple_as(_walk(v, leaf, tuple_as) for v in value)
    if isinstance(value, Unordered):
        return Unordered(_walk(v, leaf, tuple_as) for v in value)
    return leaf(value)


def _tuples_as_lists(value: Any) -> Any:
    return _walk(value, lambda v: v, list)


def is_nan(value: Any) -> bool:
    """A float or Decimal NaN (quiet or signalling)."""
    if isinstance(value, float):
        return math.isnan(value)
    return isinstance(value, Decimal) and value.is_nan()


def _one_nan(value: Any) -> Any:
    return NAN if is_nan(value) else value


def _nan_equal(value: Any) -> Any:
    return _walk(value, _one_nan)


unordered = Normaliser("unordered", (_unordered_collection,), Rule(ordered=False))
"""The answer's rows compared as a multiset (order ignored, duplicates counted), and so is every
list inside a row, at any depth (a user's posts, a post's comments). A row's own fields keep
their places: a tuple, or a list that is an item of a collection, is a row; a dict is a row by
key. For an answer that is a dict (an HTTP answer), its list fields are the collections."""

unordered_rows = Normaliser("unordered_rows", (_unordered_rows,), Rule(ordered=False))
"""Only the answer's own rows in any order (the answer a list or tuple); lists inside a row keep
their order (e.g. users in any order, each user's posts newest first)."""

tuples_as_lists = Normaliser("tuples_as_lists", (_tuples_as_lists,))
"""Every tuple (a driver's row, a SQLAlchemy Row, a namedtuple) as a list, at any depth, so
(1, "a") equals [1, "a"], e.g. a driver's rows against the same rows read from JSON."""

nan_equal = Normaliser("nan_equal", (_nan_equal,))
"""Every NaN (float or Decimal), at any depth, as one NaN that equals itself."""


def frozen(value: Any) -> Any:
    """A hashable key of a value: equal keys mean answers the exact rule finds equal (the
    converse may not hold, e.g. Decimal("0.1") and 0.1, which the check then compares itself)."""
    if isinstance(value, dict):
        return ("dict", frozenset((frozen(k), frozen(v)) for k, v in value.items()))
    if isinstance(value, Unordered):
        return ("unordered", frozenset(Counter(map(frozen, value.items)).items()))
    if isinstance(value, list | tuple):
        return (type(value).__qualname__, tuple(frozen(v) for v in value))
    try:
        hash(value)
    except TypeError:
        return ("unhashable", type(value).__qualname__, repr(value))
    return value


def order_key(value: Any) -> tuple[Any, ...]:
    """A sort key for any value, all keys comparable with each other: rows of two answers sorted
    by it pair up where they agree (numbers by value, so near numbers sort near)."""
    if value is None:
        return (0,)
    if isinstance(value, bool):
        return (1, value)
    if isinstance(value, int | float | Decimal):
        if is_nan(value):
            return (2, 1, 0.0)
        try:
            return (2, 0, float(value))
        except OverflowError:
            return (2, 0, math.inf if value > 0 else -math.inf)
    if isinstance(value, str):
        return (3, value)
    if isinstance(value, bytes):
        return (4, value)
    if isinstance(value, Unordered):
        return (5, tuple(sorted(order_key(v) for v in value)))
    if isinstance(value, list | tuple):
        return (5, tuple(order_key(v) for v in value))
    if isinstance(value, dict):
        return (6, tuple(sorted((repr(k), order_key(v)) for k, v in value.items())))
    return (7, type(value).__qualname__, repr(value))


def rule_of(normalise: Callable[[Any], Any] | None) -> Rule:
    """The rule a scenario's `normalise` declares (exact for a plain function, or none)."""
    return normalise.rule if isinstance(normalise, Normaliser) else EXACT


def name_of(normalise: Callable[[Any], Any] | None) -> str | None:
    """What a WRONG answer's detail says it was compared with (a helper's name, else None)."""
    return normalise.name if isinstance(normalise, Normaliser) else None
