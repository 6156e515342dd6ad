"""Ctrl-C and SIGTERM as exceptions, so that every cleanup runs and nothing is left running."""

from __future__ import annotations

import contextlib
import signal
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from types import FrameType


class Terminated(KeyboardInterrupt):
    """SIGTERM, turned into an exception so every cleanup runs. A KeyboardInterrupt because
    asyncio re-raises only those (and SystemExit) from its callbacks; others it swallows."""


@dataclass
class StopRequest:
    """Ctrl-C or SIGTERM, remembered: the handler raises, and the runner raises again between
    operations, because an exception raised inside a finaliser or a weakref callback is printed
    and dropped by Python ("Exception ignored in ...").

    While an event loop runs, the handler does not raise where the signal found the main
    thread, which may be inside a driver's compiled protocol code (asyncpg's `data_received`):
    an exception raised there left its state broken and once ended the process in SIGSEGV. The
    loop raises it instead, from a callback of its own, between two callbacks."""

    signum: int | None = None
    raised: bool = False  # the interrupt was raised (by the handler, the loop or a step)

    def on_signal(self, signum: int, frame: FrameType | None) -> None:
        self.signum = signum
        sys.unraisablehook = self._quiet_unraisable
        loop = None
        asyncio = sys.modules.get("asyncio")  # not imported: no loop runs (`list`, `--help`)
        if asyncio is not None:
            with contextlib.suppress(RuntimeError):
                loop = asyncio.get_running_loop()
        if loop is None:
            self.raise_if_requested()
        else:
            loop.call_soon_threadsafe(self._raise_from_loop)

    @staticmethod
    def _quiet_unraisable(unraisable: sys.UnraisableHookArgs) -> None:
        """Our own interrupt, dropped inside a finaliser, is not worth a traceback."""
        if isinstance(unraisable.exc_value, KeyboardInterrupt):
            return
        sys.__unraisablehook__(unraisable)

    def _raise_from_loop(self) -> None:
        """The loop's callback: raises unless the interrupt was raised already (the loop may
        run it late, inside the clean-up that interrupt started)."""
        if not self.raised:
            self.raise_if_requested()

    def raise_if_requested(self) -> None:
        if self.signum is not None:
            self.raised = True
        if self.signum == signal.SIGTERM:
            raise Terminated()
        if self.signum is not None:
            raise KeyboardInterrupt()


@contextmanager
def signals_as_exceptions() -> Iterator[StopRequest]:
    request = StopRequest()
    previous_term = signal.signal(signal.SIGTERM, request.on_signal)
    # Ctrl-C must stop a run cleanly even when started from a shell that ignores SIGINT
    # for background jobs (Python then installs no KeyboardInterrupt handler of its own).
    previous_int = signal.signal(signal.SIGINT, request.on_signal)
    try:
        yield request
    finally:
        signal.signal(signal.SIGTERM, previous_term)
        signal.signal(signal.SIGINT, previous_int)
        sys.unraisablehook = sys.__unraisablehook__
