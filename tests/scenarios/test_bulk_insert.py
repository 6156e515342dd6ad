"""The bulk_insert scenario: every method inserts exactly the expected rows; a lossy one is WRONG."""

import psycopg
import pytest
from sqlalchemy import insert

from harness.measure.ceilings import PsqlCopy
from harness.runners.base import PointJob, RunOptions
from harness.runners.latency import Timing, measure_point
from harness.scenario.grid import Grid, Params
from harness.scenario.spec import Scenario
from scenarios import bulk_insert
from scenarios.bulk_insert import TABLE, BulkPost, scenario

TINY = Timing(warmup_s=0.0, measure_s=0.01, min_samples=2, max_samples=2, slice_s=0.005)


def _point(rows: int, width: str, keys: str) -> Params:
    return Params((("rows", rows), ("width", width), ("keys", keys)))


SKIPPED_WITH_KEYS = {
    "orm_bulk_insert_mappings",
    "psycopg_copy_binary",
    "asyncpg_executemany",
    "asyncpg_copy_records",
}


@pytest.mark.parametrize(("width", "keys"), [("narrow", "no"), ("wide", "no"), ("narrow", "yes")])
def test_every_method_inserts_exactly_the_expected_rows(server, dataset, probe, width, keys):
    results = measure_point(
        PointJob(
            scenario,
            list(scenario.variants.values()),
            _point(300, width, keys),
            server,
            dataset.spec,
            TINY,
            probe,
            options=RunOptions(run_natives=False),
        )
    )
    expected = {
        name: ("skipped" if keys == "yes" and name in SKIPPED_WITH_KEYS else "ok")
        for name in scenario.variants
    }
    assert {r.variant: r.status for r in results} == expected, [
        (r.variant, r.detail) for r in results if r.status not in ("ok", "skipped")
    ]
    for r in results:
        if r.status == "ok":
            assert len(r.samples_ns) == 2
            assert r.statements is not None
            assert r.statements.written >= 300, (r.variant, r.statements)
            if keys == "yes":  # the generated keys come back: RETURNING rows are rows returned
                assert r.statements.rows >= 300, (r.variant, r.statements)


def test_the_reference_answer_is_count_checksum_and_keys(server, dataset):
    import asyncio

    from harness.scenario.context import Context

    loop = asyncio.new_event_loop()
    ctx = Context(server, _point(50, "wide", "yes"), dataset.spec, loop)
    try:
        scenario.setup_point(ctx)
        scenario.setup_op(ctx)
        ids = scenario.variants["core_executemany"].fn(ctx)
        answer = scenario.canonical(ids, ctx)
        stored = ctx.psycopg.execute(f"SELECT count(*), min(id), max(id) FROM {TABLE}").fetchone()
    finally:
        ctx.close()
        loop.close()
    assert answer["count"] == 50 and answer["keys"] == "match" and len(answer["checksum"]) == 32
    assert stored == (50, 1, 50), "the table was emptied with RESTART IDENTITY before the operation"


def test_the_naive_pattern_is_skipped_above_its_limit(server, dataset, probe):
    (result,) = [
        r
        for r in measure_point(
            PointJob(
                scenario,
                [scenario.variants["core_executemany"], scenario.variants["orm_add_commit_each"]],
                _point(bulk_insert.NAIVE_MAX_ROWS + 1, "narrow", "no"),
                server,
                dataset.spec,
                TINY,
                probe,
                options=RunOptions(run_natives=False),
            )
        )
        if r.variant == "orm_add_commit_each"
    ]
    assert result.status == "skipped" and "up to 1,000 rows" in result.detail
    assert result.samples_ns == []


def test_a_method_that_drops_a_row_is_wrong_and_not_timed(server, dataset, probe):
    lossy = Scenario(
        name="bulk_lossy", question="?", quick=scenario.quick, full=scenario.full,
        reference="core_executemany", setup_point=scenario.setup_point,
        setup_op=scenario.setup_op, verify=scenario.verify,
    )  # fmt: skip
    lossy.variant(scenario.variants["core_executemany"].fn)

    @lossy.variant
    def drops_last_row(ctx):
        """Inserts all rows but the last."""
        with ctx.engine.begin() as conn:
            conn.execute(insert(BulkPost.__table__), bulk_insert._rows(ctx)[:-1])

    @lossy.variant
    def corrupts_a_title(ctx):
        """Inserts every row, one with a different title."""
        rows = [dict(r) for r in bulk_insert._rows(ctx)]
        rows[3]["title"] = "Post ???"
        with ctx.engine.begin() as conn:
            conn.execute(insert(BulkPost.__table__), rows)

    results = {
        r.variant: r
        for r in measure_point(
            PointJob(
                lossy,
                list(lossy.variants.values()),
                _point(100, "narrow", "no"),
                server,
                dataset.spec,
                TINY,
                probe,
                options=RunOptions(run_natives=False),
            )
        )
    }
    assert results["core_executemany"].status == "ok"
    assert results["drops_last_row"].status == "wrong"
    assert results["drops_last_row"].detail == "result.count: got 99, expected 100"
    assert results["corrupts_a_title"].status == "wrong"
    assert results["corrupts_a_title"].detail.startswith("result.checksum: got")
    assert (
        results["drops_last_row"].samples_ns == [] and results["corrupts_a_title"].samples_ns == []
    )


def test_psql_copy_ceiling_loads_the_same_rows(server, dataset):
    import asyncio

    from harness.scenario.context import Context

    loop = asyncio.new_event_loop()
    ctx = Context(server, _point(200, "wide", "no"), dataset.spec, loop)
    try:
        scenario.setup_point(ctx)
        (native,) = scenario.native(ctx.params, dataset.spec)
        assert isinstance(native, PsqlCopy)
        result = native.sample(server, 3, 60.0)
        assert result.error == "" and result.samples_us.size >= 3
        from_psql = scenario.canonical(None, ctx)
        scenario.setup_op(ctx)
        scenario.variants["core_executemany"].fn(ctx)
        from_core = scenario.canonical(None, ctx)
    finally:
        ctx.close()
        loop.close()
    assert from_psql == from_core, "psql \\copy loaded exactly the rows the variants insert"


def test_bulk_table_is_not_part_of_the_shared_dataset(server, dataset):
    from harness.data.domain import Base

    assert TABLE not in Base.metadata.tables
    with psycopg.connect(**server.psycopg_kwargs()) as conn:
        fks = conn.execute(
            "SELECT count(*) FROM pg_constraint WHERE conrelid = %s::regclass AND contype = 'f'",
            (TABLE,),
        ).fetchone()
    assert fks == (1,), "the copy keeps the foreign key to users"


def test_grid_skip_note_is_reported():
    assert "keys=yes" in scenario.quick.skip_note
    assert len(Grid.of(a=[1]).override({})) == 1
