"""The patternbench runs going on this machine: one at a time unless asked, and each knows the others.

Every run holds a slot: a file in a per-user folder (`PATTERNBENCH_RUNS_DIR`, default
`<tmp>/patternbench-runs-<uid>`) that it keeps an exclusive `flock` on for as long as it runs. The
kernel drops the lock when the process ends, however it ends (SIGKILL too), so a slot whose file
is not locked is a leftover and is removed by whoever sees it. Checking for others and taking the
slot happen under one folder-wide lock, so two runs started in the same instant cannot both miss
each other.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import tempfile
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import IO

from harness.errors import UserError

ENV_RUNS_DIR = "PATTERNBENCH_RUNS_DIR"
LOCK_WAIT_S = 10.0  # the folder-wide lock is held for a scan only: milliseconds


def runs_dir() -> Path:
    chosen = os.environ.get(ENV_RUNS_DIR)
    if chosen:
        return Path(chosen)
    return Path(tempfile.gettempdir()) / f"patternbench-runs-{os.getuid()}"


@dataclass(frozen=True)
class RunningRun:
    """What a slot says about the run holding it."""

    pid: int
    started: float  # epoch seconds
    run_id: str = ""  # known once its server answered and its folder exists
    folder: str = ""

    def describe(self) -> str:
        name = self.run_id or "a run still starting"
        where = f", results in {self.folder}" if self.folder else ""
        return f"{name} (pid {self.pid}{where})"


class RunSlot:
    """This process's slot among the machine's runs; a context manager.

    Entering refuses (UserError, one line) when another run holds a slot, unless
    `allow_concurrent`. `concurrent()` names every other run seen alive since entering."""

    def __init__(self, allow_concurrent: bool = False, folder: Path | None = None) -> None:
        self.folder = folder or runs_dir()
        self.allow_concurrent = allow_concurrent
        self.me = RunningRun(pid=os.getpid(), started=time.time())
        self._handle: IO[str] | None = None
        self._seen: dict[str, RunningRun] = {}  # slot file name -> what it said

    @property
    def path(self) -> Path:
        return self.folder / f"run-{self.me.pid}-{self.me.started:.6f}.json"

    def __enter__(self) -> RunSlot:
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise UserError(
                f"{self.folder}: cannot keep the machine's run slots there "
                f"({exc.strerror or exc}); set {ENV_RUNS_DIR} to a writable folder"
            ) from None
        with self._folder_lock():
            others = self._others()
            if others and not self.allow_concurrent:
                raise UserError(
                    "another patternbench run is going on this machine: "
                    + "; ".join(o.describe() for o in others)
                    + ". Wait for it, or pass --allow-concurrent (the runs then share the "
                    "cores, and each report says so)"
                )
            handle = self.path.open("w")
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            self._handle = handle
            self._write()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._handle is not None:
            self.path.unlink(missing_ok=True)
            self._handle.close()
            self._handle = None

    def named(self, run_id: str, folder: Path) -> None:
        """Says which run holds this slot, once its id and folder exist."""
        self.me = RunningRun(self.me.pid, self.me.started, run_id, str(folder))
        self._write()

    def concurrent(self) -> list[str]:
        """Every other run seen alive since this one started (looked at now, too), by run id or
        pid, in the order first seen."""
        with self._folder_lock():
            self._others()
        return [o.run_id or f"pid {o.pid}" for o in self._seen.values()]

    def _write(self) -> None:
        assert self._handle is not None
        self._handle.seek(0)
        self._handle.truncate()
        self._handle.write(json.dumps(asdict(self.me)))
        self._handle.flush()

    def _others(self) -> list[RunningRun]:
        alive = []
        for path in sorted(self.folder.glob("run-*.json")):
            if path == self.path:
                continue
            found = _alive(path)
            if found is None:
                continue
            alive.append(found)
            known = self._seen.get(path.name)
            if known is None or (found.run_id and not known.run_id):
                self._seen[path.name] = found
        return alive

    @contextlib.contextmanager
    def _folder_lock(self) -> Iterator[None]:
        with (self.folder / ".lock").open("a") as handle:
            deadline = time.monotonic() + LOCK_WAIT_S
            while True:
                try:
                    fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    if time.monotonic() > deadline:
                        raise UserError(
                            f"{self.folder}/.lock: held for over {LOCK_WAIT_S:.0f} s by another "
                            "process; remove it if no patternbench runs"
                        ) from None
                    time.sleep(0.05)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)


def _alive(path: Path) -> RunningRun | None:
    """What the slot file says, if a live run still holds it; a leftover is removed."""
    try:
        handle = path.open("r")
    except OSError:
        return None
    with handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:  # held: its run is alive
            text = handle.read()
            try:
                return RunningRun(**json.loads(text))
            except (ValueError, TypeError):
                return RunningRun(pid=0, started=0.0)  # being written this instant
        path.unlink(missing_ok=True)  # nobody holds it: its run ended without tidying up
        return None
