"""What a run leaves on a server it was given, and `patternbench clean` that removes it: only the
suite's own, marked schema, and only when told --yes."""

from __future__ import annotations

import psycopg
import pytest

from harness.cli import main


def _url(server, db: str) -> str:
    return f"postgresql://{server.user}@{server.host}:{server.port}/{db}"


def _tables(kwargs: dict) -> list[str]:
    with psycopg.connect(**kwargs) as conn:
        rows = conn.execute(
            "SELECT tablename FROM pg_tables WHERE schemaname = 'patternbench' ORDER BY 1"
        ).fetchall()
    return [r[0] for r in rows]


def test_scratch_tables_are_dropped_when_a_scenario_ends_and_clean_drops_the_rest(
    server, fresh_database, tmp_path, capsys
):
    kwargs = fresh_database("pb_cleaned")
    url = _url(server, "pb_cleaned")
    code = main([
        "run", "--postgres", url, "--scenario", "bulk_insert", "--grid", "rows=100",
        "--grid", "width=narrow", "--grid", "keys=no", "--variant", "core_executemany",
        "--out", str(tmp_path),
    ])  # fmt: skip
    assert code == 0
    left = _tables(kwargs)
    assert "pb_bulk_posts" not in left  # the variants' scratch table went with the scenario
    assert {"users", "posts", "comments"} <= set(left)  # the dataset stays, for the next run
    capsys.readouterr()

    assert main(["clean", "--postgres", url]) == 2  # not without --yes
    out, err = capsys.readouterr()
    assert "patternbench.posts:" in out
    (line,) = [x for x in err.splitlines() if x.strip()]
    assert "would drop schema patternbench (" in line and "pass --yes to drop it" in line
    assert _tables(kwargs) == left

    assert main(["clean", "--postgres", url, "--yes"]) == 0
    assert "dropped schema patternbench" in capsys.readouterr().out
    assert _tables(kwargs) == []
    assert main(["clean", "--postgres", url, "--yes"]) == 0  # nothing left: says so, exit 0
    assert "nothing to clean" in capsys.readouterr().out


def test_clean_refuses_a_schema_the_suite_did_not_make(server, fresh_database, capsys):
    kwargs = fresh_database("pb_theirs")
    with psycopg.connect(**kwargs, autocommit=True) as conn:
        conn.execute("CREATE SCHEMA patternbench")
        conn.execute("CREATE TABLE patternbench.invoices (id int)")
    assert main(["clean", "--postgres", _url(server, "pb_theirs"), "--yes"]) == 2
    (line,) = [x for x in capsys.readouterr().err.splitlines() if x.strip()]
    assert "does not carry the suite's mark" in line
    assert _tables(kwargs) == ["invoices"]


@pytest.mark.parametrize("spec", ["embedded", "auto"])
def test_clean_takes_only_a_url(spec, capsys):
    assert main(["clean", "--postgres", spec]) == 2
    assert "clean takes --postgres URL" in capsys.readouterr().err
