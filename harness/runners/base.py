"""What every runner shares: the job it is given for one grid point, what it hands back, and the
point lifecycle (fresh event loop and Context, the scenario's setup, an interrupt's clean-up).

A runner is one module with one object that satisfies `Runner`, entered in `harness.runners.table`.
The orchestration (`harness.run`) knows nothing else about it.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import math
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from harness.data.own_tables import prepare_point
from harness.errors import describe_error
from harness.results.records import Measurement, Metric
from harness.scenario.answers import Checked, Rechecked
from harness.scenario.context import Context

if TYPE_CHECKING:
    from harness.data.dataset import DatasetSpec
    from harness.measure.statements import StatementProbe
    from harness.runners.http.runner import HttpOptions
    from harness.scenario.grid import Params
    from harness.scenario.spec import Scenario, Variant
    from harness.server.target import ServerTarget

StepCallback = Callable[[str, float], None]
PROFILE_NAMES = ("quick", "full")  # every runner has a timing for each


def no_steps(_label: str, _units: float) -> None:
    """An on_step that shows nothing."""


class Timing(Protocol):
    """One runner's timing in one profile: it knows how long a variant takes at a grid point."""

    @property
    def planned_s(self) -> float: ...


@dataclass(frozen=True)
class RunOptions:
    """Run-level choices from the command line that some runner needs."""

    http: HttpOptions | None = None
    run_natives: bool = True  # the scenario's native ceiling (pgbench), when it has one
    op_timeout_s: float = 60.0  # any one operation past it FAILS its variant at that point; 0: none
    max_interference: float = 0.10  # cores of outside work above which a point is disturbed
    gc: str = "freeze"  # the garbage collector during a latency point: freeze | default


@dataclass(frozen=True)
class PointJob:
    """One grid point to measure: the scenario, its chosen variants, where to connect.

    `target` is where timed operations connect (through the rtt delay proxy, when there is one);
    `direct` is the server itself, for counting and for telling whether it is alive."""

    scenario: Scenario
    variants: Sequence[Variant]
    params: Params
    target: ServerTarget
    dataset: DatasetSpec
    timing: Any  # the runner's own Timing for this profile
    probe: StatementProbe | None = None
    on_step: StepCallback = no_steps
    direct_target: ServerTarget | None = None
    rtt_ms: float = 0.0
    options: RunOptions = field(default_factory=RunOptions)

    @property
    def direct(self) -> ServerTarget:
        return self.direct_target or self.target


@dataclass
class VariantOutcome:
    """One variant at one grid point, as every runner's result begins: ok, wrong, failed or
    skipped, and why."""

    variant: str
    status: str = "ok"  # ok | wrong | failed | skipped
    detail: str = ""
    rechecked: int = 0  # timed operations whose answers were compared with the reference's

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    def fail(self, detail: str) -> None:
        self.status, self.detail = "failed", detail

    def judged(self, checked: Checked) -> bool:
        """Takes the answer check's finding; True when the variant may be measured."""
        self.status, self.detail = checked.status, checked.detail
        return checked.ok

    def took_recheck(self, found: Rechecked, what: str = "timed operation") -> bool:
        """Counts the timed answers re-checked; the first that differed from the reference's
        makes the variant WRONG at this point (the runner then drops its timings). True while
        the variant is still ok."""
        before, self.rechecked = self.rechecked, self.rechecked + found.count
        if found.wrong_at:
            self.status = "wrong"
            self.detail = (
                f"{what} {before + found.wrong_at} (re-checked while timed) answered otherwise: "
                f"{found.difference}"
            )
        return self.ok


@dataclass
class PointOutcome:
    """What a runner hands back for one grid point: its measurements, and the raw data the
    report and `compare` read again (latency samples in ns, requests/s per time slice, and how
    many of the samples each measuring session took)."""

    measurements: list[Measurement]
    samples: dict[str, np.ndarray] = field(default_factory=dict)
    rates: dict[str, np.ndarray] = field(default_factory=dict)
    sessions: dict[str, np.ndarray] = field(default_factory=dict)  # samples per session, in order
    natives: set[str] = field(default_factory=set)


class Runner(Protocol):
    """How one kind of scenario is measured (single operations, concurrent load, HTTP)."""

    @property
    def name(self) -> str: ...

    @property
    def profiles(self) -> Mapping[str, Timing]: ...

    @property
    def uses_clients_axis(self) -> bool: ...

    def check_scenario(self, scenario: Scenario) -> None:
        """Raises ValueError naming what a scenario of this runner lacks."""
        ...

    def connections(
        self, scenario: Scenario, params: Params, variants: int, options: RunOptions
    ) -> tuple[int, str] | None:
        """The most server connections one grid point may open, and what the user can do
        about too many; None when the scenario does not say."""
        ...

    def measure(self, job: PointJob, rng: np.random.Generator) -> PointOutcome: ...


def is_finite(metric: Metric) -> bool:
    """A metric run.json can hold: NaN or infinity (e.g. a ratio to a zero median) is left out
    rather than written as null, which no reader could load."""
    return all(v is None or math.isfinite(v) for v in (metric.value, metric.ci_low, metric.ci_high))


def finite(metrics: Mapping[str, Metric]) -> dict[str, Metric]:
    """The metrics of `metrics` that run.json can hold."""
    return {name: m for name, m in metrics.items() if is_finite(m)}


def measurement(
    job_scenario: str,
    params: Params,
    outcome: VariantOutcome,
    metrics: Mapping[str, Metric],
    *,
    best: bool,
    rtt_ms: float,
    detail: str | None = None,
    kind: str = "variant",
) -> Measurement:
    """The record of one variant at one grid point (every runner builds its records here)."""
    return Measurement(
        scenario=job_scenario,
        variant=outcome.variant,
        params=params.as_dict(),
        status=outcome.status,
        detail=outcome.detail if detail is None else detail,
        metrics=finite(metrics),
        is_best=best,
        kind=kind,
        rtt_ms=rtt_ms,
    )


@contextlib.contextmanager
def point_context(
    target: ServerTarget,
    params: Params,
    dataset: DatasetSpec,
    loop: asyncio.AbstractEventLoop | None = None,
) -> Iterator[Context]:
    """A Context on fresh connections for one grid point, always closed; with no `loop`, on an
    event loop of its own that is closed with it. Interrupted (Ctrl-C, an error), the tasks the
    interrupt left waiting are run to their end first, with their errors silenced: connections
    torn down mid-operation say nothing the user needs to read."""
    own_loop = loop is None
    running = asyncio.new_event_loop() if loop is None else loop
    ctx = Context(target, params, dataset, running)
    try:
        yield ctx
    except BaseException:
        if own_loop:
            running.set_exception_handler(lambda _loop, _context: None)
            ctx.finish_interrupted()
        raise
    finally:
        ctx.close()
        if own_loop:
            running.close()


GC_MODES = ("freeze", "default")


@contextlib.contextmanager
def frozen_gc(mode: str = "freeze") -> Iterator[None]:
    """`freeze`: like a long-running server after start-up, what exists now (the harness,
    earlier grid points) is frozen out of the collector's scans; the variants' own garbage is
    still collected. `default`: a default Python process, whose collections also walk all that
    (it costs the ORM's many objects the most). Either way, garbage left is collected first."""
    gc.collect()
    if mode == "default":
        yield
        return
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()


def set_up_point(job: PointJob, ctx: Context, outcomes: Mapping[str, VariantOutcome]) -> bool:
    """The point's own-table indexes (`own_tables.index_axis`) and the scenario's `setup_point`,
    once per grid point; when either fails, every variant of the point failed with the reason
    (the run goes on) and False is returned."""
    try:
        prepare_point(job.direct, job.scenario.own_tables, job.params)
        if job.scenario.setup_point is not None:
            job.scenario.setup_point(ctx)
        return True
    except Exception as exc:
        job.direct.raise_if_gone(exc)
        for outcome in outcomes.values():
            outcome.fail(f"grid point setup: {describe_error(exc)}")
        return False


def check_clients_axis(scenario: Scenario) -> None:
    """For runners that load with many clients: the axis that says how many must exist."""
    if scenario.clients_axis not in scenario.quick.names:
        raise ValueError(
            f"scenario {scenario.name!r}: clients_axis {scenario.clients_axis!r} is not a grid axis"
        )


def declared_connections(scenario: Scenario, params: Params) -> tuple[int, str] | None:
    """The connections a scenario says one grid point opens (its `connections`), for runners
    whose point opens them all from this process."""
    if scenario.connections is None:
        return None
    return scenario.connections(params), "use smaller --grid values"
