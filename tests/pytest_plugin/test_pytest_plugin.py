"""The pytest-benchmark plugin (harness/pytest_plugin/), run the way a team runs it.

The shipped benchmarks/ conftest and test module are copied into a pytester folder and run on the
fixture scenario `wrong_answers` plus a tiny scenario whose variants sleep 2 ms, against a fresh
database on the session's server (so no second server and only one dataset load).
"""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest

pytest_plugins = ["pytester"]

ROOT = Path(__file__).parents[2]
SHIPPED = ROOT / "benchmarks"
FIXTURE_SCENARIOS = Path(__file__).parents[1] / "scenarios_fixture"

SLEEPER = '''
"""Does an async variant's benchmark time the awaited operation? (test fixture)"""

import asyncio
import time

from harness.scenario import Grid, Scenario

scenario = Scenario(
    name="sleeper",
    question="Is the await timed, not just the coroutine's creation?",
    quick=Grid.of(ms=[2]),
    full=Grid.of(ms=[2]),
    reference="sync_sleep",
)


@scenario.variant
def sync_sleep(ctx):
    """Sleeps 2 ms."""
    time.sleep(int(ctx.params.ms) / 1000)
    return "slept"


@scenario.variant
async def async_sleep(ctx):
    """Awaits 2 ms."""
    await asyncio.sleep(int(ctx.params.ms) / 1000)
    return "slept"
'''


@pytest.fixture
def bench_folder(pytester: pytest.Pytester) -> pytest.Pytester:
    """A folder laid out like the shipped benchmarks/: its conftest and test module."""
    pytester.makeconftest((SHIPPED / "conftest.py").read_text())
    pytester.makepyfile(test_patterns=(SHIPPED / "test_patterns.py").read_text())
    return pytester


def _run(pytester: pytest.Pytester, *args: str) -> pytest.RunResult:
    """In-process, naming the folder first, as `make bench-pytest` names benchmarks/: pytest loads
    that folder's conftest (and so the plugin) before it parses the --pb-* options. Paths are given
    as --pb-scenario-path=DIR so that pytest's first, plugin-less look at the arguments does not
    take DIR for a test path (and choose its rootdir from it)."""
    return pytester.runpytest(str(pytester.path), *args)


def _ids(result: pytest.RunResult) -> list[str]:
    return [
        line.split("[", 1)[1].rstrip("]")
        for line in result.outlines
        if line.startswith("test_patterns.py::test_pattern[")
    ]


def test_cases_ids_and_point_selection(bench_folder: pytest.Pytester):
    ends = _run(bench_folder, "--collect-only", "-q", "--pb-scenario", "loading")
    assert ends.ret == 0, ends.stdout.str()
    ids = _ids(ends)
    # The quick grid's first point and its last one (200 x 100 is left out).
    assert "loading-lazy-users=1-posts_per_user=1-nesting=posts" in ids
    assert "loading-lazy-users=200-posts_per_user=10-nesting=comments" in ids
    assert len(ids) == 2 * 7

    # Filters keep 20 and 200 users with comments; `last` picks the last of those points.
    points = ["--pb-point=nesting=comments", "--pb-point=users=20,200", "--pb-point=last"]
    chosen = _run(bench_folder, "--collect-only", "-q", "--pb-scenario", "loading", *points)
    assert chosen.ret == 0, chosen.stdout.str()
    assert {i.split("-", 2)[2] for i in _ids(chosen)} == {
        "users=200-posts_per_user=10-nesting=comments"
    }

    fixture = ["--collect-only", "-q", f"--pb-scenario-path={FIXTURE_SCENARIOS}"]
    every = _run(bench_folder, *fixture, "--pb-scenario", "wrong_answers", "--pb-point", "all")
    assert len(_ids(every)) == 2 * 4
    filtered = _run(
        bench_folder, *fixture, "--pb-scenario", "wrong_answers", "--pb-point", "users=5"
    )
    assert _ids(filtered) == [
        "wrong_answers-honest-users=5",
        "wrong_answers-honest_async-users=5",
        "wrong_answers-drops_a_row-users=5",
        "wrong_answers-raises-users=5",
    ]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--pb-scenario", "nope"], "--pb-scenario 'nope' is unknown; valid: "),
        (["--pb-scenario", "pool_sizing"], "measures concurrent load (runner=throughput)"),
        (["--pb-point", "users=7"], "--pb-point users=7: not on the quick grid; valid users: 3, 5"),
        (["--pb-point", "users=three"], "grid axis 'users' takes int values, got 'three'"),
        (["--pb-point", "colour=red"], "unknown grid axis 'colour'"),
        (["--pb-point", "middle"], "expected ends, first, last, all or AXIS=V1,V2"),
        (["--pb-postgres", "sqlite"], "--pb-postgres 'sqlite' is not valid; use auto, embedded"),
        (["--pb-scenario-path=no/such/folder"], "not a folder"),
    ],
)
def test_mistakes_are_usage_errors_that_name_what_is_valid(
    bench_folder: pytest.Pytester, args: list[str], message: str
):
    result = _run(
        bench_folder,
        "--collect-only",
        f"--pb-scenario-path={FIXTURE_SCENARIOS}",
        *(["--pb-scenario", "wrong_answers"] if args[0] != "--pb-scenario" else []),
        *args,
    )
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert message in result.stderr.str()
    assert "Traceback" not in result.stderr.str()


def test_wrong_variants_fail_and_only_correct_ones_are_benchmarked(
    bench_folder: pytest.Pytester, fresh_database, tmp_path: Path
):
    conn = fresh_database("pb_pytest_bench")
    url = f"postgresql://{conn['user']}@{conn['host']}:{conn['port']}/{conn['dbname']}"
    team = tmp_path / "team_scenarios"
    team.mkdir()
    (team / "sleeper.py").write_text(textwrap.dedent(SLEEPER))
    out = tmp_path / "bench.json"

    result = bench_folder.runpytest_subprocess(
        str(bench_folder.path),
        f"--pb-scenario-path={FIXTURE_SCENARIOS}", f"--pb-scenario-path={team}",
        "--pb-scenario", "wrong_answers", "--pb-scenario", "sleeper",
        "--pb-postgres", url, "--benchmark-only", f"--benchmark-json={out}",
        "--benchmark-max-time=0.05", "--benchmark-min-rounds=3", "-rA",
        timeout=240,
    )  # fmt: skip

    text = result.stdout.str()
    result.assert_outcomes(passed=6, failed=4)
    for users in (3, 5):
        assert (
            f"WRONG: wrong_answers drops_a_row at users={users}: result: {users - 1} items, "
            f"expected {users} (compared with the reference variant 'honest'); not timed"
        ) in text
        assert (
            f"PASSED test_patterns.py::test_pattern[wrong_answers-honest_async-users={users}]"
            in text
        )
    assert "RuntimeError: boom" in text
    assert "WRONG: wrong_answers raises" not in text  # it raised: FAILED, not WRONG

    report = json.loads(out.read_text())
    benchmarks = {b["name"]: b for b in report["benchmarks"]}
    passed = {
        f"test_pattern[{case}]"
        for case in (
            "wrong_answers-honest-users=3",
            "wrong_answers-honest_async-users=3",
            "wrong_answers-honest-users=5",
            "wrong_answers-honest_async-users=5",
            "sleeper-sync_sleep-ms=2",
            "sleeper-async_sleep-ms=2",
        )
    }
    assert set(benchmarks) == passed

    honest = benchmarks["test_pattern[wrong_answers-honest-users=5]"]
    assert honest["group"] == "wrong_answers users=5"
    assert honest["extra_info"]["scenario"] == "wrong_answers"
    assert honest["extra_info"]["variant"] == "honest"
    assert honest["extra_info"]["params"] == {"users": 5}
    assert honest["extra_info"]["rtt_ms"] == 0
    assert honest["extra_info"]["postgres"]["provider"] == "url"
    assert honest["stats"]["rounds"] >= 3

    asleep = benchmarks["test_pattern[sleeper-async_sleep-ms=2]"]
    # The awaited 2 ms are in every round: the await is timed, not just the coroutine's creation.
    assert asleep["stats"]["min"] >= 0.002
    assert asleep["stats"]["mean"] >= 0.002
    assert asleep["options"]["timer"] == "awaited_perf_counter"
    assert asleep["extra_info"]["is_async"] is True
    assert asleep["extra_info"]["loop_entry_us"] > 0
    assert benchmarks["test_pattern[sleeper-sync_sleep-ms=2]"]["stats"]["mean"] >= 0.002


def test_a_variant_that_turns_wrong_after_its_check_fails_and_its_timings_are_dropped(
    bench_folder: pytest.Pytester, fresh_database, tmp_path: Path
):
    conn = fresh_database("pb_pytest_recheck")
    url = f"postgresql://{conn['user']}@{conn['host']}:{conn['port']}/{conn['dbname']}"
    out = tmp_path / "bench.json"
    result = bench_folder.runpytest_subprocess(
        str(bench_folder.path),
        f"--pb-scenario-path={FIXTURE_SCENARIOS}", "--pb-scenario", "turns_wrong",
        "--pb-postgres", url, "--benchmark-only", f"--benchmark-json={out}",
        "--benchmark-max-time=0.05", "--benchmark-min-rounds=3", "-rA",
        timeout=240,
    )  # fmt: skip
    text = result.stdout.str()
    result.assert_outcomes(passed=1, failed=2)
    assert "WRONG: turns_wrong turns_wrong at n=3: a later operation (1 of 3 re-checked)" in text
    assert "WRONG: turns_wrong wrong_late at n=3: a later operation" in text
    benchmarks = {b["name"]: b for b in json.loads(out.read_text())["benchmarks"]}
    assert set(benchmarks) == {"test_pattern[turns_wrong-honest-n=3]"}
    assert (
        benchmarks["test_pattern[turns_wrong-honest-n=3]"]["extra_info"]["answers_rechecked"] == 3
    )
