"""The throughput runner: counts what it claims, separates checkout wait, stays bounded."""

from __future__ import annotations

import asyncio
import collections
import contextlib
import re
import threading
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

import numpy as np
import psycopg
import pytest
from report_pages import report_text

from harness.cli import main
from harness.results.store import load_run, rate_key
from harness.runners.base import PointJob
from harness.runners.throughput import (
    ThroughputTiming,
    drive_tasks,
    drive_threads,
    measure_throughput_point,
    throughput_measurements,
)
from harness.scenario.grid import Params
from scenarios.pool_sizing import scenario as pool_sizing

TIMING = ThroughputTiming(warmup_s=0.2, measure_s=1.0, repetitions=1, op_timeout_s=2.0)


class FakePool:
    """`slots` connections handed out first come, first served (like psycopg_pool; a bare
    threading.Semaphore lets the releasing thread take its slot straight back)."""

    def __init__(self, slots: int) -> None:
        self.slots = slots
        self.lock = threading.Lock()
        self.waiters: collections.deque[threading.Event] = collections.deque()

    @contextlib.contextmanager
    def checkout(self) -> Iterator[None]:
        with self.lock:
            if self.slots and not self.waiters:
                self.slots -= 1
                turn = None
            else:
                turn = threading.Event()
                self.waiters.append(turn)
        if turn is not None and not turn.wait(1.0):
            with self.lock:
                if turn in self.waiters:
                    self.waiters.remove(turn)
                    raise TimeoutError("no connection within 1 s")
        try:
            yield None
        finally:
            with self.lock:
                if self.waiters:
                    self.waiters.popleft().set()  # the slot goes to the longest waiter
                else:
                    self.slots += 1

    def close(self) -> None:
        pass


class FakeAsyncPool:
    def __init__(self, slots: int) -> None:
        self.free = asyncio.Semaphore(slots)

    @contextlib.asynccontextmanager
    async def checkout(self) -> AsyncIterator[None]:
        async with self.free:
            yield None

    async def close(self) -> None:
        pass


def _sleep_2ms(_conn: Any, _n: int) -> None:
    time.sleep(0.002)


async def _async_sleep_2ms(_conn: Any, _n: int) -> None:
    await asyncio.sleep(0.002)


def _ops(run) -> float:
    return len(run.latencies_ns) / run.window_s


def test_threads_complete_what_a_known_duration_allows():
    run = drive_threads(FakePool(4), _sleep_2ms, 4, TIMING)
    # 4 clients, 2 ms each: at most 2,000 requests/s; sleep overshoots a little
    assert 1_400 < _ops(run) <= 2_050
    assert sum(run.slice_rates) / len(run.slice_rates) == pytest.approx(_ops(run), rel=0.01)
    assert run.errors == run.timeouts == run.hung == run.starved == 0


def test_tasks_complete_what_a_known_duration_allows():
    run = asyncio.run(drive_tasks(FakeAsyncPool(4), _async_sleep_2ms, 4, TIMING))
    assert 1_400 < _ops(run) <= 2_050


def test_checkout_wait_is_measured_apart_from_the_request():
    run = drive_threads(FakePool(1), _sleep_2ms, 4, TIMING)
    waits_ms = sorted(run.waits_ns / 1e6)
    totals_ms = sorted(run.latencies_ns / 1e6)
    # one connection, four clients: each waits for about three others' 2 ms
    assert 1_400 / 4 < _ops(run) <= 520
    median_wait, median_total = waits_ms[len(waits_ms) // 2], totals_ms[len(totals_ms) // 2]
    assert median_wait > 3.0, waits_ms[:5]
    assert 1.9 < median_total - median_wait < 4.0
    free = drive_threads(FakePool(4), _sleep_2ms, 4, TIMING)
    assert sorted(free.waits_ns)[len(free.waits_ns) // 2] < 500_000  # < 0.5 ms: no queue


def test_errors_and_checkout_timeouts_are_counted_not_fatal():
    def every_fifth_fails(_conn: Any, n: int) -> None:
        time.sleep(0.001)
        if n % 5 == 0:
            raise RuntimeError("boom")

    run = drive_threads(FakePool(2), every_fifth_fails, 2, TIMING)
    attempts = len(run.latencies_ns) + run.errors
    assert run.errors == pytest.approx(attempts / 5, rel=0.2)
    assert run.first_error == "RuntimeError: boom"

    hold = threading.Event()

    def holds_the_only_connection(_conn: Any, n: int) -> None:
        if n == 0:
            hold.wait(3)  # client 0 keeps the connection; the others time out waiting

    run = drive_threads(FakePool(1), holds_the_only_connection, 3, TIMING)
    hold.set()
    assert run.timeouts >= 2
    assert "TimeoutError" in run.first_error


def test_a_hung_request_does_not_hang_the_run():
    never = threading.Event()
    started = time.monotonic()
    run = drive_threads(FakePool(2), lambda _c, _n: never.wait(30), 2, TIMING)
    assert time.monotonic() - started < TIMING.warmup_s + TIMING.measure_s + TIMING.op_timeout_s + 1
    assert run.hung == 2 and len(run.latencies_ns) == 0
    never.set()


def _client_connections(server) -> int:
    with psycopg.connect(**server.psycopg_kwargs(), autocommit=True) as conn:
        return conn.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
            "AND backend_type = 'client backend' AND pid <> pg_backend_pid()"
        ).fetchone()[0]


def test_every_pool_answers_alike_and_leaves_no_connection_open(server, dataset):
    before = _client_connections(server)
    params = Params((("clients", 4), ("pool_size", 2)))
    timing = ThroughputTiming(warmup_s=0.1, measure_s=0.3, repetitions=1)
    variants = list(pool_sizing.variants.values())
    results = measure_throughput_point(
        PointJob(pool_sizing, variants, params, server, dataset.spec, timing)
    )
    by_name = {r.variant: r for r in results}
    assert by_name["nullpool"].status == "skipped"  # no size: measured at pool_size=1 only
    for name, result in by_name.items():
        if name != "nullpool":
            assert result.status == "ok", (name, result.detail)
            peak = result.runs[0].peak_connections
            if name == "queuepool_overflow":
                assert 2 <= peak <= 12  # pool_size + max_overflow 10, opened only when needed
            else:
                assert peak == 2, (name, peak)
            assert len(result.runs[0].latencies_ns) > 0
    # asyncpg's reset on release is one more round trip per request
    assert by_name["asyncpg_pool"].round_trips == pytest.approx(
        by_name["asyncpg_pool_no_reset"].round_trips + 1
    )
    records = throughput_measurements("pool_sizing", params, results, np.random.default_rng(1))
    assert sum(m.is_best for m in records) == 1
    assert all("ops_per_s" in m.metrics for m in records if m.status == "ok")
    time.sleep(0.2)  # backends end just after their client closed the socket
    assert _client_connections(server) == before


def test_ctrl_c_in_the_middle_of_a_load_stops_every_client_thread():
    """A KeyboardInterrupt while the clients run must stop them: left running, they load the
    server (and starve the harness's own cleanup) until the process exits."""
    import signal

    def interrupt(_signum: int, _frame: object) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGALRM, interrupt)
    before = {t.ident for t in threading.enumerate()}
    try:
        signal.setitimer(signal.ITIMER_REAL, 0.3)
        with pytest.raises(KeyboardInterrupt):
            drive_threads(FakePool(2), _sleep_2ms, 8, ThroughputTiming(0.1, 5.0, 1))
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
    deadline = time.monotonic() + 2
    while time.monotonic() < deadline:
        clients = [t for t in threading.enumerate() if t.ident not in before]
        if not clients:
            break
        time.sleep(0.02)
    assert not clients, [t.name for t in clients]


def test_a_load_run_keeps_its_time_slices_and_its_verdicts_carry_a_ratio_ci(
    server, fresh_database, tmp_path
):
    fresh_database("pb_slices")
    url = f"postgresql://{server.user}@{server.host}:{server.port}/pb_slices"
    args = ["run", "--postgres", url, "--scenario", "pool_sizing", "--out", str(tmp_path)]
    args += ["--grid", "clients=4", "--grid", "pool_size=2"]
    args += ["--variant", "asyncpg_pool", "--variant", "asyncpg_pool_no_reset"]
    assert main(args) == 0
    (folder,) = list(tmp_path.iterdir())
    run, samples = load_run(folder)
    for variant in ("psycopg_pool", "asyncpg_pool", "asyncpg_pool_no_reset"):
        (m,) = [x for x in run.measurements if x.variant == variant]
        assert m.status == "ok", m.detail
        rates = samples[rate_key("pool_sizing", variant, m.label)]
        # ten slices of the window (one can be empty: a stall of the client or the server
        # longer than a slice, 75 ms in the quick profile, is measured, not dropped)
        assert rates.size == 10 and (rates > 0).sum() >= 8
        assert float(rates.mean()) == pytest.approx(m.metrics["ops_per_s"].value)
    report = report_text(folder)
    line = next(
        x for x in report.splitlines() if x.startswith("- At clients=4") and "no_reset 2" in x
    )
    assert re.search(
        r"requests/s: (asyncpg_pool(_no_reset)? is \d+\.\d\dx faster than asyncpg_pool"
        r"(_no_reset)?|asyncpg_pool_no_reset vs asyncpg_pool: no significant difference) "
        r"\(95% CI \d+\.\d\d-\d+\.\d\d\)( \((disturbed|unstable)\))?\.$",
        line,
    ), line


def _turns_wrong_scenario() -> Any:
    """A pool whose answers are right for the requests checked before the load (numbers below
    40) and one off for every later one: only a re-check of timed answers can catch it."""
    from harness.runners import pools
    from harness.runners.pools import PoolPlan, PoolSettings
    from harness.scenario.grid import Grid
    from harness.scenario.spec import Scenario

    scenario = Scenario(
        name="turns_wrong_under_load",
        question="Is a pool that answers wrong only under load caught?",
        quick=Grid.of(clients=[4]),
        full=Grid.of(clients=[4]),
        reference="honest",
        runner="throughput",
        clients_axis="clients",
    )

    def honest_request(conn: Any, n: int) -> int:
        return conn.execute("SELECT %s::int", (n,)).fetchone()[0]

    def late_request(conn: Any, n: int) -> int:
        return honest_request(conn, n) + (1 if n >= 40 else 0)

    def pool(ctx: Any) -> Any:
        return lambda: pools.psycopg_connection_pool(ctx.target, PoolSettings(size=2))

    @scenario.variant
    def honest(ctx: Any) -> PoolPlan:
        return PoolPlan(pool(ctx), honest_request, False)

    @scenario.variant
    def turns_wrong(ctx: Any) -> PoolPlan:
        return PoolPlan(pool(ctx), late_request, False)

    return scenario


def test_answers_given_under_load_are_rechecked_and_a_wrong_one_drops_the_timings(server, dataset):
    scenario = _turns_wrong_scenario()
    params = Params((("clients", 4),))
    timing = ThroughputTiming(warmup_s=0.2, measure_s=0.5, repetitions=1)
    variants = list(scenario.variants.values())
    results = measure_throughput_point(
        PointJob(scenario, variants, params, server, dataset.spec, timing)
    )
    by_name = {r.variant: r for r in results}
    honest, wrong = by_name["honest"], by_name["turns_wrong"]
    assert honest.status == "ok", honest.detail
    assert honest.rechecked >= 3  # spread over the window: each of 4 clients keeps a few
    assert wrong.status == "wrong"
    assert "timed request 1 (re-checked while timed) answered otherwise: request" in wrong.detail
    assert wrong.runs == []  # its timings are dropped
    records = throughput_measurements(scenario.name, params, results, np.random.default_rng(1))
    (kept,) = [m for m in records if m.variant == "honest"]
    assert kept.metrics["answers_rechecked"].value == honest.rechecked
    assert kept.is_best


def test_answers_are_asked_through_a_pool_of_one_and_the_load_through_the_points_size(
    server, dataset
):
    """The check and the re-checks ask one request after another: the pool kind of each
    variant, of one connection; only the load opens the point's pool size."""
    from harness.runners import pools
    from harness.runners.pools import PoolPlan, PoolSettings
    from harness.scenario.grid import Grid
    from harness.scenario.spec import Scenario

    scenario = Scenario(
        name="sizes_opened",
        question="Which pool sizes does a point open?",
        quick=Grid.of(clients=[4], pool_size=[3]),
        full=Grid.of(clients=[4], pool_size=[3]),
        reference="first",
        runner="throughput",
        clients_axis="clients",
        knee_axis="pool_size",
    )
    opened: list[tuple[str, int]] = []

    def request(conn: Any, n: int) -> int:
        return conn.execute("SELECT %s::int", (n,)).fetchone()[0]

    def plan(name: str, ctx: Any) -> PoolPlan:
        size = int(ctx.params.pool_size)

        def open_pool() -> Any:
            opened.append((name, size))
            return pools.psycopg_connection_pool(ctx.target, PoolSettings(size=size))

        return PoolPlan(open_pool, request, False)

    @scenario.variant
    def first(ctx: Any) -> PoolPlan:
        return plan("first", ctx)

    @scenario.variant
    def second(ctx: Any) -> PoolPlan:
        return plan("second", ctx)

    params = Params((("clients", 4), ("pool_size", 3)))
    timing = ThroughputTiming(warmup_s=0.1, measure_s=0.3, repetitions=1)
    results = measure_throughput_point(
        PointJob(scenario, list(scenario.variants.values()), params, server, dataset.spec, timing)
    )
    assert [r.status for r in results] == ["ok", "ok"], [r.detail for r in results]
    assert all(r.rechecked for r in results)
    loads = [(name, size) for name, size in opened if size == 3]
    assert sorted(loads) == [("first", 3), ("second", 3)]  # one load each, at the point's size
    assert {size for _, size in opened} == {1, 3}
    assert ("first", 1) in opened and ("second", 1) in opened  # checked (and counted) at one
    assert max(r.runs[0].peak_connections for r in results) == 3
