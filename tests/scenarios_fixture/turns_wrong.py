"""Does the harness catch a variant whose answers go wrong once it is timed? (test fixture)"""

from __future__ import annotations

from harness.scenario.context import Context
from harness.scenario.grid import Grid
from harness.scenario.spec import Scenario

scenario = Scenario(
    name="turns_wrong",
    question="Does the harness catch a variant whose answers go wrong once it is timed?",
    quick=Grid.of(n=[3]),
    full=Grid.of(n=[3]),
    reference="honest",
)


def _read(ctx: Context) -> list[int]:
    rows = ctx.psycopg.execute("SELECT generate_series(1, %s)", (ctx.params.n,)).fetchall()
    return [r[0] for r in rows]


@scenario.variant
def honest(ctx: Context) -> list[int]:
    """Reads 1..n every time."""
    return _read(ctx)


@scenario.variant
def turns_wrong(ctx: Context) -> list[int]:
    """Right on its first call (the one checked before timing), one row short after that."""
    calls = ctx.state["turns_wrong_calls"] = ctx.state.get("turns_wrong_calls", 0) + 1
    rows = _read(ctx)
    return rows if calls == 1 else rows[:-1]


@scenario.variant
def wrong_late(ctx: Context) -> list[int]:
    """Right for its first 50 calls, then wrong: caught only by a check late in the window."""
    calls = ctx.state["wrong_late_calls"] = ctx.state.get("wrong_late_calls", 0) + 1
    rows = _read(ctx)
    return rows if calls <= 50 else [0, *rows[1:]]
