"""The scenario contract: a question, a parameter grid, variants, and the answer they must agree on.

A scenario module creates one `Scenario` and registers its variants with `@scenario.variant`.
Variants are plain functions, sync or async, taking a `Context`; each implements one pattern and
returns what the endpoint would return. Before anything is timed, every variant's normalised
result must equal the reference variant's.
"""

from __future__ import annotations

import inspect
import itertools
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from harness.dataset import DatasetSpec
from harness.errors import UserError
from harness.native import NativeReference

if TYPE_CHECKING:
    from harness.context import Context  # context imports this module

AxisValue = int | float | str | bool
RUNNERS = ("latency", "throughput", "http")
F = TypeVar("F", bound=Callable[..., Any])


class Skip(Exception):
    """Raised by a variant for a grid point it does not apply to (e.g. the naive pattern at
    100,000 rows, or COPY when generated keys are asked for). Reported as SKIPPED, not timed."""


@dataclass(frozen=True)
class Grid:
    """Named axes; the grid points are their product, in declaration order."""

    axes: tuple[tuple[str, tuple[AxisValue, ...]], ...]
    skip: Callable[[Params], bool] | None = None
    skip_note: str = ""  # what `skip` leaves out, in words, for the report

    @classmethod
    def of(cls, **axes: list[AxisValue] | tuple[AxisValue, ...]) -> Grid:
        for name, values in axes.items():
            if not values:
                raise ValueError(f"grid axis {name!r} has no values")
        return cls(tuple((name, tuple(values)) for name, values in axes.items()))

    def skipping(self, note: str, predicate: Callable[[Params], bool]) -> Grid:
        """The same grid without the points `predicate` is true for (e.g. too slow for quick)."""
        return Grid(self.axes, predicate, note)

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(name for name, _ in self.axes)

    def values(self, name: str) -> tuple[AxisValue, ...]:
        return dict(self.axes)[name]

    def points(self) -> Iterator[Params]:
        names = self.names
        for combo in itertools.product(*(values for _, values in self.axes)):
            params = Params(tuple(zip(names, combo, strict=True)))
            if self.skip is None or not self.skip(params):
                yield params

    def __len__(self) -> int:
        return sum(1 for _ in self.points())

    def override(self, overrides: Mapping[str, str]) -> Grid:
        """A grid with some axes replaced by user-given values, parsed to the axis's type."""
        current = dict(self.axes)
        for name, raw in overrides.items():
            if name not in current:
                raise UserError(f"unknown grid axis {name!r}; valid: {', '.join(self.names)}")
            kind = type(current[name][0])
            parsed: list[AxisValue] = []
            for text in raw.split(","):
                text = text.strip()
                try:
                    value: AxisValue = _parse_axis_value(kind, text)
                except ValueError:
                    raise UserError(
                        f"grid axis {name!r} takes {kind.__name__} values, got {text!r}"
                    ) from None
                if isinstance(value, int | float) and not isinstance(value, bool) and value <= 0:
                    raise UserError(f"grid axis {name!r} takes positive values, got {text!r}")
                parsed.append(value)
            current[name] = tuple(parsed)
        return Grid(tuple((name, current[name]) for name in self.names), self.skip, self.skip_note)


def _parse_axis_value(kind: type, text: str) -> AxisValue:
    if kind is bool:
        if text.lower() in ("true", "yes", "1"):
            return True
        if text.lower() in ("false", "no", "0"):
            return False
        raise ValueError(text)
    if kind is int:
        return int(text.replace("_", ""))
    if kind is float:
        return float(text)
    if not text:
        raise ValueError(text)
    return text


@dataclass(frozen=True)
class Params:
    """One grid point: attribute access (`params.users`) and a stable label."""

    items: tuple[tuple[str, AxisValue], ...]

    def __getattr__(self, name: str) -> AxisValue:
        for key, value in self.items:
            if key == name:
                return value
        raise AttributeError(name)

    def as_dict(self) -> dict[str, AxisValue]:
        return dict(self.items)

    @property
    def label(self) -> str:
        return " ".join(f"{key}={value}" for key, value in self.items)


@dataclass(frozen=True)
class Variant:
    """One pattern: its name, the docstring's first line, and whether it is a coroutine."""

    name: str
    fn: Callable[..., Any]
    description: str
    is_async: bool


@dataclass
class Scenario:
    """A question with its grids, the data it needs, its variants and their canonical answer."""

    name: str
    question: str
    quick: Grid
    full: Grid
    reference: str
    dataset: DatasetSpec = field(default_factory=DatasetSpec)
    full_dataset: DatasetSpec | None = None
    normalise: Callable[[Any], Any] | None = None
    chart_x: str | None = None
    comparisons: tuple[tuple[str, str], ...] = ()  # pairs the report gives verdicts for
    baseline: str | None = None  # every variant also gets its ratio to this one
    native: Callable[[Params, DatasetSpec], list[NativeReference]] | None = None  # the ceiling
    setup_point: Callable[[Context], None] | None = None  # once per grid point, untimed
    setup_op: Callable[[Context], None] | None = None  # before every operation, untimed
    verify: Callable[[Context, Any], Any] | None = None  # canonical answer from the database
    rate_axis: str | None = None  # report `<axis>_per_s` = axis value / median time
    settings_note: tuple[str, ...] = ()  # server settings the results depend on
    # The throughput runner (runner="throughput"): variants return a harness.pools.PoolPlan;
    # `clients_axis` names the axis with the number of concurrent clients, `connections` the
    # most server connections a grid point may open (checked against max_connections).
    runner: str = "latency"
    clients_axis: str = "clients"
    think_time_s: float = 0.0
    connections: Callable[[Params], int] | None = None
    knee_axis: str | None = None  # report where ops/s stops rising along this axis
    # The HTTP runner (runner="http"): variants return a harness.appserver.AppPlan; the apps are
    # loaded by `locustfile` (users = `clients_axis`) after answering `parity_requests(ctx)`
    # as the reference app does (each answer passed through `normalise`).
    locustfile: Path | None = None
    parity_requests: Callable[[Context], list[Any]] | None = None
    doc: str = ""
    variants: dict[str, Variant] = field(default_factory=dict)

    def variant(self, fn: F) -> F:
        """Decorator registering a variant, named after the function without trailing
        underscores (so `def joinedload_` can sit beside the imported `joinedload`)."""
        doc = inspect.getdoc(fn) or ""
        name = fn.__name__.rstrip("_")
        if name in self.variants:
            raise ValueError(f"scenario {self.name!r} already has a variant {name!r}")
        self.variants[name] = Variant(
            name=name,
            fn=fn,
            description=" ".join(doc.split("\n\n")[0].split()),  # the first paragraph
            is_async=inspect.iscoroutinefunction(fn),
        )
        return fn

    def canonical(self, result: Any, ctx: Context | None = None) -> Any:
        """The normalised form of a variant's result, compared with the reference's; with
        `verify`, read back from the database (after the operation, untimed)."""
        if self.verify is not None and ctx is not None:
            return self.verify(ctx, result)
        return self.normalise(result) if self.normalise else result

    def grid(self, profile: str) -> Grid:
        return self.full if profile == "full" else self.quick

    def dataset_for(self, profile: str) -> DatasetSpec:
        return self.full_dataset if profile == "full" and self.full_dataset else self.dataset

    def select_variants(self, names: list[str] | None) -> list[Variant]:
        if not names:
            return list(self.variants.values())
        unknown = [n for n in names if n not in self.variants]
        if unknown:
            raise UserError(
                f"unknown variant {unknown[0]!r} for scenario {self.name!r}; "
                f"valid: {', '.join(self.variants)}"
            )
        chosen = [self.variants[n] for n in names]
        if self.reference not in names:
            chosen.insert(
                0, self.variants[self.reference]
            )  # the answer every variant is checked against
        return chosen

    def validate(self) -> None:
        if self.reference not in self.variants:
            raise ValueError(
                f"scenario {self.name!r}: reference variant {self.reference!r} is not defined"
            )
        for pair in self.comparisons:
            for name in pair:
                if name not in self.variants:
                    raise ValueError(
                        f"scenario {self.name!r}: comparison names unknown variant {name!r}"
                    )
        if self.baseline and self.baseline not in self.variants:
            raise ValueError(f"scenario {self.name!r}: baseline {self.baseline!r} is not a variant")
        if self.rate_axis and self.rate_axis not in self.quick.names:
            raise ValueError(
                f"scenario {self.name!r}: rate_axis {self.rate_axis!r} is not a grid axis"
            )
        if self.runner not in RUNNERS:
            raise ValueError(f"scenario {self.name!r}: runner must be one of {', '.join(RUNNERS)}")
        if self.runner == "http" and (self.locustfile is None or self.parity_requests is None):
            raise ValueError(
                f"scenario {self.name!r}: an http scenario needs a locustfile and parity_requests"
            )
        if self.runner in ("throughput", "http") and self.clients_axis not in self.quick.names:
            raise ValueError(
                f"scenario {self.name!r}: clients_axis {self.clients_axis!r} is not a grid axis"
            )
        if self.chart_x and self.chart_x not in self.quick.names:
            raise ValueError(f"scenario {self.name!r}: chart_x {self.chart_x!r} is not a grid axis")
