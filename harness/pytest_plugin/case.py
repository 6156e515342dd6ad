"""One generated test (a scenario variant at a grid point) and the session state all tests share: the server, the loaded dataset, each grid point's reference answer."""

from __future__ import annotations

import contextlib
import functools
import math
import statistics
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import pytest

from harness.data.dataset import DatasetSpec, ensure_dataset
from harness.data.own_tables import ensure_own_tables, prepare_point
from harness.errors import ServerGone, UserError, describe_error
from harness.pytest_plugin.clock import AwaitedClock
from harness.pytest_plugin.plan import CaseSpec
from harness.runners.base import frozen_gc, point_context
from harness.runners.latency import PROFILES, timed_batch
from harness.scenario.answers import AnswerCheck, Checked, recheck_answers
from harness.scenario.grid import Params
from harness.scenario.spec import Scenario, Variant
from harness.server.target import ServerTarget

if TYPE_CHECKING:
    from pytest_benchmark.fixture import BenchmarkFixture


MAX_PEDANTIC_ROUNDS = 100_000
# A test that fails before it times anything (WRONG, FAILED) leaves the benchmark fixture unused
# on purpose; pytest-benchmark would add a warning saying so to each of them.
UNUSED_FIXTURE_WARNING = "ignore:Benchmark fixture was not used at all in this test"


class BenchSession:
    """The server, which dataset is loaded on it, and each grid point's answer check (with the
    reference variant's answer in it, computed once on a Context of its own)."""

    def __init__(self, target: ServerTarget, profile: str) -> None:
        self.target = target
        self.profile = profile
        self.clock = AwaitedClock()
        self._loaded: str | None = None  # fingerprint of the dataset now on the server
        self._checks: dict[tuple[str, Params], AnswerCheck] = {}
        self._own_filled: set[tuple[str, str]] = set()  # (scenario, fingerprint) filled here

    def dataset(self, spec: DatasetSpec) -> DatasetSpec:
        """Makes sure `spec` is what the server holds (loads it when it is not)."""
        if self._loaded != spec.fingerprint:
            self._loaded = None
            self._own_filled.clear()  # reloading the shared tables makes own tables stale
            try:
                ensure_dataset(self.target, spec)
            except UserError as exc:  # e.g. foreign tables where the data would go
                pytest.exit(f"patternbench: {exc}", returncode=pytest.ExitCode.USAGE_ERROR)
            self._loaded = spec.fingerprint
        return spec

    def own_tables(self, scenario: Scenario, spec: DatasetSpec) -> None:
        """Makes sure the scenario's own tables are on the server for `spec` (fills them once)."""
        if scenario.own_tables is None:
            return
        key = (scenario.name, scenario.own_tables.fingerprint(spec))
        if key not in self._own_filled:
            try:
                ensure_own_tables(self.target, scenario.name, scenario.own_tables, spec)
            except UserError as exc:
                pytest.exit(f"patternbench: {exc}", returncode=pytest.ExitCode.USAGE_ERROR)
            self._own_filled.add(key)

    def check_at(self, scenario: Scenario, params: Params) -> AnswerCheck:
        """The answer check of one grid point, its reference variant already checked."""
        key = (scenario.name, params)
        if key not in self._checks:
            check = AnswerCheck(scenario, self.target)
            reference = scenario.variants[scenario.reference]
            spec = self.dataset(scenario.dataset_for(self.profile))
            self.own_tables(scenario, spec)
            with point_context(self.target, params, spec) as ctx:

                def answer() -> Any:
                    prepare_point(self.target, scenario.own_tables, params)
                    if scenario.setup_point is not None:
                        scenario.setup_point(ctx)
                    if scenario.setup_op is not None:
                        scenario.setup_op(ctx)
                    return scenario.canonical(reference.call(ctx), ctx)

                self.judge(check, reference.name, answer)
            self._checks[key] = check
        return self._checks[key]

    @staticmethod
    def judge(check: AnswerCheck, variant: str, answer: Callable[[], Any]) -> Checked:
        """`check.check`, ending the session when PostgreSQL stopped answering: every later
        test would fail."""
        try:
            return check.check(variant, answer)
        except ServerGone as exc:
            pytest.exit(f"patternbench: {exc}", returncode=pytest.ExitCode.TESTS_FAILED)

    def stop_if_server_gone(self, exc: Exception) -> None:
        """Ends the session when PostgreSQL stopped answering: every later test would fail."""
        if not self.target.is_alive():
            pytest.exit(
                f"patternbench: PostgreSQL stopped answering: {describe_error(exc)}",
                returncode=pytest.ExitCode.TESTS_FAILED,
            )


class PatternCase:
    """One test: a scenario variant at a grid point, with its own Context and event loop."""

    def __init__(self, session: BenchSession, spec: CaseSpec, config: pytest.Config) -> None:
        self.session = session
        self.spec = spec
        self.config = config
        dataset = session.dataset(spec.dataset)
        self._stack = contextlib.ExitStack()
        self.ctx = self._stack.enter_context(point_context(session.target, spec.params, dataset))
        self.loop = self.ctx.loop
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
        self._stack.close()

    def check(self) -> Any:
        """Runs the variant once (after ``setup_point`` the first time, and ``setup_op``) and
        has its canonical answer judged by the one answer check against the reference's at this
        grid point.

        Fails the test as WRONG on a different answer, skips it on ``Skip``, fails it when the
        reference has no answer here, and lets any other exception through (the test fails with
        the variant's traceback). Returns the answer.
        """
        where = f"{self.scenario.name} {self.variant.name} at {self.params.label}"
        check = self.session.check_at(self.scenario, self.params)
        answered: list[Any] = []

        def answer() -> Any:
            if not self._point_ready:
                prepare_point(self.session.target, self.scenario.own_tables, self.params)
                if self.scenario.setup_point is not None:
                    self.scenario.setup_point(self.ctx)
            self._point_ready = True
            if self.scenario.setup_op is not None:
                self.scenario.setup_op(self.ctx)
            t0 = time.perf_counter_ns()
            answered.append(self.variant.call(self.ctx))
            self.cold_ns = time.perf_counter_ns() - t0
            return self.scenario.canonical(answered[0], self.ctx)

        checked = self.session.judge(check, self.variant.name, answer)
        if checked.status == "skipped":
            pytest.skip(f"{where}: {checked.detail}")
        if checked.error is not None:
            checked.error.add_note(f"patternbench: FAILED: {where} raised, so it is not timed")
            raise checked.error
        if checked.status == "failed":
            pytest.fail(f"FAILED: {where}: {checked.detail}, so not timed", pytrace=False)
        if checked.status == "wrong":
            pytest.fail(
                f"WRONG: {where}: {checked.detail} (compared with the reference variant "
                f"{self.scenario.reference!r}); not timed",
                pytrace=False,
            )
        return answered[0]

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
        later: list[Any] = []  # answers of operations after the check: warm-up and timed
        try:
            estimate_s = self._warm_up(later) if benchmark.enabled else None
            with frozen_gc():
                later.append(self._time(benchmark, estimate_s))
        except Exception as exc:
            self.session.stop_if_server_gone(exc)
            raise
        self._recheck(benchmark, later)
        return answer

    def _recheck(self, benchmark: BenchmarkFixture, later: list[Any]) -> None:
        """Compares the answers of the warm-up's first and last operation and of the last timed
        one with the reference's: a difference fails the test as WRONG and drops its timings
        from the benchmark JSON. Scenarios with `verify` read their answer back from the
        database after one operation: theirs were checked by `check` only."""
        if self.scenario.verify is not None:
            return
        check = self.session.check_at(self.scenario, self.params)
        found = recheck_answers(map(check.recheck, later))
        if found.wrong_at:
            benchmark.has_error = True  # pytest-benchmark leaves it out of its JSON
            pytest.fail(
                f"WRONG: {self.scenario.name} {self.variant.name} at {self.params.label}: "
                f"a later operation ({found.wrong_at} of {len(later)} re-checked) answered "
                f"otherwise: {found.difference}; its timings are dropped",
                pytrace=False,
            )
        benchmark.extra_info["answers_rechecked"] = len(later)

    def _warm_up(self, answers: list[Any]) -> float:
        """Runs the operation for the profile's warm-up time, keeping its first and last
        answers; returns its median in seconds."""
        warmup_s = PROFILES[self.spec.profile].warmup_s
        samples = timed_batch(
            self.variant, self.ctx, warmup_s, 100_000, self.scenario.setup_op, answers
        )
        return statistics.median(samples) / 1e9

    def _time(self, benchmark: BenchmarkFixture, estimate_s: float | None) -> Any:
        """Times the variant with pytest-benchmark; returns the last timed operation's answer."""
        variant, ctx, setup_op = self.variant, self.ctx, self.scenario.setup_op
        clock = self.session.clock
        call: Callable[..., Any] = variant.fn
        args: tuple[Any, ...] = (ctx,)
        if variant.is_async:
            if not hasattr(benchmark, "_timer"):
                raise RuntimeError(
                    "this pytest-benchmark has no BenchmarkFixture._timer; harness.pytest_plugin "
                    "cannot time async variants as the awaited operation with it"
                )
            benchmark._timer = clock  # only the awaited operation shows on this clock
            call, args = clock.driver(self.loop, variant.fn, ctx), ()
        calls_before, entry_before = clock.calls, clock.loop_entry_s
        if setup_op is None:
            result = benchmark(call, *args)
        else:
            result = benchmark.pedantic(
                call,
                args=args,
                setup=functools.partial(setup_op, ctx),  # returns None: `args` are used
                rounds=self._pedantic_rounds(benchmark, estimate_s),
                warmup_rounds=0,  # warmed up by time already
            )
        if variant.is_async and clock.calls > calls_before:
            per_call = (clock.loop_entry_s - entry_before) / (clock.calls - calls_before)
            benchmark.extra_info["loop_entry_us"] = round(per_call * 1e6, 3)
        return result

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
