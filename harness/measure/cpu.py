"""CPU meters: seconds of CPU used by process trees, by this process, or by the whole machine."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterable

import psutil


class CpuClock:
    """CPU seconds of a set of process trees, summed; trees are re-read at every mark, so workers
    that come and go are counted while they exist."""

    def __init__(self, roots: Iterable[int]) -> None:
        self.roots = list(roots)
        self._seen: dict[int, tuple[psutil.Process, float]] = {}

    def seconds(self) -> float:
        total = 0.0
        for pid in self.roots:
            try:
                root = psutil.Process(pid)
                procs = [root, *root.children(recursive=True)]
            except psutil.Error:
                procs = []
            for proc in procs:
                with contextlib.suppress(psutil.Error):
                    times = proc.cpu_times()
                    self._seen[proc.pid] = (proc, times.user + times.system)
        for _proc, spent in self._seen.values():  # the last reading of ones that have exited
            total += spent
        return total

    def processes(self) -> int:
        count = 0
        for pid in self.roots:
            with contextlib.suppress(psutil.Error):
                count += 1 + len(psutil.Process(pid).children(recursive=True))
        return count


class MachineCpuClock:
    """CPU seconds all cores of this machine spent busy (every process, not only ours)."""

    def seconds(self) -> float:
        times = psutil.cpu_times()
        return float(sum(times) - times.idle - getattr(times, "iowait", 0.0))


class ProcessCpuMeter:
    """CPU seconds used by this process and by the server's processes between two marks."""

    def __init__(self, server_pid: int | None) -> None:
        self.me = psutil.Process()
        self.server = self._process(server_pid)

    @staticmethod
    def _process(pid: int | None) -> psutil.Process | None:
        if pid is None:
            return None
        try:
            return psutil.Process(pid)
        except psutil.Error:
            return None

    def _server_seconds(self) -> float | None:
        if self.server is None:
            return None
        total = 0.0
        try:
            for proc in [self.server, *self.server.children(recursive=True)]:
                with contextlib.suppress(psutil.Error):
                    times = proc.cpu_times()
                    total += times.user + times.system
        except psutil.Error:
            return None
        return total

    def mark(self) -> tuple[float, float, float | None]:
        times = self.me.cpu_times()
        return time.perf_counter(), times.user + times.system, self._server_seconds()

    @staticmethod
    def between(
        start: tuple[float, float, float | None], end: tuple[float, float, float | None]
    ) -> tuple[float, float | None]:
        wall = max(end[0] - start[0], 1e-9)
        server = None
        if start[2] is not None and end[2] is not None:
            server = (end[2] - start[2]) / wall
        return (end[1] - start[1]) / wall, server
