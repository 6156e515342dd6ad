"""The throughput runner: C clients at once, each doing one request after another, for a fixed time.

Closed loop: a client starts its next request when the previous one ended (plus an optional think
time). Sync pools get OS threads, async pools asyncio tasks in one event loop. Per variant and grid
point: the answers are checked first (sequential requests through the variant's own kind of pool, of
one connection, compared with the reference's), then each repetition opens a fresh pool at the
point's size, warms up, and measures: completed requests/s (and its CI over time slices and
repetitions), latency of the whole request including checkout and release, checkout wait on its own,
errors and checkout timeouts, the most server connections seen (pg_stat_activity), and the CPU of
this process and of the server, so a saturated client is visible. Every run is bounded: stopping
clients get `op_timeout_s` to finish, after which they are counted as hung and left behind (threads
cannot be killed).
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from harness.errors import describe_error
from harness.measure.connections import ConnectionMonitor
from harness.measure.cpu import ProcessCpuMeter
from harness.measure.roundtrips import RoundTripCounter
from harness.results.records import Measurement, Metric
from harness.results.stats import latency_metrics, mean_ci, summarise
from harness.runners.base import (
    PointJob,
    PointOutcome,
    RunOptions,
    VariantOutcome,
    check_clients_axis,
    declared_connections,
    measurement,
    point_context,
    set_up_point,
)
from harness.runners.pools import CHECKOUT_TIMEOUTS, AsyncPool, PoolPlan, SyncPool
from harness.scenario.answers import AnswerCheck, Rechecked, recheck_answers
from harness.scenario.context import Context
from harness.scenario.grid import Params
from harness.scenario.spec import Scenario, Variant
from harness.server.target import ServerTarget


@dataclass(frozen=True)
class ThroughputTiming:
    """How long each grid point is loaded, how often, and when a client gives up."""

    warmup_s: float
    measure_s: float
    repetitions: int
    checkout_timeout_s: float = 5.0
    op_timeout_s: float = 10.0
    slices: int = 10  # the measured window is cut into this many for the ops/s CI
    check_requests: int = 20

    @property
    def planned_s(self) -> float:
        return self.repetitions * (self.warmup_s + self.measure_s)


PROFILES: dict[str, ThroughputTiming] = {
    "quick": ThroughputTiming(warmup_s=0.3, measure_s=0.75, repetitions=1),
    "full": ThroughputTiming(warmup_s=0.3, measure_s=1.5, repetitions=2),
}


@dataclass
class ThroughputRun:
    """One repetition of one variant at one grid point."""

    window_s: float
    latencies_ns: np.ndarray  # whole requests completed in the window: checkout + work + release
    waits_ns: np.ndarray  # their checkout waits
    slice_rates: list[float]  # requests/s in each slice of the window
    errors: int
    timeouts: int
    hung: int
    first_error: str
    client_cpu: float  # CPU seconds of this process per wall second (1.0 = one core busy)
    server_cpu: float | None
    starved: int  # clients that completed no request in the whole window
    peak_connections: int = 0  # server connections above those open before the pool
    kept: list[tuple[int, Any]] = field(default_factory=list)  # (n, answer), timed in the window


@dataclass
class ThroughputResult(VariantOutcome):
    runs: list[ThroughputRun] = field(default_factory=list)
    round_trips: float | None = None  # per request, counted on a pool of one connection

    def slice_rates(self) -> np.ndarray:
        """requests/s in every time slice of every repetition."""
        return np.array([rate for run in self.runs for rate in run.slice_rates], dtype=np.float64)


@dataclass
class _ClientLog:
    """What one client did; appended by that client only, read when it stopped."""

    done_at: list[int] = field(default_factory=list)
    total_ns: list[int] = field(default_factory=list)
    wait_ns: list[int] = field(default_factory=list)
    errors_at: list[int] = field(default_factory=list)
    timeouts_at: list[int] = field(default_factory=list)
    first_error: str = ""
    keep_every_ns: int = 0  # how often this client keeps a request's answer for the re-check
    kept: list[tuple[int, int, Any]] = field(default_factory=list)  # (ended, n, answer)
    _keep_at: int = 0

    def completed(self, started: int, checked_out: int, ended: int, n: int, answer: Any) -> None:
        self.done_at.append(ended)
        self.total_ns.append(ended - started)
        self.wait_ns.append(checked_out - started)
        if ended >= self._keep_at:  # a few answers spread over the run, looked at afterwards
            self.kept.append((ended, n, answer))
            self._keep_at = ended + self.keep_every_ns

    def failed(self, exc: Exception, at: int) -> bool:
        """Records an error; True when it was a checkout timeout (a pool's own limit)."""
        timed_out = isinstance(exc, CHECKOUT_TIMEOUTS)
        (self.timeouts_at if timed_out else self.errors_at).append(at)
        self.first_error = self.first_error or describe_error(exc, 200)
        return timed_out


RECHECKED_PER_RUN = 24  # timed answers re-checked per variant and repetition, at most
KEPT_PER_WINDOW = 4  # answers each client keeps per measured window's length


def _keep_every_ns(timing: ThroughputTiming) -> int:
    return int(timing.measure_s * 1e9 / KEPT_PER_WINDOW)


def _summarise_logs(
    logs: list[_ClientLog],
    measure_from: int,
    measure_to: int,
    slices: int,
    hung: int,
    cpu: tuple[float, float | None],
) -> ThroughputRun:
    done = np.concatenate([np.asarray(c.done_at, dtype=np.int64) for c in logs])
    total = np.concatenate([np.asarray(c.total_ns, dtype=np.int64) for c in logs])
    wait = np.concatenate([np.asarray(c.wait_ns, dtype=np.int64) for c in logs])
    inside = (done >= measure_from) & (done < measure_to)
    window_s = (measure_to - measure_from) / 1e9
    edges = np.linspace(measure_from, measure_to, slices + 1)
    counts, _ = np.histogram(done[inside], bins=edges)
    slice_rates = [float(c) / (window_s / slices) for c in counts]

    def in_window(stamps: list[int]) -> int:
        return sum(1 for t in stamps if measure_from <= t < measure_to)

    kept = sorted(k for c in logs for k in c.kept if measure_from <= k[0] < measure_to)
    spread = np.unique(np.linspace(0, len(kept) - 1, min(len(kept), RECHECKED_PER_RUN)).round())

    return ThroughputRun(
        window_s=window_s,
        latencies_ns=total[inside],
        waits_ns=wait[inside],
        slice_rates=slice_rates,
        errors=sum(in_window(c.errors_at) for c in logs),
        timeouts=sum(in_window(c.timeouts_at) for c in logs),
        hung=hung,
        first_error=next((c.first_error for c in logs if c.first_error), ""),
        client_cpu=cpu[0],
        server_cpu=cpu[1],
        starved=sum(1 for c in logs if not any(measure_from <= t < measure_to for t in c.done_at)),
        kept=[(kept[int(i)][1], kept[int(i)][2]) for i in spread],
    )


def drive_threads(
    pool: SyncPool,
    request: Callable[[Any, int], Any],
    clients: int,
    timing: ThroughputTiming,
    think_s: float = 0.0,
    server_pid: int | None = None,
) -> ThroughputRun:
    """`clients` OS threads, each checking out, requesting and releasing in a loop."""
    clock = time.perf_counter_ns
    stop = threading.Event()
    logs = [_ClientLog(keep_every_ns=_keep_every_ns(timing)) for _ in range(clients)]

    def client(index: int) -> None:
        log, n = logs[index], index
        while not stop.is_set():
            t0 = clock()
            try:
                with pool.checkout() as conn:
                    t1 = clock()
                    answer = request(conn, n)
                log.completed(t0, t1, clock(), n, answer)
            except Exception as exc:
                if not log.failed(exc, clock()):
                    time.sleep(0.001)  # a failing server must not become a busy loop
            n += clients
            if think_s:
                time.sleep(think_s)

    threads = [
        threading.Thread(target=client, args=(i,), name=f"client-{i}", daemon=True)
        for i in range(clients)
    ]
    meter = ProcessCpuMeter(server_pid)
    try:
        for thread in threads:
            thread.start()
        time.sleep(timing.warmup_s)
        measure_from, cpu_start = clock(), meter.mark()
        time.sleep(timing.measure_s)
        measure_to, cpu_end = clock(), meter.mark()
    finally:  # also on Ctrl-C: clients left running would load the server until exit
        stop.set()
    deadline = time.monotonic() + timing.op_timeout_s
    for thread in threads:
        thread.join(timeout=max(0.0, deadline - time.monotonic()))
    hung = sum(thread.is_alive() for thread in threads)
    return _summarise_logs(
        logs, measure_from, measure_to, timing.slices, hung, meter.between(cpu_start, cpu_end)
    )


async def drive_tasks(
    pool: AsyncPool,
    request: Callable[[Any, int], Any],
    clients: int,
    timing: ThroughputTiming,
    think_s: float = 0.0,
    server_pid: int | None = None,
) -> ThroughputRun:
    """`clients` asyncio tasks in this loop, each checking out, requesting and releasing."""
    clock = time.perf_counter_ns
    stopping = asyncio.Event()
    logs = [_ClientLog(keep_every_ns=_keep_every_ns(timing)) for _ in range(clients)]

    async def client(index: int) -> None:
        log, n = logs[index], index
        while not stopping.is_set():
            t0 = clock()
            try:
                async with asyncio.timeout(timing.op_timeout_s):
                    async with pool.checkout() as conn:
                        t1 = clock()
                        answer = await request(conn, n)
                log.completed(t0, t1, clock(), n, answer)
            except Exception as exc:
                if not log.failed(exc, clock()):
                    await asyncio.sleep(0.001)
            n += clients
            if think_s:
                await asyncio.sleep(think_s)

    meter = ProcessCpuMeter(server_pid)
    tasks = [asyncio.create_task(client(i)) for i in range(clients)]
    await asyncio.sleep(timing.warmup_s)
    measure_from, cpu_start = clock(), meter.mark()
    await asyncio.sleep(timing.measure_s)
    measure_to, cpu_end = clock(), meter.mark()
    stopping.set()
    _done, pending = await asyncio.wait(tasks, timeout=timing.op_timeout_s)
    for task in pending:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    return _summarise_logs(
        logs,
        measure_from,
        measure_to,
        timing.slices,
        len(pending),
        meter.between(cpu_start, cpu_end),
    )


# --- one grid point -------------------------------------------------------------------------


def _one_after_another(
    plan: PoolPlan,
    numbers: Sequence[int],
    loop: asyncio.AbstractEventLoop,
    before: Callable[[int], None] = lambda _n: None,
) -> list[Any]:
    """The requests with these numbers, one after another, through a pool the plan opens (and
    closes); `before(n)` runs ahead of request n."""
    if plan.is_async:

        async def go() -> list[Any]:
            pool: AsyncPool = await plan.open()  # type: ignore[misc]
            try:
                out = []
                for n in numbers:
                    before(n)
                    async with pool.checkout() as conn:
                        out.append(await plan.request(conn, n))
                return out
            finally:
                await pool.close()

        return loop.run_until_complete(go())
    pool: SyncPool = plan.open()  # type: ignore[assignment]
    try:
        out = []
        for n in numbers:
            before(n)
            with pool.checkout() as conn:
                out.append(plan.request(conn, n))
        return out
    finally:
        pool.close()


def one_connection(scenario: Scenario, params: Params) -> Params:
    """The point with a pool of one connection (the knee axis at 1): for what asks requests one
    after another (the answer check, re-checks, counting), where a pool the point's size would
    open connections that one client never uses."""
    return Params(tuple((k, 1 if k == scenario.knee_axis else v) for k, v in params.items))


def round_trips_per_request(
    scenario: Scenario,
    variant: Variant,
    ctx: Context,
    direct: ServerTarget,
    warm: int = 10,
    counted: int = 20,
) -> float:
    """Client turns per request through a counting proxy, with a pool of one connection (so
    each statement is prepared once, in the warm-up requests, not once per pool connection)."""
    with (
        RoundTripCounter(direct) as counter,
        point_context(
            counter.target(), one_connection(scenario, ctx.params), ctx.dataset, ctx.loop
        ) as counting,
    ):
        plan = variant.fn(counting)
        _one_after_another(
            plan, range(warm + counted), ctx.loop, lambda n: counter.reset() if n == warm else None
        )
        return counter.read().round_trips / counted


def measure_throughput_point(job: PointJob) -> list[ThroughputResult]:
    """Checks every variant's answers, then loads each for `timing.repetitions` rounds, the
    variants interleaved (A B C, B C A, ...)."""
    scenario, timing, direct = job.scenario, job.timing, job.direct
    clients = int(job.params.as_dict()[scenario.clients_axis])
    results = {v.name: ThroughputResult(v.name) for v in job.variants}
    plans: dict[str, PoolPlan] = {}
    one = one_connection(scenario, job.params)
    with (
        point_context(job.target, job.params, job.dataset) as ctx,
        point_context(job.target, one, job.dataset, ctx.loop) as single,
    ):
        if not set_up_point(job, ctx, results):
            return [results[v.name] for v in job.variants]
        single.state.update(ctx.state)
        check = AnswerCheck(scenario, direct)
        singles: dict[str, PoolPlan] = {}  # the same pools, of one connection
        for variant in check.order(job.variants):
            result = results[variant.name]
            job.on_step(f"{scenario.name} {job.params.label} · checking {variant.name}", 0.0)

            def answers(variant: Variant = variant) -> Any:
                plans[variant.name] = variant.fn(ctx)
                singles[variant.name] = plan = variant.fn(single)
                return scenario.canonical(
                    _one_after_another(plan, range(timing.check_requests), ctx.loop)
                )

            if not result.judged(check.check(variant.name, answers)):
                plans.pop(variant.name, None)
                continue
            try:
                result.round_trips = round_trips_per_request(scenario, variant, ctx, direct)
            except Exception as exc:  # counting is a diagnostic; the load still runs
                direct.raise_if_gone(exc)
        recheck = _Recheck(check, singles.get(scenario.reference), ctx.loop)
        for repetition in range(timing.repetitions):
            ready = [v for v in job.variants if v.name in plans]
            shift = repetition % len(ready) if ready else 0
            for variant in ready[shift:] + ready[:shift]:
                result = results[variant.name]
                if not result.ok:
                    continue
                job.on_step(f"{job.params.label} · {variant.name} × {clients} clients", 0.0)
                try:
                    run = _load_once(
                        plans[variant.name], clients, timing, scenario, direct, ctx.loop
                    )
                    result.runs.append(run)
                    if not result.took_recheck(recheck.of(run.kept), "timed request"):
                        result.runs.clear()  # a wrong answer under load: its timings are dropped
                except Exception as exc:
                    direct.raise_if_gone(exc)
                    result.fail(describe_error(exc))
                job.on_step("", timing.warmup_s + timing.measure_s)
    return [results[v.name] for v in job.variants]


@dataclass
class _Recheck:
    """Compares answers kept from timed requests with the reference's answers to the same
    requests, asked afterwards one after another through the reference's kind of pool, of one
    connection (untimed)."""

    check: AnswerCheck
    reference: PoolPlan | None
    loop: asyncio.AbstractEventLoop
    expected: dict[int, Any] = field(default_factory=dict)

    def of(self, kept: list[tuple[int, Any]]) -> Rechecked:
        if self.reference is None or not kept:
            return Rechecked()
        missing = sorted({n for n, _ in kept} - self.expected.keys())
        if missing:
            answers = _one_after_another(self.reference, missing, self.loop)
            self.expected.update(zip(missing, answers, strict=True))
        canonical = self.check.scenario.canonical

        def difference(n: int, got: Any) -> str | None:
            found = self.check.difference(canonical([got]), canonical([self.expected[n]]))
            return None if found is None else f"request {n}: {found}"

        return recheck_answers(difference(n, got) for n, got in kept)


def _load_once(
    plan: PoolPlan,
    clients: int,
    timing: ThroughputTiming,
    scenario: Scenario,
    direct: ServerTarget,
    loop: asyncio.AbstractEventLoop,
) -> ThroughputRun:
    think = scenario.think_time_s
    with ConnectionMonitor(direct) as monitor:
        if plan.is_async:

            async def go() -> ThroughputRun:
                pool: AsyncPool = await plan.open()  # type: ignore[misc]
                try:
                    return await drive_tasks(
                        pool, plan.request, clients, timing, think, direct.server_process
                    )
                finally:
                    with contextlib.suppress(Exception):
                        await asyncio.wait_for(pool.close(), timing.op_timeout_s)

            run = loop.run_until_complete(go())
        else:
            pool: SyncPool = plan.open()  # type: ignore[assignment]
            try:
                run = drive_threads(
                    pool, plan.request, clients, timing, think, direct.server_process
                )
            finally:
                closer = threading.Thread(target=pool.close, daemon=True)  # bounded, if hung
                closer.start()
                closer.join(timeout=timing.op_timeout_s)
        run.peak_connections = monitor.peak
    return run


# --- records ----------------------------------------------------------------------------------


def throughput_measurements(
    scenario: str,
    params: Params,
    results: list[ThroughputResult],
    rng: np.random.Generator,
    rtt_ms: float = 0.0,
) -> list[Measurement]:
    """Statistics for one grid point: requests/s with a CI over time slices and repetitions,
    latency of the whole request, checkout wait, errors, connections and CPU."""
    rates = {r.variant: r.slice_rates() for r in results if r.status == "ok" and r.runs}
    best = max(rates, key=lambda name: float(np.mean(rates[name])), default=None)
    out = []
    for r in results:
        metrics: dict[str, Metric] = {}
        if r.status == "ok" and r.runs:
            mean, low, high = mean_ci(rates[r.variant], rng)
            metrics["ops_per_s"] = Metric(mean, "requests/s", low, high, len(r.runs))
            latencies = np.concatenate([run.latencies_ns for run in r.runs]) / 1e3
            waits = np.concatenate([run.waits_ns for run in r.runs]) / 1e3
            errors = sum(run.errors for run in r.runs)
            timeouts = sum(run.timeouts for run in r.runs)
            hung = sum(run.hung for run in r.runs)
            if latencies.size:
                s = summarise(latencies, rng)
                metrics.update(latency_metrics(s))
                p50, p99 = np.percentile(waits, [50, 99])
                metrics["checkout_wait_p50_us"] = Metric(float(p50), "us", n=s.n)
                metrics["checkout_wait_p99_us"] = Metric(float(p99), "us", n=s.n)
            attempts = latencies.size + errors + timeouts
            if r.round_trips is not None:
                metrics["round_trips_per_op"] = Metric(r.round_trips, "round trips")
            if r.rechecked:
                metrics["answers_rechecked"] = Metric(r.rechecked, "answers")
            metrics["errors"] = Metric(errors, "requests")
            metrics["checkout_timeouts"] = Metric(timeouts, "requests")
            metrics["hung_clients"] = Metric(hung, "clients")
            metrics["starved_clients"] = Metric(max(run.starved for run in r.runs), "clients")
            metrics["error_rate"] = Metric((errors + timeouts) / attempts if attempts else 0.0, "")
            metrics["peak_connections"] = Metric(
                max(run.peak_connections for run in r.runs), "connections"
            )
            metrics["client_cpu_pct"] = Metric(
                100 * float(np.mean([run.client_cpu for run in r.runs])), "% of a core"
            )
            server = [run.server_cpu for run in r.runs if run.server_cpu is not None]
            if server:
                metrics["server_cpu_pct"] = Metric(100 * float(np.mean(server)), "% of a core")
        detail = r.detail
        first = next((run.first_error for run in r.runs if run.first_error), "")
        if first and not detail:
            detail = f"first error: {first}"
        out.append(
            measurement(
                scenario, params, r, metrics, best=r.variant == best, rtt_ms=rtt_ms, detail=detail
            )
        )
    return out


class ThroughputRunner:
    """C clients at once, each one request after another, for a fixed time (this module)."""

    name = "throughput"
    profiles: Mapping[str, ThroughputTiming] = PROFILES
    uses_clients_axis = True

    def check_scenario(self, scenario: Scenario) -> None:
        check_clients_axis(scenario)

    def connections(
        self, scenario: Scenario, params: Params, variants: int, options: RunOptions
    ) -> tuple[int, str] | None:
        return declared_connections(scenario, params)

    def measure(self, job: PointJob, rng: np.random.Generator) -> PointOutcome:
        results = measure_throughput_point(job)
        timed = [r for r in results if r.ok and r.runs]
        return PointOutcome(
            measurements=throughput_measurements(
                job.scenario.name, job.params, results, rng, job.rtt_ms
            ),
            samples={
                r.variant: np.concatenate([run.latencies_ns for run in r.runs]) for r in timed
            },
            rates={r.variant: r.slice_rates() for r in timed},
        )
