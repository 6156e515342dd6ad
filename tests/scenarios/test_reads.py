"""The reads scenario and its native ceiling."""

import itertools
import json
import re

import numpy as np
import pytest
from report_pages import report_text

from harness.cli import main
from harness.measure.ceilings import (
    NativeQuery,
    parse_summary_tps,
    parse_transaction_log,
    run_pgbench,
)
from harness.runners.base import PointJob, RunOptions
from harness.runners.latency import Timing, measure_point
from harness.scenario.grid import Params
from scenarios.reads import scenario

TINY = Timing(warmup_s=0.0, measure_s=0.01, min_samples=2, max_samples=3, slice_s=0.005)


@pytest.mark.parametrize("rows", [1, 100, 10_000])
def test_every_variant_returns_the_canonical_rows(server, dataset, probe, rows):
    results = measure_point(
        PointJob(
            scenario,
            list(scenario.variants.values()),
            Params((("rows", rows),)),
            server,
            dataset.spec,
            TINY,
            probe,
            options=RunOptions(run_natives=False),
        )
    )
    assert {r.variant: (r.status, r.detail) for r in results} == {
        v: ("ok", "") for v in scenario.variants
    }
    for r in results:
        assert r.cold_ns is not None and r.cold_ns > 0, "first call timed apart from steady state"
        assert r.samples_ns, "steady-state samples exist"
        assert r.statements.statements == 1, r.variant
        assert r.statements.rows == rows, r.variant
        assert r.statements.round_trips >= 1, r.variant
    trips = {r.variant: r.statements.round_trips for r in results}
    # raw drivers, prepared or not, need one round trip; the engine adds BEGIN and ROLLBACK
    assert trips["asyncpg_fetch"] == trips["asyncpg_prepared"] == trips["psycopg_unprepared"] == 1
    assert trips["core_select"] > trips["psycopg_unprepared"]


def test_canonical_rows_are_the_requested_users(server, dataset):
    import asyncio

    from harness.scenario.context import Context

    loop = asyncio.new_event_loop()
    ctx = Context(server, Params((("rows", 100),)), dataset.spec, loop)
    try:
        rows = scenario.canonical(
            loop.run_until_complete(scenario.variants["asyncpg_fetch"].fn(ctx))
        )
    finally:
        ctx.close()
        loop.close()
    assert [r[0] for r in rows] == list(range(1, 101))
    assert rows[0][1] == "user1@example.com"


def test_pgbench_reference_is_parsed_from_a_real_run(server, dataset):
    query = NativeQuery("pgbench_prepared", "SELECT id FROM users WHERE id = 1", "prepared", "")
    result = run_pgbench(server, query, seconds=1)
    assert result.error == ""
    assert result.tps > 100
    assert result.samples_us.size > 100
    # one client, one statement per transaction: latency x throughput is about one second
    assert 0.5 < np.mean(result.samples_us) * 1e-6 * result.tps < 1.2


def test_pgbench_output_parsers():
    assert parse_summary_tps(
        "latency average = 0.101 ms\ntps = 9876.543210 (without initial connection time)\n"
    ) == pytest.approx(9876.54321)
    log = "0 0 153 0 1764130000 123456\n0 1 97 0 1764130000 223456\n0 2 101 0 1764130000 323456\n"
    assert parse_transaction_log(log).tolist() == [153, 97, 101]
    with pytest.raises(ValueError):
        parse_summary_tps("nothing useful")


def test_pgbench_failure_is_reported_not_raised(server):
    bad = NativeQuery("pgbench_prepared", "SELECT nope FROM missing_table", "prepared", "")
    result = run_pgbench(server, bad, seconds=1)
    assert result.error.startswith("pgbench failed")
    assert result.samples_us.size == 0


def test_without_pgbench_the_scenario_runs_and_says_so(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("PATTERNBENCH_PGBENCH", str(tmp_path / "no-pgbench-here"))
    code = main([
        "run", "--postgres", "embedded", "--scenario", "reads", "--grid", "rows=1",
        "--variant", "asyncpg_fetch", "--out", str(tmp_path / "out"),
    ])  # fmt: skip
    assert code == 0
    out = capsys.readouterr().out
    assert "pgbench was not found" in out and "native ceiling is left out" in out
    (folder,) = list((tmp_path / "out").iterdir())
    run = json.loads((folder / "run.json").read_text())
    assert {m["kind"] for m in run["measurements"]} == {"variant"}
    assert {m["variant"] for m in run["measurements"]} == {"core_select", "asyncpg_fetch"}
    ratio = next(m for m in run["measurements"] if m["variant"] == "core_select")["metrics"]
    assert "ratio_to_asyncpg_fetch" in ratio


def test_with_pgbench_the_report_has_the_native_rows_and_ratios(tmp_path):
    code = main([
        "run", "--postgres", "embedded", "--scenario", "reads", "--grid", "rows=1,100",
        "--variant", "asyncpg_fetch", "--variant", "orm_entities", "--out", str(tmp_path),
    ])  # fmt: skip
    assert code == 0
    (folder,) = list(tmp_path.iterdir())
    run = json.loads((folder / "run.json").read_text())
    natives = [m for m in run["measurements"] if m["kind"] == "native"]
    assert {m["variant"] for m in natives} == {"pgbench_prepared", "pgbench_simple"}
    assert not any(m["is_best"] for m in natives), "a native ceiling is never the best variant"
    orm = next(m for m in run["measurements"] if m["variant"] == "orm_entities")["metrics"]
    assert {"ratio_to_pgbench_prepared", "ratio_to_asyncpg_fetch", "cold_us"} <= set(orm)
    text = report_text(folder)
    assert "| *pgbench_prepared* (native ceiling) |" in text
    assert "| vs asyncpg_fetch |" in text and "| vs pgbench_prepared |" in text
    assert re.search(r"\| \d+\.\d+x slower \(\d+\.\d+-\d+\.\d+\) \|", text)  # read forward


def test_the_native_ceiling_takes_its_turns_in_the_variants_rounds(server, dataset):
    """pgbench runs in short slices between the variants' batches, in every session, so a
    passing slowdown of the machine cannot land on the ceiling alone."""
    steps: list[str] = []
    timing = Timing(
        warmup_s=0.01, measure_s=0.3, min_samples=6, max_samples=30_000, slice_s=0.02, sessions=3
    )
    variants = [scenario.variants["asyncpg_fetch"], scenario.variants["core_select"]]
    results = measure_point(
        PointJob(
            scenario, variants, Params((("rows", 1),)), server, dataset.spec, timing,
            on_step=lambda label, _units: steps.append(label) if label else None,
        )
    )  # fmt: skip
    by_name = {r.variant: r for r in results}
    for name in ("pgbench_prepared", "pgbench_simple"):
        native = by_name[name]
        assert native.kind == "native" and native.status == "ok", native.detail
        assert len(native.sessions) == 3 and sum(native.sessions) == len(native.samples_ns)
    turns = [s.split(" · ")[-1].split(" (")[0] for s in steps if " (n=" in s]
    runs_of_pgbench = sum(
        1 for before, now in itertools.pairwise(turns)
        if now.startswith("pgbench") and not before.startswith("pgbench")
    )  # fmt: skip
    assert runs_of_pgbench >= 3, turns  # its turns come between the variants' in every session


def test_a_native_ceiling_slower_than_a_variant_is_flagged_as_a_fault():
    from harness.runners.latency import VariantResult, to_measurements

    rng = np.random.default_rng(3)
    ceiling = VariantResult("pgbench_prepared", kind="native")
    ceiling.samples_ns = [int(v) for v in rng.normal(300_000, 5_000, 200)]
    client = VariantResult("asyncpg_fetch")
    client.samples_ns = [int(v) for v in rng.normal(150_000, 5_000, 200)]
    ms = {
        m.variant: m
        for m in to_measurements("reads", Params((("rows", 1),)), [ceiling, client], rng)
    }
    assert ms["pgbench_prepared"].detail.startswith("not a ceiling here: asyncpg_fetch was 2.0")
    assert "measurement fault" in ms["pgbench_prepared"].detail
    assert ms["asyncpg_fetch"].is_best and ms["asyncpg_fetch"].detail == ""
    ceiling.samples_ns = [int(v) for v in rng.normal(100_000, 5_000, 200)]  # a real ceiling
    ms = {
        m.variant: m
        for m in to_measurements("reads", Params((("rows", 1),)), [ceiling, client], rng)
    }
    assert ms["pgbench_prepared"].detail == ""


def test_a_native_turn_that_timed_nothing_is_taken_again_not_failed(server, dataset):
    """pgbench logs a reply already waiting as 0 µs (left out): a short turn can time nothing.
    A ceiling whose first turn is all zeros is asked again with more operations."""
    from harness.measure.ceilings import NativeResult
    from harness.runners.latency import VariantResult, _native_slice

    class ZerosFirst:
        name, description, binary = "zeros_first", "", "pgbench"

        def __init__(self) -> None:
            self.asked: list[int] = []

        def sample(self, target, operations: int, timeout_s: float) -> NativeResult:
            self.asked.append(operations)
            logged = np.zeros(operations) if len(self.asked) == 1 else np.full(operations, 90.0)
            return NativeResult(self.name, logged, 1.0)

    native, result = ZerosFirst(), VariantResult("zeros_first", kind="native")
    timing = Timing(warmup_s=0.0, measure_s=0.1, min_samples=2, max_samples=50, slice_s=0.01)
    job = PointJob(scenario, [], Params((("rows", 1),)), server, dataset.spec, timing)
    batch = _native_slice(native, job, result, remaining=1)
    assert result.status == "ok" and batch == [90_000]  # one sample: what the turn had room for
    assert native.asked == [1, 20]


def test_streaming_holds_a_fraction_of_the_memory_of_keeping_every_row(server, dataset, probe):
    """What streaming is for, measured: the peak heap of an operation, beside its time."""
    names = ["core_select", "orm_entities", "orm_yield_per", "orm_stream", "core_stream"]
    params = Params((("rows", 10_000),))
    results = measure_point(
        PointJob(
            scenario,
            [scenario.variants[n] for n in names],
            params,
            server,
            dataset.spec,
            TINY,
            probe,
            options=RunOptions(run_natives=False),
        )
    )
    by = {r.variant: r for r in results}
    assert all(r.status == "ok" and r.memory is not None for r in results), [
        (r.variant, r.detail) for r in results
    ]
    heap = {n: by[n].memory.python_bytes for n in names}
    assert heap["orm_stream"] * 2 < heap["orm_entities"], heap
    assert heap["orm_stream"] * 2 < heap["orm_yield_per"], heap  # yield_per, all kept: no saving
    assert heap["core_stream"] * 4 < heap["core_select"], heap
    assert by["core_stream"].statements.round_trips > by["core_select"].statements.round_trips
    from harness.runners.latency import to_measurements

    ms = {m.variant: m for m in to_measurements("reads", params, results, np.random.default_rng(1))}
    assert ms["orm_stream"].metrics["peak_heap_bytes_per_op"].value == heap["orm_stream"]
    assert ms["orm_stream"].metrics["peak_heap_bytes_per_op"].unit == "bytes"
