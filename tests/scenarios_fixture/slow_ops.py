"""Does an operation past the op timeout fail its variant, and the run go on? (test fixture)"""

from __future__ import annotations

import asyncio
import time

from harness.scenario.context import Context
from harness.scenario.grid import Grid
from harness.scenario.spec import Scenario

scenario = Scenario(
    name="slow_ops",
    question="Does an operation past the op timeout fail its variant, and the run go on?",
    quick=Grid.of(n=[1]),
    full=Grid.of(n=[1]),
    reference="quick",
)


@scenario.variant
def quick(ctx: Context) -> int:
    """SELECT 1."""
    return ctx.psycopg.execute("SELECT 1").fetchone()[0]


@scenario.variant
def sleeps_in_sql(ctx: Context) -> int:
    """pg_sleep(300): the server's statement_timeout cancels it."""
    return ctx.psycopg.execute("SELECT 1 FROM pg_sleep(300)").fetchone()[0]


@scenario.variant
async def sleeps_in_asyncpg(ctx: Context) -> int:
    """pg_sleep(300) through asyncpg."""
    conn = await ctx.asyncpg()
    return await conn.fetchval("SELECT 1 FROM pg_sleep(300)")


@scenario.variant
def sleeps_in_python(ctx: Context) -> int:
    """time.sleep(300): no statement for the server to cancel."""
    time.sleep(300)
    return 1


@scenario.variant
async def awaits_forever(ctx: Context) -> int:
    """asyncio.sleep(300) on the point's loop."""
    await asyncio.sleep(300)
    return 1
