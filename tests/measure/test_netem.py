"""The delay proxy behind `--rtt`: bytes unchanged, both sides closed together, delay added."""

from __future__ import annotations

import asyncio
import os
import random
import socket
import socketserver
import statistics
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest

from harness.measure.netem import DelayProxy, at_distance, measure_select1
from harness.report.units import parse_rtt, parse_rtt_list
from harness.server.target import ServerTarget


class _Echo(socketserver.BaseRequestHandler):
    def handle(self) -> None:
        while data := self.request.recv(65536):
            self.request.sendall(data)
        self.server.closed_by_client.set()  # type: ignore[attr-defined]


class _EchoServer(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Echo)
        self.closed_by_client = threading.Event()


@pytest.fixture()
def echo() -> Iterator[tuple[_EchoServer, ServerTarget]]:
    server = _EchoServer()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    target = ServerTarget("test", "127.0.0.1", server.server_address[1], "u", "d", "public")
    yield server, target
    server.shutdown()
    server.server_close()


def _recv_exactly(sock: socket.socket, size: int) -> bytes:
    chunks, got = [], 0
    while got < size:
        chunk = sock.recv(min(65536, size - got))
        assert chunk, f"connection closed after {got} of {size} bytes"
        chunks.append(chunk)
        got += len(chunk)
    return b"".join(chunks)


def test_rtt_values_parse_with_units():
    assert parse_rtt("0") == 0.0
    assert parse_rtt("1ms") == 1.0
    assert parse_rtt("500us") == 0.5
    assert parse_rtt("250µs") == 0.25
    assert parse_rtt("0.002s") == 2.0
    assert parse_rtt_list("0,1ms,2ms,1ms") == (0.0, 1.0, 2.0)
    for bad in ("1", "ms", "-1ms", "2 hours", "nanms", "2000ms"):
        with pytest.raises(ValueError):
            parse_rtt(bad)


def test_bytes_pass_unchanged_both_ways_on_many_connections_at_once(echo):
    _server, target = echo

    def exchange(seed: int) -> bool:
        rng = random.Random(seed)
        with socket.create_connection(("127.0.0.1", proxy.port), timeout=20) as sock:
            for size in (1, 17, 1500, 65536, 300_000, rng.randint(1, 100_000)):
                payload = rng.randbytes(size)
                sock.sendall(payload)
                if _recv_exactly(sock, size) != payload:
                    return False
        return True

    with DelayProxy(target, 2.0) as proxy, ThreadPoolExecutor(32) as pool:
        assert all(pool.map(exchange, range(32)))


def test_either_side_closing_closes_the_other(echo):
    server, target = echo
    with DelayProxy(target, 1.0) as proxy:
        client = socket.create_connection(("127.0.0.1", proxy.port), timeout=5)
        client.sendall(b"ping")
        assert _recv_exactly(client, 4) == b"ping"
        client.close()
        assert server.closed_by_client.wait(5), "upstream saw no close from the proxy"

    listener = socket.create_server(("127.0.0.1", 0))
    upstream = ServerTarget("test", "127.0.0.1", listener.getsockname()[1], "u", "d", "public")
    with listener, DelayProxy(upstream, 1.0) as proxy:
        client = socket.create_connection(("127.0.0.1", proxy.port), timeout=5)
        accepted, _ = listener.accept()
        accepted.close()  # the server goes away
        assert client.recv(10) == b"", "the client side stayed open after the server closed"
        client.close()


def test_the_delay_is_added_to_each_round_trip(echo):
    _server, target = echo

    def ping_ms(port: int) -> float:
        with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            samples = []
            for _ in range(60):
                t0 = time.perf_counter()
                sock.sendall(b"x")
                assert sock.recv(1) == b"x"
                samples.append((time.perf_counter() - t0) * 1e3)
        return statistics.median(samples[10:])

    direct = ping_ms(target.port)
    with DelayProxy(target, 2.0) as proxy:
        through = ping_ms(proxy.port)
    assert 2.0 <= through - direct < 2.0 * 1.5 + 0.5, (direct, through)


def test_calibrated_select1_adds_the_configured_rtt(server):
    direct = statistics.median(measure_select1(server, 0.3))
    with DelayProxy(server, 1.0) as proxy:
        calibration = proxy.calibrate(0.3)
        through = statistics.median(measure_select1(proxy.target(), 0.3))
        pid = proxy.pid
    assert calibration.one_way_us < 500, "the proxy's own forwarding time comes off the delay"
    assert abs((through - direct) - 1000) < 300, (direct, through)
    assert pid is not None
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)


def test_rtt_zero_puts_nothing_in_the_path(server):
    with at_distance(server, 0.0) as target:
        assert target is server
    with at_distance(server, 1.0) as target:
        assert target.port != server.port
        assert "rtt" in target.settings


def test_a_late_waking_loop_never_skips_the_delay():
    """A busy core makes timers wake late; the learnt early wake-up must not grow past the
    delay (it once did, and from then on no byte waited at all)."""
    from harness.measure.netem import _WakeUp

    async def waits() -> list[float]:
        loop = asyncio.get_running_loop()
        wake = _WakeUp()
        wake.early_s = 0.05  # as if every wake-up had been 50 ms late
        out = []
        for _ in range(20):
            start = loop.time()
            await wake.until(start + 0.002, 0.002)
            out.append(loop.time() - start)
        return out

    spent = asyncio.run(waits())
    assert min(spent) >= 0.0015, spent
    assert _WakeUp.MAX_EARLY_S <= 0.0002


def test_stopping_the_proxy_with_open_connections_prints_nothing(echo, capfd):
    _server, target = echo
    with DelayProxy(target, 1.0) as proxy:
        clients = [socket.create_connection(("127.0.0.1", proxy.port), timeout=5) for _ in range(4)]
        for client in clients:
            client.sendall(b"ping")
            assert _recv_exactly(client, 4) == b"ping"
    for client in clients:
        client.close()
    err = capfd.readouterr().err
    assert "Traceback" not in err and "Exception ignored" not in err, err
