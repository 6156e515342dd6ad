"""Round trips and bytes per operation, counted by a loopback TCP proxy between the client and
the server.

A round trip is a client turn: the client sends after having received something (or for the
first time). Pipelined messages (psycopg's executemany, asyncpg's Parse/Bind/Execute/Sync) are
one turn; a BEGIN sent before a query is one more. Bytes are the PostgreSQL protocol's bytes
each way (TCP payload, no headers). The proxy is used only while statements and round trips are
counted, never while operations are timed.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from dataclasses import dataclass, replace

from harness.server.target import ServerTarget

_CHUNK = 65536


@dataclass(frozen=True)
class Traffic:
    """What crossed the counting proxy since its last reset."""

    round_trips: int
    sent_bytes: int  # client to server
    received_bytes: int  # server to client


class RoundTripCounter:
    """A TCP proxy on 127.0.0.1 (in its own thread and event loop) that counts client turns."""

    def __init__(self, upstream: ServerTarget) -> None:
        self.upstream = upstream
        self.port = 0
        self._turns = 0
        self._sent = 0
        self._received = 0
        self._lock = threading.Lock()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self._loop.run_forever, name="round-trips", daemon=True
        )
        self._server: asyncio.base_events.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()

    def __enter__(self) -> RoundTripCounter:
        self._thread.start()
        future = asyncio.run_coroutine_threadsafe(self._start(), self._loop)
        self.port = future.result(timeout=10)
        return self

    def __exit__(self, *exc: object) -> None:
        with contextlib.suppress(Exception):
            asyncio.run_coroutine_threadsafe(self._stop(), self._loop).result(timeout=10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)
        self._loop.close()

    def target(self) -> ServerTarget:
        """The upstream target as seen through the proxy."""
        return replace(self.upstream, host="127.0.0.1", port=self.port)

    def reset(self) -> None:
        with self._lock:
            self._turns = self._sent = self._received = 0

    def read(self) -> Traffic:
        with self._lock:
            return Traffic(self._turns, self._sent, self._received)

    async def _start(self) -> int:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", 0)
        return int(self._server.sockets[0].getsockname()[1])

    async def _stop(self) -> None:
        if self._server is not None:
            self._server.close()
        for writer in list(self._writers):
            writer.close()
        pending = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        if pending:  # closed sockets end the pumps; give them a moment, then cancel the rest
            _done, pending_set = await asyncio.wait(pending, timeout=2)
            asyncio.get_running_loop().set_exception_handler(lambda _loop, _context: None)
            for task in pending_set:
                task.cancel()
            await asyncio.gather(*pending_set, return_exceptions=True)

    async def _accept(self, client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter) -> None:
        try:
            server_r, server_w = await asyncio.open_connection(
                self.upstream.host, self.upstream.port
            )
        except OSError:
            client_w.close()
            return
        self._writers |= {client_w, server_w}
        state = {"client_turn": False}

        async def pump(
            reader: asyncio.StreamReader, writer: asyncio.StreamWriter, from_client: bool
        ) -> None:
            try:
                while data := await reader.read(_CHUNK):
                    with self._lock:
                        if from_client:
                            self._turns += not state["client_turn"]
                            self._sent += len(data)
                        else:
                            self._received += len(data)
                    state["client_turn"] = from_client
                    writer.write(data)
                    await writer.drain()
            except (ConnectionError, OSError):
                pass
            finally:
                with contextlib.suppress(Exception):
                    writer.close()

        await asyncio.gather(pump(client_r, server_w, True), pump(server_r, client_w, False))
        self._writers -= {client_w, server_w}
