"""The scenario contract: a question, a parameter grid, variants, and the answer they must agree on.

A scenario module creates one `Scenario` and registers its variants with `@scenario.variant`.
Variants are plain functions, sync or async, taking a `Context`; each implements one pattern and
returns what the endpoint would return. Before anything is timed, every variant's normalised
result must equal the reference variant's.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar, overload

from harness.data.dataset import DatasetSpec
from harness.data.own_tables import OwnTables
from harness.errors import UserError
from harness.measure.ceilings import NativeReference
from harness.scenario.digest import StreamDigest
from harness.scenario.grid import Grid, Params

if TYPE_CHECKING:
    from harness.scenario.context import Context

F = TypeVar("F", bound=Callable[..., Any])
# what `Scenario.hook` can set: the optional callables of the contract
HOOKS = (
    "setup_point",
    "setup_op",
    "verify",
    "normalise",
    "native",
    "parity_requests",
    "connections",
    "check_point",
    "grow_dataset",
)


class Skip(Exception):
    """Raised by a variant for a grid point it does not apply to (e.g. the naive pattern at
    100,000 rows, or COPY when generated keys are asked for). Reported as SKIPPED, not timed."""


@dataclass(frozen=True)
class Variant:
    """One pattern: its name, the docstring's first line, and whether it is a coroutine."""

    name: str
    fn: Callable[..., Any]
    description: str
    is_async: bool
    from_memory: bool = False  # answering from memory is its pattern (a cache): never flagged

    def call(self, ctx: Context) -> Any:
        """One operation: the function's result, an async one run to its end on the point's loop."""
        if self.is_async:
            return ctx.loop.run_until_complete(self.fn(ctx))
        return self.fn(ctx)


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
    native: Callable[[Params, DatasetSpec], Sequence[NativeReference]] | None = None  # the ceiling
    # why the dataset cannot serve a grid point (None when it can), asked before anything starts
    check_point: Callable[[Params, DatasetSpec], str | None] | None = None
    # the dataset grown to serve a grid point it cannot (the same spec when it can), asked for
    # every point of the run's grid before `check_point`: e.g. a cohort for `posts_per_user=20`
    grow_dataset: Callable[[Params, DatasetSpec], DatasetSpec] | None = None
    setup_point: Callable[[Context], None] | None = None  # once per grid point, untimed
    setup_op: Callable[[Context], None] | None = None  # before every operation, untimed
    verify: Callable[[Context, Any], Any] | None = None  # canonical answer from the database
    rate_axis: str | None = None  # report `<axis>_per_s` = axis value / median time
    settings_note: tuple[str, ...] = ()  # server settings the results depend on
    peak_memory: bool = False  # latency: meter each variant's peak memory per operation too
    scratch_tables: tuple[str, ...] = ()  # tables its variants write: dropped when it ends
    # tables of its own beside the shared domain, filled once per dataset (harness.data.own_tables)
    own_tables: OwnTables | None = None
    # The throughput runner (runner="throughput"): variants return a harness.runners.pools.PoolPlan;
    # `clients_axis` names the axis with the number of concurrent clients, `connections` the
    # most server connections a grid point may open (checked against max_connections).
    runner: str = "latency"
    clients_axis: str = "clients"
    think_time_s: float = 0.0
    connections: Callable[[Params], int] | None = None
    knee_axis: str | None = None  # report where ops/s stops rising along this axis
    # The HTTP runner (runner="http"): variants return a harness.runners.http.appserver.AppPlan; the apps are
    # loaded by `locustfile` (users = `clients_axis`) after answering `parity_requests(ctx)`
    # as the reference app does (each answer passed through `normalise`).
    locustfile: Path | None = None
    parity_requests: Callable[[Context], list[Any]] | None = None
    doc: str = ""
    variants: dict[str, Variant] = field(default_factory=dict)

    @overload
    def variant(self, fn: F) -> F: ...

    @overload
    def variant(self, *, from_memory: bool = False) -> Callable[[F], F]: ...

    def variant(self, fn: F | None = None, *, from_memory: bool = False) -> F | Callable[[F], F]:
        """Decorator registering a variant, named after the function without trailing
        underscores (so `def joinedload_` can sit beside the imported `joinedload`).

        `@scenario.variant(from_memory=True)` declares that answering from memory is the
        variant's pattern (a cache): it is then never flagged for doing less work than the
        reference, and the report says "served from memory" beside its numbers."""

        def register(fn: F) -> F:
            doc = inspect.getdoc(fn) or ""
            name = fn.__name__.rstrip("_")
            if name in self.variants:
                raise ValueError(f"scenario {self.name!r} already has a variant {name!r}")
            self.variants[name] = Variant(
                name=name,
                fn=fn,
                description=" ".join(doc.split("\n\n")[0].split()),  # the first paragraph
                is_async=inspect.iscoroutinefunction(fn),
                from_memory=from_memory,
            )
            return fn

        return register if fn is None else register(fn)

    def hook(self, name: str) -> Callable[[F], F]:
        """Decorator setting one of the scenario's hooks instead of passing it to the
        constructor, e.g. ``@scenario.hook("setup_point")`` above a function taking a Context.
        Hooks: setup_point, setup_op, verify, normalise, native, parity_requests, connections,
        check_point, grow_dataset."""
        if name not in HOOKS:
            raise ValueError(f"scenario {self.name!r}: no hook {name!r}; valid: {', '.join(HOOKS)}")

        def register(fn: F) -> F:
            if getattr(self, name) is not None:
                raise ValueError(f"scenario {self.name!r} already has a {name} hook")
            setattr(self, name, fn)
            return fn

        return register

    def canonical(self, result: Any, ctx: Context | None = None) -> Any:
        """The normalised form of a variant's result, compared with the reference's; with
        `verify`, read back from the database (after the operation, untimed)."""
        if self.verify is not None and ctx is not None:
            return self.verify(ctx, result)
        if isinstance(result, StreamDigest):  # already canonical, row by row
            return result
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
        if self.chart_x and self.chart_x not in self.quick.names:
            raise ValueError(f"scenario {self.name!r}: chart_x {self.chart_x!r} is not a grid axis")
        if self.own_tables is not None:
            self.own_tables.check(self.name, [*self.quick.axes, *self.full.axes])
        from harness.scenario.answers import check_normalise  # answers imports this module

        check_normalise(self)
