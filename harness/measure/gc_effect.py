"""What the garbage collector's mode does to a read that builds many ORM objects, on this machine.

The latency runner freezes what exists before each point (`--gc freeze`, as long-running servers
do after start-up) unless told `--gc default`. Building thousands of ORM objects triggers
collections, and in a default process each full one also walks every object the process holds,
so the choice moves ORM timings and hardly Core's. `patternbench check` prints its size here:
the same read of User objects (from `generate_series`, no tables needed), timed in alternating
batches under each mode.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

import numpy as np
from sqlalchemy import select, text

from harness.data.dataset import DatasetSpec
from harness.data.domain import User
from harness.runners.base import frozen_gc
from harness.runners.latency import timed_batch
from harness.scenario.context import Context
from harness.scenario.grid import Params
from harness.scenario.spec import Variant
from harness.server.target import ServerTarget

MODES = ("freeze", "default")
ROUNDS = 5  # batches per mode, alternating, so drift hits both alike

SQL = (
    "SELECT g AS id, 'user' || g || '@example.com' AS email, 'user ' || g AS name, "
    "timestamp '2026-01-01' + g * interval '1 minute' AS created_at "
    "FROM generate_series(1, :rows) AS g"
)


@dataclass(frozen=True)
class GcEffect:
    """Median time of one ORM read of `rows` User objects under each collector mode."""

    rows: int
    median_us: dict[str, float]
    n: dict[str, int]

    @property
    def default_over_frozen(self) -> float:
        return self.median_us["default"] / self.median_us["freeze"]


def _orm_read(ctx: Context) -> list[Any]:
    statement = select(User).from_statement(text(SQL).bindparams(rows=int(ctx.state["rows"])))
    with ctx.session() as session:
        return list(session.scalars(statement))


def gc_effect(target: ServerTarget, rows: int = 10_000, seconds: float = 0.5) -> GcEffect:
    """Times the ORM read in ROUNDS alternating batches per mode, `seconds` per mode in all."""
    loop = asyncio.new_event_loop()
    ctx = Context(target, Params(()), DatasetSpec(), loop)
    ctx.state["rows"] = rows
    variant = Variant("orm_objects", _orm_read, "", False)
    samples: dict[str, list[int]] = {mode: [] for mode in MODES}
    try:
        _orm_read(ctx)  # connect, compile and cache the statement once, outside the timing
        for round_index in range(ROUNDS):
            order = MODES if round_index % 2 == 0 else MODES[::-1]
            for mode in order:
                with frozen_gc(mode):
                    samples[mode] += timed_batch(variant, ctx, seconds / ROUNDS, 10_000)
    finally:
        ctx.close()
        loop.close()
    return GcEffect(
        rows,
        {mode: float(np.median(ns)) / 1e3 for mode, ns in samples.items()},
        {mode: len(ns) for mode, ns in samples.items()},
    )
