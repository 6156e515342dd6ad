"""locust as a bounded child process: headless, one process or a master with N workers.

locust monkey-patches the interpreter with gevent on import, so it never runs inside the harness.
The harness passes its settings through the environment (`harness.runners.http.recorder.LoadSettings`),
reads back the recorder's per-request files and locust's own summary (its view, whole run, whole
milliseconds: kept as a cross-check), and samples the CPU of locust, the app server and
PostgreSQL while the load runs. Every process it starts is gone when `run_locust` returns.
"""

from __future__ import annotations

import contextlib
import math
import os
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from harness import processes
from harness.measure.cpu import CpuClock, MachineCpuClock
from harness.runners.http.recorder import LoadSettings, LocustSummary, Recorded

SAMPLE_EVERY_S = 0.2
RAMP_S = 0.1  # every user started within this, well inside the shortest warm-up
MARGIN_S = 0.5  # locust's run past the measured window's end: spawning, requests in flight


@dataclass(frozen=True)
class LocustOptions:
    """How the load is generated: users, optional constant rate, and distribution."""

    users: int
    workers: int = 0  # 0: one local process; N: a master and N worker processes
    rate: float = 0.0  # total requests/s (constant-rate mode); 0: as fast as the app answers
    think_s: float = 0.0


@dataclass
class CpuSeries:
    """CPU seconds of named process trees, sampled over wall-clock time (epoch seconds)."""

    at: list[float] = field(default_factory=list)
    seconds: dict[str, list[float]] = field(default_factory=dict)

    def share(self, name: str, start: float, end: float) -> float | None:
        """Average CPU use (1.0 = one core) of `name` between two epoch times, from the
        samples that enclose the interval most tightly."""
        values = self.seconds.get(name)
        if not values or len(self.at) < 2:
            return None
        i = max((k for k, t in enumerate(self.at) if t <= start), default=0)
        j = min((k for k, t in enumerate(self.at) if t >= end), default=len(self.at) - 1)
        if j <= i:
            return None
        return (values[j] - values[i]) / (self.at[j] - self.at[i])


class CpuSampler:
    """Samples `CpuClock`s every SAMPLE_EVERY_S in a thread, until stopped."""

    def __init__(self, clocks: dict[str, CpuClock | MachineCpuClock]) -> None:
        self.clocks = clocks
        self.series = CpuSeries(seconds={name: [] for name in clocks})
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="cpu-sampler", daemon=True)

    def _sample(self) -> None:
        self.series.at.append(time.time())
        for name, clock in self.clocks.items():
            self.series.seconds[name].append(clock.seconds())

    def _loop(self) -> None:
        while not self._stop.wait(SAMPLE_EVERY_S):
            self._sample()

    def __enter__(self) -> CpuSampler:
        self._sample()
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self._sample()


@dataclass(frozen=True)
class LocustOutcome:
    """One locust run: the recorded requests, locust's own summary, and CPU over time."""

    recorded: Recorded
    summary: dict[str, float]  # locust's own totals (`LocustSummary`), {} if it wrote none
    cpu: CpuSeries
    processes: int  # load-generating processes (1, or the number of workers)
    exit_codes: list[int]
    log_tail: str


def locust_command(locustfile: Path, host: str, options: LocustOptions, run_s: int) -> list[str]:
    return [
        sys.executable, "-m", "locust", "-f", str(locustfile), "--headless",
        "--host", host, "-u", str(options.users), "-r", str(math.ceil(options.users / RAMP_S)),
        "-t", f"{run_s}s", "--stop-timeout", "2", "--only-summary", "--loglevel", "WARNING",
    ]  # fmt: skip


def run_locust(
    locustfile: Path,
    host: str,
    settings: LoadSettings,
    options: LocustOptions,
    work_dir: Path,
    watch: dict[str, int | None],
    cpus: frozenset[int] | None = None,
    startup_allowance_s: float = 20.0,
) -> LocustOutcome:
    """Runs locust for warm-up + measurement (+ MARGIN_S, in whole seconds) against `host`,
    sampling the CPU of the locust processes and of the trees in `watch` (name -> root pid)."""
    assert settings.out is not None
    run_s = math.ceil(settings.warmup_s + settings.measure_s + MARGIN_S)
    base = locust_command(locustfile, host, options, run_s)
    env = {**os.environ, **settings.to_env(), "PYTHONUNBUFFERED": "1"}
    log = work_dir / f"{settings.out.name}-locust.log"
    started: list[processes.subprocess.Popen[bytes]] = []
    try:
        if options.workers > 0:
            port = processes.free_port()
            master_args = [
                *base, "--master", "--master-bind-host", "127.0.0.1",
                "--master-bind-port", str(port), "--expect-workers", str(options.workers),
                "--expect-workers-max-wait", str(int(startup_allowance_s)),
            ]  # fmt: skip
            started.append(processes.spawn(master_args, env=env, cpus=cpus, log=log))
            worker_args = [
                sys.executable, "-m", "locust", "-f", str(locustfile), "--worker",
                "--master-host", "127.0.0.1", "--master-port", str(port),
                "--loglevel", "WARNING",
            ]  # fmt: skip
            for _ in range(options.workers):
                started.append(processes.spawn(worker_args, env=env, cpus=cpus, log=log))
        else:
            started.append(processes.spawn(base, env=env, cpus=cpus, log=log))
        clocks: dict[str, CpuClock | MachineCpuClock] = {
            "locust": CpuClock(p.pid for p in started),
            "machine": MachineCpuClock(),
        }
        clocks.update({name: CpuClock([pid]) for name, pid in watch.items() if pid is not None})
        deadline = time.monotonic() + startup_allowance_s + run_s + 15.0
        with CpuSampler(clocks) as sampler:
            while time.monotonic() < deadline and any(p.poll() is None for p in started[:1]):
                time.sleep(0.1)
        timed_out = started[0].poll() is None
        for p in started[1:]:  # workers quit with their master
            grace = max(0.0, min(5.0, deadline - time.monotonic()))
            with contextlib.suppress(processes.subprocess.TimeoutExpired):
                p.wait(timeout=grace)
    finally:
        for p in started:
            processes.stop(p, grace_s=3.0)
    exit_codes = [p.returncode for p in started]
    tail = _tail(log)
    if timed_out:
        raise RuntimeError(
            f"locust did not finish within {run_s + startup_allowance_s:.0f} s{tail}"
        )
    return LocustOutcome(
        recorded=Recorded.load(work_dir, settings.out.name),
        summary=LocustSummary.read(settings.out),
        cpu=sampler.series,
        processes=max(1, options.workers),
        exit_codes=exit_codes,
        log_tail=tail,
    )


def _tail(log: Path, lines: int = 3) -> str:
    try:
        text = log.read_text(errors="replace").strip().splitlines()
    except OSError:
        return ""
    useful = [line.strip() for line in text if line.strip()][-lines:]
    return (": " + " | ".join(useful)) if useful else ""
