"""The latency runner: one operation after another, variants interleaved in rounds.

Per grid point: every variant runs once cold (timed separately) and its answer is checked against
the reference; variants that pass get their statements counted, are warmed up by time, and are
then sampled in rounds (A B C, B C A, ...) so that drift on a noisy machine hits all alike.
"""

from __future__ import annotations

import asyncio
import gc
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from harness.context import Context
from harness.dataset import DatasetSpec
from harness.errors import describe_error
from harness.postgres import ServerTarget
from harness.probes import StatementCount, StatementProbe
from harness.roundtrips import RoundTripCounter
from harness.scenario import Params, Scenario, Skip, Variant
from harness.verification import first_difference

StepCallback = Callable[[str, float], None]
NAN = float("nan")
Setup = Callable[[Context], None] | None


@dataclass(frozen=True)
class Timing:
    """How long to warm up and measure each variant at each grid point."""

    warmup_s: float
    measure_s: float
    min_samples: int
    max_samples: int
    slice_s: float = 0.05  # one variant's turn within a round
    slow_cap_s: float = 15.0  # a variant this slow stops at 3 samples instead of min_samples
    count_ops: int = 3  # operations whose statements are counted (fewer if one is slow)

    @property
    def planned_s(self) -> float:
        return self.warmup_s + self.measure_s


PROFILES: dict[str, Timing] = {
    "quick": Timing(warmup_s=0.1, measure_s=0.5, min_samples=7, max_samples=2_000, slow_cap_s=4.0),
    "full": Timing(
        warmup_s=0.3, measure_s=2.0, min_samples=15, max_samples=50_000, slow_cap_s=15.0
    ),
}


@dataclass
class VariantResult:
    variant: str
    status: str = "ok"  # ok | wrong | failed
    detail: str = ""
    cold_ns: int | None = None
    samples_ns: list[int] = field(default_factory=list)
    statements: StatementCount | None = None
    spent_ns: int = 0
    kind: str = "variant"  # or "native"

    @property
    def samples(self) -> np.ndarray:
        return np.asarray(self.samples_ns, dtype=np.int64)


def _call(variant: Variant, ctx: Context) -> Any:
    if variant.is_async:
        return ctx.loop.run_until_complete(variant.fn(ctx))
    return variant.fn(ctx)


def _sync_batch(
    fn: Callable[[Context], Any], ctx: Context, budget_ns: int, max_ops: int, setup: Setup
) -> list[int]:
    durations: list[int] = []
    clock = time.perf_counter_ns
    start = clock()
    while True:
        if setup is not None:
            setup(ctx)
        t0 = clock()
        fn(ctx)
        t1 = clock()
        durations.append(t1 - t0)
        if len(durations) >= max_ops or t1 - start >= budget_ns:
            return durations


async def _async_batch(
    fn: Callable[[Context], Any], ctx: Context, budget_ns: int, max_ops: int, setup: Setup
) -> list[int]:
    durations: list[int] = []
    clock = time.perf_counter_ns
    start = clock()
    while True:
        if setup is not None:
            setup(ctx)
        t0 = clock()
        await fn(ctx)
        t1 = clock()
        durations.append(t1 - t0)
        if len(durations) >= max_ops or t1 - start >= budget_ns:
            return durations


def timed_batch(
    variant: Variant, ctx: Context, budget_s: float, max_ops: int, setup: Setup = None
) -> list[int]:
    """Runs operations until `budget_s` passed or `max_ops` done (at least one); ns per op.

    Async variants are timed inside the event loop, so loop entry is not part of an operation;
    `setup` runs before every operation, outside its timing.
    """
    budget_ns = int(budget_s * 1e9)
    if variant.is_async:
        return ctx.loop.run_until_complete(
            _async_batch(variant.fn, ctx, budget_ns, max(1, max_ops), setup)
        )
    return _sync_batch(variant.fn, ctx, budget_ns, max(1, max_ops), setup)


def measure_point(
    scenario: Scenario,
    variants: list[Variant],
    params: Params,
    target: ServerTarget,
    dataset: DatasetSpec,
    timing: Timing,
    probe: StatementProbe,
    on_step: StepCallback = lambda _label, _units: None,
    run_natives: bool = True,
    direct: ServerTarget | None = None,
) -> list[VariantResult]:
    """Checks, counts and times every variant at one grid point, with fresh connections;
    then the scenario's native ceiling (pgbench), if it has one and `run_natives`.

    `target` is where timed operations connect (through the rtt proxy, when there is one);
    `direct` is the server itself, for counting round trips and telling whether it is alive."""
    direct = direct or target
    loop = asyncio.new_event_loop()
    ctx = Context(target, params, dataset, loop)
    results = {v.name: VariantResult(v.name) for v in variants}
    ordered = sorted(variants, key=lambda v: v.name != scenario.reference)
    # Like a long-running server after start-up: what exists now (the harness, earlier grid
    # points) is frozen out of the collector's scans; the variants' own garbage is still collected.
    gc.collect()
    gc.freeze()
    try:
        if not _set_up_point(scenario, ctx, results, direct):
            return [results[v.name] for v in variants]
        _check_answers(scenario, ordered, ctx, results, direct, on_step)
        passing = [v for v in ordered if results[v.name].status == "ok"]
        _count_statements(scenario, passing, ctx, results, direct, probe, timing)
        _warm_up(scenario, passing, ctx, results, direct, timing, on_step)
        _sample_in_rounds(scenario, passing, ctx, results, direct, timing, on_step)
        natives = _run_natives(scenario, ctx, target, timing, on_step) if run_natives else []
    except BaseException:
        # Interrupted or failed: connections are torn down mid-operation; their leftover
        # tasks' errors say nothing the user needs to read.
        loop.set_exception_handler(lambda _loop, _context: None)
        ctx.finish_interrupted()
        raise
    finally:
        ctx.close()
        loop.close()
        gc.unfreeze()
    return [*natives, *(results[v.name] for v in variants)]


def _set_up_point(
    scenario: Scenario, ctx: Context, results: dict[str, VariantResult], target: ServerTarget
) -> bool:
    if scenario.setup_point is None:
        return True
    try:
        scenario.setup_point(ctx)
        return True
    except Exception as exc:
        target.raise_if_gone(exc)
        for result in results.values():
            result.status, result.detail = "failed", f"grid point setup: {describe_error(exc)}"
        return False


def _run_natives(
    scenario: Scenario, ctx: Context, target: ServerTarget, timing: Timing, on_step: StepCallback
) -> list[VariantResult]:
    if scenario.native is None:
        return []
    out = []
    seconds = max(1, math.ceil(timing.measure_s * 2))
    for query in scenario.native(ctx.params, ctx.dataset):
        on_step(f"{ctx.params.label} · {query.name} (native, {seconds}s)", 0.0)
        native = query.run(target, seconds)
        result = VariantResult(query.name, kind="native")
        samples_us = native.timed_us
        if native.error or samples_us.size == 0:
            result.status, result.detail = (
                "failed",
                native.error or "the native reference recorded no samples",
            )
        else:
            result.samples_ns = [int(v * 1000) for v in samples_us]
            result.spent_ns = sum(result.samples_ns)
        out.append(result)
    return out


def _check_answers(
    scenario: Scenario,
    ordered: list[Variant],
    ctx: Context,
    results: dict[str, VariantResult],
    target: ServerTarget,
    on_step: StepCallback,
) -> None:
    expected: Any = None
    reference_ok = False
    for variant in ordered:
        on_step(f"{scenario.name} {ctx.params.label} · checking {variant.name}", 0.0)
        result = results[variant.name]
        try:
            if scenario.setup_op is not None:
                scenario.setup_op(ctx)
            t0 = time.perf_counter_ns()
            answer = _call(variant, ctx)
            result.cold_ns = time.perf_counter_ns() - t0
            canonical = scenario.canonical(answer, ctx)
        except Skip as exc:
            result.status, result.detail = "skipped", str(exc)
            continue
        except Exception as exc:
            target.raise_if_gone(exc)
            result.status, result.detail = "failed", describe_error(exc)
            continue
        if variant.name == scenario.reference:
            expected, reference_ok = canonical, True
        elif not reference_ok:
            result.status = "failed"
            result.detail = (
                f"reference variant {scenario.reference} failed; nothing to check against"
            )
        else:
            difference = first_difference(canonical, expected)
            if difference is not None:
                result.status, result.detail = "wrong", difference


def _count_statements(
    scenario: Scenario,
    passing: list[Variant],
    ctx: Context,
    results: dict[str, VariantResult],
    target: ServerTarget,
    probe: StatementProbe,
    timing: Timing,
) -> None:
    """Statements, rows and round trips per operation, on connections made through a counting
    proxy (never the timed ones). Each variant first runs once there, untimed and uncounted, so
    connecting, type introspection and statement preparation are not counted."""
    if not passing:
        return
    with RoundTripCounter(target) as counter:
        counting = Context(counter.target(), ctx.params, ctx.dataset, ctx.loop)
        counting.state.update(
            ctx.state
        )  # data from setup_point; connection-bound objects are per connection
        try:
            for variant in passing:
                result = results[variant.name]
                operations = timing.count_ops if (result.cold_ns or 0) / 1e9 < 0.2 else 1
                try:
                    if scenario.setup_op is not None:
                        scenario.setup_op(counting)
                    _call(variant, counting)
                    counts: list[StatementCount] = []
                    for _ in range(operations):
                        if scenario.setup_op is not None:
                            scenario.setup_op(counting)
                        probe.reset()
                        counter.reset()
                        _call(variant, counting)
                        traffic = counter.read()
                        count = probe.read(1) or StatementCount(NAN, NAN, NAN)  # no pgss
                        counts.append(
                            replace(
                                count,
                                round_trips=traffic.round_trips,
                                sent_bytes=traffic.sent_bytes,
                                received_bytes=traffic.received_bytes,
                            )
                        )
                    result.statements = StatementCount(
                        statements=sum(c.statements for c in counts) / len(counts),
                        utility=sum(c.utility for c in counts) / len(counts),
                        rows=sum(c.rows for c in counts) / len(counts),
                        round_trips=sum(c.round_trips or 0 for c in counts) / len(counts),
                        sent_bytes=sum(c.sent_bytes or 0 for c in counts) / len(counts),
                        received_bytes=sum(c.received_bytes or 0 for c in counts) / len(counts),
                    )
                except Exception as exc:
                    target.raise_if_gone(exc)
                    result.status, result.detail = "failed", describe_error(exc)
        finally:
            counting.close()


def _warm_up(
    scenario: Scenario,
    passing: list[Variant],
    ctx: Context,
    results: dict[str, VariantResult],
    target: ServerTarget,
    timing: Timing,
    on_step: StepCallback,
) -> None:
    for variant in passing:
        if results[variant.name].status != "ok":
            on_step("", timing.warmup_s)
            continue
        on_step(f"{ctx.params.label} · warming up {variant.name}", 0.0)
        try:
            timed_batch(variant, ctx, timing.warmup_s, timing.max_samples, scenario.setup_op)
        except Exception as exc:
            target.raise_if_gone(exc)
            results[variant.name].status = "failed"
            results[variant.name].detail = describe_error(exc)
        on_step("", timing.warmup_s)


def _sample_in_rounds(
    scenario: Scenario,
    passing: list[Variant],
    ctx: Context,
    results: dict[str, VariantResult],
    target: ServerTarget,
    timing: Timing,
    on_step: StepCallback,
) -> None:
    def done(result: VariantResult) -> bool:
        n, spent = len(result.samples_ns), result.spent_ns / 1e9
        return (
            result.status != "ok"
            or n >= timing.max_samples
            or (spent >= timing.measure_s and n >= timing.min_samples)
            or (spent >= timing.slow_cap_s and n >= 3)
        )

    active = [v for v in passing if not done(results[v.name])]
    round_index = 0
    while active:
        shift = round_index % len(active)
        for variant in active[shift:] + active[:shift]:
            result = results[variant.name]
            on_step(f"{ctx.params.label} · {variant.name} (n={len(result.samples_ns)})", 0.0)
            remaining = timing.max_samples - len(result.samples_ns)
            try:
                batch = timed_batch(variant, ctx, timing.slice_s, remaining, scenario.setup_op)
            except Exception as exc:
                target.raise_if_gone(exc)
                result.status, result.detail = "failed", describe_error(exc)
                result.samples_ns.clear()
                continue
            before = min(result.spent_ns / 1e9, timing.measure_s)
            result.samples_ns.extend(batch)
            result.spent_ns += sum(batch)
            on_step("", min(result.spent_ns / 1e9, timing.measure_s) - before)
        active = [v for v in active if not done(results[v.name])]
        round_index += 1
