"""Round trips and bytes per operation, counted by a loopback TCP proxy between the client and
the server.

A round trip is a client turn: the client sends after having received something (or for the
first time). Pipelined messages (psycopg's executemany, asyncpg's Parse/Bind/Execute/Sync) are
one turn; a BEGIN sent before a query is one more. Bytes are the PostgreSQL protocol's bytes
each way (TCP payload, no headers). Rows are the DataRow messages the server sent: the rows any
statement returned (a SELECT's, a FETCH's, an INSERT ... RETURNING's), read off the protocol's
framing; a connection that negotiated TLS or GSS encryption cannot be read, and then rows are not
counted. The proxy is used only while statements and round trips are counted, never while
operations are timed.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from dataclasses import dataclass, replace

from harness.server.target import ServerTarget

_CHUNK = 65536
_NEGOTIATIONS = {80877103, 80877104}  # SSLRequest, GSSENCRequest: answered by one byte
_DATA_ROW = ord("D")


class _Rows:
    """Follows one connection's protocol just far enough to count the DataRow messages the
    server sends: the client's startup packets (untyped) until its StartupMessage, the server's
    one-byte answers to encryption requests, then typed messages (type byte, int32 length)."""

    def __init__(self) -> None:
        self.readable = True  # False once the connection is encrypted
        self._startup = bytearray()
        self._started = False
        self._answers_due = 0
        self._header = bytearray()
        self._skip = 0

    def from_client(self, data: bytes) -> None:
        if self._started:
            return
        self._startup += data
        while len(self._startup) >= 8:
            length = int.from_bytes(self._startup[:4], "big")
            if len(self._startup) < length:
                return
            code = int.from_bytes(self._startup[4:8], "big")
            del self._startup[:length]
            if code in _NEGOTIATIONS:
                self._answers_due += 1
            else:  # the StartupMessage (or a CancelRequest): typed messages from here on
                self._started = True
                self._startup.clear()
                return

    def from_server(self, data: bytes) -> int:
        """The DataRow messages that begin in `data`."""
        rows, i, size = 0, 0, len(data)
        while i < size and self.readable:
            if self._skip:
                step = min(self._skip, size - i)
                self._skip -= step
                i += step
            elif self._answers_due and not self._header:
                self._answers_due -= 1
                self.readable = data[i] == ord("N")  # S or G: encrypted from here on
                i += 1
            else:
                step = min(5 - len(self._header), size - i)
                self._header += data[i : i + step]
                i += step
                if len(self._header) == 5:
                    rows += self._header[0] == _DATA_ROW
                    self._skip = int.from_bytes(self._header[1:5], "big") - 4
                    self._header.clear()
        return rows


@dataclass(frozen=True)
class Traffic:
    """What crossed the counting proxy since its last reset."""

    round_trips: int
    sent_bytes: int  # client to server
    received_bytes: int  # server to client
    rows: int | None = None  # DataRow messages from the server; None: a connection was encrypted


class RoundTripCounter:
    """A TCP proxy on 127.0.0.1 (in its own thread and event loop) that counts client turns."""

    def __init__(self, upstream: ServerTarget) -> None:
        self.upstream = upstream
        self.port = 0
        self._turns = 0
        self._sent = 0
        self._received = 0
        self._rows = 0
        self._connections: set[_Rows] = set()
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
            self._turns = self._sent = self._received = self._rows = 0

    def read(self) -> Traffic:
        with self._lock:
            readable = all(c.readable for c in self._connections)
            return Traffic(
                self._turns, self._sent, self._received, self._rows if readable else None
            )

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
        rows = _Rows()
        with self._lock:
            self._connections.add(rows)

        async def pump(
            reader: asyncio.StreamReader, writer: asyncio.StreamWriter, from_client: bool
        ) -> None:
            try:
                while data := await reader.read(_CHUNK):
                    with self._lock:
                        if from_client:
                            self._turns += not state["client_turn"]
                            self._sent += len(data)
                            rows.from_client(data)
                        else:
                            self._received += len(data)
                            self._rows += rows.from_server(data)
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
        with self._lock:
            self._connections.discard(rows)
