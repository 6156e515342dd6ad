"""Child processes the harness starts (servers, proxies, app servers, load generators) and stops.

Each child gets its own session (the terminal's Ctrl-C reaches only the harness, which then stops
it in order), dies with the harness (PR_SET_PDEATHSIG), and is stopped as a whole process group:
SIGTERM, a grace period, then SIGKILL, so an app server's workers go with it.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import socket
import subprocess
import time
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import psutil

# The checkout's top folder: where child processes that import the project run
PROJECT_ROOT = Path(__file__).resolve().parent.parent


def spawn(
    args: Sequence[str],
    *,
    env: dict[str, str] | None = None,
    cpus: Iterable[int] | None = None,
    log: Path | None = None,
    cwd: Path | None = None,
    user: str | None = None,
    death_signal: int = signal.SIGKILL,
    pipes: bool = False,
) -> subprocess.Popen[bytes]:
    """Starts `args` in a new session, pinned to `cpus` (when given), as `user` (when given); the
    kernel sends it `death_signal` when the harness dies. With `pipes`, its stdin and stdout are
    pipes to the harness (stderr stays the harness's); else stdin is empty and its output goes to `log` (or is discarded)."""
    cpu_set = frozenset(cpus) if cpus is not None else None

    def child_setup() -> None:
        die_with_parent(death_signal)
        if cpu_set:
            os.sched_setaffinity(0, cpu_set)

    out: Any = subprocess.PIPE if pipes else subprocess.DEVNULL
    if log is not None and not pipes:
        out = log.open("ab")
    try:
        return subprocess.Popen(
            list(args),
            env=env,
            cwd=cwd,
            user=user,
            stdin=subprocess.PIPE if pipes else subprocess.DEVNULL,
            stdout=out,
            stderr=None if pipes else subprocess.STDOUT,
            start_new_session=True,  # the harness stops it, not the terminal's Ctrl-C
            preexec_fn=child_setup,
        )
    finally:
        if hasattr(out, "close"):
            out.close()


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


def all_cpus() -> frozenset[int]:
    """Every CPU of the machine, whatever this process is pinned to."""
    return frozenset(range(os.cpu_count() or 1))


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def die_with_parent(signum: int = signal.SIGQUIT) -> None:
    """Runs in a child before exec: the kernel sends it `signum` if the harness dies (for
    postgres, SIGQUIT = immediate shutdown). Linux only; elsewhere a no-op."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        pr_set_pdeathsig = 1
        libc.prctl(pr_set_pdeathsig, signum)
    except (OSError, AttributeError):
        pass


def cpu_list(cpus: Iterable[int]) -> str:
    """CPU numbers as `0,1`, in order."""
    return ",".join(map(str, sorted(cpus)))


def pid_alive(pid: int) -> bool:
    """Whether a process with this pid exists (one of another user's counts)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
