"""Other work on the machine while a grid point ran: the CPU used outside the run's own processes.

The run's own processes are this harness and every process below it (its server, the delay proxy,
app servers, locust, pgbench), the server's processes when it runs elsewhere on this machine, and
what relays the run's traffic to it there (a Docker engine's port proxy).
Their CPU is read with their reaped children's, so a process that started and ended within the
point still counts as the run's own. Everything else the cores did, steal time included, is
*outside* work: a point where it exceeded the chosen share of one core is *disturbed*.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass

import psutil


@dataclass(frozen=True)
class Mark:
    wall: float
    busy: float  # CPU seconds every core spent busy (steal included)
    steal: float
    own: float  # CPU seconds of the run's processes, reaped children included
    load_1m: float


@dataclass(frozen=True)
class Interference:
    """Outside work between two marks, in cores (1.0 = one core busy the whole time)."""

    outside_cores: float
    steal_cores: float
    load_1m: float  # the load average when the point started

    def disturbed(self, max_cores: float) -> str:
        """Why the point is disturbed ('' when it is not)."""
        if self.outside_cores <= max_cores:
            return ""
        steal = f", {self.steal_cores:.0%} of a core stolen" if self.steal_cores >= 0.01 else ""
        return (
            f"other work used {self.outside_cores:.0%} of a core while it ran (limit "
            f"{max_cores:.0%}{steal}; load average {self.load_1m:.2f})"
        )


class OutsideCpu:
    """Marks and compares the machine's CPU against the run's own; `server_pid` is the server's
    postmaster when it is not a child of this process (None: processes named postgres count as
    the server's); `relays` are processes that carry the run's traffic to the server (a Docker
    engine's port proxy), the run's own too."""

    def __init__(self, server_pid: int | None = None, relays: Sequence[int] = ()) -> None:
        self.me = psutil.Process(os.getpid())
        self.server_pid = server_pid
        self.relays = tuple(relays)

    def _roots(self) -> list[psutil.Process]:
        roots = [self.me]
        for pid in self.relays:
            with contextlib.suppress(psutil.Error):
                roots.append(psutil.Process(pid))
        below = {p.pid for p in self._tree(self.me)}
        if self.server_pid is not None and self.server_pid not in below:
            with contextlib.suppress(psutil.Error):
                roots.append(psutil.Process(self.server_pid))
        elif self.server_pid is None:
            for proc in psutil.process_iter(["name"]):
                if proc.info["name"] in ("postgres", "postmaster") and proc.pid not in below:
                    roots.append(proc)
        return roots

    @staticmethod
    def _tree(root: psutil.Process) -> list[psutil.Process]:
        try:
            return [root, *root.children(recursive=True)]
        except psutil.Error:
            return []

    def _own(self) -> float:
        seen: set[int] = set()
        total = 0.0
        for root in self._roots():
            for proc in self._tree(root):
                if proc.pid in seen:
                    continue
                seen.add(proc.pid)
                with contextlib.suppress(psutil.Error):
                    t = proc.cpu_times()
                    total += t.user + t.system + t.children_user + t.children_system
        return total

    def mark(self) -> Mark:
        times = psutil.cpu_times()
        busy = float(sum(times) - times.idle - getattr(times, "iowait", 0.0))
        busy -= getattr(times, "guest", 0.0) + getattr(times, "guest_nice", 0.0)  # in user too
        return Mark(
            wall=time.monotonic(),
            busy=busy,
            steal=float(getattr(times, "steal", 0.0)),
            own=self._own(),
            load_1m=os.getloadavg()[0],
        )

    @staticmethod
    def between(start: Mark, end: Mark) -> Interference:
        seconds = max(end.wall - start.wall, 1e-9)
        outside = (end.busy - start.busy) - (end.own - start.own)
        return Interference(
            outside_cores=max(0.0, outside / seconds),
            steal_cores=max(0.0, (end.steal - start.steal) / seconds),
            load_1m=start.load_1m,
        )
