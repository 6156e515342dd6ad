"""A failing `setup_point` fails its grid point, and only that one, in every runner: its variants
are FAILED with the reason, the other points are measured, and the scenario and run go on."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

import pytest

from harness.results.records import RunRecord
from harness.results.store import RunFolder
from harness.run import Plan, RunContext, run_scenario
from harness.runners.base import RunOptions
from harness.runners.http.runner import HttpOptions
from harness.scenario.context import Context
from harness.scenario.grid import Grid
from harness.scenario.spec import Scenario
from scenarios.http import scenario as http
from scenarios.loading import scenario as loading
from scenarios.pool_sizing import scenario as pool_sizing


def _failing_at(axis: str, value: object, then: Callable[[Context], None] | None):
    def setup(ctx: Context) -> None:
        if getattr(ctx.params, axis) == value:
            raise RuntimeError("the setup broke here")
        if then is not None:
            then(ctx)

    return setup


CASES = {
    "latency": (loading, Grid.of(users=[1, 2], posts_per_user=[1], nesting=["posts"]), "users", 2,
                ["selectinload", "joinedload"]),
    "throughput": (pool_sizing, Grid.of(clients=[2], pool_size=[1, 2]), "pool_size", 1,
                   ["psycopg_pool", "queuepool"]),
    "http": (http, Grid.of(endpoint=["user"], users=[2, 3]), "users", 3, ["fastapi_orm"]),
}  # fmt: skip


@pytest.mark.parametrize("runner", list(CASES))
def test_a_failing_setup_point_fails_only_its_point(runner, server, dataset, tmp_path):
    base, grid, axis, bad, names = CASES[runner]
    scenario: Scenario = replace(
        base, setup_point=_failing_at(axis, bad, base.setup_point), quick=grid, full=grid
    )
    assert scenario.runner == runner
    plan = Plan(
        scenario,
        tuple(scenario.variants[n] for n in names),
        grid,
        options=RunOptions(http=HttpOptions()),
    )
    run = RunRecord(run_id="t", started_at="now", profile="quick", environment={}, server={})
    notes: list[str] = []
    rc = RunContext(run, RunFolder(tmp_path, "t"), "quick", lambda _l, _u: None, notes.append)
    record = run_scenario(plan, rc, server)
    assert record.status == "ok"
    by_point = {}
    for m in run.measurements:
        by_point.setdefault(m.params[axis], []).append(m)
    broken = by_point.pop(bad)
    assert {m.variant for m in broken} == set(names)
    for m in broken:
        assert m.status == "failed"
        assert m.detail == "grid point setup: RuntimeError: the setup broke here"
    (measured,) = by_point.values()
    assert {m.variant for m in measured} == set(names)
    assert all(m.status == "ok" and "ops_per_s" in m.metrics for m in measured), measured
    assert sum("grid point setup" in n for n in notes) == len(names)
