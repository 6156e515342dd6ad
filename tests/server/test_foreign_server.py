"""A PostgreSQL the suite did not start, set up as a DBA would: pg_stat_statements installed in
`public`, the suite's role an ordinary one without the right to reset it. Statements are counted
(or said to be not measured), never a variant FAILED for a missing privilege of the instrument."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import psycopg
import pytest

from harness.cli import main
from harness.measure.statements import StatementProbe
from harness.server.embedded import EmbeddedPostgres
from harness.server.target import ServerTarget
from harness.server.url import external_target

ROLE, PASSWORD = "pb_app", "app-pw"


@pytest.fixture(scope="module")
def dba_server() -> Iterator[ServerTarget]:
    """A second real server, with two databases a DBA made for the suite's role: one with the
    extension in public (no reset right granted), one without it."""
    with EmbeddedPostgres(pin_cores=False) as target:
        admin = {**target.psycopg_kwargs(), "dbname": "postgres"}
        with psycopg.connect(**admin, autocommit=True) as conn:
            conn.execute(f"CREATE ROLE {ROLE} LOGIN PASSWORD '{PASSWORD}'")
            for db in ("pb_dba", "pb_bare"):
                conn.execute(f"CREATE DATABASE {db} OWNER postgres")
                conn.execute(f"GRANT CONNECT, CREATE, TEMPORARY ON DATABASE {db} TO {ROLE}")
        with psycopg.connect(**{**admin, "dbname": "pb_dba"}, autocommit=True) as conn:
            conn.execute("CREATE EXTENSION pg_stat_statements SCHEMA public")
        yield target


def _url(server: ServerTarget, db: str) -> str:
    return f"postgresql://{ROLE}:{PASSWORD}@{server.host}:{server.port}/{db}"


def _run(url: str, out: Path) -> tuple[int, dict]:
    code = main([
        "run", "--postgres", url, "--scenario", "reads", "--grid", "rows=1,100",
        "--variant", "core_select", "--variant", "asyncpg_fetch", "--out", str(out),
    ])  # fmt: skip
    (folder,) = list(out.iterdir())
    return code, json.loads((folder / "run.json").read_text())


def test_the_suite_role_cannot_reset_the_statistics(dba_server):
    with psycopg.connect(
        host=dba_server.host, port=dba_server.port, user=ROLE, dbname="pb_dba"
    ) as conn:
        allowed = conn.execute(
            "SELECT bool_or(has_function_privilege(p.oid, 'EXECUTE')) FROM pg_proc p "
            "WHERE p.proname = 'pg_stat_statements_reset'"
        ).fetchone()[0]
        assert allowed is False
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("SELECT public.pg_stat_statements_reset()")


def test_statements_are_counted_from_public_without_the_right_to_reset(dba_server, tmp_path):
    code, run = _run(_url(dba_server, "pb_dba"), tmp_path)
    assert code == 0
    assert run["server"]["pg_stat_statements_schema"] == "public"
    ok = [m for m in run["measurements"] if m["kind"] == "variant"]
    assert len(ok) == 4 and all(m["status"] == "ok" for m in ok), [m["detail"] for m in ok]
    for m in ok:
        assert m["metrics"]["statements_per_op"]["value"] == 1.0, m
        rows = int(m["params"]["rows"])
        assert m["metrics"]["rows_per_op"]["value"] == rows
    with psycopg.connect(**{**dba_server.psycopg_kwargs(), "dbname": "pb_dba"}) as conn:
        where = conn.execute(
            "SELECT extnamespace::regnamespace::text FROM pg_extension "
            "WHERE extname = 'pg_stat_statements'"
        ).fetchall()
    assert where == [("public",)]  # nothing installed behind the user's back


def test_without_the_extension_statements_are_not_measured_and_nothing_fails(
    dba_server, tmp_path, capsys
):
    code, run = _run(_url(dba_server, "pb_bare"), tmp_path)
    assert code == 0
    out = capsys.readouterr().out
    assert "pg_stat_statements is not installed in this database: statements/op not measured" in out
    ok = [m for m in run["measurements"] if m["kind"] == "variant"]
    assert all(m["status"] == "ok" for m in ok)
    assert all("statements_per_op" not in m["metrics"] for m in ok)
    assert all(m["metrics"]["rows_per_op"]["value"] >= 1 for m in ok)  # read off the wire
    with psycopg.connect(**{**dba_server.psycopg_kwargs(), "dbname": "pb_bare"}) as conn:
        assert conn.execute("SELECT count(*) FROM pg_extension WHERE extname = "
                            "'pg_stat_statements'").fetchone() == (0,)  # fmt: skip


def test_counts_are_the_suite_role_s_and_another_session_of_it_is_noted(dba_server):
    suite = external_target(_url(dba_server, "pb_dba"), allow_existing_tables=False)
    assert suite.stat_statements == "public"
    probe = StatementProbe(suite)
    admin = {**dba_server.psycopg_kwargs(), "dbname": "pb_dba"}
    try:
        with psycopg.connect(**suite.psycopg_kwargs(), autocommit=True) as mine:
            mine.execute("SELECT 1").fetchall()
            probe.reset()
            with psycopg.connect(**admin, autocommit=True) as other_role:
                for _ in range(10):  # another role's work in the same database: not counted
                    other_role.execute("SELECT 2").fetchall()
            mine.execute("SELECT 1").fetchall()
            count = probe.read(1)
            assert count is not None and count.statements == 1.0 and count.other_sessions == 0
            probe.reset()
            same_role = replace(suite, statement_timeout_ms=0)
            kwargs = {**same_role.psycopg_kwargs(), "options": ""}  # not the suite's name
            busy = threading.Thread(
                target=lambda: psycopg.connect(**kwargs).execute("SELECT pg_sleep(0.5)")
            )
            busy.start()
            time.sleep(0.2)
            mine.execute("SELECT 1").fetchall()
            count = probe.read(1)
            busy.join()
            assert count is not None and count.other_sessions == 1
    finally:
        probe.close()
