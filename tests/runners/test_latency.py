"""The latency runner's protocol: check answers first, never time a wrong or failing variant."""

import json
import sys
import time
from pathlib import Path

import numpy as np

from harness.runners.base import PointJob
from harness.runners.latency import PROFILES, Timing, measure_point, to_measurements
from harness.scenario.grid import Params

sys.path.insert(0, str(Path(__file__).parents[1] / "scenarios_fixture"))
import itertools

from report_pages import report_text
from wrong_answers import scenario

FIXTURE_DIR = Path(__file__).parents[1] / "scenarios_fixture"

TIMING = Timing(warmup_s=0.01, measure_s=0.05, min_samples=5, max_samples=200, slice_s=0.01)


def test_a_variant_that_drops_a_row_is_wrong_and_not_timed(server, dataset, probe):
    results = {
        r.variant: r
        for r in measure_point(
            PointJob(
                scenario,
                list(scenario.variants.values()),
                Params((("users", 5),)),
                server,
                dataset.spec,
                TIMING,
                probe,
            )
        )
    }
    assert results["honest"].status == "ok"
    assert results["honest_async"].status == "ok", results["honest_async"].detail
    assert results["drops_a_row"].status == "wrong"
    assert results["drops_a_row"].detail == "result: 4 items, expected 5"
    assert results["drops_a_row"].samples_ns == []
    assert results["drops_a_row"].statements is None
    assert results["raises"].status == "failed"
    assert results["raises"].detail == "RuntimeError: boom"
    assert results["raises"].samples_ns == []
    for name in ("honest", "honest_async"):
        r = results[name]
        assert len(r.samples_ns) >= TIMING.min_samples
        assert r.statements is not None and r.statements.statements == 1
        assert r.statements.rows == 5


def test_variants_are_interleaved_in_rounds(server, dataset, probe):
    """A B, B A, A B ...: drift hits every variant alike, and each gets its measuring time."""
    import time

    from harness.scenario.grid import Grid
    from harness.scenario.spec import Scenario

    calls: list[str] = []
    s = Scenario(name="t", question="?", quick=Grid.of(n=[1]), full=Grid.of(n=[1]), reference="a")

    @s.variant
    def a(ctx):
        calls.append("a")
        time.sleep(0.002)
        return 1

    @s.variant
    def b(ctx):
        calls.append("b")
        time.sleep(0.002)
        return 1

    results = measure_point(
        PointJob(
            s, list(s.variants.values()), Params((("n", 1),)), server, dataset.spec, TIMING, probe
        )
    )
    switches = sum(1 for x, y in itertools.pairwise(calls) if x != y)
    assert switches >= 6, f"expected rounds, got {calls}"
    for r in results:
        assert r.spent_ns / 1e9 >= TIMING.measure_s or len(r.samples_ns) == TIMING.max_samples
        assert len(r.samples_ns) >= TIMING.min_samples


def test_when_the_reference_fails_nothing_is_timed(server, dataset, probe):
    from harness.scenario.grid import Grid
    from harness.scenario.spec import Scenario

    s = Scenario(name="t", question="?", quick=Grid.of(n=[1]), full=Grid.of(n=[1]), reference="ref")

    @s.variant
    def ref(ctx):
        raise ValueError("no answer")

    @s.variant
    def other(ctx):
        return 1

    results = {
        r.variant: r
        for r in measure_point(
            PointJob(
                s,
                list(s.variants.values()),
                Params((("n", 1),)),
                server,
                dataset.spec,
                TIMING,
                probe,
            )
        )
    }
    assert results["ref"].status == "failed"
    assert results["other"].status == "failed"
    assert "nothing to check against" in results["other"].detail
    assert results["other"].samples_ns == []


def test_an_operation_past_the_op_timeout_fails_its_variant_and_the_run_goes_on(tmp_path, capsys):
    from harness.cli import main

    started = time.monotonic()
    code = main(
        [
            "run", "--postgres", "embedded", "--scenario-path", str(FIXTURE_DIR),
            "--scenario", "slow_ops", "--op-timeout", "1", "--out", str(tmp_path),
        ]
    )  # fmt: skip
    took = time.monotonic() - started
    assert code == 1, capsys.readouterr().err
    assert took < 90, took  # four operations of 300 s each, bounded
    (folder,) = list(tmp_path.iterdir())
    run = json.loads((folder / "run.json").read_text())
    by_variant = {m["variant"]: m for m in run["measurements"]}
    assert by_variant["quick"]["status"] == "ok"
    for name in ("sleeps_in_sql", "sleeps_in_asyncpg"):
        m = by_variant[name]
        assert m["status"] == "failed" and "exceeded the op timeout" in m["detail"], m
        assert "statement timeout" in m["detail"]
    for name in ("sleeps_in_python", "awaits_forever"):
        m = by_variant[name]
        assert m["status"] == "failed", m
        assert "exceeded the op timeout of 1 s" in m["detail"], m


def test_answers_of_timed_operations_are_rechecked_and_a_late_wrong_one_is_caught(server, dataset):
    import turns_wrong

    s = turns_wrong.scenario
    timing = Timing(warmup_s=0.01, measure_s=0.3, min_samples=5, max_samples=5000, slice_s=0.02)
    results = {
        r.variant: r
        for r in measure_point(
            PointJob(
                s, list(s.variants.values()), Params((("n", 3),)), server, dataset.spec, timing
            )
        )
    }
    honest = results["honest"]
    assert honest.status == "ok" and honest.rechecked >= 3 and honest.samples_ns
    for name in ("turns_wrong", "wrong_late"):
        r = results[name]
        assert r.status == "wrong" and "timed operation" in r.detail, (name, r.detail)
        assert not r.samples_ns  # its timings are dropped
    assert "result: 2 items, expected 3" in results["turns_wrong"].detail
    assert "result[0]: got 0, expected 1" in results["wrong_late"].detail
    (m,) = [
        m
        for m in to_measurements(
            "turns_wrong", Params((("n", 3),)), [honest], np.random.default_rng(1)
        )
    ]
    assert m.metrics["answers_rechecked"].value == honest.rechecked


def test_a_variant_answering_from_memory_is_flagged_and_never_fastest(tmp_path):
    from harness.cli import main

    code = main(
        [
            "run", "--postgres", "embedded", "--scenario-path", str(FIXTURE_DIR),
            "--scenario", "memory_cheat", "--out", str(tmp_path),
        ]
    )  # fmt: skip
    assert code == 0
    (folder,) = list(tmp_path.iterdir())
    run = json.loads((folder / "run.json").read_text())
    by_variant = {m["variant"]: m for m in run["measurements"]}
    cheat, cached, honest = by_variant["memorised"], by_variant["cached"], by_variant["honest"]
    assert cheat["status"] == "ok" and not cheat["is_best"]
    assert cheat["detail"].startswith("answered without the database"), cheat["detail"]
    assert cheat["metrics"]["median_us"]["value"] < honest["metrics"]["median_us"]["value"]
    assert cached["detail"] == "" and cached["is_best"]  # declared: it may win, and is labelled
    report = report_text(folder)
    assert "- **Not ranked**: memorised at n=50: answered without the database" in report
    from harness.results.store import load_run, stored_samples

    _, samples = load_run(folder)  # kept by session, so the report's intervals can use them
    kept = stored_samples(samples, "memory_cheat", "honest", "n=50")
    sessions = PROFILES["quick"].sessions
    assert kept is not None and kept.sessions is not None and len(kept.sessions) == sessions
    assert int(kept.sessions.sum()) == kept.ns.size
    assert (
        "| cached (served from memory)" in report or "| **cached** (served from memory)" in report
    )
    assert "memorised (not ranked: answered without the database)" in report


def test_a_point_is_measured_in_sessions_each_on_fresh_connections(server, dataset, tmp_path):
    from harness.results.store import StoredSamples
    from harness.scenario.grid import Grid
    from harness.scenario.spec import Scenario

    backends: dict[str, set[int]] = {"a": set(), "b": set()}
    s = Scenario(name="t", question="?", quick=Grid.of(n=[1]), full=Grid.of(n=[1]), reference="a")

    def read(ctx, name: str) -> int:
        backends[name].add(ctx.psycopg.execute("SELECT pg_backend_pid()").fetchone()[0])
        return 1

    @s.variant
    def a(ctx):
        return read(ctx, "a")

    @s.variant
    def b(ctx):
        return read(ctx, "b")

    timing = Timing(
        warmup_s=0.01, measure_s=0.15, min_samples=6, max_samples=300, slice_s=0.01, sessions=3
    )
    params = Params((("n", 1),))
    results = measure_point(
        PointJob(s, list(s.variants.values()), params, server, dataset.spec, timing)
    )
    for r in results:
        assert r.status == "ok", r.detail
        assert len(r.sessions) == 3 and all(n >= 2 for n in r.sessions), r.sessions
        assert sum(r.sessions) == len(r.samples_ns)
        assert r.session_sizes is not None and r.session_sizes.tolist() == r.sessions
    # the point's own connection, the counting one, then one more per later session
    assert all(len(pids) >= 4 for pids in backends.values()), backends
    ms = to_measurements("t", params, results, np.random.default_rng(1))
    assert all("ratio_to_best" in m.metrics for m in ms)
    one, other = (StoredSamples(r.samples, r.session_sizes) for r in results)
    assert one.ratio_to(other, np.random.default_rng(2), paired=True).ci_low > 0


def test_a_slow_variant_joins_sessions_until_it_has_its_slow_minimum(server, dataset):
    """Seconds per operation: the slow variant stops joining sessions once it has `slow_min`
    samples and `slow_cap_s` spent, and the first session, on the connections its checked
    operation ran on, does not warm it up again; the fast one is measured in every session."""
    from harness.scenario.grid import Grid
    from harness.scenario.spec import Scenario

    calls: dict[str, list[int]] = {"fast": [], "slow": []}  # backend pid of each call
    s = Scenario(
        name="t", question="?", quick=Grid.of(n=[1]), full=Grid.of(n=[1]), reference="fast"
    )

    def read(ctx, name: str, pause_s: float) -> int:
        calls[name].append(ctx.psycopg.execute("SELECT pg_backend_pid()").fetchone()[0])
        time.sleep(pause_s)
        return 1

    @s.variant
    def fast(ctx):
        return read(ctx, "fast", 0.0)

    @s.variant
    def slow(ctx):
        return read(ctx, "slow", 0.12)

    timing = Timing(
        warmup_s=0.05, measure_s=0.1, min_samples=5, max_samples=300, slice_s=0.01,
        slow_cap_s=0.3, slow_min=3, sessions=5, count_ops=1,
    )  # fmt: skip
    params = Params((("n", 1),))
    results = {
        r.variant: r
        for r in measure_point(
            PointJob(s, list(s.variants.values()), params, server, dataset.spec, timing)
        )
    }
    slow_result, fast_result = results["slow"], results["fast"]
    assert slow_result.status == fast_result.status == "ok"
    assert slow_result.sessions == [1, 1, 1]  # 3 samples, 0.36 s: no fourth or fifth session
    assert len(fast_result.sessions) == 5
    # the check (1), counting (1 uncounted + 1 counted), then per session
    # a warm-up of one operation and one sample, except the first session's warm-up
    assert len(calls["slow"]) == 1 + 2 + (1 + 2 + 2)
    first = calls["slow"][0]
    assert calls["slow"].count(first) == 2  # the check, then the first session's sample


def test_the_garbage_collector_mode_is_chosen_recorded_and_stated(tmp_path):
    import gc

    from harness.cli import main
    from harness.runners.base import frozen_gc

    with frozen_gc("freeze"):
        assert gc.get_freeze_count() > 0
    with frozen_gc("default"):
        assert gc.get_freeze_count() == 0  # a default process: nothing moved out of the scans
    code = main([
        "run", "--postgres", "embedded", "--scenario", "reads", "--grid", "rows=1",
        "--variant", "core_select", "--gc", "default", "--out", str(tmp_path),
    ])  # fmt: skip
    assert code == 0
    (folder,) = list(tmp_path.iterdir())
    assert json.loads((folder / "run.json").read_text())["gc"] == "default"
    assert "- **Garbage collector**: Python's default (`--gc default`)" in report_text(folder)
