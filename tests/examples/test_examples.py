"""The worked examples in examples/ run as a team would run them: found by discovery from their
folder, every variant's answer checked against the reference's at every grid point, the own
tables filled once for the whole run and kept apart from the shared dataset."""

from __future__ import annotations

from pathlib import Path

import psycopg
import pytest

from harness.results.records import RunRecord
from harness.results.store import RunFolder
from harness.run import Plan, RunContext, run_scenario
from harness.runners.base import RunOptions
from harness.scenario import registry

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def _run(scenario_name: str, folder: str, server, tmp_path):
    scenario = registry.discover([EXAMPLES / folder])[scenario_name]
    grid = scenario.grid("quick")
    plan = Plan(scenario, tuple(scenario.variants.values()), grid, options=RunOptions())
    run = RunRecord(run_id="t", started_at="now", profile="quick", environment={}, server={})
    notes: list[str] = []
    rc = RunContext(run, RunFolder(tmp_path, "t"), "quick", lambda _l, _u: None, notes.append)
    record = run_scenario(plan, rc, server)
    return scenario, grid, record, run, notes


def _shared_fingerprint(server) -> str:
    with psycopg.connect(**server.psycopg_kwargs()) as conn:
        row = conn.execute("SELECT fingerprint FROM pb_dataset WHERE name = 'shared'").fetchone()
        assert row is not None
        return str(row[0])


@pytest.mark.slow
def test_own_table_example_fills_once_and_every_variant_agrees(server, dataset, tmp_path):
    shared_before = _shared_fingerprint(server)
    scenario, grid, record, run, notes = _run("orders_pagination", "own_orders", server, tmp_path)
    assert record.status == "ok"
    points = len(grid)
    assert points == 4  # page x index, with and without the index
    assert len(run.measurements) == points * len(scenario.variants)
    assert all(m.status == "ok" for m in run.measurements), [
        (m.variant, m.params, m.detail) for m in run.measurements if m.status != "ok"
    ]
    filled = [n for n in notes if n.startswith("own tables") and "filled" in n]
    assert len(filled) == 1, notes  # once for the run, not per grid point
    assert "shop_orders (200,000 rows)" in filled[0]
    assert _shared_fingerprint(server) == shared_before  # the shared dataset is untouched
    with psycopg.connect(**server.psycopg_kwargs()) as conn:
        shared = conn.execute("SELECT counts FROM pb_dataset WHERE name = 'shared'").fetchone()
        assert shared is not None and "shop_orders" not in shared[0]
    # a second run finds the tables as they are and fills nothing
    _, _, again, _, notes_again = _run("orders_pagination", "own_orders", server, tmp_path / "2")
    assert again.status == "ok"
    assert [n for n in notes_again if n.startswith("own tables") and "reused" in n]
    assert not [n for n in notes_again if "filling" in n]


@pytest.mark.slow
def test_shared_domain_example_runs_every_variant_with_the_same_answer(server, dataset, tmp_path):
    scenario, grid, record, run, _ = _run("has_posts", "shared_domain", server, tmp_path)
    assert record.status == "ok"
    assert len(run.measurements) == len(grid) * len(scenario.variants)
    assert all(m.status == "ok" for m in run.measurements), [
        (m.variant, m.detail) for m in run.measurements if m.status != "ok"
    ]
