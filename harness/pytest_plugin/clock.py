"""Timing an async variant as the awaited operation under pytest-benchmark's synchronous timer."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

from harness.scenario.context import Context

# --- timing -----------------------------------------------------------------------------------


class AwaitedClock:
    """``perf_counter`` minus the time spent entering and leaving the event loop.

    pytest-benchmark reads its timer before and after each round; with this clock, the
    difference around a call made by :meth:`driver` is the awaited operation alone. The clock
    only ever runs slower than ``perf_counter``, never backwards, so pytest-benchmark's timer
    precision and calibration work as with any other timer. One clock serves the whole session.
    """

    __name__ = "awaited_perf_counter"  # what pytest-benchmark records as the timer

    def __init__(self) -> None:
        self._excluded = 0.0
        self.calls = 0
        self.loop_entry_s = 0.0  # total time excluded: entering and leaving the loop

    def __call__(self) -> float:
        return time.perf_counter() - self._excluded

    def driver(
        self, loop: asyncio.AbstractEventLoop, fn: Callable[[Context], Any], ctx: Context
    ) -> Callable[[], Any]:
        """A sync callable that awaits ``fn(ctx)`` on `loop`; only the await shows on the clock."""
        awaited = [0.0]
        clock = time.perf_counter

        async def operation() -> Any:
            t0 = clock()
            result = await fn(ctx)
            awaited[0] = clock() - t0
            return result

        def call() -> Any:
            entered = clock()
            result = loop.run_until_complete(operation())
            overhead = clock() - entered - awaited[0]
            self._excluded += overhead
            self.calls += 1
            self.loop_entry_s += overhead
            return result

        return call
