"""Does the harness catch a variant that does less work? (test fixture, not a benchmark)"""

from __future__ import annotations

from harness.scenario.context import Context
from harness.scenario.grid import Grid
from harness.scenario.spec import Scenario

scenario = Scenario(
    name="wrong_answers",
    question="Does the harness catch a variant that does less work?",
    quick=Grid.of(users=[3, 5]),
    full=Grid.of(users=[3, 5]),
    reference="honest",
    chart_x="users",
)


def _ids(ctx: Context) -> list[int]:
    return list(range(1, int(ctx.params.users) + 1))


@scenario.variant
def honest(ctx: Context) -> list[tuple[int, str]]:
    """Reads every requested user."""
    rows = ctx.psycopg.execute(
        "SELECT id, name FROM users WHERE id = ANY(%s) ORDER BY id", (_ids(ctx),)
    ).fetchall()
    return [tuple(r) for r in rows]


@scenario.variant
async def honest_async(ctx: Context) -> list[tuple[int, str]]:
    """The same through asyncpg."""
    conn = await ctx.asyncpg()
    rows = await conn.fetch(
        "SELECT id, name FROM users WHERE id = ANY($1::bigint[]) ORDER BY id", _ids(ctx)
    )
    return [tuple(r) for r in rows]


@scenario.variant
def drops_a_row(ctx: Context) -> list[tuple[int, str]]:
    """Fast because it skips the last user."""
    rows = ctx.psycopg.execute(
        "SELECT id, name FROM users WHERE id = ANY(%s) ORDER BY id LIMIT %s",
        (_ids(ctx), int(ctx.params.users) - 1),
    ).fetchall()
    return [tuple(r) for r in rows]


@scenario.variant
def raises(ctx: Context) -> None:
    """Always fails."""
    raise RuntimeError("boom")
