"""Every connection made through a bounded target carries the statement timeout, on each driver."""

import asyncio

import asyncpg
import psycopg
import pytest
from sqlalchemy import create_engine, text


def test_a_bounded_target_gives_every_driver_its_statement_timeout(server):
    bounded = server.bounded(1.5)
    assert server.statement_timeout_ms == 0 and bounded.statement_timeout_ms == 1500
    with psycopg.connect(**bounded.psycopg_kwargs()) as conn:
        assert conn.execute("SHOW statement_timeout").fetchone()[0] == "1500ms"
        with pytest.raises(psycopg.errors.QueryCanceled):
            conn.execute("SELECT pg_sleep(30)")

    async def through_asyncpg() -> str:
        conn = await asyncpg.connect(**bounded.asyncpg_kwargs())
        try:
            return await conn.fetchval("SHOW statement_timeout")
        finally:
            await conn.close()

    assert asyncio.run(through_asyncpg()) == "1500ms"
    engine = create_engine(
        bounded.url("psycopg"), connect_args=bounded.sqlalchemy_connect_args("psycopg")
    )
    with engine.connect() as conn:
        assert conn.execute(text("SHOW statement_timeout")).scalar() == "1500ms"
        assert conn.execute(text("SHOW search_path")).scalar() == server.session_settings().get(
            "search_path", '"$user", public'
        )
    engine.dispose()
    assert "statement_timeout=1500" in bounded.libpq_env()["PGOPTIONS"]
    assert "statement_timeout" not in server.libpq_env().get("PGOPTIONS", "")
