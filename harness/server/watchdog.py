"""A hung server must not hang the run: a watchdog that notices when nothing has progressed.

The runners report progress between operations (the step callback). When there has been none for
`stall_s` and the server no longer answers a fresh connection (a paused or wedged server: SIGSTOP,
a stuck host), the suite's own server is killed, every one of its processes, which breaks each
connection to it: the blocked operation fails, the scenario ends as failed with the reason, and
the run goes on with a new server. A server that is merely slow still answers, and is left alone.
A user's own server (a URL) is never killed; the watchdog only says what it saw.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable

import psutil

from harness.server.target import ServerTarget


class Watchdog:
    def __init__(
        self,
        target: ServerTarget,
        stall_s: float,
        on_note: Callable[[str], None] = lambda _message: None,
        poll_s: float = 0.5,
    ) -> None:
        self.target, self.stall_s, self.on_note, self.poll_s = target, stall_s, on_note, poll_s
        self.fired = ""
        self._last = time.monotonic()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, name="watchdog", daemon=True)

    def __enter__(self) -> Watchdog:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=10)

    def beat(self) -> None:
        """Progress: an operation, a batch or a step ended."""
        self._last = time.monotonic()

    def retarget(self, target: ServerTarget) -> None:
        """The server was replaced: watch the new one."""
        self.target = target
        self.fired = ""
        self.beat()

    def _watch(self) -> None:
        while not self._stop.wait(self.poll_s):
            stalled = time.monotonic() - self._last
            if stalled < self.stall_s:
                continue
            if self.target.is_alive():
                self.beat()  # slow, not stuck
                continue
            self._fire(stalled)

    def _fire(self, stalled: float) -> None:
        pid = self.target.pid
        if pid is None:
            if not self.fired:
                self.fired = f"no progress for {stalled:.0f} s and the server does not answer"
                self.on_note(self.fired + " (not ours to stop: waiting for it)")
            return
        self.fired = (
            f"no progress for {stalled:.0f} s and PostgreSQL did not answer a new connection: "
            "its processes were killed so the run can go on"
        )
        self.on_note(self.fired)
        with contextlib.suppress(psutil.Error):
            server = psutil.Process(pid)
            for proc in [*server.children(recursive=True), server]:
                with contextlib.suppress(psutil.Error):
                    proc.kill()  # SIGKILL ends even a stopped (SIGSTOP) process
        self.beat()
