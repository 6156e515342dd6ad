"""Is a variant that answers from memory flagged, unless a cache is its declared pattern? (fixture)"""

from __future__ import annotations

from harness.scenario.context import Context
from harness.scenario.grid import Grid
from harness.scenario.spec import Scenario

scenario = Scenario(
    name="memory_cheat",
    question="Is a variant that answers from memory flagged, unless it declares a cache?",
    quick=Grid.of(n=[50]),
    full=Grid.of(n=[50]),
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
def memorised(ctx: Context) -> list[int]:
    """Reads once, then answers from ctx.state: right, and fast because it skips the work."""
    if "memorised" not in ctx.state:
        ctx.state["memorised"] = _read(ctx)
    return ctx.state["memorised"]


@scenario.variant(from_memory=True)
def cached(ctx: Context) -> list[int]:
    """The same, declared: a cache is this variant's pattern."""
    if "cached" not in ctx.state:
        ctx.state["cached"] = _read(ctx)
    return ctx.state["cached"]
