"""The latency runner: one operation after another, variants interleaved in rounds.

Per grid point: every variant runs once cold (timed separately) and its answer is checked against
the reference; variants that pass get their statements counted, and are then measured in a few
sessions, each on fresh connections: warmed up by time, then sampled in rounds (A B C, B C A, ...)
so that drift on a noisy machine hits all alike. The first session's connections are those the
answer check ran on: a variant whose checked operation outlasted the warm-up is not warmed up
there again; a slow variant joins sessions until it has its `slow_min` samples and `slow_cap_s`.
The sessions show what differs from one set of connections to the next (server backends, caches,
memory layout), which a single session's interval cannot: the verdicts' intervals resample by
session.
"""

from __future__ import annotations

import contextlib
import functools
import math
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import msgspec
import numpy as np

from harness.errors import describe_error
from harness.measure.ceilings import NOT_A_CEILING, NativeReference
from harness.measure.memory import MemoryPeak, peak_memory
from harness.measure.roundtrips import RoundTripCounter
from harness.measure.statements import StatementCount, less_work, unranked
from harness.results.records import Measurement, Metric
from harness.results.stats import (
    Resamples,
    SampleSet,
    halves_ratio,
    latency_metrics,
    summarise,
)
from harness.runners.base import (
    PointJob,
    PointOutcome,
    RunOptions,
    VariantOutcome,
    declared_connections,
    frozen_gc,
    measurement,
    point_context,
    set_up_point,
)
from harness.runners.deadline import deadline
from harness.scenario.answers import AnswerCheck, recheck_answers
from harness.scenario.context import Context
from harness.scenario.grid import Params
from harness.scenario.spec import Scenario, Variant

NAN = float("nan")
NATIVE_FIRST_SLICE = 20  # operations in a native ceiling's first turn, before its pace is known
NATIVE_TRIES = 3  # turns in a row that timed nothing (all 0 µs) before a native ceiling fails
NATIVE_UNBOUNDED_S = 600.0  # a native's turn's bound when the run has no op timeout
RECHECK_BATCHES = 2  # timed batches per session whose answers are re-checked, spread over it
MIN_RECHECKED = 3  # at least this many timed answers per variant and point, when it has them
Setup = Callable[[Context], None] | None


@dataclass(frozen=True)
class Timing:
    """How long to warm up and measure each variant at each grid point."""

    warmup_s: float
    measure_s: float
    min_samples: int
    max_samples: int
    slice_s: float = 0.05  # one variant's turn within a round
    slow_cap_s: float = 15.0  # a variant this slow stops at slow_min samples, not min_samples
    slow_min: int = 3  # ... and joins no further session once it has them (`_slow_and_sampled`)
    count_ops: int = 3  # operations whose statements are counted (fewer if one is slow)
    memory_ops: int = 2  # operations whose peak memory is metered, per meter (1 if one is slow)
    sessions: int = 3  # the measuring is split into this many, each on fresh connections

    @property
    def session_count(self) -> int:
        """Sessions per point: `sessions`, but never more than `max_samples`."""
        return max(1, min(self.sessions, self.max_samples))

    @property
    def planned_s(self) -> float:
        return self.session_count * self.warmup_s + self.measure_s

    def session(self) -> Timing:
        """One session's share: its part of the window, samples and slow cap (warm-up whole)."""
        count = self.session_count
        return replace(
            self,
            measure_s=self.measure_s / count,
            min_samples=math.ceil(self.min_samples / count),
            max_samples=self.max_samples // count,
            slow_cap_s=self.slow_cap_s / count,
            slow_min=math.ceil(self.slow_min / count),
            sessions=1,
        )


PROFILES: dict[str, Timing] = {
    "quick": Timing(
        warmup_s=0.05, measure_s=0.4, min_samples=6, max_samples=2_000, slow_cap_s=2.0, sessions=3
    ),
    "full": Timing(
        warmup_s=0.3, measure_s=2.0, min_samples=15, max_samples=50_000, slow_cap_s=15.0, sessions=5
    ),
}


@dataclass
class VariantResult(VariantOutcome):
    cold_ns: int | None = None
    samples_ns: list[int] = field(default_factory=list)
    statements: StatementCount | None = None
    memory: MemoryPeak | None = None
    spent_ns: int = 0
    kind: str = "variant"  # or "native"
    sessions: list[int] = field(default_factory=list)  # samples taken in each session, in order

    @property
    def samples(self) -> np.ndarray:
        return np.asarray(self.samples_ns, dtype=np.int64)

    @property
    def session_sizes(self) -> np.ndarray | None:
        """The samples per session, when they came from more than one session."""
        sizes = [n for n in self.sessions if n]
        return np.asarray(sizes, dtype=np.int64) if len(sizes) > 1 else None


def _sync_batch(
    fn: Callable[[Context], Any],
    ctx: Context,
    budget_ns: int,
    max_ops: int,
    setup: Setup,
    answers: list[Any] | None,
) -> list[int]:
    durations: list[int] = []
    clock = time.perf_counter_ns
    start = clock()
    while True:
        if setup is not None:
            setup(ctx)
        t0 = clock()
        out = fn(ctx)
        t1 = clock()
        durations.append(t1 - t0)
        if answers is not None and len(durations) == 1:
            answers.append(out)
        if len(durations) >= max_ops or t1 - start >= budget_ns:
            if answers is not None and len(durations) > 1:
                answers.append(out)
            return durations


async def _async_batch(
    fn: Callable[[Context], Any],
    ctx: Context,
    budget_ns: int,
    max_ops: int,
    setup: Setup,
    answers: list[Any] | None,
) -> list[int]:
    durations: list[int] = []
    clock = time.perf_counter_ns
    start = clock()
    while True:
        if setup is not None:
            setup(ctx)
        t0 = clock()
        out = await fn(ctx)
        t1 = clock()
        durations.append(t1 - t0)
        if answers is not None and len(durations) == 1:
            answers.append(out)
        if len(durations) >= max_ops or t1 - start >= budget_ns:
            if answers is not None and len(durations) > 1:
                answers.append(out)
            return durations


def timed_batch(
    variant: Variant,
    ctx: Context,
    budget_s: float,
    max_ops: int,
    setup: Setup = None,
    answers: list[Any] | None = None,
) -> list[int]:
    """Runs operations until `budget_s` passed or `max_ops` done (at least one); ns per op.

    Async variants are timed inside the event loop, so loop entry is not part of an operation;
    `setup` runs before every operation, outside its timing. With `answers`, the results of the
    batch's first and last operations are appended to it (kept, never looked at while timed).
    """
    budget_ns = int(budget_s * 1e9)
    if variant.is_async:
        return ctx.loop.run_until_complete(
            _async_batch(variant.fn, ctx, budget_ns, max(1, max_ops), setup, answers)
        )
    return _sync_batch(variant.fn, ctx, budget_ns, max(1, max_ops), setup, answers)


def measure_point(job: PointJob) -> list[VariantResult]:
    """Checks, counts and times every variant at one grid point, with fresh connections, and
    the scenario's native ceilings (pgbench) in turn with them, if it has any and the job runs
    natives."""
    scenario = job.scenario
    results = {v.name: VariantResult(v.name) for v in job.variants}
    check = AnswerCheck(scenario, job.direct)
    ordered = check.order(job.variants)
    natives: list[NativeReference] = []
    if job.options.run_natives and scenario.native is not None:
        natives = list(scenario.native(job.params, job.dataset))
    for native in natives:
        results[native.name] = VariantResult(native.name, kind="native")
    with point_context(job.target, job.params, job.dataset) as ctx, frozen_gc(job.options.gc):
        if not set_up_point(job, ctx, results):
            return [results[v.name] for v in job.variants]
        _check_answers(job, check, ordered, ctx, results)
        passing = [v for v in ordered if results[v.name].ok]
        _count_statements(job, passing, ctx, results)
        if scenario.peak_memory:
            _meter_memory(job, passing, ctx, results)
        session = replace(job, timing=job.timing.session())
        for index in range(job.timing.session_count):
            joining = [v for v in passing if not _slow_and_sampled(job, results[v.name])]
            for _left_out in range(len(passing) - len(joining)):
                job.on_step("", session.timing.warmup_s + session.timing.measure_s)
            if not joining and not natives:
                break
            cold = [] if index else [v for v in joining if _warmed_by_check(job, results[v.name])]
            with _session(ctx, index) as current:
                _warm_up(session, joining, current, results, already=cold)
                _sample_in_rounds(session, check, [*joining, *natives], current, results)
    return [*(results[n.name] for n in natives), *(results[v.name] for v in job.variants)]


def _slow_and_sampled(job: PointJob, result: VariantResult) -> bool:
    """A slow variant that has what the point asks of one (`slow_min` samples, `slow_cap_s`
    spent): it joins no further session, so a variant of seconds per operation costs
    `slow_min` sessions' warm-ups and samples, not one of each per session."""
    return _slow_enough(job.timing, len(result.samples_ns), result.spent_ns / 1e9)


def _slow_enough(timing: Timing, samples: int, spent_s: float) -> bool:
    """The slow rule, per session and per point: `slow_min` samples once `slow_cap_s` is spent."""
    return spent_s >= timing.slow_cap_s and samples >= timing.slow_min


def _warmed_by_check(job: PointJob, result: VariantResult) -> bool:
    """The answer check's operation ran on the first session's connections and took at least
    the warm-up's time: the warm-up would be that one operation again, so it is not run."""
    return (result.cold_ns or 0) / 1e9 >= job.timing.warmup_s


@contextlib.contextmanager
def _session(ctx: Context, index: int) -> Iterator[Context]:
    """The point's own Context for the first session, then a new one on fresh connections (the
    data `setup_point` left in its state carried over), closed when the session ends."""
    if index == 0:
        yield ctx
        return
    with point_context(ctx.target, ctx.params, ctx.dataset, ctx.loop) as fresh:
        fresh.state.update(ctx.state)
        yield fresh


def _native_slice(
    native: NativeReference, job: PointJob, result: VariantResult, remaining: int
) -> list[int] | None:
    """One turn of a native ceiling: about one slice's worth of its operations (estimated from
    its latest), ns each; None when it failed (the result says why).

    pgbench logs a reply that was already waiting when it read its clock as 0 µs, and those are
    left out (`NativeResult.timed_us`): a short turn can be all zeros, and is then taken again
    with more operations, a few times, before the ceiling is failed for it."""
    recent = result.samples_ns[-100:]
    per_op_ns = float(np.median(recent)) if recent else 0.0
    wanted = int(job.timing.slice_s * 1e9 / per_op_ns) if per_op_ns else NATIVE_FIRST_SLICE
    operations = max(1, min(wanted, remaining))
    bound = (job.options.op_timeout_s or NATIVE_UNBOUNDED_S) + job.timing.slice_s
    for _ in range(NATIVE_TRIES):
        out = native.sample(job.target, operations, bound)
        if out.error:
            result.fail(out.error)
            return None
        batch = [int(us * 1000) for us in out.timed_us]
        if batch:
            return batch[: max(1, remaining)]
        operations = max(operations, NATIVE_FIRST_SLICE)
    result.fail(
        f"the native reference timed nothing in {NATIVE_TRIES} tries (every operation it logged "
        "took 0 µs: its clock read a reply that was already waiting)"
    )
    return None


def _check_answers(
    job: PointJob,
    check: AnswerCheck,
    ordered: list[Variant],
    ctx: Context,
    results: dict[str, VariantResult],
) -> None:
    """Each variant once, cold (timed apart), its answer judged by the one answer check."""
    scenario = job.scenario
    for variant in ordered:
        job.on_step(f"{scenario.name} {ctx.params.label} · checking {variant.name}", 0.0)
        result = results[variant.name]

        def answer(variant: Variant = variant, result: VariantResult = result) -> Any:
            if scenario.setup_op is not None:
                scenario.setup_op(ctx)
            with deadline(job.options.op_timeout_s):
                t0 = time.perf_counter_ns()
                out = variant.call(ctx)
                result.cold_ns = time.perf_counter_ns() - t0
            return scenario.canonical(out, ctx)

        result.judged(check.check(variant.name, answer))


def _count_statements(
    job: PointJob, passing: list[Variant], ctx: Context, results: dict[str, VariantResult]
) -> None:
    """Statements, rows and round trips per operation, on connections made through a counting
    proxy (never the timed ones). Each variant first runs once there, untimed and uncounted, so
    connecting, type introspection and statement preparation are not counted."""
    scenario, target, probe, timing = job.scenario, job.direct, job.probe, job.timing
    if not passing:
        return
    with (
        RoundTripCounter(target) as counter,
        point_context(counter.target(), ctx.params, ctx.dataset, ctx.loop) as counting,
    ):
        # data from setup_point; connection-bound objects are per connection
        counting.state.update(ctx.state)
        for variant in passing:
            result = results[variant.name]
            operations = timing.count_ops if (result.cold_ns or 0) / 1e9 < 0.2 else 1
            try:
                if scenario.setup_op is not None:
                    scenario.setup_op(counting)
                with deadline(job.options.op_timeout_s):
                    variant.call(counting)
                counts: list[StatementCount] = []
                for _ in range(operations):
                    if scenario.setup_op is not None:
                        scenario.setup_op(counting)
                    if probe is not None:
                        probe.reset()
                    counter.reset()
                    with deadline(job.options.op_timeout_s):
                        variant.call(counting)
                    traffic = counter.read()
                    count = (probe.read(1) if probe is not None else None) or StatementCount(
                        NAN, NAN, NAN
                    )  # no pg_stat_statements
                    counts.append(
                        replace(
                            count,
                            rows=count.rows if traffic.rows is None else traffic.rows,
                            round_trips=traffic.round_trips,
                            sent_bytes=traffic.sent_bytes,
                            received_bytes=traffic.received_bytes,
                        )
                    )
                result.statements = StatementCount(
                    statements=sum(c.statements for c in counts) / len(counts),
                    utility=sum(c.utility for c in counts) / len(counts),
                    rows=sum(c.rows for c in counts) / len(counts),
                    written=sum(c.written for c in counts) / len(counts),
                    other_sessions=max(c.other_sessions for c in counts),
                    round_trips=sum(c.round_trips or 0 for c in counts) / len(counts),
                    sent_bytes=sum(c.sent_bytes or 0 for c in counts) / len(counts),
                    received_bytes=sum(c.received_bytes or 0 for c in counts) / len(counts),
                )
            except Exception as exc:
                target.raise_if_gone(exc)
                result.fail(describe_error(exc))


def _meter_memory(
    job: PointJob, passing: list[Variant], ctx: Context, results: dict[str, VariantResult]
) -> None:
    """Each variant's peak memory per operation (`harness.measure.memory`), on the point's own
    connections, after one unmetered operation there, never while timed."""
    setup = job.scenario.setup_op
    for variant in passing:
        result = results[variant.name]
        if result.status != "ok":
            continue
        job.on_step(f"{ctx.params.label} · memory of {variant.name}", 0.0)
        operations = job.timing.memory_ops if (result.cold_ns or 0) / 1e9 < 0.2 else 1
        prepare = None if setup is None else functools.partial(setup, ctx)
        try:
            with deadline(job.options.op_timeout_s * (1 + 2 * operations)):
                if setup is not None:
                    setup(ctx)
                variant.call(ctx)
                result.memory = peak_memory(
                    functools.partial(variant.call, ctx), operations, prepare
                )
        except Exception as exc:
            job.direct.raise_if_gone(exc)
            result.fail(describe_error(exc))


def _warm_up(
    job: PointJob,
    passing: list[Variant],
    ctx: Context,
    results: dict[str, VariantResult],
    already: Sequence[Variant] = (),
) -> None:
    """Each variant's warm-up on this session's connections, by time (at least one operation),
    except those `already` warm on them."""
    scenario, target, timing, on_step = job.scenario, job.direct, job.timing, job.on_step
    for variant in passing:
        if results[variant.name].status != "ok" or variant in already:
            on_step("", timing.warmup_s)
            continue
        on_step(f"{ctx.params.label} · warming up {variant.name}", 0.0)
        try:
            with deadline(job.options.op_timeout_s, timing.warmup_s):
                timed_batch(variant, ctx, timing.warmup_s, timing.max_samples, scenario.setup_op)
        except Exception as exc:
            target.raise_if_gone(exc)
            results[variant.name].fail(describe_error(exc))
        on_step("", timing.warmup_s)


def _sample_in_rounds(
    job: PointJob,
    check: AnswerCheck,
    passing: list[Variant | NativeReference],
    ctx: Context,
    results: dict[str, VariantResult],
) -> None:
    """One session's sampling: the variants (and native ceilings) in rounds until each has its
    share of the window (`Timing.session`); the samples it took are appended to each one's
    `sessions`."""
    scenario, target, timing, on_step = job.scenario, job.direct, job.timing, job.on_step
    taken_before = {v.name: len(results[v.name].samples_ns) for v in passing}
    spent_before = {v.name: results[v.name].spent_ns for v in passing}

    def taken(result: VariantResult) -> int:
        return len(result.samples_ns) - taken_before[result.variant]

    def done(result: VariantResult) -> bool:
        n, spent = taken(result), (result.spent_ns - spent_before[result.variant]) / 1e9
        return (
            result.status != "ok"
            or n >= timing.max_samples
            or (spent >= timing.measure_s and n >= timing.min_samples)
            or _slow_enough(timing, n, spent)
        )

    active = [v for v in passing if not done(results[v.name])]
    recheck = scenario.verify is None  # a database read-back holds for the last operation only
    stride = max(1, math.ceil(timing.measure_s / timing.slice_s) // RECHECK_BATCHES)
    batches: dict[str, int] = {}
    round_index = 0
    while active:
        shift = round_index % len(active)
        for variant in active[shift:] + active[:shift]:
            result = results[variant.name]
            on_step(f"{ctx.params.label} · {variant.name} (n={len(result.samples_ns)})", 0.0)
            remaining = timing.max_samples - taken(result)
            index = batches[variant.name] = batches.get(variant.name, -1) + 1
            if not isinstance(variant, Variant):  # a native ceiling: its own client, its own clock
                native_batch = _native_slice(variant, job, result, remaining)
                if native_batch is not None:
                    result.samples_ns.extend(native_batch)
                    result.spent_ns += sum(native_batch)
                continue
            keep = recheck and (index % stride == 0 or result.rechecked < MIN_RECHECKED)
            answers: list[Any] | None = [] if keep else None
            try:
                with deadline(job.options.op_timeout_s, timing.slice_s):
                    batch = timed_batch(
                        variant, ctx, timing.slice_s, remaining, scenario.setup_op, answers
                    )
                if answers:
                    result.took_recheck(recheck_answers(map(check.recheck, answers)))
            except Exception as exc:
                target.raise_if_gone(exc)
                result.fail(describe_error(exc))
                result.samples_ns.clear()
                continue
            if result.status != "ok":  # a timed answer was wrong: its timings are dropped
                result.samples_ns.clear()
                continue
            spent = (result.spent_ns - spent_before[variant.name]) / 1e9
            result.samples_ns.extend(batch)
            result.spent_ns += sum(batch)
            on_step(
                "", min(spent + sum(batch) / 1e9, timing.measure_s) - min(spent, timing.measure_s)
            )
        active = [v for v in active if not done(results[v.name])]
        round_index += 1
    for variant in passing:
        result = results[variant.name]
        if result.status == "ok":
            result.sessions.append(taken(result))


# --- records ----------------------------------------------------------------------------------


def to_measurements(
    scenario: str,
    params: Params,
    results: list[VariantResult],
    rng: np.random.Generator,
    baseline: str | None = None,
    rate_axis: str | None = None,
    rtt_ms: float = 0.0,
    reference: str | None = None,
    from_memory: frozenset[str] = frozenset(),
) -> list[Measurement]:
    """Statistics for one grid point. Ratios: to the fastest correct variant (natives never
    count as fastest), to the scenario's baseline variant, and to every native ceiling.

    A variant whose counted work is far below the reference's (`less_work`) says so in its
    detail; one that answered without the database is never the fastest, unless it declares
    that answering from memory is its pattern (`from_memory`)."""
    timed = [r for r in results if r.status == "ok" and r.samples_ns]
    flags = _work_flags(results, reference, from_memory)
    best = min(
        (r for r in timed if r.kind == "variant" and not unranked(flags.get(r.variant, ""))),
        key=lambda r: float(np.median(r.samples)),
        default=None,
    )
    references = [r for r in timed if r.kind == "native"]
    references += [r for r in timed if r.kind == "variant" and r.variant == baseline]
    resamples = Resamples(int(rng.integers(2**32)))

    def drawn(r: VariantResult) -> SampleSet:
        return SampleSet(params.label, r.variant, r.samples, r.session_sizes)

    out: list[Measurement] = []
    for r in results:
        metrics: dict[str, Metric] = {}
        if r.cold_ns is not None:
            metrics["cold_us"] = Metric(r.cold_ns / 1e3, "us", n=1)
        if r.rechecked:
            metrics["answers_rechecked"] = Metric(r.rechecked, "answers")
        if r.statements is not None and r.status == "ok":
            if r.statements.statements == r.statements.statements:  # NaN: no pg_stat_statements
                metrics["statements_per_op"] = Metric(r.statements.statements, "statements")
                metrics["other_statements_per_op"] = Metric(r.statements.utility, "statements")
                metrics["rows_written_per_op"] = Metric(r.statements.written, "rows")
                if r.statements.other_sessions:
                    metrics["other_sessions_while_counted"] = Metric(
                        r.statements.other_sessions, "sessions"
                    )
            if r.statements.rows == r.statements.rows:  # from the wire, or pg_stat_statements
                metrics["rows_per_op"] = Metric(r.statements.rows, "rows")
            if r.statements.round_trips is not None:
                metrics["round_trips_per_op"] = Metric(r.statements.round_trips, "round trips")
            if r.statements.sent_bytes is not None:
                metrics["sent_bytes_per_op"] = Metric(r.statements.sent_bytes, "bytes")
            if r.statements.received_bytes is not None:
                metrics["received_bytes_per_op"] = Metric(r.statements.received_bytes, "bytes")
        if r.memory is not None and r.status == "ok":
            metrics["peak_heap_bytes_per_op"] = Metric(r.memory.python_bytes, "bytes")
            if r.memory.rss_bytes is not None:
                metrics["peak_rss_bytes_per_op"] = Metric(r.memory.rss_bytes, "bytes")
        if r.status == "ok" and r.samples_ns:
            us = r.samples / 1e3
            s = summarise(us, rng, medians=resamples.medians(drawn(r)) / 1e3)
            metrics.update(latency_metrics(s))
            metrics["ops_per_s"] = Metric(1e6 / s.mean, "ops/s", n=s.n)
            if (drift := halves_ratio(r.samples, rng)) is not None:
                metrics["halves_ratio"] = Metric(drift.value, "x", drift.ci_low, drift.ci_high)
            if rate_axis is not None:
                amount = float(params.as_dict()[rate_axis])
                metrics[f"{rate_axis}_per_s"] = Metric(
                    amount / (s.p50 / 1e6),
                    f"{rate_axis}/s",
                    amount / (s.median_ci_high / 1e6),
                    amount / (s.median_ci_low / 1e6),
                    s.n,
                )
            for name, other in [("best", best), *((ref.variant, ref) for ref in references)]:
                if other is None:
                    continue
                if other is r:
                    metrics[f"ratio_to_{name}"] = Metric(1.0, "x", 1.0, 1.0)
                else:
                    ratio = resamples.ratio(drawn(r), drawn(other))
                    metrics[f"ratio_to_{name}"] = Metric(
                        ratio.value, "x", ratio.ci_low, ratio.ci_high
                    )
        m = measurement(scenario, params, r, metrics, best=r is best, rtt_ms=rtt_ms, kind=r.kind)
        to_best = metrics.get("ratio_to_best")
        if r.kind == "native" and best is not None and to_best and (to_best.ci_low or 0) > 1:
            flags[r.variant] = (
                f"{NOT_A_CEILING}: {best.variant} was {to_best.value:.2f}x faster than this native "
                f"client (95% CI {to_best.ci_low:.2f}-{to_best.ci_high:.2f}), a measurement "
                "fault (the machine, or this client's clock), not a result"
            )
        if flags.get(r.variant):
            m = msgspec.structs.replace(m, detail=flags[r.variant])
        out.append(m)
    return out


def _work_flags(
    results: list[VariantResult], reference: str | None, from_memory: frozenset[str]
) -> dict[str, str]:
    """Per variant timed at this point, why its work does not match the reference's."""
    ref = next((r for r in results if r.variant == reference and r.statements), None)
    if ref is None or ref.statements is None:
        return {}
    return {
        r.variant: why
        for r in results
        if r.status == "ok" and r.kind == "variant" and r.statements is not None
        and r.variant not in from_memory
        and (why := less_work(r.statements, ref.statements))
    }  # fmt: skip


class LatencyRunner:
    """One operation after another, variants interleaved in rounds (this module)."""

    name = "latency"
    profiles: Mapping[str, Timing] = PROFILES
    uses_clients_axis = False

    def check_scenario(self, scenario: Scenario) -> None:
        """A latency scenario needs nothing beyond the contract."""

    def connections(
        self, scenario: Scenario, params: Params, variants: int, options: RunOptions
    ) -> tuple[int, str] | None:
        return declared_connections(scenario, params)

    def measure(self, job: PointJob, rng: np.random.Generator) -> PointOutcome:
        s = job.scenario
        results = measure_point(job)
        return PointOutcome(
            measurements=to_measurements(
                s.name,
                job.params,
                results,
                rng,
                s.baseline,
                s.rate_axis,
                job.rtt_ms,
                reference=s.reference,
                from_memory=frozenset(v.name for v in s.variants.values() if v.from_memory),
            ),
            samples={r.variant: r.samples for r in results if r.ok and r.samples_ns},
            sessions={
                r.variant: sizes
                for r in results
                if r.ok and r.samples_ns and (sizes := r.session_sizes) is not None
            },
            natives={r.variant for r in results if r.kind == "native"},
        )
