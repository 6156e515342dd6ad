"""`patternbench check`: how much the harness itself adds to what it measures.

Times the same call two ways, a bare loop (total time / calls) and the latency runner (per-op
timer around each call), and prints the ratio; plus the timer's resolution.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from harness.context import Context
from harness.dataset import DatasetSpec
from harness.postgres import ServerTarget
from harness.runners.latency import timed_batch
from harness.scenario import Params, Variant


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
