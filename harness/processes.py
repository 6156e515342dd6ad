"""Child processes the harness starts (app servers, load generators) and always stops.

Each child gets its own session (the terminal's Ctrl-C reaches only the harness, which then stops
it in order), dies with the harness (PR_SET_PDEATHSIG), and is stopped as a whole process group:
SIGTERM, a grace period, then SIGKILL, so an app server's workers go with it.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Iterable, Sequence
from pathlib import Path

import psutil

from harness.postgres import die_with_parent


def spawn(
    args: Sequence[str],
    *,
    env: dict[str, str] | None = None,
    cpus: Iterable[int] | None = None,
    log: Path | None = None,
    cwd: Path | None = None,
) -> subprocess.Popen[bytes]:
    """Starts `args` in a new session; its output goes to `log` (else is discarded)."""
    cpu_set = frozenset(cpus) if cpus is not None else None

    def child_setup() -> None:
        die_with_parent(signal.SIGKILL)
        if cpu_set:
            os.sched_setaffinity(0, cpu_set)

    out = log.open("ab") if log is not None else subprocess.DEVNULL
    try:
        return subprocess.Popen(
            list(args),
            env=env,
            cwd=cwd,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            preexec_fn=child_setup,
        )
    finally:
        if log is not None:
            out.close()  # type: ignore[union-attr]


def stop(process: subprocess.Popen[bytes], grace_s: float = 5.0) -> None:
    """Stops the process and everything in its process group: SIGTERM, then SIGKILL."""
    members = group_members(process)
    for sig in (signal.SIGTERM, signal.SIGKILL):
        if process.poll() is not None and not any(_alive(p) for p in members):
            break
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(process.pid, sig)
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=grace_s)
        deadline = time.monotonic() + grace_s
        while any(_alive(p) for p in members) and time.monotonic() < deadline:
            time.sleep(0.05)
    for p in members:  # one that left the group (its own setsid) is still ours
        if _alive(p):
            with contextlib.suppress(psutil.Error):
                p.kill()
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.wait(timeout=grace_s)


def group_members(process: subprocess.Popen[bytes]) -> list[psutil.Process]:
    """The process and all its descendants, while they exist."""
    try:
        root = psutil.Process(process.pid)
        return [root, *root.children(recursive=True)]
    except psutil.Error:
        return []


def _alive(p: psutil.Process) -> bool:
    try:
        return p.is_running() and p.status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


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


def all_cpus() -> frozenset[int]:
    """Every CPU of the machine, whatever this process is pinned to."""
    return frozenset(range(os.cpu_count() or 1))
