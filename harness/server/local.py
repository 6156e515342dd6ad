"""A server the suite did not start that runs on this machine: its processes, and its CPUs.

On one host, client and server compete for the same cores and the scheduler moves server backends
onto the client's core and off it again, so round trips (and the native ceiling) change from one
run to the next. The embedded server is pinned to cores of its own for that reason. A same-host
server given as a URL is told apart here: its postmaster is found (when this process can see it)
so its CPU is metered as the server's, not as other work; and with `--pin-cores` it gets the same
split as the embedded server for the run, its CPUs given back when the run ends, also when the
harness is killed (`harness.server.affinity_guard` restores them).
"""

from __future__ import annotations

import contextlib
import ipaddress
import json
import os
import select
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import replace

import psutil
import psycopg

from harness.errors import UserError
from harness.processes import PROJECT_ROOT, spawn
from harness.server.affinity_guard import READY
from harness.server.embedded import CorePlan
from harness.server.target import ServerTarget

GUARD_STOP_S = 10.0  # the affinity guard restores and exits within this after being told to
STARTED_SLACK_S = 2.0  # a process is the postmaster when it started this close to the server


def on_this_host(host: str) -> bool:
    """Whether `host` (a name, an address or a socket directory) is this machine."""
    if host.startswith("/"):
        return True
    try:
        addresses = {str(info[4][0]) for info in socket.getaddrinfo(host, None)}
    except OSError:
        return False
    mine = {a.address.split("%")[0] for nic in psutil.net_if_addrs().values() for a in nic}
    return any(
        ipaddress.ip_address(a.split("%")[0]).is_loopback or a.split("%")[0] in mine
        for a in addresses
    )


def seen_postmaster(target: ServerTarget) -> int | None:
    """The server's postmaster pid, when its processes are this machine's and visible here: the
    backend serving a connection of ours, whose parent started when the server says it did
    (a server in a container or another pid namespace is not found)."""
    try:
        with psycopg.connect(**{**target.psycopg_kwargs(), "connect_timeout": 5}) as conn:
            row = conn.execute(
                "SELECT pg_backend_pid(), extract(epoch FROM pg_postmaster_start_time())"
            ).fetchone()
            if row is None:
                return None
            with contextlib.suppress(psutil.Error):
                parent = psutil.Process(int(row[0])).parent()
                if (
                    parent is not None
                    and abs(parent.create_time() - float(row[1])) < STARTED_SLACK_S
                ):
                    return parent.pid
    except psycopg.Error:
        return None
    return None


def _server_processes(postmaster: int) -> list[psutil.Process]:
    root = psutil.Process(postmaster)
    return [root, *root.children(recursive=True)]


@contextlib.contextmanager
def pinned(target: ServerTarget, postmaster: int) -> Iterator[ServerTarget]:
    """This process on half the CPUs and the server's processes (and the backends it starts
    meanwhile) on the other half, until the block ends; a guard process gives the server its
    CPUs back then, or when the harness dies. UserError when the split is not possible."""
    plan = CorePlan.split()
    if plan is None:
        raise UserError("--pin-cores needs at least two CPUs this process may use")
    try:
        original = {p.pid: sorted(p.cpu_affinity()) for p in _server_processes(postmaster)}
    except psutil.Error as exc:
        raise UserError(f"--pin-cores: cannot read the server's CPUs ({exc})") from None
    guard = spawn(
        [
            sys.executable,
            "-m",
            "harness.server.affinity_guard",
            str(postmaster),
            json.dumps(original),
        ],
        cwd=PROJECT_ROOT,
        death_signal=signal.SIGTERM,
        pipes=True,
    )
    if not _ready(guard):
        _stop_guard(guard)
        raise UserError("--pin-cores: the guard that gives the server its CPUs back did not start")
    mine = os.sched_getaffinity(0)
    try:
        for proc in _server_processes(postmaster):
            with contextlib.suppress(psutil.NoSuchProcess):
                proc.cpu_affinity(sorted(plan.server))
        os.sched_setaffinity(0, plan.client)
    except (psutil.AccessDenied, PermissionError):
        os.sched_setaffinity(0, mine)
        _stop_guard(guard)
        raise UserError(
            "--pin-cores: not permitted to set the server's CPUs (run as the server's OS user "
            "or as root, or leave --pin-cores out)"
        ) from None
    try:
        yield replace(
            target,
            settings={
                **target.settings,
                "cpu_affinity": plan.describe() + " (a server on this host, pinned by --pin-cores)",
            },
            server_cpus=plan.server,
        )
    finally:
        os.sched_setaffinity(0, mine)
        _stop_guard(guard)


def _ready(guard: subprocess.Popen[bytes]) -> bool:
    """Waits (bounded) for the guard's line saying its handler is installed."""
    if guard.stdout is None:
        return False
    ready, _, _ = select.select([guard.stdout], [], [], GUARD_STOP_S)
    return bool(ready) and guard.stdout.readline().decode() == READY


def _stop_guard(guard: subprocess.Popen[bytes]) -> None:
    """Tells the guard to restore (its stdin ends) and waits for it, bounded."""
    with contextlib.suppress(OSError):
        if guard.stdin is not None:
            guard.stdin.close()
    try:
        guard.wait(timeout=GUARD_STOP_S)
    except subprocess.TimeoutExpired:
        guard.kill()
        guard.wait(timeout=GUARD_STOP_S)


@contextlib.contextmanager
def same_host(target: ServerTarget, pin_cores: bool) -> Iterator[ServerTarget]:
    """The target with what this machine knows of it: whether it runs here, its postmaster
    when visible, and (with `pin_cores`) its CPUs split from the client's for the block."""
    if target.provider != "url" or not on_this_host(target.host):
        if pin_cores:
            raise UserError(
                "--pin-cores: only a server given as a URL on this machine can be pinned "
                "(the embedded server always is; one on another host needs nothing)"
            )
        yield target
        return
    postmaster = seen_postmaster(target)
    seen = replace(target, same_host=True, seen_pid=postmaster)
    if not pin_cores:
        yield seen
        return
    if postmaster is None:
        raise UserError(
            "--pin-cores: the server runs on this machine, but its processes are not visible "
            "here (another pid namespace, such as a container); leave --pin-cores out"
        )
    with pinned(seen, postmaster) as split:
        yield split
