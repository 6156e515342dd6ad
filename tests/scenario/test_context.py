"""A grid point's Context, closed while an interrupt has left operations suspended mid-query."""

from __future__ import annotations

import asyncio
import gc
import logging
import sys
import warnings

import psycopg
from sqlalchemy import text

from harness.scenario.context import Context
from harness.scenario.grid import Params
from scenarios.loading import scenario as loading

SLEEP = "SELECT pg_sleep(30) -- context test"


def _sleeping_sessions(server) -> int:
    with psycopg.connect(**server.psycopg_kwargs(), autocommit=True) as conn:
        row = conn.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE query = %s AND state = 'active'", (SLEEP,)
        ).fetchone()
    assert row is not None
    return int(row[0])


def test_an_interrupted_point_finishes_its_suspended_operations_in_the_loop(
    server, dataset, caplog
):
    """Ctrl-C raised while the loop waits leaves the operation's task suspended inside
    `async with session`. Closed by the garbage collector after the loop is gone, it printed
    "Exception ignored in ... no running event loop" and a never-awaited `AsyncSession.close`
    under the run's clean exit line. The runner must finish it inside the loop."""
    loop = asyncio.new_event_loop()
    ctx = Context(server, Params((("users", 1),)), loading.dataset, loop)

    async def operation() -> None:
        async with ctx.async_session() as session:
            await session.execute(text(SLEEP))

    async def asyncpg_operation() -> None:
        conn = await ctx.asyncpg()
        await conn.fetchval(SLEEP)

    unraisable: list[sys.UnraisableHookArgs] = []
    previous = sys.unraisablehook
    sys.unraisablehook = unraisable.append
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            tasks = [loop.create_task(operation()), loop.create_task(asyncpg_operation())]
            loop.run_until_complete(asyncio.sleep(0.5))  # both now wait on pg_sleep
            assert not any(t.done() for t in tasks)
            assert _sleeping_sessions(server) == 2
            ctx.finish_interrupted()  # as the runner does when an interrupt cut it short
            ctx.close()
            assert all(t.done() for t in tasks)
            loop.close()
            del tasks
            gc.collect()
    finally:
        sys.unraisablehook = previous
    assert [u.exc_value for u in unraisable] == []
    assert [str(w.message) for w in caught if "never awaited" in str(w.message)] == []
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR] == []
    assert _sleeping_sessions(server) == 0
