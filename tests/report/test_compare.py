"""compare: two stored runs, ratios with CIs, regressions past a threshold, WRONG beats slow.

Synthetic run folders only (no database): lognormal per-op durations around 100 µs, n=300,
from fixed seeds, so a copy of a run has the very same samples unless a test changes them.
"""

from __future__ import annotations

from pathlib import Path

import msgspec
import numpy as np
import pytest

from harness.errors import UserError
from harness.report.compare import (
    Verdict,
    classify,
    compare_records,
    compare_runs,
    load_for_compare,
    parse_threshold,
    render_markdown,
    summary_line,
)
from harness.results.records import Measurement, Metric, RunRecord, ScenarioRecord, point_label
from harness.results.stats import Ratio
from harness.results.store import RunFolder, rate_key, sample_key

N = 300
BASE_US = {"asyncpg": 100.0, "psycopg": 120.0, "orm": 400.0, "pgbench": 80.0}
ROWS = (1, 100)
ENVIRONMENT = {
    "cpu": "Intel Xeon",
    "cores": 2,
    "memory_gib": 23.5,
    "os": "Linux-6.18-x86_64",
    "python": "3.11.7",
    "packages": {"sqlalchemy": "2.1.9", "asyncpg": "0.32.0", "psycopg": "3.3.9"},
    "git_sha": "2c35c6e",
    "git_dirty": False,
}
SERVER = {
    "provider": "embedded",
    "version": "18.6",
    "settings": {"fsync": "on", "synchronous_commit": "on", "shared_buffers": "128MB"},
}


def _samples_ns(variant: str, rows: int, rtt_ms: float, scale: float) -> np.ndarray:
    """The same draw for the same (variant, rows, rtt) in every run; `scale` slows it down."""
    seed = [list(BASE_US).index(variant), rows, int(rtt_ms * 1000)]
    rng = np.random.default_rng(seed)
    median_us = BASE_US[variant] * (1 + rows / 25) + rtt_ms * 1000
    us = rng.lognormal(np.log(median_us), 0.25, N) * scale
    return (us * 1e3).astype(np.int64)


def _measurement(
    folder: RunFolder, variant: str, rows: int, rtt: float, state: str, scale: float
) -> Measurement:
    """One variant at one grid point; its samples go into the folder when it was timed."""
    kind = "native" if variant == "pgbench" else "variant"
    params = {"rows": rows}
    if state != "ok":
        detail = "returned 99 rows, not 100"
        return Measurement("reads", variant, params, state, detail, kind=kind, rtt_ms=rtt)
    ns = _samples_ns(variant, rows, rtt, scale)
    folder.samples[sample_key("reads", variant, point_label(params, rtt))] = ns
    metrics = {"median_us": Metric(float(np.median(ns)) / 1e3, "us", n=N)}
    return Measurement("reads", variant, params, "ok", metrics=metrics, kind=kind, rtt_ms=rtt)


def make_run(
    root: Path,
    run_id: str,
    *,
    scale: dict[tuple[str, int], float] | None = None,
    status: dict[tuple[str, int], str] | None = None,
    rtts: tuple[float, ...] = (0.0,),
    profile: str = "quick",
    environment: dict | None = None,
    server: dict | None = None,
    partial: bool = False,
    disturbed: bool = False,
) -> Path:
    """A run of one `reads` scenario: 3 variants + the pgbench ceiling at rows=1 and 100."""
    folder = RunFolder(root, run_id)
    scale, status = scale or {}, status or {}
    measurements = [
        _measurement(
            folder, variant, rows, rtt, status.get((variant, rows), "ok"),
            scale.get((variant, rows), 1.0),
        )
        for rtt in rtts
        for rows in ROWS
        for variant in BASE_US
    ]  # fmt: skip
    if disturbed:
        why = "other work used 95% of a core while it ran"
        measurements = [msgspec.structs.replace(m, disturbed=why) for m in measurements]
    record = ScenarioRecord(
        name="reads",
        question="What does each layer cost?",
        doc="",
        axes=[("rows", list(ROWS))],
        reference="asyncpg",
        variants={v: v for v in BASE_US if v != "pgbench"},
        natives=["pgbench"],
        rtts_ms=list(rtts),
    )
    run = RunRecord(
        run_id=run_id,
        started_at="2026-11-26T05:40:17Z",
        finished_at="" if partial else "2026-11-26T05:47:14Z",
        partial=partial,
        interrupted="Ctrl-C" if partial else "",
        profile=profile,
        environment=environment or ENVIRONMENT,
        server=server or SERVER,
        rtts_ms=list(rtts),
        scenarios=[record],
        measurements=measurements,
    )
    folder.save(run)
    return folder.path


@pytest.fixture
def run_a(tmp_path: Path) -> Path:
    return make_run(tmp_path, "20261126T054017Z-aaaaaaa")


def _table_rows(markdown: str) -> list[str]:
    return [line for line in markdown.splitlines() if line.startswith("| reads ")]


def test_a_run_compared_with_itself_changes_nothing(run_a):
    c = compare_runs(run_a, run_a, threshold=0.10)
    assert len(c.rows) == len(BASE_US) * len(ROWS)
    assert {row.verdict for row in c.rows} == {Verdict.UNCHANGED}
    assert all(row.ratio.value == 1.0 and not row.ratio.significant for row in c.rows)
    assert (c.warnings, c.only_in_a, c.only_in_b, c.status_changes) == ((), (), (), ())
    assert c.exit_code == 0
    markdown = render_markdown(c)
    assert "0 regressions beyond 10%, 0 improvements, 0 within threshold, 8 unchanged" in markdown
    assert "<details>" in markdown  # the unchanged rows are folded away


def test_a_variant_made_half_again_slower_is_the_one_regression_and_comes_first(tmp_path, run_a):
    b = make_run(tmp_path, "20261127T054017Z-bbbbbbb", scale={("psycopg", 100): 1.5})
    c = compare_runs(run_a, b, threshold=0.10)
    regressions = c.with_verdict(Verdict.REGRESSION)
    assert [(r.point.variant, r.point.label) for r in regressions] == [("psycopg", "rows=100")]
    assert regressions[0].ratio.value == pytest.approx(1.5, rel=0.01)
    assert 1.1 < regressions[0].ratio.ci_low < 1.5 < regressions[0].ratio.ci_high
    assert all(r.verdict == Verdict.UNCHANGED for r in c.rows if r not in regressions)
    assert c.exit_code == 1
    markdown = render_markdown(c)
    first = _table_rows(markdown)[0]
    assert first.startswith("| reads | psycopg | rows=100 |") and "**regression**" in first
    assert "| 1.50x slower (" in first
    assert "20261126T054017Z-aaaaaaa (A) vs 20261127T054017Z-bbbbbbb (B)" in markdown
    assert markdown.rstrip().endswith(
        "1 regression beyond 10%, 0 improvements, 0 within threshold, 7 unchanged"
    )


def test_five_percent_slower_is_not_a_regression_at_a_ten_percent_threshold(tmp_path, run_a):
    b = make_run(tmp_path, "b", scale={("asyncpg", 1): 1.05})
    c = compare_runs(run_a, b, threshold=0.10)
    row = next(r for r in c.rows if r.point.variant == "asyncpg" and r.point.label == "rows=1")
    assert row.ratio.value == pytest.approx(1.05, rel=0.01)
    assert row.verdict in (Verdict.SLOWER, Verdict.UNCHANGED)
    assert c.exit_code == 0


def test_a_significant_change_inside_the_threshold_is_slower_but_passes(tmp_path, run_a):
    b = make_run(tmp_path, "b", scale={("asyncpg", 1): 1.08})
    row = next(r for r in compare_runs(run_a, b, 0.10).rows if r.verdict != Verdict.UNCHANGED)
    assert (row.point.variant, row.verdict) == ("asyncpg", Verdict.SLOWER)
    assert 1.0 < row.ratio.ci_low < 1.08 < row.ratio.ci_high
    strict = compare_runs(run_a, b, threshold=0.05)
    assert [r.point for r in strict.with_verdict(Verdict.REGRESSION)] == [row.point]
    assert strict.exit_code == 1
    assert "1 regression beyond 5%" in summary_line(strict)


def test_a_faster_variant_is_an_improvement_and_passes(tmp_path, run_a):
    b = make_run(tmp_path, "b", scale={("orm", 1): 0.6})
    c = compare_runs(run_a, b, threshold=0.10)
    assert [r.point.variant for r in c.with_verdict(Verdict.IMPROVEMENT)] == ["orm"]
    assert c.exit_code == 0
    markdown = render_markdown(c)
    assert _table_rows(markdown)[0].startswith("| reads | orm | rows=1 |")
    assert "| 1.67x faster (" in _table_rows(markdown)[0]  # read forward, never "0.60"
    assert "0 regressions beyond 10%, 1 improvement," in summary_line(c)


def test_a_variant_that_turns_wrong_fails_the_comparison(tmp_path, run_a):
    b = make_run(tmp_path, "b", status={("orm", 100): "wrong", ("psycopg", 1): "failed"})
    c = compare_runs(run_a, b, threshold=0.10)
    assert c.exit_code == 1
    assert not c.with_verdict(Verdict.REGRESSION)  # the exit code comes from the status alone
    assert {(s.point.variant, s.status_a, s.status_b) for s in c.failures} == {
        ("orm", "ok", "wrong"),
        ("psycopg", "ok", "failed"),
    }
    assert len(c.rows) == len(BASE_US) * len(ROWS) - 2
    markdown = render_markdown(c)
    assert markdown.index("## Status changes") < markdown.index("## Timing")
    assert "**reads orm @ rows=100: ok in A, WRONG in B: returned 99 rows, not 100**" in markdown
    assert summary_line(c).endswith("1 now FAILED, 1 now WRONG")


def test_a_variant_that_was_wrong_and_is_now_correct_is_listed_but_passes(tmp_path):
    a = make_run(tmp_path, "a", status={("orm", 100): "wrong"})
    b = make_run(tmp_path, "b")
    c = compare_runs(a, b)
    assert [(s.status_a, s.status_b, s.is_failure) for s in c.status_changes] == [
        ("wrong", "ok", False)
    ]
    assert c.exit_code == 0
    assert "- reads orm @ rows=100: wrong in A, OK in B" in render_markdown(c)


def test_differences_between_the_runs_are_warned_about_by_field(tmp_path, run_a):
    environment = {**ENVIRONMENT, "packages": {**ENVIRONMENT["packages"], "sqlalchemy": "2.0.36"}}
    server = {**SERVER, "version": "17.2", "settings": {**SERVER["settings"], "fsync": "off"}}
    b = make_run(
        tmp_path, "b", profile="full", environment=environment, server=server, partial=True
    )
    c = compare_runs(run_a, b)
    assert c.warnings[0] == (
        "profile: A quick, B full (allowed; grids and sample counts may differ)"
    )
    assert "package sqlalchemy: A 2.1.9, B 2.0.36" in c.warnings
    assert "server version: A 18.6, B 17.2" in c.warnings
    assert "server setting fsync: A on, B off" in c.warnings
    assert "partial: run B (b) did not finish (Ctrl-C)" in c.warnings
    assert len(c.warnings) == 5  # nothing else differs
    assert "> - package sqlalchemy: A 2.1.9, B 2.0.36" in render_markdown(c)


def test_machine_and_python_differences_are_warned_about(tmp_path, run_a):
    environment = {**ENVIRONMENT, "cores": 8, "python": "3.13.1"}
    b = make_run(tmp_path, "b", environment=environment)
    assert compare_runs(run_a, b).warnings == (
        "machine cores: A 2, B 8",
        "python: A 3.11.7, B 3.13.1",
    )


def test_native_ceilings_are_compared_and_marked(tmp_path, run_a):
    b = make_run(tmp_path, "b", scale={("pgbench", 1): 2.0})
    c = compare_runs(run_a, b)
    native = [r for r in c.rows if r.native]
    assert {r.point.variant for r in native} == {"pgbench"}
    assert [r.point.label for r in c.with_verdict(Verdict.REGRESSION)] == ["rows=1"]
    assert any(
        w.startswith("native ceiling reads pgbench @ rows=1 moved too (2.00x slower in B)")
        for w in c.warnings
    )
    assert "| reads | *pgbench* (native) | rows=1 |" in render_markdown(c)
    faster = compare_runs(run_a, make_run(tmp_path, "c", scale={("pgbench", 1): 0.5}))
    assert any(  # read forward: never "0.50x slower"
        w.startswith("native ceiling reads pgbench @ rows=1 moved too (2.00x faster in B)")
        for w in faster.warnings
    )


def test_measurements_at_different_rtts_are_never_compared(tmp_path):
    near = make_run(tmp_path, "near", rtts=(0.0,))
    far = make_run(tmp_path, "far", rtts=(1.0,))
    with pytest.raises(UserError, match="runs near and far have no measurements in common"):
        compare_runs(near, far)
    both = make_run(tmp_path, "both", rtts=(0.0, 1.0))
    c = compare_runs(near, both)
    assert {r.point.rtt_ms for r in c.rows} == {0.0}
    assert {r.verdict for r in c.rows} == {Verdict.UNCHANGED}  # 1 ms would be ~10x slower
    assert len(c.only_in_b) == len(BASE_US) * len(ROWS)
    assert {p.label for p in c.only_in_b} == {"rtt=1ms rows=1", "rtt=1ms rows=100"}
    assert "**Only in B** (8 measurements): reads asyncpg (2 grid points)" in render_markdown(c)


def test_grid_values_match_whatever_their_order(tmp_path):
    def run(run_id: str, params: dict) -> tuple[RunRecord, dict]:
        m = Measurement("loading", "selectinload", params, "ok")
        samples = {
            sample_key("loading", "selectinload", point_label(params)): _samples_ns("orm", 1, 0, 1)
        }
        return RunRecord(
            run_id,
            "2026-11-26T05:40:17Z",
            "quick",
            ENVIRONMENT,
            SERVER,
            partial=False,
            measurements=[m],
        ), samples

    c = compare_records(
        *run("a", {"users": 20, "posts_per_user": 10}),
        *run("b", {"posts_per_user": 10, "users": 20}),
    )
    assert [(r.point.label, r.verdict) for r in c.rows] == [
        ("users=20 posts_per_user=10", Verdict.UNCHANGED)
    ]


def test_a_missing_or_unreadable_run_is_a_one_line_user_error(tmp_path, run_a):
    cases = {"missing": tmp_path / "missing", "file": tmp_path / "a-file"}
    cases["file"].write_text("x")
    empty = tmp_path / "empty"
    empty.mkdir()
    truncated = make_run(tmp_path, "truncated")
    run_json = truncated / "run.json"
    run_json.write_bytes(run_json.read_bytes()[:200])
    bad_samples = make_run(tmp_path, "bad-samples")
    (bad_samples / "samples.npz").write_bytes(b"not a zip")
    expected = [
        (cases["missing"], "no such run folder"),
        (cases["file"], "not a folder"),
        (empty, "no run.json there"),
        (truncated, "not a valid run file"),
        (bad_samples, "samples.npz: the raw samples are unreadable"),
    ]
    for path, message in expected:
        with pytest.raises(UserError, match=message) as caught:
            compare_runs(run_a, path)
        assert "\n" not in str(caught.value)


def test_a_run_json_path_is_taken_as_its_folder(run_a):
    run, samples = load_for_compare(run_a / "run.json")
    assert run.run_id == "20261126T054017Z-aaaaaaa" and len(samples) == 8


@pytest.mark.parametrize(
    ("ratio", "verdict"),
    [
        (Ratio(1.5, 1.3, 1.7), Verdict.REGRESSION),
        (Ratio(1.08, 1.02, 1.14), Verdict.SLOWER),  # significant but within 10%
        (Ratio(1.5, 0.9, 2.1), Verdict.UNCHANGED),  # large but the CI includes 1
        (Ratio(0.6, 0.5, 0.7), Verdict.IMPROVEMENT),
        (Ratio(0.93, 0.9, 0.97), Verdict.FASTER),  # 1/1.1 = 0.909
        (Ratio(1.0, 0.95, 1.05), Verdict.UNCHANGED),
    ],
)
def test_verdicts_need_both_significance_and_the_threshold(ratio, verdict):
    assert classify(ratio, 0.10) == verdict


@pytest.mark.parametrize(("text", "value"), [("10%", 0.10), (" 5% ", 0.05), ("0.2", 0.2), ("0", 0)])
def test_thresholds_are_percentages_or_fractions(text, value):
    assert parse_threshold(text) == pytest.approx(value)


@pytest.mark.parametrize("text", ["10", "ten%", "-5%", "nan%", ""])
def test_bad_thresholds_name_the_valid_forms(text):
    with pytest.raises(UserError, match="threshold"):
        parse_threshold(text)


def test_the_command_exits_0_on_itself_and_1_on_a_regression(tmp_path, run_a, capsys):
    from harness.cli import main

    assert main(["compare", str(run_a), str(run_a)]) == 0
    assert "0 regressions beyond 10%" in capsys.readouterr().out
    slower = make_run(tmp_path, "20261127T054017Z-slower1", scale={("orm", 1): 1.5})
    table = tmp_path / "compare.md"
    assert main(["compare", str(run_a), str(slower), "--out", str(table)]) == 1
    out = capsys.readouterr().out
    assert "| reads | orm | rows=1 |" in out and "**regression**" in out
    assert table.read_text() == out
    assert main(["compare", str(run_a), str(slower), "--threshold", "60%"]) == 0


def _load_run(root: Path, run_id: str, factor: float, *, with_slices: bool = True) -> Path:
    """A pool_sizing run at clients=32: psycopg_pool and queuepool, ten time slices each."""
    folder = RunFolder(root, run_id)
    measurements = []
    for variant, per_s in (("psycopg_pool", 8000.0), ("queuepool", 3000.0)):
        params = {"clients": 32, "pool_size": 8}
        rng = np.random.default_rng([len(variant), 32])
        slices = rng.normal(per_s, per_s * 0.02, 10) * (factor if variant == "queuepool" else 1)
        label = point_label(params, 0.0)
        if with_slices:
            folder.samples[rate_key("pool_sizing", variant, label)] = slices
        ns = (rng.lognormal(np.log(32 / slices.mean() * 1e9), 0.3, N)).astype(np.int64)
        folder.samples[sample_key("pool_sizing", variant, label)] = ns
        rate = Metric(float(slices.mean()), "requests/s", n=10)
        measurements.append(
            Measurement("pool_sizing", variant, params, "ok", metrics={"ops_per_s": rate})
        )
    record = ScenarioRecord(
        name="pool_sizing",
        question="How big should my pool be?",
        doc="",
        axes=[("clients", [32]), ("pool_size", [8])],
        reference="psycopg_pool",
        variants={"psycopg_pool": "", "queuepool": ""},
        runner="throughput",
    )
    run = RunRecord(
        run_id=run_id,
        started_at="2026-11-26T05:40:17Z",
        finished_at="2026-11-26T05:47:14Z",
        partial=False,
        profile="quick",
        environment=ENVIRONMENT,
        server=SERVER,
        scenarios=[record],
        measurements=measurements,
    )
    folder.save(run)
    return folder.path


def test_a_load_is_compared_on_its_requests_per_second(tmp_path):
    a = _load_run(tmp_path, "20261126T054017Z-aaaaaaa", 1.0)
    assert compare_runs(a, a).exit_code == 0
    b = _load_run(tmp_path, "20261126T064017Z-bbbbbbb", 0.7)  # queuepool serves 30% less
    c = compare_runs(a, b, threshold=0.10)
    rows = {row.point.variant: row for row in c.rows}
    assert rows["psycopg_pool"].verdict == Verdict.UNCHANGED
    slower = rows["queuepool"]
    assert slower.per_s and slower.verdict == Verdict.REGRESSION and c.exit_code == 1
    assert slower.ratio.ci_low < 1 / 0.7 < slower.ratio.ci_high  # A's rate over B's
    assert slower.a == pytest.approx(slower.b / 0.7)
    line = next(
        x for x in render_markdown(c).splitlines() if x.startswith("| pool_sizing | queuepool")
    )
    assert f"| {slower.a:,.0f}/s | {slower.b:,.0f}/s | 1.4" in line and "**regression**" in line


def test_a_load_run_without_time_slices_is_compared_on_latency(tmp_path):
    a = _load_run(tmp_path, "20261126T054017Z-aaaaaaa", 1.0, with_slices=False)
    b = _load_run(tmp_path, "20261126T064017Z-bbbbbbb", 0.7, with_slices=False)
    rows = {row.point.variant: row for row in compare_runs(a, b).rows}
    assert not rows["queuepool"].per_s and rows["queuepool"].verdict == Verdict.REGRESSION


def test_a_change_at_a_disturbed_point_is_noisy_not_a_regression_and_exits_0(tmp_path, run_a):
    b = make_run(
        tmp_path, "20261127T054017Z-bbbbbbb", scale={("psycopg", 100): 1.5}, disturbed=True
    )
    c = compare_runs(run_a, b, threshold=0.10)
    assert not c.with_verdict(Verdict.REGRESSION)
    assert [(r.point.variant, r.point.label) for r in c.with_verdict(Verdict.NOISY)] == [
        ("psycopg", "rows=100")
    ]
    assert c.exit_code == 0
    assert any("disturbed: 2 of 2 grid points of run B" in w for w in c.warnings)
    markdown = render_markdown(c)
    assert "1 noisy (disturbed in a run: not judged)" in markdown
