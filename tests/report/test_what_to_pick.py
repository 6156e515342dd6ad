"""What to pick, for stored runs: the lines are compared with golden files, so any change in
what a published report tells its readers first is seen in review. Set PB_UPDATE_GOLDEN=1 to
write the files anew (then read the diff: it is the change in what readers are told)."""

from __future__ import annotations

import os
from functools import cache
from pathlib import Path

import msgspec
import numpy as np
import pytest

from harness.report.document import scenario_picks
from harness.report.part import ScenarioPart
from harness.results.records import RunRecord
from harness.results.store import load_run

PUBLISHED = Path(__file__).resolve().parents[2] / "results" / "published"
GOLDEN = Path(__file__).resolve().parent / "golden"
QUICK = "20261202T185926Z-7cb1ff2"  # one reads point disturbed, many loading points unstable
DISTANCE = "20261126T105755Z-e211390"  # reads at rtt 0 and 1 ms

CASES = {  # golden file: (run, scenario, drop its comparisons)
    "latency-reads-disturbed": (QUICK, "reads", False),
    "latency-loading-unstable": (QUICK, "loading", False),
    "latency-reads-no-comparisons": (QUICK, "reads", True),
    "latency-reads-two-rtts": (DISTANCE, "reads", False),
    "throughput-pool-sizing": (QUICK, "pool_sizing", False),
    "http-quick": (QUICK, "http", False),
}


@cache
def _run(run_id: str) -> tuple[RunRecord, dict[str, np.ndarray]]:
    return load_run(PUBLISHED / run_id)


def _picks(case: str, folder: Path) -> str:
    run_id, scenario, drop = CASES[case]
    run, samples = _run(run_id)
    record = next(r for r in run.scenarios if r.name == scenario)
    if drop:
        record = msgspec.structs.replace(record, comparisons=[])
    ms = [m for m in run.measurements if m.scenario == scenario]
    return "\n".join(scenario_picks(ScenarioPart(run, record, ms, folder, samples))) + "\n"


@pytest.fixture(scope="module")
def texts(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    folder = tmp_path_factory.mktemp("picks")
    return {case: _picks(case, folder) for case in CASES}


@pytest.mark.parametrize("case", sorted(CASES))
def test_what_to_pick_is_what_its_golden_file_says(case, texts):
    text = texts[case]
    golden = GOLDEN / f"{case}.md"
    if os.environ.get("PB_UPDATE_GOLDEN"):
        golden.write_text(text)
    assert text == golden.read_text()


def test_what_to_pick_reads_forward_and_says_ties_flips_and_what_it_left_out(texts):
    every = "\n".join(texts.values())
    # forward: every "N x faster" has N >= 1
    for number in [float(x) for x in _ratios(every)]:
        assert number >= 1.0, every
    assert "no significant difference" in texts["http-quick"]  # a tie, said as a tie
    # a lead that changes along an axis, with the value where it changes
    assert "The lead changes between clients=32 and clients=128" in texts["throughput-pool-sizing"]
    assert "The lead changes between rows=100 and rows=1000" in texts["latency-reads-two-rtts"]
    # without comparisons: each variant against the reference
    assert (
        "each variant against the reference, core_select" in texts["latency-reads-no-comparisons"]
    )
    assert "than core_select" in texts["latency-reads-no-comparisons"]
    # the disturbed point is left out and counted, and so are unstable ones
    assert (
        "at 1 (rows=1) other work on the machine disturbed them" in texts["latency-reads-disturbed"]
    )
    assert "(unstable)" in texts["latency-loading-unstable"]
    assert all(len(text.splitlines()) <= 8 for text in texts.values())


def _ratios(text: str) -> list[str]:
    import re

    return re.findall(r"(\d+(?:\.\d+)?)(?:-\d+(?:\.\d+)?)?x(?: \(95% CIs? [\d.-]+\))? faster", text)


def test_comparisons_csv_has_every_pair_at_every_point_read_forward(tmp_path):
    import csv
    import io

    from harness.report.document import section_for
    from harness.report.findings import comparisons_csv, pair_findings

    run, samples = _run(QUICK)
    record = next(r for r in run.scenarios if r.name == "pool_sizing")
    ms = [m for m in run.measurements if m.scenario == "pool_sizing"]
    part = ScenarioPart(run, record, ms, tmp_path, samples)
    contest = section_for("throughput").contest
    assert contest is not None
    found = pair_findings(part, contest)
    rows = list(
        csv.DictReader(
            io.StringIO(comparisons_csv(run.run_id, [("pool_sizing", f) for f in found]).decode())
        )
    )
    clients = dict(record.axes)["clients"]
    assert len(rows) == len(record.comparisons) * len(clients)
    for row in rows:
        assert row["faster"] in (row["first"], row["second"], "")
        assert float(row["times_faster"]) >= 1.0
        low, high = float(row["ci_low"]), float(row["ci_high"])
        assert low <= float(row["times_faster"]) <= high
        assert (row["faster"] == "") == (
            low <= 1.0 <= high
        )  # no winner exactly when the CI holds 1
    overflow = next(
        r for r in rows if r["second"] == "queuepool_overflow" and r["grid_point"] == "clients=128"
    )
    assert overflow["faster"] == "queuepool_overflow" and float(overflow["first_over_second"]) < 1
