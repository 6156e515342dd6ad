"""The op timeout's client side: a bound on work the server's `statement_timeout` cannot see.

The server cancels any statement past the op timeout on the timed connections
(`ServerTarget.bounded`); `deadline` bounds the rest (Python that spins or sleeps, a driver
waiting on something that is not a statement) with SIGALRM. Synchronous work gets `OpTimeout`
where it runs. While an event loop runs, the handler never raises inside the loop's machinery
(see `harness.cli.signals`): it cancels the loop's tasks from a callback of the loop, and the
cancellation leaves `run_until_complete` as `OpTimeout`. An alarm already set by someone else
(pytest-timeout's, say) is kept: when it comes first it holds alone, otherwise it is set again,
with what is left of it, when the block ends.
"""

from __future__ import annotations

import asyncio
import signal
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType


class OpTimeout(Exception):
    """An operation ran past the op timeout."""

    def __init__(self, seconds: float) -> None:
        super().__init__(f"exceeded the op timeout of {seconds:g} s")
        self.seconds = seconds


def _cancel_all(loop: asyncio.AbstractEventLoop) -> None:
    for task in asyncio.all_tasks(loop):
        task.cancel()


GRACE_S = 2.0  # the client waits this much longer, so the server's cancel answers first for SQL


@contextmanager
def deadline(seconds: float, planned_s: float = 0.0) -> Iterator[None]:
    """Raises OpTimeout in the block when it runs longer than the op timeout `seconds` past
    the `planned_s` the block is meant to take (a batch of operations), plus GRACE_S. A no-op
    for 0 or less, or outside the main thread (signals reach only the main thread)."""
    if seconds <= 0 or threading.current_thread() is not threading.main_thread():
        yield
        return
    fired = False

    def on_alarm(signum: int, frame: FrameType | None) -> None:
        nonlocal fired
        fired = True
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            raise OpTimeout(seconds) from None
        loop.call_soon_threadsafe(_cancel_all, loop)

    bound = seconds + planned_s + GRACE_S
    outer, _interval = signal.getitimer(signal.ITIMER_REAL)
    if 0 < outer <= bound:  # someone else's alarm (e.g. pytest-timeout) comes first: theirs holds
        yield
        return
    started = time.monotonic()
    previous = signal.signal(signal.SIGALRM, on_alarm)
    signal.setitimer(signal.ITIMER_REAL, bound)
    try:
        yield
    except asyncio.CancelledError:
        if fired:
            raise OpTimeout(seconds) from None
        raise
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
        if outer > 0:  # the outer alarm, with what is left of it
            signal.setitimer(signal.ITIMER_REAL, max(1e-3, outer - (time.monotonic() - started)))
