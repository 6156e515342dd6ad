"""`patternbench check`: how much the harness itself adds to what it measures.

Times the same call two ways, a bare loop (total time / calls) and the latency runner (per-op
timer around each call), and prints the ratio; plus the timer's resolution, how late the delay
proxy's kind of timer wakes, what placing client and server on one core or on two does to a
round trip, and how fast COPY moves bytes directly and through the delay proxy.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import subprocess
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import numpy as np
import psycopg

from harness.data.dataset import DatasetSpec
from harness.measure.ceilings import NativeQuery, NativeResult, run_pgbench
from harness.measure.netem import exact_timers, microsecond_loop
from harness.processes import cpu_list
from harness.runners.latency import timed_batch
from harness.scenario.context import Context
from harness.scenario.grid import Params
from harness.scenario.spec import Variant
from harness.server.target import ServerTarget


@dataclass(frozen=True)
class OverheadRow:
    what: str
    bare_ns: float  # mean per call in a bare loop
    runner_ns: float  # mean per op as the runner records it
    runner_median_ns: float

    @property
    def ratio(self) -> float:
        return self.runner_ns / self.bare_ns


def timer_resolution_ns(tries: int = 200_000) -> float:
    """The smallest non-zero step perf_counter_ns shows between two consecutive reads."""
    clock = time.perf_counter_ns
    steps = [b - a for a, b in ((clock(), clock()) for _ in range(tries))]
    positive = [s for s in steps if s > 0]
    return float(min(positive)) if positive else float("nan")


def _bare_sync(fn: Callable[[Context], Any], ctx: Context, calls: int) -> float:
    t0 = time.perf_counter_ns()
    for _ in range(calls):
        fn(ctx)
    return (time.perf_counter_ns() - t0) / calls


async def _bare_async_loop(fn: Callable[[Context], Any], ctx: Context, calls: int) -> float:
    t0 = time.perf_counter_ns()
    for _ in range(calls):
        await fn(ctx)
    return (time.perf_counter_ns() - t0) / calls


def _compare(what: str, variant: Variant, ctx: Context, seconds: float) -> OverheadRow:
    # calibrate how many calls fill `seconds`, then alternate bare and runner three times each
    probe = timed_batch(variant, ctx, 0.05, max_ops=1_000_000)
    calls = max(10, int(len(probe) * seconds / 0.05))
    bare, runner, medians = [], [], []
    for _ in range(3):
        if variant.is_async:
            bare.append(ctx.loop.run_until_complete(_bare_async_loop(variant.fn, ctx, calls)))
        else:
            bare.append(_bare_sync(variant.fn, ctx, calls))
        samples = np.asarray(timed_batch(variant, ctx, 1e9, max_ops=calls), dtype=np.float64)
        runner.append(float(samples.mean()))
        medians.append(float(np.median(samples)))
    return OverheadRow(
        what, float(np.median(bare)), float(np.median(runner)), float(np.median(medians))
    )


def _noop(ctx: Context) -> None:
    return None


async def _async_noop(ctx: Context) -> None:
    return None


def _select_one(ctx: Context) -> Any:
    return ctx.psycopg.execute("SELECT 1").fetchone()


async def _asyncpg_select_one(ctx: Context) -> Any:
    conn = await ctx.asyncpg()
    return await conn.fetchval("SELECT 1")


def measure_overhead(target: ServerTarget | None, seconds: float = 0.5) -> list[OverheadRow]:
    loop = asyncio.new_event_loop()
    ctx = Context(target, Params(()), DatasetSpec(), loop)  # type: ignore[arg-type]
    cases: list[tuple[str, Variant]] = [
        ("no-op function (sync)", Variant("noop", _noop, "", False)),
        ("no-op coroutine (async)", Variant("async_noop", _async_noop, "", True)),
    ]
    if target is not None:
        cases += [
            ("SELECT 1, psycopg (sync)", Variant("select1", _select_one, "", False)),
            ("SELECT 1, asyncpg (async)", Variant("select1_async", _asyncpg_select_one, "", True)),
        ]
    try:
        return [_compare(what, variant, ctx, seconds) for what, variant in cases]
    finally:
        if target is not None:
            ctx.close()
        loop.close()


@dataclass(frozen=True)
class Lateness:
    """How late `asyncio.sleep(sleep_us)` returned, on the loop the delay proxy runs."""

    sleep_us: float
    median_us: float
    p99_us: float
    n: int
    cpus: str  # where it was measured: the proxy runs beside the server


def wakeup_lateness(
    sleep_us: float = 500.0, seconds: float = 0.5, cpus: frozenset[int] = frozenset()
) -> Lateness:
    """Sleeps of `sleep_us` on a select() loop with 1 ns timer slack, pinned to `cpus` (the
    server's, where the proxy runs), in a thread of its own so neither setting leaks into the
    caller. The proxy learns this lateness and ends its sleeps that much early (capped)."""

    def measure() -> np.ndarray:
        if cpus:
            os.sched_setaffinity(0, cpus)  # pid 0: this thread only
        exact_timers()
        loop = microsecond_loop()
        try:
            return loop.run_until_complete(_late_sleeps(sleep_us / 1e6, seconds))
        finally:
            loop.close()

    # a fresh thread that ends with the measurement, so its settings end with it too
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="patternbench-wakeup") as worker:
        late = worker.submit(measure).result()
    where = cpu_list(cpus) if cpus else "any"
    return Lateness(
        sleep_us, float(np.median(late)), float(np.percentile(late, 99)), int(late.size), where
    )


async def _late_sleeps(sleep_s: float, seconds: float) -> np.ndarray:
    loop = asyncio.get_running_loop()
    late: list[float] = []
    end = loop.time() + seconds
    while loop.time() < end or len(late) < 50:
        due = loop.time() + sleep_s
        await asyncio.sleep(sleep_s)
        late.append((loop.time() - due) * 1e6)
    return np.asarray(late, dtype=np.float64)


@dataclass(frozen=True)
class Placement:
    """pgbench `SELECT 1` (prepared, one client) with the client on some CPUs.

    pgbench reads its clock lazily: a reply that is already there when it looks (the server
    ran on the client's CPU) is logged as 0 µs. So the time per transaction is 1 / TPS, and
    the logged latencies' percentiles are of the non-zero ones, with the zeros' share beside."""

    where: str
    client_cpus: str
    median_us: float  # of the non-zero logged latencies
    p99_us: float
    tps: float
    zero_share: float = 0.0  # logged as 0 µs
    error: str = ""

    @property
    def per_transaction_us(self) -> float:
        return 1e6 / self.tps if self.tps > 0 else float("nan")


@contextlib.contextmanager
def _pinned(cpus: frozenset[int]) -> Iterator[None]:
    """This thread (and the processes it starts meanwhile) on `cpus`."""
    before = os.sched_getaffinity(0)
    os.sched_setaffinity(0, cpus)
    try:
        yield
    finally:
        os.sched_setaffinity(0, before)


def core_placement(target: ServerTarget, seconds: float = 2.0) -> list[Placement]:
    """Why the harness pins the client and the server to different CPUs: the same round trip
    with pgbench on a CPU of its own and on the server's CPU. Empty when the server is not
    pinned (not embedded, or one CPU)."""
    if not target.server_cpus:
        return []
    query = NativeQuery("select1", "SELECT 1", "prepared", "SELECT 1, prepared, one client")
    client = frozenset(os.sched_getaffinity(0)) - target.server_cpus
    cases = [("across CPUs", client), ("on the server's CPU", target.server_cpus)]
    rows = []
    for where, cpus in cases:
        if not cpus:
            continue
        try:
            with _pinned(cpus):
                result = run_pgbench(target, query, max(1, round(seconds)))
        except (OSError, subprocess.SubprocessError) as exc:
            result = NativeResult(query.name, np.zeros(0), 0.0, f"pgbench failed: {exc}"[:300])
        samples = result.timed_us
        rows.append(
            Placement(
                where,
                cpu_list(cpus),
                float(np.median(samples)) if samples.size else float("nan"),
                float(np.percentile(samples, 99)) if samples.size else float("nan"),
                result.tps,
                result.zero_share,
                result.error,
            )
        )
    return rows


@dataclass(frozen=True)
class Bandwidth:
    """How fast COPY moved bytes each way on one path to the server (medians of a few)."""

    where: str
    megabytes: int  # moved each way, each time
    up_mb_s: float  # COPY FROM STDIN: client to server
    down_mb_s: float  # COPY TO STDOUT: server to client

    def extra_up_us(self, than: Bandwidth) -> float:
        """How much longer sending `megabytes` took here than on `than` (µs)."""
        return (self.megabytes / self.up_mb_s - self.megabytes / than.up_mb_s) * 1e6


_ROW = b"x" * 999 + b"\n"


def copy_bandwidth(
    target: ServerTarget, where: str, megabytes: int = 20, repeats: int = 3
) -> Bandwidth:
    """COPY of `megabytes` MB into a temporary table and out of generate_series, over psycopg.

    Through the delay proxy this is its forwarding rate, which an operation that sends many
    bytes (a bulk insert) pays on top of its round trips × rtt: the proxy moves them in Python
    on the server's CPU, as a real network moves them at its link's rate."""
    rows = megabytes * 1000
    payload = _ROW * rows
    block = 1 << 20
    up, down = [], []
    with psycopg.connect(**target.psycopg_kwargs(), autocommit=True) as conn:
        conn.execute("CREATE TEMPORARY TABLE patternbench_bandwidth (line text)")
        for _ in range(repeats):
            t0 = time.perf_counter()
            with conn.cursor().copy("COPY patternbench_bandwidth FROM STDIN") as copy:
                for start in range(0, len(payload), block):
                    copy.write(payload[start : start + block])
            up.append(len(payload) / (time.perf_counter() - t0))
            conn.execute("TRUNCATE patternbench_bandwidth")
            received = 0
            t0 = time.perf_counter()
            with conn.cursor().copy(
                f"COPY (SELECT repeat('x', 999) FROM generate_series(1, {rows})) TO STDOUT"
            ) as copy:
                for chunk in copy:
                    received += len(chunk)
            down.append(received / (time.perf_counter() - t0))
    return Bandwidth(where, megabytes, float(np.median(up)) / 1e6, float(np.median(down)) / 1e6)
