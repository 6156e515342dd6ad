"""Watching a harness's processes from a test while they start, exit and turn zombie under it.

Helpers such as initdb, pg_ctl and psql come and go between listing a process and reading its
command line; psutil then raises. Every look here leaves such a process out instead.
"""

from __future__ import annotations

import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass

import psutil
import pytest


@dataclass(frozen=True)
class Seen:
    """A process as it was when looked at."""

    process: psutil.Process
    name: str
    cmdline: tuple[str, ...]

    @property
    def command(self) -> str:
        return " ".join(self.cmdline)


def descendants(pid: int | None = None) -> list[Seen]:
    """The living descendants of `pid` (this process by default), with name and command line."""
    try:
        children = psutil.Process(pid).children(recursive=True)
    except psutil.NoSuchProcess:
        return []
    seen: list[Seen] = []
    for child in children:
        try:
            with child.oneshot():
                if child.status() == psutil.STATUS_ZOMBIE:
                    continue
                seen.append(Seen(child, child.name(), tuple(child.cmdline())))
        except psutil.Error:
            continue
    return seen


def watch_until(
    proc: subprocess.Popen[str] | subprocess.Popen[bytes],
    ready: Callable[[list[Seen]], bool],
    what: str,
    timeout_s: float = 90.0,
    seen: set[psutil.Process] | None = None,
) -> list[Seen]:
    """Looks at `proc`'s descendants every 0.2 s until `ready(them)`, and returns them. Every
    process looked at goes into `seen`. If `proc` exits or time runs out first, it is killed
    and the test fails saying which, with the end of what it wrote to stderr."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline and proc.poll() is None:
        now = descendants(proc.pid)
        if seen is not None:
            seen.update(s.process for s in now)
        if ready(now):
            return now
        time.sleep(0.2)
    exited = proc.poll()
    proc.kill()
    _out, err = proc.communicate()
    tail = err[-2000:] if isinstance(err, str) else (err or b"")[-2000:].decode(errors="replace")
    why = (
        f"exited ({exited}) before {what}"
        if exited is not None
        else f"did not get to {what} in time"
    )
    pytest.fail(f"the run {why}:\n{tail}")
