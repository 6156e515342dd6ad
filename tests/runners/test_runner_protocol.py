"""A runner is one module behind the `Runner` protocol and one entry in the runner table: a toy
runner, written here and registered by the test, runs end to end through `patternbench run`."""

from __future__ import annotations

import json
import textwrap
import time
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pytest
from report_pages import report_text

from harness.cli import main
from harness.results.records import Metric
from harness.runners.base import (
    PointJob,
    PointOutcome,
    RunOptions,
    VariantOutcome,
    measurement,
    point_context,
    set_up_point,
)
from harness.runners.table import RUNNERS
from harness.scenario.answers import AnswerCheck
from harness.scenario.grid import Params
from harness.scenario.spec import Scenario


@dataclass(frozen=True)
class ToyTiming:
    calls: int

    @property
    def planned_s(self) -> float:
        return 0.01 * self.calls


class ToyRunner:
    """Calls each variant that answers like the reference `calls` times, one after another."""

    name = "toy"
    profiles: Mapping[str, ToyTiming] = {"quick": ToyTiming(5), "full": ToyTiming(20)}
    uses_clients_axis = False

    def check_scenario(self, scenario: Scenario) -> None:
        if "n" not in scenario.quick.names:
            raise ValueError(f"scenario {scenario.name!r}: a toy scenario needs an axis n")

    def connections(
        self, scenario: Scenario, params: Params, variants: int, options: RunOptions
    ) -> tuple[int, str] | None:
        return None

    def measure(self, job: PointJob, rng: np.random.Generator) -> PointOutcome:
        outcomes = {v.name: VariantOutcome(v.name) for v in job.variants}
        samples: dict[str, np.ndarray] = {}
        check = AnswerCheck(job.scenario, job.direct)
        with point_context(job.target, job.params, job.dataset) as ctx:
            if set_up_point(job, ctx, outcomes):
                for variant in check.order(job.variants):
                    outcome = outcomes[variant.name]
                    answer = check.check(variant.name, lambda v=variant: v.call(ctx))
                    if not outcome.judged(answer):
                        continue
                    times = []
                    for _ in range(job.timing.calls):
                        t0 = time.perf_counter_ns()
                        variant.call(ctx)
                        times.append(time.perf_counter_ns() - t0)
                    samples[variant.name] = np.asarray(times, dtype=np.int64)
        measurements = [
            measurement(
                job.scenario.name,
                job.params,
                o,
                {"median_us": Metric(float(np.median(samples[o.variant])) / 1e3, "us")}
                if o.variant in samples
                else {},
                best=False,
                rtt_ms=job.rtt_ms,
            )
            for o in outcomes.values()
        ]
        return PointOutcome(measurements, samples=samples)


TOY_SCENARIO = '''
    """Does the toy runner measure what a scenario of its own declares?"""

    from harness import Context, Grid, Scenario, Skip

    scenario = Scenario(
        name="toy_question",
        question="Does the toy runner measure it?",
        quick=Grid.of(n=[1, 2]),
        full=Grid.of(n=[1, 2]),
        reference="select_n",
        runner="toy",
    )


    @scenario.variant
    def select_n(ctx: Context) -> int:
        """SELECT n through psycopg."""
        return ctx.psycopg.execute("SELECT %s::int", (ctx.params.n,)).fetchone()[0]


    @scenario.variant
    def constant(ctx: Context) -> int:
        """Always 1: wrong at n=2."""
        return 1


    @scenario.variant
    def only_two(ctx: Context) -> int:
        """Skips n=1."""
        if ctx.params.n == 1:
            raise Skip("not at n=1")
        return 2
'''


def test_a_toy_runner_registered_in_the_table_runs_end_to_end(tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(RUNNERS, "toy", ToyRunner())
    folder = tmp_path / "mine"
    folder.mkdir()
    (folder / "toy.py").write_text(textwrap.dedent(TOY_SCENARIO))
    code = main([
        "run", "--postgres", "embedded", "--scenario-path", str(folder),
        "--scenario", "toy_question", "--out", str(tmp_path / "out"),
    ])  # fmt: skip
    assert code == 1, capsys.readouterr().err  # `constant` is WRONG at n=2: exit 1 says so
    (run_dir,) = list((tmp_path / "out").iterdir())
    run = json.loads((run_dir / "run.json").read_text())
    (record,) = run["scenarios"]
    assert record["runner"] == "toy" and record["status"] == "ok"
    assert record["doc"].startswith("Does the toy runner measure")  # from the module docstring
    status = {(m["variant"], m["params"]["n"]): m["status"] for m in run["measurements"]}
    assert status == {
        ("select_n", 1): "ok",
        ("constant", 1): "ok",
        ("only_two", 1): "skipped",
        ("select_n", 2): "ok",
        ("constant", 2): "wrong",
        ("only_two", 2): "ok",
    }
    timed = [m for m in run["measurements"] if m["status"] == "ok"]
    assert all(m["metrics"]["median_us"]["value"] > 0 for m in timed)
    with np.load(run_dir / "samples.npz") as samples:
        assert len(samples.files) == len(timed)
        assert all(samples[name].size == 5 for name in samples.files)  # the quick profile's calls
    assert report_text(run_dir).count("toy_question") >= 1


def test_a_scenario_naming_an_unknown_runner_is_one_line(tmp_path, capsys):
    folder = tmp_path / "mine"
    folder.mkdir()
    (folder / "toy.py").write_text(textwrap.dedent(TOY_SCENARIO))
    assert main(["list", "--scenario-path", str(folder)]) == 2
    err = capsys.readouterr().err
    assert "scenario 'toy_question': runner must be one of latency, throughput, http" in err
    assert err.count("\n") == 1


@pytest.mark.parametrize("missing", ["n"])
def test_a_runner_checks_its_own_scenarios(tmp_path, monkeypatch, capsys, missing):
    monkeypatch.setitem(RUNNERS, "toy", ToyRunner())
    folder = tmp_path / "mine"
    folder.mkdir()
    text = textwrap.dedent(TOY_SCENARIO).replace(f"Grid.of({missing}=", "Grid.of(m=")
    text = text.replace("ctx.params.n", "ctx.params.m")
    (folder / "toy.py").write_text(text)
    assert main(["list", "--scenario-path", str(folder)]) == 2
    assert "a toy scenario needs an axis n" in capsys.readouterr().err
