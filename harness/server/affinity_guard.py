"""Gives a same-host server its CPUs back: `python -m harness.server.affinity_guard PID JSON`.

Started by `harness.server.local.pinned`, which pins the server only once the guard said it is
ready (its handler installed). It waits until its stdin ends
(the harness closed it, or died: the kernel closes the pipe even after SIGKILL) or until it gets
SIGTERM (sent by the kernel when the harness dies), then sets every process it was given back to
the CPUs it had (JSON: pid -> CPUs) and any process the postmaster started since to the
postmaster's, and exits.
"""

from __future__ import annotations

import contextlib
import json
import signal
import sys
from types import FrameType

import psutil

READY = "ready\n"


def restore(postmaster: int, original: dict[int, list[int]]) -> None:
    fallback = original.get(postmaster)
    try:
        procs = [psutil.Process(postmaster), *psutil.Process(postmaster).children(recursive=True)]
    except psutil.Error:
        procs = []
    for proc in procs:
        cpus = original.get(proc.pid, fallback)
        if cpus:
            with contextlib.suppress(psutil.Error):
                proc.cpu_affinity(cpus)


def main(argv: list[str]) -> int:
    postmaster = int(argv[0])
    original = {int(pid): cpus for pid, cpus in json.loads(argv[1]).items()}

    def on_term(signum: int, frame: FrameType | None) -> None:
        restore(postmaster, original)
        raise SystemExit(0)

    signal.signal(signal.SIGTERM, on_term)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the harness handles Ctrl-C, then closes stdin
    sys.stdout.write(READY)  # only now may the harness pin: from here on, its death restores
    sys.stdout.flush()
    with contextlib.suppress(OSError):
        while sys.stdin.buffer.read(4096):
            pass
    restore(postmaster, original)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
