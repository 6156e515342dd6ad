"""Distance to the database: a TCP proxy that delays every byte by rtt/2 in each direction.

`DelayProxy(target, rtt_ms)` starts the proxy in a process of its own
(`python -m harness.measure.netem`), so the client's threads, GIL and event loop never delay its forwarding, and hands back the target
as seen through it. Every client of a run (SQLAlchemy, asyncpg, psycopg, pgbench, psql, the HTTP
apps) connects there and pays the delay on each round trip.

Faithfulness and limits:
- Each chunk read from one side is written to the other `rtt/2` after it arrived, in order; later
  chunks do not wait for earlier ones' delay to end (a pipelined stream is delayed once, not once
  per chunk). Jitter and loss are not modelled.
- Bandwidth is the proxy's own: it moves bytes in Python on the server's CPU (`patternbench
  check --rtt` measures COPY through it and direct; docs/distance.md quotes a published run). An
  operation that sends megabytes pays that beside its round trips, and shares the server's CPU
  with the proxy while it does.
- Timers: asyncio's default (epoll) loop waits in whole milliseconds, which would turn 0.5 ms into
  1 ms; this loop uses select(), whose timeout has microsecond resolution. select() limits the
  proxy to `MAX_CONNECTIONS` concurrent connections; one more is refused (closed at once).
- The proxy's own forwarding adds time per hop on top of the delay; calibration takes it off the
  delay, and `patternbench check --rtt 1ms` prints configured vs measured so every run can see
  the real figure.
- With rtt 0 there is no proxy at all: clients connect to the server directly.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import contextlib
import ctypes
import os
import selectors
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, replace

import numpy as np

from harness import processes
from harness.errors import UserError
from harness.server.target import ServerTarget

MAX_CONNECTIONS = 480  # select() handles file descriptors below 1024; two per connection
_CHUNK = 65536
_HIGH_WATER = 8 * 1024 * 1024  # bytes in flight per direction before reading pauses
_START_TIMEOUT_S = 15.0


@dataclass(frozen=True)
class Calibration:
    """SELECT 1 medians (µs) directly and through the proxy, once its delay was tuned."""

    rtt_ms: float
    direct_us: float
    through_us: float
    one_way_us: float  # the delay per direction it settled on

    @property
    def added_us(self) -> float:
        return self.through_us - self.direct_us

    def describe(self) -> str:
        return (
            f"rtt {self.rtt_ms:g} ms: SELECT 1 {self.through_us / 1e3:.3f} ms through the proxy vs "
            f"{self.direct_us / 1e3:.3f} ms direct (added {self.added_us / 1e3:.3f} ms; "
            f"delay per direction {self.one_way_us:.0f} µs)"
        )


class DelayProxy:
    """The delaying proxy as a child process; a context manager that always stops it."""

    def __init__(self, upstream: ServerTarget, rtt_ms: float) -> None:
        if rtt_ms <= 0:
            raise ValueError("a delay proxy needs rtt > 0; with rtt 0 connect directly")
        self.upstream = upstream
        self.rtt_ms = rtt_ms
        self.port = 0
        self.one_way_us = rtt_ms * 500
        self.calibration: Calibration | None = None
        self._process: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> DelayProxy:
        args = [
            sys.executable,
            "-m",
            "harness.measure.netem",
            "--upstream",
            f"{self.upstream.host}:{self.upstream.port}",
            "--one-way-us",
            f"{self.one_way_us:.3f}",
        ]
        # the proxy is the network: it runs beside the server, not the client; its stdin's end
        # tells it the harness is gone
        self._process = processes.spawn(args, cpus=self.upstream.server_cpus or None, pipes=True)
        try:
            self.port = self._read_port(self._process)
        except BaseException:
            self._stop()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop()

    def target(self) -> ServerTarget:
        """The upstream server as seen through the proxy."""
        return replace(
            self.upstream,
            host="127.0.0.1",
            port=self.port,
            settings={**self.upstream.settings, "rtt": f"{self.rtt_ms:g} ms (delay proxy)"},
        )

    @staticmethod
    def _read_port(process: subprocess.Popen[bytes]) -> int:
        assert process.stdout is not None
        with selectors.DefaultSelector() as selector:
            selector.register(process.stdout, selectors.EVENT_READ)
            if not selector.select(timeout=_START_TIMEOUT_S):
                raise UserError("the rtt delay proxy did not start within 15 s")
        line = process.stdout.readline().decode(errors="replace").split()
        if len(line) != 2 or line[0] != "listening":
            raise UserError(f"the rtt delay proxy failed to start: {' '.join(line) or 'no output'}")
        return int(line[1])

    def _stop(self) -> None:
        process, self._process = self._process, None
        if process is None:
            return
        for sig, grace in ((signal.SIGTERM, 5.0), (signal.SIGKILL, 5.0)):
            if process.poll() is not None:
                break
            with contextlib.suppress(ProcessLookupError):
                process.send_signal(sig)
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(timeout=grace)
        for pipe in (process.stdout, process.stdin):
            if pipe is not None:
                with contextlib.suppress(OSError):
                    pipe.close()

    def set_one_way_us(self, microseconds: float) -> None:
        """Changes the delay of each direction for bytes that arrive from now on."""
        assert self._process is not None and self._process.stdin is not None
        self._process.stdin.write(f"one-way-us {max(0.0, microseconds):.3f}\n".encode())
        self._process.stdin.flush()
        self.one_way_us = max(0.0, microseconds)

    def calibrate(self, seconds: float = 0.4, rounds: int = 2) -> Calibration:
        """Makes `SELECT 1` through the proxy take rtt more than it takes directly: the proxy's
        own forwarding (~50 µs per direction here) comes off the delay. Needs a PostgreSQL
        upstream."""
        direct = through = 0.0
        for _ in range(rounds):
            direct = float(np.median(measure_select1(self.upstream, seconds)))
            through = float(np.median(measure_select1(self.target(), seconds)))
            error_us = (through - direct) - self.rtt_ms * 1e3
            self.set_one_way_us(self.one_way_us - error_us / 2)
            time.sleep(0.01)  # the new delay applies to bytes that arrive after the proxy read it
        direct = float(np.median(measure_select1(self.upstream, seconds)))
        through = float(np.median(measure_select1(self.target(), seconds)))
        self.calibration = Calibration(self.rtt_ms, direct, through, self.one_way_us)
        return self.calibration

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process else None


@contextlib.contextmanager
def at_distance(target: ServerTarget, rtt_ms: float) -> Iterator[ServerTarget]:
    """`target` itself at rtt 0 (nothing in the path), else the target through a calibrated
    DelayProxy; the calibration is recorded in the target's settings."""
    if rtt_ms <= 0:
        yield target
        return
    with DelayProxy(target, rtt_ms) as proxy:
        calibration = proxy.calibrate()
        seen = proxy.target()
        yield replace(seen, settings={**seen.settings, "rtt": calibration.describe()})


# --- the proxy process ------------------------------------------------------------------------


class _WakeUp:
    """How late a timer wakes this process (the kernel's wake-up latency plus the loop's own
    turn, ~40 µs in a VM), learnt as a moving average, so sleeps end that much early and the
    bytes leave on time.

    Waking early is bounded (MAX_EARLY_S, and a quarter of the delay) so that a busy core, which
    makes wake-ups late, can only make the delay longer, never skip it: an unbounded estimate
    once grew past the whole delay, after which no chunk waited and none updated it again."""

    MAX_EARLY_S = 200e-6

    def __init__(self) -> None:
        self.early_s = 0.0

    async def until(self, due: float, delay_s: float) -> None:
        loop = asyncio.get_running_loop()
        planned = due - min(self.early_s, 0.25 * delay_s)
        wait = planned - loop.time()
        if wait <= 0:  # the chunk already waited its delay (the writer was behind)
            return
        await asyncio.sleep(wait)
        late = loop.time() - planned
        self.early_s += 0.1 * (min(late, self.MAX_EARLY_S) - self.early_s)


class _Direction:
    """Bytes from one side to the other, each chunk released `delay_s` after it arrived."""

    def __init__(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, proxy: _Proxy
    ) -> None:
        self.reader, self.writer, self.proxy = reader, writer, proxy
        self.queue: collections.deque[tuple[float, bytes | None]] = collections.deque()
        self.queued_bytes = 0
        self.arrived = asyncio.Event()
        self.drained = asyncio.Event()

    async def read(self) -> None:
        loop = asyncio.get_running_loop()
        try:
            while data := await self.reader.read(_CHUNK):
                self.queue.append((loop.time() + self.proxy.one_way_s, data))
                self.queued_bytes += len(data)
                self.arrived.set()
                while self.queued_bytes > _HIGH_WATER:
                    self.drained.clear()
                    await self.drained.wait()
        except (ConnectionError, OSError):
            pass
        finally:
            self.queue.append((loop.time() + self.proxy.one_way_s, None))  # the end, delayed too
            self.arrived.set()

    async def write(self) -> None:
        while True:
            while not self.queue:
                self.arrived.clear()
                await self.arrived.wait()
            due, data = self.queue.popleft()
            await self.proxy.wake.until(due, self.proxy.one_way_s)
            if data is None:
                return
            self.writer.write(data)
            await self.writer.drain()
            self.queued_bytes -= len(data)
            if self.queued_bytes <= _HIGH_WATER:
                self.drained.set()


class _Proxy:
    def __init__(self, upstream: tuple[str, int], one_way_s: float) -> None:
        self.upstream = upstream
        self.one_way_s = one_way_s
        self.connections = 0
        self.wake = _WakeUp()

    async def handle(self, client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter) -> None:
        if self.connections >= MAX_CONNECTIONS:
            client_w.close()
            return
        self.connections += 1
        try:
            try:
                server_r, server_w = await asyncio.open_connection(*self.upstream)
            except OSError:
                client_w.close()
                return
            writers = (client_w, server_w)
            for w in writers:
                sock = w.get_extra_info("socket")
                if sock is not None:
                    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            up = _Direction(client_r, server_w, self)
            down = _Direction(server_r, client_w, self)
            tasks = [asyncio.ensure_future(c) for c in (up.read(), down.read())]
            writers_done = [asyncio.ensure_future(d.write()) for d in (up, down)]
            # Either side closing (or failing) closes both, after the bytes in flight arrived.
            await asyncio.wait(writers_done, return_when=asyncio.FIRST_COMPLETED)
            for w in writers:
                w.close()
            await asyncio.wait(writers_done + tasks, timeout=5)
            for task in writers_done + tasks:
                task.cancel()
            await asyncio.gather(*writers_done, *tasks, return_exceptions=True)
        finally:
            self.connections -= 1


async def _serve(upstream: tuple[str, int], one_way_s: float) -> None:
    loop = asyncio.get_running_loop()
    loop.set_exception_handler(lambda _loop, _context: None)  # a peer's reset is not news
    proxy = _Proxy(upstream, one_way_s)
    server = await asyncio.start_server(proxy.handle, "127.0.0.1", 0, backlog=1024)
    port = server.sockets[0].getsockname()[1]
    stop = asyncio.Event()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    loop.add_signal_handler(signal.SIGINT, stop.set)
    pending = bytearray()

    def on_command() -> None:
        """`one-way-us N` lines from the harness; end of input (it is gone) stops the proxy."""
        data = os.read(sys.stdin.fileno(), 4096)
        if not data:
            stop.set()
            return
        pending.extend(data)
        while b"\n" in pending:
            line, _, rest = bytes(pending).partition(b"\n")
            pending[:] = rest
            words = line.decode().split()
            if len(words) == 2 and words[0] == "one-way-us":
                proxy.one_way_s = max(0.0, float(words[1]) / 1e6)

    loop.add_reader(sys.stdin.fileno(), on_command)
    sys.stdout.write(f"listening {port}\n")
    sys.stdout.flush()
    await stop.wait()
    server.close()
    # end every connection's coroutines while the loop still runs (left to the garbage
    # collector, their cleanup would print "Event loop is closed" tracebacks)
    others = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
    for task in others:
        task.cancel()
    await asyncio.gather(*others, return_exceptions=True)


def exact_timers() -> None:
    """Timer slack 1 ns instead of Linux's default 50 µs (prctl PR_SET_TIMERSLACK; it applies
    to the calling thread)."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(29, 1)


def microsecond_loop() -> asyncio.AbstractEventLoop:
    """An event loop on select(), whose timeouts are in microseconds (epoll's are whole ms)."""
    return asyncio.SelectorEventLoop(selectors.SelectSelector())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m harness.measure.netem")
    parser.add_argument("--upstream", required=True, metavar="HOST:PORT")
    parser.add_argument("--one-way-us", type=float, required=True)
    args = parser.parse_args(argv)
    exact_timers()
    host, _, port = args.upstream.rpartition(":")
    loop = microsecond_loop()
    try:
        loop.run_until_complete(_serve((host, int(port)), args.one_way_us / 1e6))
    finally:
        loop.close()
    return 0


def measure_select1(target: ServerTarget, seconds: float) -> list[float]:
    """`SELECT 1` round trips in µs over one psycopg connection for about `seconds`."""
    import psycopg

    samples: list[float] = []
    with psycopg.connect(**target.psycopg_kwargs(), autocommit=True) as conn:
        for _ in range(20):  # connection, statement preparation, caches
            conn.execute("SELECT 1").fetchall()
        end = time.perf_counter() + seconds
        while time.perf_counter() < end or len(samples) < 50:
            t0 = time.perf_counter_ns()
            conn.execute("SELECT 1").fetchall()
            samples.append((time.perf_counter_ns() - t0) / 1e3)
    return samples


if __name__ == "__main__":
    raise SystemExit(main())


def achieved_rtts(
    target: ServerTarget, rtts: tuple[float, ...], seconds: float
) -> dict[str, float]:
    """Median `SELECT 1` in µs (psycopg), direct ("0") and through the calibrated delay proxy
    at each rtt."""
    out = {"0": float(np.median(measure_select1(target, seconds)))}
    for rtt in rtts:
        if rtt > 0:
            with DelayProxy(target, rtt) as proxy:
                out[f"{rtt:g}"] = proxy.calibrate(seconds / 2).through_us
    return out
